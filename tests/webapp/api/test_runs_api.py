"""/api/workflows/{id}/runs and /api/runs over a real Celery worker, Postgres,
Redis and the fake LLM server, as the three personas."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client

from tests.conftest import Personas, WorkerPool, client_for
from tests.webapp.api.helpers import call, echo_graph
from tests.webapp.runs.helpers import edge, graph, node, simulator
from webapp.runs.models import Run
from webapp.runs.worker import cancel_key

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TERMINAL = {"succeeded", "failed", "cancelled"}
TOPIC_SCHEMA = {
    "type": "object",
    "properties": {"topic": {"type": "string"}},
    "required": ["topic"],
}


@pytest.fixture(autouse=True)
def no_stray_cancel_flags() -> Iterator[redis.Redis]:
    """Remove cancel flags left in the test Redis database by earlier sessions:
    they are keyed by run id alone, and ids start again with each test database
    (see test_a_stray_cancel_flag_does_not_cancel_a_run)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    pattern = cancel_key(0).removesuffix("0") + "*"
    for key in client.scan_iter(pattern):
        client.delete(key)
    yield client
    for key in client.scan_iter(pattern):
        client.delete(key)
    client.close()


@pytest.fixture
def team(personas: Personas, fake_llm: str, celery_worker_process: WorkerPool) -> Personas:
    """The personas, with team A given a Simulator provider and a worker running."""
    simulator(personas.team_a, fake_llm)
    return personas


def llm(id: str, prompt: str, **config: Any) -> dict[str, Any]:
    return node(id, "llm", {"prompt": prompt, "model": "sim-small", **config})


def one_llm_graph(prompt: str, **config: Any) -> dict[str, Any]:
    return graph(
        [
            node("in", "input", {"key": "topic"}),
            llm("ask", prompt, **config),
            node("out", "output"),
        ],
        [edge("in", "out", "ask", "in"), edge("ask", "text", "out", "in")],
        inputs=TOPIC_SCHEMA,
    )


def published(client: Client, name: str, document: dict[str, Any]) -> int:
    """Create and publish a workflow through the API; its id."""
    created = call(client, "post", "/api/workflows", {"name": name, "graph": document})
    assert created.status_code == 201, created.content
    workflow_id: int = created.json()["id"]
    version = call(client, "post", f"/api/workflows/{workflow_id}/versions", {})
    assert version.status_code == 201, version.content
    return workflow_id


