"""webapp/runs/engine.py: the planner's input read from Postgres (or from the
rows read with the locks, with the step just recorded in place of its row)."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.conftest import Personas
from tests.webapp.monitoring.helpers import make_run
from webapp.runs import bulk, engine
from webapp.runs.models import Run, Step, StepPayload, StepStatus

pytestmark = pytest.mark.django_db


def add_step(run: Run, node_id: str, status: StepStatus, outputs: object = None) -> Step:
    step = Step(team_id=run.team_id, run=run, node_id=node_id, node_type="template")
    step.status = status
    step.queue = "cpu"
    bulk.insert_with_payload(step, StepPayload(step=step, outputs=outputs))
    return step


def test_state_reads_latest_non_item_steps_with_outputs_of_succeeded_ones(
    personas: Personas,
) -> None:
    run = make_run(personas.team_a)
    add_step(run, "in", StepStatus.SUCCEEDED, {"out": {"topic": "owls"}})
    add_step(run, "mid", StepStatus.FAILED, {"out": "not read: the step failed"})
    item = add_step(run, "map", StepStatus.SUCCEEDED, {"out": 1})
    Step.objects.filter(pk=item.pk).update(item=0)  # map items are summarised, not listed
    records, maps = engine._load_state(run, engine._read_state(run))
    assert [(r.node_id, r.status) for r in records] == [("in", "succeeded"), ("mid", "failed")]
    assert dict(records[0].outputs or {}) == {"out": {"topic": "owls"}}
    assert records[0].outputs is not None
    assert records[0].outputs["out"] == {"topic": "owls"}
    assert "out" in records[0].outputs
    assert len(records[0].outputs) == 1
    assert records[1].outputs is None
    assert maps == {}


def test_state_from_rows_read_earlier_shows_the_recorded_step_as_stored_now(
    personas: Personas,
) -> None:
    run = make_run(personas.team_a)
    add_step(run, "in", StepStatus.SUCCEEDED, {"out": "x"})
    running = add_step(run, "mid", StepStatus.RUNNING)
    with transaction.atomic():
        bulk.lock(Run, run.pk)
        locked = bulk.lock(Step, running.pk)
        rows = engine._read_state(run)
        locked.status = StepStatus.SUCCEEDED
        records, _ = engine._load_state(run, engine._patched(rows, (locked, {"out": "y"})))
    assert [(r.node_id, r.status, dict(r.outputs or {})) for r in records] == [
        ("in", "succeeded", {"out": "x"}),
        ("mid", "succeeded", {"out": "y"}),
    ]
