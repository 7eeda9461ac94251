"""The express record (webapp/runs/express.py): one statement writes what the
general path writes, and writes nothing when the run changed since the thread
kept its state or the step lost its lease.

Like test_runnext.py, these tests call `worker.execute` in the test process
with no worker consuming the queues.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import override_settings

from tests.conftest import Personas
from tests.webapp.monitoring.helpers import add_events
from tests.webapp.runs.helpers import edge, graph, node, publish
from tests.webapp.runs.test_runnext import chain, first_step, no_consumer  # noqa: F401 (a fixture)
from webapp.runs import engine, express, worker
from webapp.runs.engine import RunNext
from webapp.runs.models import Run, RunEvent, Step, StepPayload, StepStatus
from webapp.runs.services import do_start_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_consumer")]


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each express.record call wrote (True) or left it to the general
    path (False), in order."""
    calls: list[bool] = []
    record = express.record

    def spying(*args: Any, **kwargs: Any) -> Any:
        done = record(*args, **kwargs)
        calls.append(done is not None)
        return done

    monkeypatch.setattr(express, "record", spying)
    return calls


def router_graph() -> dict[str, Any]:
    """in -> route -> (big -> after_big | small) -> join -> out, and a side
    branch in -> side -> join: a skip that propagates, a fan-out, a join."""
    return graph(
        [
            node("in", "input", {"key": "n"}),
            node("route", "router", {"routes": [{"name": "big", "condition": "input > 10"}]}),
            node("big", "template", {"template": "big {{ input }}"}),
            node("small", "template", {"template": "small {{ input }}"}),
            node("after_big", "template", {"template": "after {{ input }}"}),
            node("side", "passthrough"),
            node("join", "join", {"mode": "list"}),
            node("out", "output"),
        ],
        [
            edge("in", "out", "route", "in"),
            edge("in", "out", "side", "in"),
            edge("route", "big", "big", "in"),
            edge("route", "default", "small", "in"),
            edge("big", "text", "after_big", "in"),
            edge("after_big", "text", "join", "in"),
            edge("small", "text", "join", "in"),
            edge("side", "out", "join", "in"),
            edge("join", "out", "out", "in"),
        ],
        inputs={"type": "object", "properties": {"n": {"type": "integer"}}},
    )


def run_to_end(run: Run) -> Run:
    """Execute the run's queued steps here, oldest first, until none is left."""
    for _ in range(50):
        queued = Step.objects.filter(run=run, status=StepStatus.QUEUED).order_by("pk").first()
        if queued is None:
            break
        worker.execute(queued.pk, "test-worker")
    run.refresh_from_db()
    return run


def stored(run: Run) -> dict[str, Any]:
    """What a run left in Postgres, without what differs between two runs of
    the same graph (ids, times, lease tokens): steps with their payloads by
    (node, iteration, attempt), and events in order, their step ids replaced by
    the step's node and their timings by whether they are set."""
    steps = {}
    nodes = {}
    for step in Step.objects.filter(run=run).select_related("payload"):
        nodes[step.pk] = step.node_id
        payload = step.payload
        steps[(step.node_id, step.iteration, step.item, step.attempt)] = {
            "fields": {
                name: getattr(step, name)
                for name in (
                    "node_type superseded status queue worker error tokens_in tokens_out "
                    "cost_usd provider model ttft_ms child_run_id not_before"
                ).split()
            },
            "set": {
                name: getattr(step, name) is not None
                for name in (
                    "queued_at started_at finished_at latency_ms queue_wait_ms "
                    "lease_token lease_expires_at"
                ).split()
            },
            "payload": (
                payload.inputs,
                payload.upstream,
                payload.outputs,
                payload.text,
                payload.logs,
            ),
        }
    events = []
    for seq, type_, payload in (
        RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "type", "payload")
    ):
        if "step_id" in payload:
            payload["step_id"] = nodes[payload["step_id"]]
        if payload.get("run_id") == run.pk:
            payload["run_id"] = "this run"
        for timing in ("latency_ms", "queue_wait_ms", "elapsed_ms"):
            if timing in payload:
                payload[timing] = payload[timing] is not None
        if "totals" in payload:
            payload["totals"]["elapsed_ms"] = payload["totals"]["elapsed_ms"] is not None
        events.append((seq, type_, payload))
    run.refresh_from_db()
    totals = (run.status, run.outputs, run.error, run.step_count, run.event_seq)
    return {"run": totals, "steps": steps, "events": events}


@pytest.mark.parametrize(
    ("name", "document", "inputs"),
    [
        ("chain", chain(6), {"x": {"deep": [1, "two"]}}),
        ("router small", router_graph(), {"n": 3}),
        ("router big", router_graph(), {"n": 30}),
    ],
)
def test_writes_what_the_general_path_writes(
    personas: Personas, taken: list[bool], name: str, document: dict[str, Any], inputs: Any
) -> None:
    version = publish(personas.team_a, name, document)
    results = []
    for express_on in (False, True):
        with override_settings(RECORD_EXPRESS=express_on):
            run = do_start_run(version, inputs)
            worker.execute(first_step(run.pk) if name == "chain" else _in(run), "test-worker")
            run = run_to_end(run)
        assert run.status == "succeeded", run.error
        results.append(stored(run))
        if not express_on:
            assert taken == []  # (switched off: never tried)
    assert any(taken), "the express path never wrote"
    general, expressed = results
    assert expressed["run"] == general["run"]
    assert expressed["steps"] == general["steps"]
    assert expressed["events"] == general["events"]


