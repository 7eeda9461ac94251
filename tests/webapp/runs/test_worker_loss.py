"""A worker killed with SIGKILL mid-step: the run still completes, nothing twice."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from django.db.models import Count

from tests.conftest import Personas, WorkerPool, start_worker, stop_worker
from tests.webapp.runs.helpers import edge, graph, node, publish, simulator, wait_for
from webapp.runs.models import Run, Step
from webapp.runs.services import do_start_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def kill_victim_when(
    pool: WorkerPool, start: Callable[[], Run], ready: Callable[[Run], bool], never: str
) -> Run:
    """With the session's worker stopped, start a run on a lone victim worker,
    SIGKILL it 0.5 s after `ready(run)` holds (failing with `never` after 15 s),
    then start the session's worker again as the survivor. Returns the run."""
    pool.stop()  # only the victim may pick the run's steps up
    victim = start_worker()
    try:
        run = start()
        deadline = time.monotonic() + 15
        while not ready(run):
            assert time.monotonic() < deadline, never
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        stop_worker(victim)
    pool.start()  # the survivor (and the session's worker from now on)
    return run


def test_sigkilled_worker_mid_step_run_completes_without_duplicates(
    personas: Personas, fake_llm: str, celery_worker_process: WorkerPool
) -> None:
    team = personas.team_a
    simulator(team, fake_llm)
    doc = graph(
        [
            node("in", "input"),
            node("slow", "llm", {"prompt": "[[fake:latency_ms=4000]] think", "model": "sim-small"}),
            node("after", "template", {"template": "after: {{ input }}"}),
            node("out", "output"),
        ],
        [
            edge("in", "out", "slow", "in"),
            edge("slow", "text", "after", "in"),
            edge("after", "text", "out", "in"),
        ],
    )
    version = publish(team, "victim", doc)
    run = kill_victim_when(
        celery_worker_process,
        lambda: do_start_run(version, {}),
        lambda run: Step.objects.filter(run=run, node_id="slow", status="running").exists(),
        "the slow step never started",
    )
    run = wait_for(run, timeout_s=60, reap=True)
    assert run.status == "succeeded", run.error
    attempts = list(
        Step.objects.filter(run=run, node_id="slow")
        .order_by("attempt")
        .values_list("attempt", "status", "superseded", "error")
    )
    assert [a[:3] for a in attempts] == [(1, "failed", True), (2, "succeeded", False)]
    assert "lease expired" in attempts[0][3]
    dupes = (
        Step.objects.filter(run=run, superseded=False)
        .values("node_id", "iteration", "item")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(dupes) == []
    assert run.outputs is not None
    assert run.outputs["result"].startswith("after: ")


def test_sigkilled_worker_mid_map_items_every_item_recorded_once(
    personas: Personas, fake_llm: str, celery_worker_process: WorkerPool
) -> None:
    """Map items travel several to a message (engine.send_items) and are claimed
    together; a worker killed while running them loses none: their leases
    expire, each is retried alone, and each is recorded exactly once."""
    team = personas.team_a
    simulator(team, fake_llm)
    config = {"prompt": "[[fake:latency_ms=3000]] {{ item }}", "model": "sim-small"}
    body = {"type": "llm", "config": config}
    doc = graph(
        [
            node("in", "input", {"key": "items"}),
            node("map", "map", {"body": body, "max_concurrency": 6}),
            node("out", "output"),
        ],
        [edge("in", "out", "map", "items"), edge("map", "results", "out", "in")],
        inputs={"type": "object", "properties": {"items": {"type": "array"}}},
    )
    version = publish(team, "victim map", doc)
    run = kill_victim_when(
        celery_worker_process,
        lambda: do_start_run(version, {"items": [f"q{i}" for i in range(6)]}),
        lambda run: Step.objects.filter(run=run, item__isnull=False, status="running").count() >= 6,
        "the items never all started",
    )
    run = wait_for(run, timeout_s=90, reap=True)
    assert run.status == "succeeded", run.error
    items = Step.objects.filter(run=run, item__isnull=False)
    latest = items.filter(superseded=False)
    assert sorted(latest.values_list("item", "status")) == [(i, "succeeded") for i in range(6)]
    lost = items.filter(superseded=True)
    assert lost.count() == 6  # every killed item was retried, alone
    assert all("lease expired" in error for error in lost.values_list("error", flat=True))
    assert run.outputs is not None
    assert len(run.outputs["result"]) == 6
