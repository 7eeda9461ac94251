"""The runs list and the run page (with its htmx partials and JSON timeline).

Every object comes through webapp.accounts.permissions: another team's run is a
404, a role too low for cancel/retry a 403."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from webapp import audit
from webapp.accounts.models import Membership
from webapp.accounts.permissions import Action, can, get_for, membership_for, require, restrict
from webapp.monitoring.filters import (
    PAGE_SIZE,
    PRESETS,
    FilterError,
    apply_run_filters,
    cursor_for,
    parse_run_filters,
)
from webapp.monitoring.graphview import NODE_H, NODE_W, layout
from webapp.monitoring.timeline import timeline_figure
from webapp.runs.models import RUN_TERMINAL, Run, RunStatus, Step
from webapp.runs.services import RunInputError, do_cancel_run, do_start_run, resolve_version
from webapp.workflows.models import Workflow

STEP_TABLE_MAX = 500  # rows in the step table; the timeline and API have them all


def _team_or_none(request: HttpRequest) -> Any:
    return request.team  # type: ignore[attr-defined]


def _with_elapsed(run: Run) -> Run:
    """Set `run.elapsed_s` (seconds from started to finished, or to now while
    active; None before it starts) for the templates."""
    end = run.finished_at or (None if run.status in RUN_TERMINAL else timezone.now())
    started = run.started_at
    run.elapsed_s = (end - started).total_seconds() if started and end else None  # type: ignore[attr-defined]
    return run


@require_GET
@login_required
def runs_list(request: HttpRequest) -> HttpResponse:
    """The current team's runs, newest first, filtered (workflow, status, started
    by, time range) and paged by keyset cursor; live through ws/team/. An htmx
    request gets only the table (templates/monitoring/_runs_table.html)."""
    team = _team_or_none(request)
    if team is None:
        return render(request, "accounts/no_team.html")
    require(request.user, team, Action.VIEW)
    runs = restrict(Run.objects.filter(team=team), request.user, Action.VIEW)
    error = ""
    try:
        filters = parse_run_filters(team, request.GET)
    except FilterError as exc:
        error, filters = str(exc), None
    page: list[Run] = []
    next_cursor = ""
    if filters is not None:
        selected = apply_run_filters(runs, filters).select_related(
            "workflow", "version", "created_by"
        )
        page = list(selected[: PAGE_SIZE + 1])
        if len(page) > PAGE_SIZE:
            page = page[:PAGE_SIZE]
            next_cursor = cursor_for(page[-1])
    context = {
        "team": team,
        "runs": [_with_elapsed(run) for run in page],
        "filters": filters,
        "filter_query": filters.query() if filters else {},
        "next_cursor": next_cursor,
        "error": error,
        "workflows": Workflow.objects.filter(team=team).order_by("name"),
        "startable": Workflow.objects.filter(team=team, versions__isnull=False)
        .distinct()
        .order_by("name"),
        "can_start": can(request.membership, Action.START_RUN),  # type: ignore[attr-defined]
        "members": Membership.objects.filter(team=team).select_related("user"),
        "statuses": RunStatus.values,
        "presets": list(PRESETS),
        "live": filters is not None and filters.before is None,
    }
    template = "monitoring/_runs_table.html" if request.htmx else "monitoring/runs_list.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=400 if error else 200)


def _run_for(request: HttpRequest, run_id: int, action: Action = Action.VIEW) -> Run:
    return get_for(
        request.user,
        Run.objects.select_related("workflow", "version", "created_by", "parent_run"),
        action,
        pk=run_id,
    )


@require_GET
@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run page: the pinned graph with live node states and badges, live
    totals and streaming text (ws/runs/<id>/), the timeline and the step table."""
    run = _run_for(request, run_id)
    membership = membership_for(request.user, run.team_id)
    children = restrict(Run.objects.filter(parent_run=run), request.user, Action.VIEW)
    drawing = layout(run.version.graph)
    context = {
        "run": _with_elapsed(run),
        "drawing": drawing,
        "node_w": NODE_W,
        "node_h": NODE_H,
        "children": children.select_related("workflow").order_by("id"),
        "can_cancel": can(membership, Action.CANCEL_RUN) and run.status not in RUN_TERMINAL,
        "can_retry": can(membership, Action.CANCEL_RUN)
        and can(membership, Action.START_RUN)
        and run.status in (RunStatus.FAILED, RunStatus.CANCELLED),
        "config": {
            "runId": run.pk,
            "socket": f"/ws/runs/{run.pk}/",
            "steps": reverse("run_steps", args=[run.pk]),
            "timeline": reverse("run_timeline", args=[run.pk]),
            "status": run.status,
            "createdAt": run.created_at.isoformat(),
            "nodeTypes": {n["id"]: n.get("type", "") for n in run.version.graph.get("nodes", [])},
        },
    }
    return render(request, "monitoring/run_detail.html", context)


