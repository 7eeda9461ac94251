"""Run-next: a delivery runs the step its record made ready on the same queue,
claimed in the record's transaction, instead of a broker round trip.

These tests call `worker.execute` in the test process (as the Celery task does)
with no worker consuming the test queues, so a step that went to the broker
stays `queued` and a step run inline is visible as such.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from tests.conftest import Personas, WorkerPool
from tests.webapp.monitoring.helpers import add_events
from tests.webapp.runs.helpers import edge, graph, node, publish
from webapp.runs import engine, worker
from webapp.runs.models import Run, RunEvent, Step, StepStatus
from webapp.runs.services import do_start_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_consumer")]


@pytest.fixture(scope="module")
def no_consumer(celery_worker_process: WorkerPool) -> Iterator[None]:
    """Stop the session's worker for this module (and drop what these tests
    leave in the broker) so that a queued step visibly stays queued."""
    from webapp.celery import app

    celery_worker_process.stop()
    yield
    app.control.purge()
    celery_worker_process.start()


def chain(length: int) -> dict[str, Any]:
    ids = ["in", *[f"p{i}" for i in range(length)], "out"]
    nodes = [node("in", "input", {"key": "x"})]
    nodes += [node(i, "passthrough") for i in ids[1:-1]]
    nodes.append(node("out", "output"))
    edges = [edge(a, "out", b, "in") for a, b in itertools.pairwise(ids)]
    return graph(nodes, edges, inputs={"type": "object", "properties": {"x": {}}})


def first_step(run_id: int) -> int:
    return Step.objects.get(run_id=run_id, node_id="in").pk


def test_one_delivery_runs_a_whole_chain(personas: Personas) -> None:
    run = do_start_run(publish(personas.team_a, "chain", chain(5)), {"x": 7})
    worker.execute(first_step(run.pk), "test-worker")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": 7}
    steps = Step.objects.filter(run=run)
    assert steps.count() == 7
    assert set(steps.values_list("status", flat=True)) == {StepStatus.SUCCEEDED}
    assert set(steps.values_list("worker", flat=True)) == {"test-worker"}
    assert run.step_count == 7
    # Each inline step still has its own queued and started events, in order.
    types = list(RunEvent.objects.filter(run=run).values_list("type", flat=True))
    assert types.count("step.queued") == 7
    assert types.count("step.started") == 7
    seqs = list(RunEvent.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


@override_settings(RUNNEXT_MAX=3)
def test_runnext_max_hands_the_rest_to_the_broker(personas: Personas) -> None:
    run = do_start_run(publish(personas.team_a, "chain", chain(5)), {"x": 1})
    worker.execute(first_step(run.pk), "test-worker")
    statuses = dict(Step.objects.filter(run=run).values_list("node_id", "status"))
    assert statuses == {
        "in": StepStatus.SUCCEEDED,
        "p0": StepStatus.SUCCEEDED,
        "p1": StepStatus.SUCCEEDED,
        "p2": StepStatus.QUEUED,  # sent to the broker, which nobody consumes here
    }
    run.refresh_from_db()
    assert run.status == "running"


@override_settings(RUNNEXT_MAX=1)
def test_runnext_off_sends_every_step_to_the_broker(personas: Personas) -> None:
    run = do_start_run(publish(personas.team_a, "chain", chain(2)), {"x": 1})
    worker.execute(first_step(run.pk), "test-worker")
    statuses = dict(Step.objects.filter(run=run).values_list("node_id", "status"))
    assert statuses == {"in": StepStatus.SUCCEEDED, "p0": StepStatus.QUEUED}


def test_fan_out_runs_one_branch_inline_and_queues_the_others(personas: Personas) -> None:
    doc = graph(
        [
            node("in", "input", {"key": "x"}),
            node("a", "passthrough"),
            node("b", "passthrough"),
            node("j", "join", {"mode": "list"}),
            node("out", "output"),
        ],
        [
            edge("in", "out", "a", "in"),
            edge("in", "out", "b", "in"),
            edge("a", "out", "j", "in"),
            edge("b", "out", "j", "in"),
            edge("j", "out", "out", "in"),
        ],
        inputs={"type": "object", "properties": {"x": {}}},
    )
    run = do_start_run(publish(personas.team_a, "fan-out", doc), {"x": 1})
    worker.execute(first_step(run.pk), "test-worker")
    statuses = dict(Step.objects.filter(run=run).values_list("node_id", "status"))
    # One branch ran in this delivery; the other waits in the broker for any
    # worker, and the join waits for it.
    assert sorted(statuses.values()) == ["queued", "succeeded", "succeeded"]
    assert statuses["in"] == StepStatus.SUCCEEDED
    queued = next(n for n, s in statuses.items() if s == StepStatus.QUEUED)
    worker.execute(Step.objects.get(run=run, node_id=queued).pk, "other-worker")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": [1, 1]}
    assert Step.objects.get(run=run, node_id=queued).worker == "other-worker"
    assert Step.objects.get(run=run, node_id="out").worker == "other-worker"


def _decoded(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """STATE_SQL rows with their outputs decoded (jsonb text is normalised)."""
    return [(*row[:6], json.loads(row[6]) if row[6] is not None else None) for row in rows]


def test_each_record_keeps_the_state_postgres_then_holds(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows a record keeps for this thread's next record of the run are
    what STATE_SQL reads once it committed, at the run's event seq then."""
    run = do_start_run(publish(personas.team_a, "chain", chain(4)), {"x": {"deep": [1, 2]}})
    record, checked = worker.record, []

    def checking(*args: Any, **kwargs: Any) -> Any:
        claimed = record(*args, **kwargs)
        kept = engine.kept_state(run.pk)
        stored = Run.objects.values_list("event_seq", "status").get(pk=run.pk)
        if stored[1] == "running":
            assert kept is not None
            assert kept.event_seq == stored[0]
            assert _decoded(kept.rows) == _decoded(engine._read_state(run))
            checked.append(len(kept.rows))
        return claimed

    monkeypatch.setattr(worker, "record", checking)
    worker.execute(first_step(run.pk), "test-worker")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": {"deep": [1, 2]}}
    assert checked == [2, 3, 4, 5, 6]  # one more step each hop, until the output's


def test_kept_state_is_dropped_once_another_transaction_changes_the_run(
    personas: Personas,
) -> None:
    run = do_start_run(publish(personas.team_a, "chain", chain(2)), {"x": 1})
    with override_settings(RUNNEXT_MAX=2):  # in, p0 here; p1 to the (idle) broker
        worker.execute(first_step(run.pk), "test-worker")
    kept = engine.kept_state(run.pk)
    assert kept is not None
    run.refresh_from_db()
    assert engine.current_state(run, kept) == kept.rows
    add_events(run, 1)  # any change to the run's steps appends an event
    run.refresh_from_db()
    assert engine.current_state(run, kept) is None
    assert engine.kept_state(run.pk + 1) is None  # another run's