def _in(run: Run) -> int:
    return Step.objects.get(run_id=run.pk, node_id="in").pk


def test_a_chain_takes_it_on_every_hop_after_the_first(
    personas: Personas, taken: list[bool]
) -> None:
    run = do_start_run(publish(personas.team_a, "chain", chain(5)), {"x": 7})
    worker.execute(first_step(run.pk), "test-worker")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    # in (nothing kept yet), p0..p4 express, out (ends the run: general path)
    assert taken == [True] * 5 + [False]
    seqs = list(RunEvent.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(1, run.event_seq + 1))


def _first_hop(personas: Personas) -> tuple[Run, worker.Attempt]:
    """A 3-chain whose first record (general path) kept the state and started
    p0 for run-next; returns the run and p0's attempt (not yet run)."""
    run = do_start_run(publish(personas.team_a, "chain", chain(3)), {"x": 1})
    attempt = worker.claim(first_step(run.pk), "test-worker")
    assert attempt is not None
    outcome = worker.StepOutcome("succeeded", outputs={"out": 1})
    following = worker.record(attempt, outcome, RunNext("cpu", "test-worker"))
    assert following is not None
    assert following.context.node_id == "p0"
    assert engine.kept_state(run.pk) is not None
    return run, following


def test_a_run_changed_since_goes_the_general_way(personas: Personas, taken: list[bool]) -> None:
    run, attempt = _first_hop(personas)
    add_events(run, 1)  # another transaction changed the run
    outcome = worker.StepOutcome("succeeded", outputs={"out": 1})
    following = worker.record(attempt, outcome, RunNext("cpu", "test-worker"))
    assert taken == [False]  # tried, wrote nothing
    assert following is not None
    assert following.context.node_id == "p1"
    events = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "type"))
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert [t for _, t in events[-3:]] == ["step.succeeded", "step.queued", "step.started"]
    assert Step.objects.get(pk=attempt.step_id).status == StepStatus.SUCCEEDED


def test_a_lost_lease_writes_nothing(personas: Personas, taken: list[bool]) -> None:
    run, attempt = _first_hop(personas)
    # The lease went to another attempt (without an event, so that only the
    # fencing token stops the statement).
    other = uuid.uuid4()
    Step.objects.filter(pk=attempt.step_id).update(lease_token=other)
    run.refresh_from_db()
    before = (run.event_seq, run.step_count, Step.objects.filter(run=run).count())
    outcome = worker.StepOutcome("succeeded", outputs={"out": 1})
    assert worker.record(attempt, outcome, RunNext("cpu", "test-worker")) is None
    assert taken == [False]
    run.refresh_from_db()
    assert (run.event_seq, run.step_count, Step.objects.filter(run=run).count()) == before
    step = Step.objects.get(pk=attempt.step_id)
    assert (step.status, step.lease_token) == (StepStatus.RUNNING, other)
    assert StepPayload.objects.get(step=step).outputs is None


def test_outcomes_it_does_not_cover_go_the_general_way(
    personas: Personas, taken: list[bool]
) -> None:
    run, attempt = _first_hop(personas)
    outcome = worker.StepOutcome("failed", error="boom", retryable=False)
    assert worker.record(attempt, outcome, RunNext("cpu", "test-worker")) is None
    assert taken == []  # not even tried
    run.refresh_from_db()
    assert run.status == "failed"
    assert "boom" in run.error


@override_settings(RUNNEXT_MAX=2)
def test_a_wide_fan_out_goes_the_general_way(personas: Personas, taken: list[bool]) -> None:
    wide = express.MAX_NEW_STEPS + 1
    branches = [f"b{i}" for i in range(wide)]
    doc = graph(
        [node("in", "input", {"key": "x"}), node("p0", "passthrough")]
        + [node(b, "passthrough") for b in branches]
        + [node("j", "join", {"mode": "list"}), node("out", "output")],
        [edge("in", "out", "p0", "in")]
        + [edge("p0", "out", b, "in") for b in branches]
        + [edge(b, "out", "j", "in") for b in branches]
        + [edge("j", "out", "out", "in")],
        inputs={"type": "object", "properties": {"x": {}}},
    )
    run = do_start_run(publish(personas.team_a, "wide", doc), {"x": 1})
    worker.execute(first_step(run.pk), "test-worker")  # in, then p0 (run-next)
    assert taken == [False]  # p0's record: tried, left to the general path
    steps = Step.objects.filter(run=run, node_id__in=branches)
    assert steps.count() == wide
    assert steps.filter(status=StepStatus.QUEUED).count() == wide