def start(client: Client, workflow_id: int, inputs: dict[str, Any]) -> dict[str, Any]:
    response = call(client, "post", f"/api/workflows/{workflow_id}/runs", {"inputs": inputs})
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def poll(
    client: Client,
    run_id: int,
    until: Callable[[dict[str, Any]], bool] = lambda run: run["status"] in TERMINAL,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """GET /api/runs/{id} until `until(run)` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/api/runs/{run_id}")
        assert response.status_code == 200, response.content
        run: dict[str, Any] = response.json()
        if until(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} never got there: {run}"
        time.sleep(0.1)


def step_status(run: dict[str, Any], node_id: str) -> str | None:
    statuses = [s["status"] for s in run["steps"] if s["node_id"] == node_id]
    return statuses[-1] if statuses else None


def test_a_run_started_through_the_api_succeeds_with_steps_and_outputs(team: Personas) -> None:
    owner = client_for(team.owner_a)
    workflow_id = published(owner, "Writer", one_llm_graph("Write about {{ input }}"))
    started = start(owner, workflow_id, {"topic": "tides"})
    assert started["status"] in {"queued", "running"}
    assert (started["workflow_id"], started["version"]) == (workflow_id, 1)
    assert started["inputs"] == {"topic": "tides"}

    run = poll(owner, started["id"])
    assert run["status"] == "succeeded", run["error"]
    assert "tides" in run["outputs"]["result"]
    assert run["finished_at"] is not None
    steps = {s["node_id"]: s for s in run["steps"]}
    assert set(steps) == {"in", "ask", "out"}
    assert {s["status"] for s in steps.values()} == {"succeeded"}
    ask = steps["ask"]
    assert (ask["node_type"], ask["provider"], ask["model"]) == ("llm", "Simulator", "sim-small")
    assert ask["tokens_in"] > 0
    assert ask["tokens_out"] > 0
    assert ask["latency_ms"] > 0
    assert "tides" in ask["outputs"]["text"]
    assert (run["tokens_in"], run["tokens_out"]) == (ask["tokens_in"], ask["tokens_out"])
    assert Decimal(run["cost_usd"]) == Decimal(ask["cost_usd"]) > 0
    assert run["step_count"] == len(run["steps"])

    assert client_for(team.viewer_a).get(f"/api/runs/{run['id']}").json()["status"] == "succeeded"
    assert client_for(team.member_b).get(f"/api/runs/{run['id']}").status_code == 404


def test_bad_inputs_are_400_listing_every_problem_and_store_nothing(personas: Personas) -> None:
    owner = client_for(personas.owner_a)
    schema = TOPIC_SCHEMA | {"properties": {"topic": {"type": "string"}, "n": {"type": "integer"}}}
    workflow_id = published(owner, "Typed", echo_graph("topic", schema))
    url = f"/api/workflows/{workflow_id}/runs"
    response = call(owner, "post", url, {"inputs": {"n": "three"}})
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert {(p["code"], p["field"]) for p in problems} == {
        ("invalid_run_input", "$"),  # topic is missing
        ("invalid_run_input", "$.n"),
    }
    assert "topic" in response.json()["detail"]
    assert not Run.objects.exists()


def test_a_workflow_without_a_published_version_cannot_run(personas: Personas) -> None:
    owner = client_for(personas.owner_a)
    created = call(owner, "post", "/api/workflows", {"name": "Unpublished", "graph": echo_graph()})
    url = f"/api/workflows/{created.json()['id']}/runs"
    response = call(owner, "post", url, {"inputs": {}})
    assert response.status_code == 400
    assert "Unpublished" in response.json()["detail"]
    assert "version" in response.json()["detail"]

    call(owner, "post", url.replace("/runs", "/versions"), {})
    missing = call(owner, "post", url, {"inputs": {}, "version": 7})
    assert missing.status_code == 400
    assert "version 7" in missing.json()["detail"]
    assert not Run.objects.exists()


def test_viewers_may_not_start_runs(personas: Personas) -> None:
    workflow_id = published(client_for(personas.owner_a), "Echo", echo_graph())
    url = f"/api/workflows/{workflow_id}/runs"
    assert call(client_for(personas.viewer_a), "post", url, {"inputs": {}}).status_code == 403
    assert call(client_for(personas.member_b), "post", url, {"inputs": {}}).status_code == 404
    assert not Run.objects.exists()


def test_run_list_is_scoped_to_the_users_teams_and_filtered(team: Personas) -> None:
    owner, viewer, member_b = (client_for(u) for u in (team.owner_a, team.viewer_a, team.member_b))
    echo = published(owner, "Echo", echo_graph())
    stuck = published(owner, "Stuck", one_llm_graph("[[fake:hang]]", timeout_s=1, max_attempts=1))
    theirs = published(member_b, "Theirs", echo_graph())
    ok = poll(owner, start(owner, echo, {})["id"])
    failed = poll(owner, start(owner, stuck, {"topic": "t"})["id"])
    other = poll(member_b, start(member_b, theirs, {})["id"])
    assert (ok["status"], failed["status"], other["status"]) == ("succeeded", "failed", "succeeded")

    def ids(client: Client, query: str = "") -> list[int]:
        response = client.get("/api/runs" + query)
        assert response.status_code == 200, response.content
        return [run["id"] for run in response.json()]

    assert ids(owner) == [failed["id"], ok["id"]]  # newest first
    assert ids(viewer) == [failed["id"], ok["id"]]
    assert ids(member_b) == [other["id"]]
    assert ids(member_b, f"?workflow={echo}") == []
    assert ids(owner, f"?workflow={echo}") == [ok["id"]]
    assert ids(owner, "?status=failed") == [failed["id"]]
    assert ids(owner, "?status=succeeded") == [ok["id"]]
    assert ids(owner, f"?workflow={echo}&status=failed") == []
    assert ids(owner, "?limit=1") == [failed["id"]]
    assert Client().get("/api/runs").status_code == 401


def test_cancelling_a_run_interrupts_its_hanging_llm_call(team: Personas) -> None:
    owner, viewer, member_b = (client_for(u) for u in (team.owner_a, team.viewer_a, team.member_b))
    workflow_id = published(owner, "Hang", one_llm_graph("[[fake:hang]]", timeout_s=600))
    run_id = start(owner, workflow_id, {"topic": "t"})["id"]
    poll(owner, run_id, lambda run: step_status(run, "ask") == "running", timeout_s=15)
    cancel = f"/api/runs/{run_id}/cancel"

    assert viewer.post(cancel).status_code == 403
    assert member_b.post(cancel).status_code == 404
    assert member_b.get(f"/api/runs/{run_id}").status_code == 404
    assert Run.objects.get(pk=run_id).status == "running"

    response = owner.post(cancel)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert "owner_a" in response.json()["error"]
    run = poll(owner, run_id, lambda run: step_status(run, "ask") == "cancelled", timeout_s=5)
    assert run["status"] == "cancelled"
    assert run["finished_at"] is not None
    assert step_status(run, "out") is None, "nothing runs after a cancel"
    assert owner.post(cancel).json()["status"] == "cancelled"  # cancelling again is harmless


def test_a_stray_cancel_flag_does_not_cancel_a_run(
    team: Personas, no_stray_cancel_flags: redis.Redis
) -> None:
    owner = client_for(team.owner_a)
    workflow_id = published(owner, "Hang", one_llm_graph("[[fake:hang]]", timeout_s=600))
    run_id = start(owner, workflow_id, {"topic": "t"})["id"]
    try:
        poll(owner, run_id, lambda run: step_status(run, "ask") == "running", timeout_s=15)
        # As left behind by a cancelled run that had this id in an earlier database.
        no_stray_cancel_flags.set(cancel_key(run_id), "1")
        time.sleep(1.0)  # the watcher polls the flag every 0.25 s
        run = owner.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "running"
        assert step_status(run, "ask") == "running", "nobody cancelled this run"
    finally:
        owner.post(f"/api/runs/{run_id}/cancel")  # release the hanging call
