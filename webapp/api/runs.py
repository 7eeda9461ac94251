"""/api/runs: start, list, inspect and cancel runs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from webapp.accounts.permissions import Action, get_for, restrict
from webapp.api.common import current_team
from webapp.runs import quotas
from webapp.runs.models import Run, RunStatus, Step
from webapp.runs.services import do_cancel_run, do_start_run, resolve_version
from webapp.workflows.models import Workflow

router = Router(tags=["runs"])


class StartIn(Schema):
    inputs: dict[str, Any] = {}
    version: int | None = None


class RunOut(Schema):
    id: int
    workflow_id: int
    version: int
    parent_run_id: int | None
    status: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    step_count: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    unpriced_calls: int


class StepOut(Schema):
    id: int
    node_id: str
    node_type: str
    iteration: int
    item: int | None
    attempt: int
    status: str
    queue: str
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    queue_wait_ms: float | None
    latency_ms: float | None
    ttft_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal | None
    provider: str
    model: str
    worker: str
    error: str
    child_run_id: int | None
    outputs: dict[str, Any] | None


class RunDetail(RunOut):
    steps: list[StepOut]


def _run(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "workflow_id": run.workflow_id,
        "version": run.version.number,
        "parent_run_id": run.parent_run_id,
        "status": run.status,
        "inputs": run.inputs,
        "outputs": run.outputs,
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "step_count": run.step_count,
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost_usd": run.cost_usd,
        "unpriced_calls": run.unpriced_calls,
    }


def _step(step: Step) -> dict[str, Any]:
    data = {name: getattr(step, name) for name in StepOut.model_fields if name != "outputs"}
    data["id"] = step.pk
    data["outputs"] = step.payload.outputs if hasattr(step, "payload") else None
    return data


@router.post("/workflows/{workflow_id}/runs", response={201: RunOut})
def start_run(request: HttpRequest, workflow_id: int, body: StartIn) -> Status[dict[str, Any]]:
    """Start a run of the latest (or the given) published version; 400 lists bad inputs."""
    workflow = get_for(request.user, Workflow, Action.START_RUN, pk=workflow_id)
    version = resolve_version(workflow.team_id, str(workflow.pk), body.version)
    run = do_start_run(version, body.inputs, user=request.user)
    return Status(201, _run(run))


@router.get("/runs", response=list[RunOut])
def list_runs(
    request: HttpRequest,
    workflow: int | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Runs of the user's teams, newest first."""
    runs = restrict(Run.objects.select_related("version"), request.user, Action.VIEW)
    if workflow is not None:
        runs = runs.filter(workflow_id=workflow)
    if status:
        runs = runs.filter(status=status)
    return [_run(r) for r in runs.order_by("-created_at")[: max(1, min(limit, 500))]]


@router.get("/runs/{run_id}", response=RunDetail)
def get_run(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """A run with every step attempt (ordered by id)."""
    run = get_for(request.user, Run.objects.select_related("version"), Action.VIEW, pk=run_id)
    steps = run.steps.select_related("payload").order_by("id")
    return _run(run) | {"steps": [_step(s) for s in steps]}


@router.post("/runs/{run_id}/cancel", response=RunOut)
def cancel_run(request: HttpRequest, run_id: int) -> dict[str, Any]:
    run = get_for(request.user, Run.objects.select_related("version"), Action.CANCEL_RUN, pk=run_id)
    return _run(do_cancel_run(run, reason=f"cancelled by {request.user.get_username()}"))


class QuotaOut(Schema):
    max_concurrent_runs: int  # 0 = no limit
    monthly_budget_usd: Decimal | None
    spent_this_month_usd: Decimal
    budget_level: str | None  # ok | warning (>= 80 %) | exhausted; None without a budget
    running_runs: int
    waiting_runs: int


class QuotaIn(Schema):
    max_concurrent_runs: int | None = Field(default=None, ge=0, description="0 = no limit")
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0, description="USD per month")
    remove_budget: bool = False


def _quota_out(team_id: int) -> dict[str, Any]:
    quota = quotas.quota_for(team_id)
    budget = quotas.budget_state(quota)
    top = Run.objects.filter(team_id=team_id, parent_run__isnull=True)
    return {
        "max_concurrent_runs": quota.max_concurrent_runs,
        "monthly_budget_usd": quota.monthly_budget_usd,
        "spent_this_month_usd": budget.spent_usd if budget else quotas.spent_this_month(team_id),
        "budget_level": budget.level if budget else None,
        "running_runs": top.filter(status__in=quotas.ACTIVE).count(),
        "waiting_runs": top.filter(status=RunStatus.QUEUED).count(),
    }


@router.get("/quota", response=QuotaOut)
def get_quota(request: HttpRequest) -> dict[str, Any]:
    """The current team's concurrent-run limit and monthly budget (view costs)."""
    return _quota_out(current_team(request, Action.VIEW_COSTS).pk)


@router.patch("/quota", response=QuotaOut)
def set_quota(request: HttpRequest, body: QuotaIn) -> dict[str, Any]:
    """Change the current team's limits (owners and admins). Fields left out
    stay as they are; `remove_budget` drops the budget."""
    team = current_team(request, Action.MANAGE_MEMBERS)
    budget: Decimal | str | None = "keep"
    if body.remove_budget:
        budget = None
    elif body.monthly_budget_usd is not None:
        budget = body.monthly_budget_usd
    quotas.do_set_quota(
        team.pk, max_concurrent_runs=body.max_concurrent_runs, monthly_budget_usd=budget
    )
    return _quota_out(team.pk)
