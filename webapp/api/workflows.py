"""/api/node-types, /api/workflows and their versions."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Any, get_args

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from orchestration.nodes import catalogue
from orchestration.nodes.base import PortType, port_types_compatible
from orchestration.providers.base import ProviderConfig
from orchestration.providers.pricing import price_per_mtok
from orchestration.validation import validate
from webapp import audit
from webapp.accounts.permissions import Action, get_for, restrict
from webapp.api.common import current_team
from webapp.editor.diff import diff_graphs
from webapp.providers.models import ProviderSetting
from webapp.providers.services import _prices
from webapp.workflows.models import Workflow, WorkflowVersion
from webapp.workflows.services import (
    DraftConflict,
    do_create_workflow,
    do_publish,
    do_save_draft,
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


def workflow_json(workflow: Workflow, detail: bool = False) -> dict[str, Any]:
    """A workflow as the API returns it (with its draft `graph` when `detail`)."""
    return _out(workflow, detail)


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


@router.get("/node-types", response=list[dict[str, Any]])
def node_types(request: HttpRequest) -> list[dict[str, Any]]:
    """Every node type: type, title, category, description, config JSON Schema, ports."""
    return catalogue()


@router.get("/workflows", response=list[WorkflowOut])
def list_workflows(request: HttpRequest) -> list[dict[str, Any]]:
    """Workflows of the current team."""
    team = current_team(request, Action.VIEW)
    return [
        _out(w) for w in restrict(Workflow.objects.filter(team=team), request.user, Action.VIEW)
    ]


@router.post("/workflows", response={201: WorkflowDetail})
def create_workflow(request: HttpRequest, body: WorkflowIn) -> Status[dict[str, Any]]:
    """Create a workflow in the current team; `graph` becomes its draft."""
    team = current_team(request, Action.EDIT_DRAFT)
    workflow = do_create_workflow(
        team, body.name, description=body.description, graph=body.graph, user=request.user
    )
    return Status(201, _out(workflow, detail=True))


# Declared before /workflows/{workflow_id} so that "import" is not taken for an id.
class ImportIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    graph: dict[str, Any]


class ImportOut(Schema):
    workflow: WorkflowDetail
    problems: list[dict[str, Any]]


@router.post("/workflows/import", response={201: ImportOut, 400: dict[str, Any]})
def import_workflow(request: HttpRequest, body: ImportIn) -> Status[dict[str, Any]]:
    """Create a workflow from an exported file. A document that is not a graph
    is refused (400) with its problems; a graph with problems (say, an unknown
    node type) is imported as a draft and its problems are returned."""
    team = current_team(request, Action.EDIT_DRAFT)
    problems = validate(body.graph)
    if any(p.code == "invalid_document" for p in problems):
        return Status(
            400,
            {
                "detail": "The file is not a Quorum workflow graph.",
                "problems": [p.to_json() for p in problems],
            },
        )
    workflow = do_create_workflow(
        team, body.name, description=body.description, graph=body.graph, user=request.user
    )
    return Status(
        201,
        {"workflow": _out(workflow, detail=True), "problems": [p.to_json() for p in problems]},
    )


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
    workflow = get_for(request.user, Workflow, Action.DELETE_WORKFLOW, pk=workflow_id)
    with transaction.atomic():
        audit.record(workflow.team_id, audit.AuditAction.WORKFLOW_DELETED, target=workflow)
        workflow.delete()
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


# --- Editor support: catalogue with port rules, model picker, diff, restore,
# import and export (docs/editor.md).

PORT_TYPES: tuple[PortType, ...] = get_args(PortType)


@router.get("/editor/catalogue", response=dict[str, Any])
def editor_catalogue(request: HttpRequest) -> dict[str, Any]:
    """The node types plus the engine's port compatibility rules, so the editor
    refuses a connection for the same reason validation would:
    {"node_types": [...], "port_types": [...], "compatible": {source type: [target types]}}."""
    return editor_catalogue_data()


@functools.cache
def editor_catalogue_data() -> dict[str, Any]:
    """The editor catalogue (see editor_catalogue); built once per process, as
    node types are fixed at import time."""
    return {
        "node_types": catalogue(),
        "port_types": list(PORT_TYPES),
        "compatible": {
            s: [t for t in PORT_TYPES if port_types_compatible(s, t)] for s in PORT_TYPES
        },
    }


class ModelOut(Schema):
    provider: str
    model: str
    simulated: bool
    input_per_mtok: Decimal | None
    output_per_mtok: Decimal | None


@router.get("/models", response=list[ModelOut])
def list_models(request: HttpRequest) -> list[dict[str, Any]]:
    """The current team's providers and models for the editor's model picker,
    with the price in USD per million tokens (None when unpriced)."""
    return team_models(current_team(request, Action.VIEW))


def team_models(team: Any) -> list[dict[str, Any]]:
    """Rows of GET /api/models for `team` (also embedded in the editor page)."""
    rows = []
    for setting in ProviderSetting.objects.filter(team=team).order_by("name"):
        # Built here rather than with to_config: pricing needs no credentials.
        config = ProviderConfig(
            name=setting.name,
            kind=setting.kind,  # type: ignore[arg-type]
            models=tuple(setting.model_names),
            pricing_provider_id=setting.pricing_provider_id or None,
            price_overrides=_prices(setting.price_overrides),
        )
        for model in setting.model_names:
            price = price_per_mtok(config, model)
            rows.append(
                {
                    "provider": setting.name,
                    "model": model,
                    "simulated": setting.simulated,
                    "input_per_mtok": price[0] if price else None,
                    "output_per_mtok": price[1] if price else None,
                }
            )
    return rows


def _version(request: HttpRequest, workflow_id: int, number: int, action: Action) -> Any:
    workflow = get_for(request.user, Workflow, action, pk=workflow_id)
    version = workflow.versions.filter(number=number).first()
    if version is None:
        raise HttpError(404, f"workflow {workflow_id} has no version {number}")
    return workflow, version


@router.get("/workflows/{workflow_id}/versions/{number}/diff", response=dict[str, Any])
def version_diff(
    request: HttpRequest, workflow_id: int, number: int, against: str = "previous"
) -> dict[str, Any]:
    """What version `number` changed: against the previous version (default),
    `against=draft` (draft vs this version) or `against=<n>` (version n -> this)."""
    workflow, version = _version(request, workflow_id, number, Action.VIEW)
    if against == "draft":
        return diff_graphs(version.graph, workflow.draft)
    if against == "previous":
        previous = workflow.versions.filter(number__lt=number).order_by("-number").first()
        return diff_graphs(previous.graph if previous else {}, version.graph)
    if not against.isdigit():
        raise HttpError(400, "against must be 'previous', 'draft' or a version number")
    _, other = _version(request, workflow_id, int(against), Action.VIEW)
    return diff_graphs(other.graph, version.graph)


class RestoreIn(Schema):
    base_revision: int | None = None


@router.post("/workflows/{workflow_id}/versions/{number}/restore", response=WorkflowDetail)
def restore_version(
    request: HttpRequest, workflow_id: int, number: int, body: RestoreIn
) -> dict[str, Any]:
    """Make version `number`'s graph the draft (409 on a stale `base_revision`)."""
    workflow, version = _version(request, workflow_id, number, Action.EDIT_DRAFT)
    try:
        workflow = do_save_draft(workflow, version.graph, base_revision=body.base_revision)
    except DraftConflict as exc:
        raise HttpError(409, str(exc)) from None
    return _out(workflow, detail=True)


@router.get("/workflows/{workflow_id}/export", response=dict[str, Any])
def export_workflow(request: HttpRequest, workflow_id: int) -> dict[str, Any]:
    """The draft as an importable file: {"name", "description", "graph"}
    (the examples/ format). Holds no secrets: graphs name providers, not keys."""
    workflow = get_for(request.user, Workflow, Action.VIEW, pk=workflow_id)
    return {"name": workflow.name, "description": workflow.description, "graph": workflow.draft}
