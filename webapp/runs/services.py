"""Run state changes: start (also as a child of a subworkflow step) and cancel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orchestration.events import EventType
from orchestration.graph import Graph
from orchestration.validation import Problem, validate_inputs
from webapp import audit
from webapp.accounts.permissions import AnyUser
from webapp.runs import quotas
from webapp.runs.engine import advance, cancel_active_steps, run_totals
from webapp.runs.events import append_event
from webapp.runs.models import RUN_TERMINAL, Run, RunStatus, Step
from webapp.workflows.models import Workflow, WorkflowVersion
from webapp.workflows.services import author


class RunInputError(Exception):
    """The run cannot start: bad inputs or a missing version. `problems` lists them."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []


class BudgetExhausted(RunInputError):
    """The team's monthly budget is spent: no new run starts (webapp/runs/quotas.py)."""


def do_start_run(
    version: WorkflowVersion,
    inputs: dict[str, Any],
    *,
    user: AnyUser | None = None,
    parent_run: Run | None = None,
    parent_step: Step | None = None,
    deadline_s: float | None = None,
    max_steps: int | None = None,
) -> Run:
    """Create a run of `version` and queue its first steps (after commit).

    A top-level run beyond the team's concurrent-run limit is stored queued
    and starts when an earlier run ends (webapp/runs/quotas.py).

    Raises RunInputError listing every problem when `inputs` do not match the
    graph's input schema, and BudgetExhausted when the team's monthly budget is
    spent; nothing is stored then."""
    graph = Graph.model_validate(version.graph)
    problems = validate_inputs(graph, inputs)
    if problems:
        raise RunInputError("; ".join(p.message for p in problems), problems)
    budget = quotas.budget_state(quotas.quota_for(version.team_id))
    if budget is not None and budget.level == "exhausted":
        raise BudgetExhausted(budget.message)
    with transaction.atomic():
        run = Run.objects.create(
            team_id=version.team_id,
            workflow_id=version.workflow_id,
            version=version,
            inputs=inputs,
            parent_run=parent_run,
            parent_step=parent_step,
            created_by=author(user),
            deadline_at=timezone.now() + timedelta(seconds=deadline_s) if deadline_s else None,
            max_steps=max_steps or settings.RUN_MAX_STEPS,
        )
        run = Run.objects.select_for_update().select_related("version").get(pk=run.pk)
        append_event(
            run,
            EventType.RUN_QUEUED,
            {
                "run_id": run.pk,
                "workflow_id": run.workflow_id,
                "version": version.number,
                "parent_run_id": parent_run.pk if parent_run else None,
            },
        )
        if quotas.admit(run):
            advance(run)
        else:
            limit = quotas.quota_for(run.team_id).max_concurrent_runs
            reason = f"the team runs its limit of {limit} runs at once; starts when one ends"
            append_event(run, EventType.RUN_WAITING, {"reason": reason})
        audit.record(run.team_id, audit.AuditAction.RUN_STARTED, target=run, actor=user)
    return run


def resolve_version(team_id: int, workflow: str, version: int | None) -> WorkflowVersion:
    """A published version of the team's workflow named or id'd `workflow`.

    Raises RunInputError naming what is missing."""
    query = Workflow.objects.filter(team_id=team_id)
    found = query.filter(pk=int(workflow)).first() if workflow.isdigit() else None
    found = found or query.filter(name=workflow).first()
    if found is None:
        raise RunInputError(f"no workflow named {workflow!r} in this team")
    versions = found.versions.order_by("-number")
    chosen = versions.filter(number=version).first() if version else versions.first()
    if chosen is None:
        which = f"version {version}" if version else "published version"
        raise RunInputError(f"workflow {found.name!r} has no {which}")
    return chosen


def do_start_child_run(
    parent_run_id: int, step_id: int, workflow: str, version: int | None, inputs: dict[str, Any]
) -> Run:
    """Start the child run of a subworkflow step. Raises RunInputError."""
    parent = Run.objects.get(pk=parent_run_id)
    chosen = resolve_version(parent.team_id, workflow, version)
    remaining = None
    if parent.deadline_at:
        remaining = max(1.0, (parent.deadline_at - timezone.now()).total_seconds())
    return do_start_run(
        chosen,
        inputs,
        parent_run=parent,
        parent_step=Step.objects.get(pk=step_id),
        deadline_s=remaining,
        max_steps=parent.max_steps,
    )


def do_cancel_run(run: Run, *, reason: str = "cancelled by user") -> Run:
    """Cancel a run and its child runs: active steps are cancelled and running
    nodes are interrupted (their workers poll a Redis flag every 0.25 s)."""
    children: list[int] = []
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status in RUN_TERMINAL:
            return locked
        now = timezone.now()
        locked.status = RunStatus.CANCELLED
        locked.cancel_requested = True
        locked.error = reason
        locked.finished_at = now
        locked.save(update_fields=["status", "cancel_requested", "error", "finished_at"])
        cancel_active_steps(locked, now)
        audit.record(locked.team_id, audit.AuditAction.RUN_CANCELLED, target=locked)
        append_event(
            locked, EventType.RUN_CANCELLED, {"reason": reason, "totals": run_totals(locked)}
        )
        if locked.parent_step_id:
            from webapp.runs.worker import resume_parent

            resume_parent(locked)  # the parent's waiting step fails with this run
        children = list(
            Run.objects.filter(parent_run=locked)
            .exclude(status__in=RUN_TERMINAL)
            .values_list("pk", flat=True)
        )
    for child_id in children:
        do_cancel_run(Run.objects.get(pk=child_id), reason="parent run cancelled")
    if locked.parent_run_id is None:
        quotas.admit_waiting(locked.team_id)  # its slot is free now
    return locked
