"""/api/node-types, /api/workflows and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from orchestration.nodes import catalogue
from orchestration.validation import validate
from webapp.accounts.permissions import Action, get_for, require, restrict
from webapp.workflows.models import Workflow, WorkflowVersion
from webapp.workflows.services import (
    DraftConflict,
    do_create_workflow,
    do_publish,
    do_update_workflow,
)

router = Router(tags=["workflows"])


class WorkflowIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    graph: dict[str, Any] = {}


class WorkflowPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    graph: dict[str, Any] | None = None
    base_revision: int | None = None


class WorkflowOut(Schema):
    id: int
    name: str
    description: str
    draft_revision: int
    latest_version: int | None
    created_at: datetime
    updated_at: datetime


class WorkflowDetail(WorkflowOut):
    graph: dict[str, Any]


class PublishIn(Schema):
    message: str = Field("", max_length=500)


class VersionOut(Schema):
    id: int
    number: int
    message: str
    created_at: datetime
    graph: dict[str, Any]


class ValidateIn(Schema):
    graph: dict[str, Any] | None = None


def _out(workflow: Workflow, detail: bool = False) -> dict[str, Any]:
    latest = workflow.versions.order_by("-number").values_list("number", flat=True).first()
    data = {
        "id": workflow.pk,
        "name": workflow.name,
        "description": workflow.description,
        "draft_revision": workflow.draft_revision,
        "latest_version": latest,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
    }
    if detail:
        data["graph"] = workflow.draft
    return data


def _team(request: HttpRequest, action: Action) -> Any:
    team = getattr(request, "team", None)
    if team is None:
        raise HttpError(400, "You are not in a team.")
    require(request.user, team, action)
    return team


@router.get("/node-types", response=list[dict[str, Any]])
def node_types(request: HttpRequest) -> list[dict[str, Any]]:
    """Every node type: type, title, category, description, config JSON Schema, ports."""
    return catalogue()


@router.get("/workflows", response=list[WorkflowOut])
def list_workflows(request: HttpRequest) -> list[dict[str, Any]]:
    """Workflows of the current team."""
    team = _team(request, Action.VIEW)
    return [
        _out(w) for w in restrict(Workflow.objects.filter(team=team), request.user, Action.VIEW)
    ]


@router.post("/workflows", response={201: WorkflowDetail})
def create_workflow(request: HttpRequest, body: WorkflowIn) -> Status[dict[str, Any]]:
    """Create a workflow in the current team; `graph` becomes its draft."""
    team = _team(request, Action.EDIT_DRAFT)
    workflow = do_create_workflow(
        team, body.name, description=body.description, graph=body.graph, user=request.user
    )
    return Status(201, _out(workflow, detail=True))


@router.get("/workflows/{workflow_id}", response=WorkflowDetail)
def get_workflow(request: HttpRequest, workflow_id: int) -> dict[str, Any]:
    return _out(get_for(request.user, Workflow, Action.VIEW, pk=workflow_id), detail=True)


@router.patch("/workflows/{workflow_id}", response=WorkflowDetail)
def update_workflow(request: HttpRequest, workflow_id: int, body: WorkflowPatch) -> dict[str, Any]:
    """Rename, describe or replace the draft; `base_revision` detects conflicts (409)."""
    workflow = get_for(request.user, Workflow, Action.EDIT_DRAFT, pk=workflow_id)
    try:
        workflow = do_update_workflow(
            workflow,
            name=body.name,
            description=body.description,
            graph=body.graph,
            base_revision=body.base_revision,
        )
    except DraftConflict as exc:
        raise HttpError(409, str(exc)) from None
    return _out(workflow, detail=True)


@router.delete("/workflows/{workflow_id}", response={204: None})
def delete_workflow(request: HttpRequest, workflow_id: int) -> Status[None]:
    get_for(request.user, Workflow, Action.DELETE_WORKFLOW, pk=workflow_id).delete()
    return Status(204, None)


@router.post("/workflows/{workflow_id}/validate", response=dict[str, Any])
def validate_workflow(request: HttpRequest, workflow_id: int, body: ValidateIn) -> dict[str, Any]:
    """Every problem of `graph` (or of the draft when omitted)."""
    workflow = get_for(request.user, Workflow, Action.VIEW, pk=workflow_id)
    problems = validate(body.graph if body.graph is not None else workflow.draft)
    return {
        "valid": not any(p.severity == "error" for p in problems),
        "problems": [p.to_json() for p in problems],
    }


@router.get("/workflows/{workflow_id}/versions", response=list[VersionOut])
def list_versions(request: HttpRequest, workflow_id: int) -> list[WorkflowVersion]:
    workflow = get_for(request.user, Workflow, Action.VIEW, pk=workflow_id)
    return list(workflow.versions.order_by("-number"))


@router.post("/workflows/{workflow_id}/versions", response={201: VersionOut})
def publish(request: HttpRequest, workflow_id: int, body: PublishIn) -> Status[WorkflowVersion]:
    """Publish the draft as the next version; 400 with every problem if invalid."""
    workflow = get_for(request.user, Workflow, Action.PUBLISH, pk=workflow_id)
    return Status(201, do_publish(workflow, message=body.message, user=request.user))
