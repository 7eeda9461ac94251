"""The workflows list and the editor page (a React island; see frontend/).

The page around the canvas is server-rendered: header, version history (an htmx
partial) and restore-as-draft. The canvas talks to the REST API (/api/).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from webapp.accounts.permissions import Action, can, get_for, membership_for, require
from webapp.api.workflows import editor_catalogue_data, team_models, workflow_json
from webapp.editor.diff import diff_graphs
from webapp.workflows.models import Workflow
from webapp.workflows.services import (
    WorkflowNameTaken,
    do_create_workflow,
    do_save_draft,
)

EMPTY_GRAPH: dict[str, Any] = {
    "schema_version": 1,
    "nodes": [],
    "edges": [],
    "inputs": {"type": "object", "properties": {}},
    "outputs": {},
}


def _can(request: HttpRequest, team_id: int, action: Action) -> bool:
    return can(membership_for(request.user, team_id), action)


@require_GET
@login_required
def workflow_list(request: HttpRequest) -> HttpResponse:
    """The current team's workflows, with a form to create one."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return render(request, "accounts/no_team.html")
    require(request.user, team, Action.VIEW)
    workflows = Workflow.objects.filter(team=team).order_by("name")
    return render(
        request,
        "editor/workflow_list.html",
        {
            "team": team,
            "workflows": workflows,
            "can_edit": _can(request, team.pk, Action.EDIT_DRAFT),
        },
    )


@require_POST
@login_required
def workflow_create(request: HttpRequest) -> HttpResponse:
    """Create an empty workflow named by the form and open it in the editor."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return render(request, "accounts/no_team.html", status=400)
    require(request.user, team, Action.EDIT_DRAFT)
    name = request.POST.get("name", "").strip()
    error = ""
    if not name:
        error = "Enter a name for the workflow."
    elif len(name) > 200:
        error = "The name is too long (200 characters at most)."
    else:
        try:
            workflow = do_create_workflow(team, name, graph=EMPTY_GRAPH, user=request.user)
        except WorkflowNameTaken:
            error = f"{team.name} already has a workflow named “{name}”."
        else:
            return redirect("workflow_edit", workflow_id=workflow.pk)
    workflows = Workflow.objects.filter(team=team).order_by("name")
    context = {"team": team, "workflows": workflows, "can_edit": True, "error": error, "name": name}
    return render(request, "editor/workflow_list.html", context, status=400)


@require_GET
@login_required
def workflow_edit(request: HttpRequest, workflow_id: int) -> HttpResponse:
    """The editor: the canvas island plus the server-rendered version history."""
    workflow = get_for(request.user, Workflow, Action.VIEW, pk=workflow_id)
    team_id = workflow.team_id
    # Embedded so the canvas starts without three API round trips.
    initial = {
        "catalogue": editor_catalogue_data(),
        "models": team_models(workflow.team),
        "workflow": workflow_json(workflow, detail=True),
    }
    context = {
        "workflow": workflow,
        "initial": initial,
        "can_edit": _can(request, team_id, Action.EDIT_DRAFT),
        "can_publish": _can(request, team_id, Action.PUBLISH),
        "can_run": _can(request, team_id, Action.START_RUN),
        "editor_list_url": reverse("workflows"),
    }
    return render(request, "editor/edit.html", context)


@require_GET
@login_required
def version_history(request: HttpRequest, workflow_id: int) -> HttpResponse:
    """The version list (htmx partial): each version with what it changed."""
    workflow = get_for(request.user, Workflow, Action.VIEW, pk=workflow_id)
    versions = list(workflow.versions.order_by("number"))
    rows = []
    previous: dict[str, Any] = {}
    for version in versions:
        rows.append({"version": version, "diff": diff_graphs(previous, version.graph)})
        previous = version.graph
    rows.reverse()
    draft_diff = diff_graphs(previous, workflow.draft) if versions else None
    context = {
        "workflow": workflow,
        "rows": rows,
        "draft_diff": draft_diff,
        "can_edit": _can(request, workflow.team_id, Action.EDIT_DRAFT),
    }
    return render(request, "editor/_versions.html", context)


@require_POST
@login_required
def version_restore(request: HttpRequest, workflow_id: int, number: int) -> HttpResponse:
    """Make a version's graph the draft again, then reload the editor."""
    workflow = get_for(request.user, Workflow, Action.EDIT_DRAFT, pk=workflow_id)
    version = workflow.versions.filter(number=number).first()
    if version is None:
        return HttpResponse(f"This workflow has no version {number}.", status=404)
    do_save_draft(workflow, version.graph)
    url = reverse("workflow_edit", kwargs={"workflow_id": workflow.pk})
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
