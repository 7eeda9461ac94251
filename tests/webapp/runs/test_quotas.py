"""Team quotas through real workers: concurrent-run backpressure, the monthly
budget (refusal, stopping LLM steps in flight, the 80 % warning), fair queues."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command

from tests.conftest import Personas, WorkerPool, client_for
from tests.webapp.runs.helpers import edge, graph, node, publish, simulator, wait_for
from webapp.celery import shard_queue
from webapp.runs import quotas
from webapp.runs.models import Run, RunEvent, Step, TeamQuota
from webapp.runs.services import BudgetExhausted, do_start_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(personas: Personas, fake_llm: str, celery_worker_process: WorkerPool) -> Any:
    simulator(personas.team_a, fake_llm)
    yield personas.team_a
    quotas.clear_budget_flag(personas.team_a.pk)


def llm_chain(prompt: str) -> dict[str, Any]:
    return graph(
        [
            node("in", "input"),
            node("ask", "llm", {"prompt": prompt, "model": "sim-small"}),
            node("out", "output"),
        ],
        [edge("in", "out", "ask", "in"), edge("ask", "text", "out", "in")],
    )


def test_runs_over_the_limit_wait_in_order_and_start_as_others_end(team: Any) -> None:
    quotas.do_set_quota(team.pk, max_concurrent_runs=1)
    version = publish(team, "slow", llm_chain("[[fake:latency_ms=700]] hi"))
    runs = [do_start_run(version, {}) for _ in range(3)]
    waiting = RunEvent.objects.filter(run__in=runs[1:], type="run.waiting")
    assert waiting.count() == 2
    assert "limit of 1 runs" in waiting.first().payload["reason"]  # type: ignore[union-attr]
    assert [Run.objects.get(pk=r.pk).status for r in runs[1:]] == ["queued", "queued"]
    finished = [wait_for(run, timeout_s=60) for run in runs]
    assert [run.status for run in finished] == ["succeeded"] * 3
    # One at a time, in the order they were started.
    for earlier, later in itertools.pairwise(finished):
        assert earlier.finished_at is not None
        assert later.started_at is not None
        assert later.started_at >= earlier.finished_at


def test_no_limit_runs_everything_at_once(team: Any) -> None:
    quotas.do_set_quota(team.pk, max_concurrent_runs=0)
    version = publish(team, "slow", llm_chain("[[fake:latency_ms=700]] hi"))
    runs = [do_start_run(version, {}) for _ in range(3)]
    assert not RunEvent.objects.filter(run__in=runs, type="run.waiting").exists()
    assert all(wait_for(run).status == "succeeded" for run in runs)


def test_spent_budget_refuses_new_runs(team: Any, personas: Personas) -> None:
    version = publish(team, "ask", llm_chain("hello there"))
    first = wait_for(do_start_run(version, {}))
    assert first.status == "succeeded"
    assert first.cost_usd > 0
    # A budget below what the month already cost: exhausted at once.
    quotas.do_set_quota(team.pk, monthly_budget_usd=first.cost_usd / 2)
    state = quotas.budget_state(quotas.quota_for(team.pk))
    assert state is not None
    assert state.level == "exhausted"
    assert state.spent_usd == first.cost_usd
    before = Run.objects.count()
    with pytest.raises(BudgetExhausted, match="budget exhausted"):
        do_start_run(version, {})
    response = client_for(personas.owner_a).post(
        f"/api/workflows/{version.workflow_id}/runs",
        {"inputs": {}},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert "budget exhausted" in response.json()["detail"]
    assert Run.objects.count() == before  # nothing stored


def test_run_that_spends_the_budget_raises_the_flag(team: Any) -> None:
    quotas.do_set_quota(team.pk, monthly_budget_usd=Decimal("0.000001"))
    version = publish(team, "ask", llm_chain("hello there"))
    run = wait_for(do_start_run(version, {}))
    assert run.status == "succeeded"  # the call that crossed the line completes
    quota = TeamQuota.objects.get(team=team)
    assert quota.spent_usd == run.cost_usd
    deadline = time.monotonic() + 5
    while quotas.budget_exhausted(team.pk) is None:  # raised after the record's commit
        assert time.monotonic() < deadline, "budget flag never raised"
        time.sleep(0.05)
    with pytest.raises(BudgetExhausted):
        do_start_run(version, {})


def test_exhausted_budget_stops_a_running_llm_step(team: Any) -> None:
    quotas.do_set_quota(team.pk, monthly_budget_usd=Decimal("100"))
    version = publish(team, "long", llm_chain("[[fake:latency_ms=20000]] think long"))
    run = do_start_run(version, {})
    deadline = time.monotonic() + 15
    while not Step.objects.filter(run=run, node_id="ask", status="running").exists():
        assert time.monotonic() < deadline, "the llm step never started"
        time.sleep(0.05)
    time.sleep(0.3)
    stopped_at = time.monotonic()
    quotas.do_set_quota(team.pk, monthly_budget_usd=Decimal("0"))  # now spent
    run = wait_for(run, timeout_s=15)
    assert time.monotonic() - stopped_at < 5
    assert run.status == "failed"
    step = Step.objects.get(run=run, node_id="ask")
    assert step.status == "failed"
    assert step.error.startswith("budget exhausted")
    assert step.attempt == 1  # not retried
    assert "budget exhausted" in run.error


def test_pages_warn_at_80_percent_and_say_what_stops_at_100(team: Any, personas: Personas) -> None:
    TeamQuota.objects.update_or_create(
        team=team,
        defaults={
            "monthly_budget_usd": Decimal("10"),
            "spent_month": quotas.month_start(),
            "spent_usd": Decimal("8.5"),
        },
    )
    viewer = client_for(personas.viewer_a)
    page = viewer.get("/").content.decode()
    assert 'data-budget="warning"' in page
    assert "$8.50 of its $10.00 monthly budget (85 %)" in page
    TeamQuota.objects.filter(team=team).update(spent_usd=Decimal("10"))
    page = viewer.get("/").content.decode()
    assert 'data-budget="exhausted"' in page
    assert "new runs are refused" in page
    TeamQuota.objects.filter(team=team).update(spent_usd=Decimal("1"))
    assert "data-budget" not in viewer.get("/").content.decode()
    # Another team's members see nothing of it.
    assert "data-budget" not in client_for(personas.member_b).get("/").content.decode()


def test_quota_api_by_role(team: Any, personas: Personas) -> None:
    owner, viewer = client_for(personas.owner_a), client_for(personas.viewer_a)
    body = {"max_concurrent_runs": 3, "monthly_budget_usd": "25.50"}
    assert viewer.patch("/api/quota", body, content_type="application/json").status_code == 403
    response = owner.patch("/api/quota", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["max_concurrent_runs"] == 3
    assert Decimal(response.json()["monthly_budget_usd"]) == Decimal("25.50")
    assert response.json()["budget_level"] == "ok"
    bad = owner.patch("/api/quota", {"max_concurrent_runs": -1}, content_type="application/json")
    assert bad.status_code == 422
    assert TeamQuota.objects.get(team=team).max_concurrent_runs == 3  # unchanged
    # Team B's member reads and changes only team B's quota.
    other = client_for(personas.member_b).get("/api/quota")
    assert other.status_code == 200
    assert other.json()["max_concurrent_runs"] == 20  # the default, not team A's 3
    assert (
        client_for(personas.member_b)
        .patch("/api/quota", {"max_concurrent_runs": 9}, content_type="application/json")
        .status_code
        == 403
    )  # an editor may not change limits
    assert TeamQuota.objects.get(team=team).max_concurrent_runs == 3
    removed = owner.patch("/api/quota", {"remove_budget": True}, content_type="application/json")
    assert removed.json()["monthly_budget_usd"] is None


def test_set_quota_command(team: Any, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("set_quota", team=team.slug, max_concurrent_runs=4, monthly_budget_usd="12")
    quota = TeamQuota.objects.get(team=team)
    assert (quota.max_concurrent_runs, quota.monthly_budget_usd) == (4, Decimal("12"))
    assert "concurrent runs 4; monthly budget $12" in capsys.readouterr().out


def test_each_team_has_its_own_queue_shard(personas: Personas) -> None:
    a = shard_queue("io", personas.team_a.pk)
    b = shard_queue("io", personas.team_b.pk)
    assert a.startswith("io.")
    assert b.startswith("io.")
    assert a != b  # consecutive team ids land on different shards