@require_GET
@login_required
def run_steps(request: HttpRequest, run_id: int) -> HttpResponse:
    """The step table partial: every attempt (status, times in ms, tokens, cost in
    USD, worker, error) with collapsible inputs, outputs and text."""
    run = _run_for(request, run_id)
    steps = list(
        Step.objects.filter(run=run).select_related("payload").order_by("id")[: STEP_TABLE_MAX + 1]
    )
    rows = [
        {
            "step": step,
            "inputs": _pretty(getattr(step, "payload", None), "inputs"),
            "outputs": _pretty(getattr(step, "payload", None), "outputs"),
            "text": step.payload.text if hasattr(step, "payload") else "",
        }
        for step in steps[:STEP_TABLE_MAX]
    ]
    context = {"run": run, "rows": rows, "truncated": len(steps) > STEP_TABLE_MAX}
    return render(request, "monitoring/_steps_table.html", context)


def _pretty(payload: Any, field: str) -> str:
    if payload is None:
        return ""
    value = getattr(payload, field)
    if value in (None, {}, []):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)[:20_000]


@require_GET
@login_required
def run_timeline(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's Gantt timeline as a Plotly figure: {"data": [...], "layout": {...}}."""
    run = _run_for(request, run_id)
    figure = timeline_figure(run, timezone.now())
    return HttpResponse(figure, content_type="application/json")


@require_POST
@login_required
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    """Cancel the run (CANCEL_RUN); back to the run page, which updates live."""
    run = _run_for(request, run_id, Action.CANCEL_RUN)
    do_cancel_run(run, reason=f"cancelled by {request.user.get_username()}")
    return redirect("run_detail", run_id=run.pk)


@require_POST
@login_required
def run_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    """Start a new run of the same version with the same inputs (CANCEL_RUN and
    START_RUN); to the new run's page."""
    run = _run_for(request, run_id, Action.CANCEL_RUN)
    require(request.user, run.team_id, Action.START_RUN)
    try:
        new = do_start_run(run.version, run.inputs, user=request.user)
    except RunInputError as exc:
        return HttpResponseBadRequest(f"cannot retry: {exc}")
    audit.record(run.team_id, audit.AuditAction.RUN_RETRIED, target=run, detail={"new_run": new.pk})
    return redirect("run_detail", run_id=new.pk)


@require_GET
@login_required
def run_row(request: HttpRequest, run_id: int) -> HttpResponse:
    """One row of the runs list (htmx: a new run appearing live)."""
    run = _run_for(request, run_id)
    return render(request, "monitoring/_run_row.html", {"run": _with_elapsed(run)})


@require_POST
@login_required
def run_start(request: HttpRequest) -> HttpResponse:
    """Start a run of the latest published version of one of the current team's
    workflows (START_RUN) with `inputs` (a JSON object); to its page. A bad
    workflow or bad inputs go back to the runs list with the reason."""
    team = _team_or_none(request)
    if team is None:
        return render(request, "accounts/no_team.html")
    require(request.user, team, Action.START_RUN)
    try:
        inputs = json.loads(request.POST.get("inputs") or "{}")
        if not isinstance(inputs, dict):
            raise RunInputError('inputs must be a JSON object, like {"topic": "..."}')
        version = resolve_version(team.pk, request.POST.get("workflow", "").strip(), None)
        run = do_start_run(version, inputs, user=request.user)
    except json.JSONDecodeError as exc:
        messages.error(request, f"Inputs are not valid JSON: {exc.msg} (line {exc.lineno}).")
        return redirect("runs")
    except RunInputError as exc:
        messages.error(request, f"Could not start the run: {exc}")
        return redirect("runs")
    return redirect("run_detail", run_id=run.pk)
