"""The engine on real Celery workers, Postgres, Redis and the fake LLM over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.db.models import Count

from tests.conftest import Personas, WorkerPool
from tests.webapp.runs.helpers import edge, graph, node, publish, simulator, wait_for
from webapp.runs.models import LLMCallRecord, Run, RunEvent, Step, StepPayload, StepStatus
from webapp.runs.services import RunInputError, do_cancel_run, do_start_run
from webapp.workflows.services import GraphInvalid, do_create_workflow, do_publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(personas: Personas, fake_llm: str, celery_worker_process: WorkerPool) -> Any:
    simulator(personas.team_a, fake_llm)
    return personas.team_a


def outputs(run: Run) -> dict[str, Any]:
    assert run.outputs is not None, run.error
    return run.outputs


def llm(id: str, prompt: str, **config: Any) -> dict[str, Any]:
    return node(id, "llm", {"prompt": prompt, "model": "sim-small", **config})


def test_chain_runs_and_records_tokens_cost_and_events(team: Any) -> None:
    doc = graph(
        [
            node("in", "input", {"key": "topic"}),
            llm("writer", "Write about {{ input }}"),
            node("out", "output"),
        ],
        [edge("in", "out", "writer", "in"), edge("writer", "text", "out", "in")],
        inputs={
            "type": "object",
            "properties": {"topic": {"type": "string"}},
            "required": ["topic"],
        },
    )
    run = wait_for(do_start_run(publish(team, "chain", doc), {"topic": "tides"}))
    assert run.status == "succeeded", run.error
    assert "tides" in outputs(run)["result"]
    writer = Step.objects.get(run=run, node_id="writer")
    assert writer.tokens_in > 0
    assert writer.tokens_out > 0
    assert writer.cost_usd is not None
    assert writer.cost_usd > 0
    assert writer.latency_ms
    assert writer.latency_ms > 0
    assert writer.ttft_ms is not None
    call = LLMCallRecord.objects.get(step=writer)
    assert call.simulated
    assert call.provider == "Simulator"
    assert run.tokens_in == writer.tokens_in
    assert run.cost_usd == writer.cost_usd
    seqs = list(RunEvent.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # gap-free
    types = list(RunEvent.objects.filter(run=run).values_list("type", flat=True))
    assert types[0] == "run.queued"
    assert types[-1] == "run.succeeded"
    assert "llm.call" in types


def test_parallel_branches_overlap_in_time(team: Any) -> None:
    slow = "[[fake:latency_ms=1500]] {{ input }}"
    doc = graph(
        [
            node("in", "input"),
            llm("a", "A " + slow),
            llm("b", "B " + slow),
            node("join", "join", {"mode": "list"}),
            node("out", "output"),
        ],
        [
            edge("in", "out", "a", "in"),
            edge("in", "out", "b", "in"),
            edge("a", "text", "join", "in"),
            edge("b", "text", "join", "in"),
            edge("join", "out", "out", "in"),
        ],
    )
    run = wait_for(do_start_run(publish(team, "fanout", doc), {}))
    assert run.status == "succeeded", run.error
    a, b = (Step.objects.get(run=run, node_id=n) for n in ("a", "b"))
    assert a.started_at
    assert a.finished_at
    assert b.started_at
    assert b.finished_at
    assert a.started_at < b.finished_at
    assert b.started_at < a.finished_at
    assert run.finished_at
    assert run.started_at
    total = (run.finished_at - run.started_at).total_seconds()
    assert total < 2 * 1.5, f"branches ran one after the other ({total:.2f} s)"
    assert len(outputs(run)["result"]) == 2


def test_router_skips_unchosen_branch_and_join_waits_for_live_ones(team: Any) -> None:
    doc = graph(
        [
            node("in", "input", {"key": "n"}),
            node("route", "router", {"routes": [{"name": "big", "condition": "input > 10"}]}),
            node("big", "template", {"template": "big {{ input }}"}),
            node("small", "template", {"template": "small {{ input }}"}),
            node("after_big", "template", {"template": "after {{ input }}"}),
            node("join", "join", {"mode": "list"}),
            node("out", "output"),
        ],
        [
            edge("in", "out", "route", "in"),
            edge("route", "big", "big", "in"),
            edge("route", "default", "small", "in"),
            edge("big", "text", "after_big", "in"),
            edge("after_big", "text", "join", "in"),
            edge("small", "text", "join", "in"),
            edge("join", "out", "out", "in"),
        ],
        inputs={"type": "object", "properties": {"n": {"type": "integer"}}},
    )
    version = publish(team, "router", doc)
    run = wait_for(do_start_run(version, {"n": 3}))
    assert run.outputs == {"result": ["small 3"]}
    statuses = dict(Step.objects.filter(run=run).values_list("node_id", "status"))
    assert statuses["big"] == "skipped"
    assert statuses["after_big"] == "skipped"
    run = wait_for(do_start_run(version, {"n": 30}))
    assert run.outputs == {"result": ["after big 30"]}


def test_map_runs_items_in_parallel_and_keeps_input_order(team: Any) -> None:
    doc = graph(
        [
            node("in", "input", {"key": "items"}),
            node(
                "each",
                "map",
                {
                    "body": {"type": "template", "config": {"template": "#{{ index }}={{ item }}"}},
                    "max_concurrency": 2,
                },
            ),
            node("out", "output"),
        ],
        [edge("in", "out", "each", "items"), edge("each", "results", "out", "in")],
        inputs={"type": "object", "properties": {"items": {"type": "array"}}},
    )
    run = wait_for(do_start_run(publish(team, "map", doc), {"items": list("abcde")}))
    assert run.status == "succeeded", run.error
    assert outputs(run)["result"] == ["#0=a", "#1=b", "#2=c", "#3=d", "#4=e"]
    assert Step.objects.filter(run=run, item__isnull=False).count() == 5


def test_loop_runs_until_max_iterations(team: Any) -> None:
    doc = graph(
        [
            node("in", "input", {"key": "draft"}),
            node("loop", "loop", {"condition": "'done' in value", "max_iterations": 3}),
            node("revise", "template", {"template": "{{ input }}+"}),
            node("out", "output"),
        ],
        [
            edge("in", "out", "loop", "init"),
            edge("loop", "body", "revise", "in"),
            edge("revise", "text", "loop", "feedback"),
            edge("loop", "done", "out", "in"),
        ],
        inputs={"type": "object", "properties": {"draft": {"type": "string"}}},
    )
    run = wait_for(do_start_run(publish(team, "loop", doc), {"draft": "v"}))
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": "v+++"}
    assert Step.objects.filter(run=run, node_id="revise").count() == 3


def test_subworkflow_runs_as_a_linked_child_run(team: Any) -> None:
    child_doc = graph(
        [
            node("in", "input", {"key": "x"}),
            node("t", "template", {"template": "child {{ input }}"}),
            node("out", "output"),
        ],
        [edge("in", "out", "t", "in"), edge("t", "text", "out", "in")],
    )
    publish(team, "Child", child_doc)
    parent_doc = graph(
        [
            node("in", "input"),
            node("call", "subworkflow", {"workflow": "Child"}),
            node("out", "output"),
        ],
        [edge("in", "out", "call", "in"), edge("call", "out", "out", "in")],
    )
    run = wait_for(do_start_run(publish(team, "Parent", parent_doc), {"x": 7}))
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": {"result": "child 7"}}
    child = Run.objects.get(parent_run=run)
    assert child.status == "succeeded"
    assert Step.objects.get(run=run, node_id="call").child_run_id == child.pk


def test_provider_retries_429_honouring_retry_after(team: Any) -> None:
    doc = graph(
        [
            node("in", "input"),
            llm("ask", "[[fake:error=429,times=2,key=r429,retry_after=0.2]] hello"),
            node("out", "output"),
        ],
        [edge("in", "out", "ask", "in"), edge("ask", "text", "out", "in")],
    )
    run = wait_for(do_start_run(publish(team, "retry429", doc), {}))
    assert run.status == "succeeded", run.error
    call = LLMCallRecord.objects.get(run=run)
    assert call.retries == 2
    assert call.latency_ms >= 400


def test_failed_attempt_is_retried_as_a_new_step_row(team: Any, fake_llm: str) -> None:
    simulator(team, fake_llm, max_retries=0)
    doc = graph(
        [
            node("in", "input"),
            llm("ask", "[[fake:error=500,times=1,key=node-retry]] hi", retry_backoff_s=0.1),
            node("out", "output"),
        ],
        [edge("in", "out", "ask", "in"), edge("ask", "text", "out", "in")],
    )
    run = wait_for(do_start_run(publish(team, "retry500", doc), {}))
    assert run.status == "succeeded", run.error
    attempts = list(
        Step.objects.filter(run=run, node_id="ask")
        .order_by("attempt")
        .values_list("attempt", "status", "superseded")
    )
    assert attempts == [(1, "failed", True), (2, "succeeded", False)]
    assert RunEvent.objects.filter(run=run, type="step.retrying").count() == 1


def test_timeout_fails_the_step_and_the_run(team: Any) -> None:
    doc = graph(
        [
            node("in", "input"),
            llm("ask", "[[fake:hang]]", timeout_s=1, max_attempts=1),
            node("out", "output"),
        ],
        [edge("in", "out", "ask", "in"), edge("ask", "text", "out", "in")],
    )
    run = wait_for(do_start_run(publish(team, "timeout", doc), {}))
    assert run.status == "failed"
    assert "timed out after 1 s" in run.error
    assert Step.objects.get(run=run, node_id="ask").status == "failed"


def test_cancel_interrupts_an_inflight_llm_call_within_two_seconds(team: Any) -> None:
    doc = graph(
        [node("in", "input"), llm("ask", "[[fake:hang]]", timeout_s=600), node("out", "output")],
        [edge("in", "out", "ask", "in"), edge("ask", "text", "out", "in")],
    )
    run = do_start_run(publish(team, "cancel", doc), {})
    deadline = time.monotonic() + 10
    while not Step.objects.filter(run=run, node_id="ask", status="running").exists():
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    cancelled_at = time.monotonic()
    do_cancel_run(run)
    step = Step.objects.get(run=run, node_id="ask")
    while not RunEvent.objects.filter(run=run, type="step.cancelled").exists():
        assert time.monotonic() - cancelled_at < 2.0, "the LLM call was not interrupted in 2 s"
        time.sleep(0.05)
    step.refresh_from_db()
    assert step.status == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_invalid_graph_is_refused_with_every_problem(team: Any) -> None:
    doc = graph(
        [node("in", "input"), node("x", "nonsense"), node("t", "template", {})],
        [edge("in", "out", "t", "nope")],
        output="missing",
    )
    workflow = do_create_workflow(team, "broken", graph=doc)
    with pytest.raises(GraphInvalid) as info:
        do_publish(workflow)
    codes = {p.code for p in info.value.problems}
    assert {"unknown_node_type", "unknown_port", "output_ref_unknown"} <= codes
    assert workflow.versions.count() == 0


def test_bad_run_inputs_are_refused_and_nothing_is_stored(team: Any) -> None:
    doc = graph(
        [node("in", "input"), node("out", "output")],
        [edge("in", "out", "out", "in")],
        inputs={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    )
    version = publish(team, "typed", doc)
    with pytest.raises(RunInputError) as info:
        do_start_run(version, {"n": "three"})
    assert "n" in str(info.value)
    assert Run.objects.count() == 0


def test_no_step_is_recorded_twice(team: Any) -> None:
    doc = graph(
        [
            node("in", "input", {"key": "items"}),
            node(
                "each",
                "map",
                {
                    "body": {"type": "template", "config": {"template": "{{ item }}"}},
                    "max_concurrency": 8,
                },
            ),
            node("out", "output"),
        ],
        [edge("in", "out", "each", "items"), edge("each", "results", "out", "in")],
    )
    run = wait_for(do_start_run(publish(team, "dupes", doc), {"items": list(range(40))}))
    assert run.status == "succeeded", run.error
    dupes = (
        Step.objects.filter(run=run, superseded=False)
        .values("node_id", "iteration", "item")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(dupes) == []
    assert (
        not Step.objects.filter(run=run)
        .exclude(status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED])
        .exists()
    )


def test_api_key_never_reaches_events_payloads_or_errors(team: Any, fake_llm: str) -> None:
    secret = "sk-live-DO-NOT-LEAK-123456"
    simulator(team, fake_llm, api_key=secret)
    doc = graph(
        [
            node("in", "input"),
            llm("ok", "hello"),
            llm("bad", "[[fake:error=500]] {{ input }}", max_attempts=1),
            node("out", "output"),
        ],
        [
            edge("in", "out", "ok", "in"),
            edge("ok", "text", "bad", "in"),
            edge("bad", "text", "out", "in"),
        ],
    )
    run = wait_for(do_start_run(publish(team, "secret", doc), {}))
    assert run.status == "failed"
    stored = [
        *RunEvent.objects.filter(run=run).values_list("payload", flat=True),
        *StepPayload.objects.filter(step__run=run).values_list("inputs", "outputs", "logs"),
        *Step.objects.filter(run=run).values_list("error", flat=True),
        run.error,
    ]
    assert stored
    assert secret not in json.dumps(stored, default=str)


def test_map_collects_item_failures_when_configured(team: Any) -> None:
    doc = graph(
        [
            node("in", "input", {"key": "items"}),
            node(
                "each",
                "map",
                {
                    "on_item_error": "collect",
                    "body": {
                        "type": "template",
                        "config": {"template": "{{ item.name }}", "max_attempts": 1},
                    },
                },
            ),
            node("out", "output"),
        ],
        [edge("in", "out", "each", "items"), edge("each", "errors", "out", "in")],
    )
    items = [{"name": "a"}, 5, {"name": "c"}]
    run = wait_for(do_start_run(publish(team, "collect", doc), {"items": items}))
    assert run.status == "succeeded", run.error
    errors = outputs(run)["result"]
    assert errors[0] is None
    assert errors[2] is None
    assert "name" in errors[1]
    parent = Step.objects.get(run=run, node_id="each", item__isnull=True)
    assert parent.payload.outputs is not None
    assert parent.payload.outputs["results"] == ["a", None, "c"]
