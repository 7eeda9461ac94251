"""webapp/runs/bulk.py: many rows, or two tables, written in one statement; rows
locked with prepared statements."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from django.db import ProgrammingError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.conftest import Personas
from tests.webapp.monitoring.helpers import make_run
from webapp.runs import bulk
from webapp.runs.models import Run, Step, StepPayload, StepStatus

pytestmark = pytest.mark.django_db


def new_step(run_id: int, team_id: int, node_id: str, item: int | None = None) -> Step:
    step = Step(team_id=team_id, run_id=run_id, node_id=node_id, node_type="llm", item=item)
    step.status = StepStatus.QUEUED
    step.queue = "io"
    payload = StepPayload(step=step, inputs={"in": node_id}, upstream=[{"node": "x"}])
    bulk.insert_with_payload(step, payload)
    return step


def test_insert_with_payload_writes_both_rows_in_one_statement(personas: Personas) -> None:
    run = make_run(personas.team_a)
    with CaptureQueriesContext(connection) as queries:
        step = new_step(run.pk, run.team_id, "a", item=3)
    assert len(queries) == 1
    stored = Step.objects.select_related("payload").get(pk=step.pk)
    assert (stored.node_id, stored.item, stored.status, stored.attempt) == ("a", 3, "queued", 1)
    assert stored.superseded is False  # the model's defaults were written
    assert stored.payload.inputs == {"in": "a"}
    assert stored.payload.upstream == [{"node": "x"}]
    assert stored.payload.outputs is None


def test_update_rows_together_writes_each_rows_own_values_and_nothing_else(
    personas: Personas,
) -> None:
    run = make_run(personas.team_a)
    steps = [new_step(run.pk, run.team_id, name) for name in ("a", "b", "c")]
    steps[0].status, steps[0].cost_usd, steps[0].error = StepStatus.SUCCEEDED, Decimal("0.5"), ""
    steps[1].status, steps[1].cost_usd, steps[1].error = StepStatus.FAILED, None, "boom"
    steps[1].node_id = "not written"  # not among the fields
    payloads = [
        StepPayload(step_id=steps[0].pk, outputs={"out": 1}, text="one"),
        StepPayload(step_id=steps[1].pk, outputs=None, text="two"),
    ]
    with CaptureQueriesContext(connection) as queries:
        bulk.update_rows_together(
            [
                (Step, steps[:2], ["status", "cost_usd", "error"]),
                (StepPayload, payloads, ["outputs", "text"]),
            ]
        )
    assert len(queries) == 1
    rows = {s.node_id: s for s in Step.objects.filter(run=run).select_related("payload")}
    assert set(rows) == {"a", "b", "c"}
    assert (rows["a"].status, rows["a"].cost_usd, rows["a"].error) == (
        "succeeded",
        Decimal("0.5"),
        "",
    )
    assert (rows["b"].status, rows["b"].cost_usd, rows["b"].error) == ("failed", None, "boom")
    assert rows["c"].status == "queued"  # not in the batch
    assert (rows["a"].payload.outputs, rows["a"].payload.text) == ({"out": 1}, "one")
    assert (rows["b"].payload.outputs, rows["b"].payload.text) == (None, "two")
    assert rows["a"].payload.inputs == {"in": "a"}  # not among the fields
    assert bulk.update_rows(Step, [steps[2]], ["status"]) == 1


def test_lock_loads_every_field_as_the_orm_does(personas: Personas) -> None:
    run = make_run(personas.team_a)
    Run.objects.filter(pk=run.pk).update(
        inputs={"topic": "owls", "n": [1, 2]}, cost_usd=Decimal("0.125"), error="late"
    )
    expected = Run.objects.get(pk=run.pk)
    with transaction.atomic():
        locked = bulk.lock(Run, run.pk)
    for field in Run._meta.concrete_fields:
        assert getattr(locked, field.attname) == getattr(expected, field.attname), field.name
    assert locked.inputs == {"topic": "owls", "n": [1, 2]}  # decoded, not text
    assert locked._state.adding is False
    with pytest.raises(Run.DoesNotExist), transaction.atomic():
        bulk.lock(Run, run.pk + 10_000)


def test_prepared_statements_are_logged_and_raise_djangos_errors(personas: Personas) -> None:
    run = make_run(personas.team_a)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        bulk.lock(Run, run.pk)
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1
    assert "FOR UPDATE" in statements[0]
    with pytest.raises(ProgrammingError), transaction.atomic(), bulk.prepared() as cursor:
        cursor.execute("SELECT no_such_column FROM runs_run WHERE id = %s", [run.pk])


@pytest.mark.django_db(transaction=True)
def test_locks_of_run_then_step_are_held_until_commit(personas: Personas) -> None:
    run = make_run(personas.team_a)
    first = new_step(run.pk, run.team_id, "a")
    params = connection.get_connection_params()
    other = psycopg.connect(
        host=params.get("host"), port=params.get("port"), dbname=params["dbname"], autocommit=True
    )

    def locked_elsewhere(table: str, pk: int) -> bool:
        try:
            with other.transaction():
                other.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])  # noqa: S608
        except psycopg.errors.LockNotAvailable:
            return True
        return False

    try:
        with transaction.atomic():
            locked_run = bulk.lock(Run, run.pk)
            locked_step = bulk.lock(Step, first.pk)
            assert (locked_run.pk, locked_step.pk, locked_step.node_id) == (run.pk, first.pk, "a")
            assert locked_elsewhere("runs_run", run.pk)
            assert locked_elsewhere("runs_step", first.pk)
        assert not locked_elsewhere("runs_run", run.pk)
        with pytest.raises(Step.DoesNotExist), transaction.atomic():
            bulk.lock(Step, 0)
    finally:
        other.close()
