"""Workflow state changes: create, save draft, publish a version."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from orchestration.validation import Problem, validate
from webapp import audit
from webapp.accounts.models import Team
from webapp.accounts.permissions import AnyUser
from webapp.workflows.models import Workflow, WorkflowVersion


class GraphInvalid(Exception):
    """The graph has problems; `problems` lists every one."""

    def __init__(self, problems: list[Problem]):
        super().__init__(f"the graph has {len(problems)} problem(s)")
        self.problems = problems


class WorkflowNameTaken(Exception):
    """The team already has a workflow with this name."""


class DraftConflict(ValueError):
    """The draft changed since the revision the caller edited (another tab saved)."""


def errors_of(graph: dict[str, Any]) -> list[Problem]:
    return [p for p in validate(graph) if p.severity == "error"]


@transaction.atomic
def do_create_workflow(
    team: Team,
    name: str,
    *,
    description: str = "",
    graph: dict[str, Any] | None = None,
    user: AnyUser | None = None,
) -> Workflow:
    """Create a workflow with `graph` as its draft. Raises WorkflowNameTaken."""
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                team=team,
                name=name,
                description=description,
                draft=graph or {},
                created_by=author(user),
            )
            audit.record(team, audit.AuditAction.WORKFLOW_CREATED, target=workflow, actor=user)
            return workflow
    except IntegrityError:
        raise WorkflowNameTaken(f"a workflow named {name!r} already exists") from None


@transaction.atomic
def do_save_draft(
    workflow: Workflow, graph: dict[str, Any], *, base_revision: int | None = None
) -> Workflow:
    """Replace the draft. With `base_revision`, refuse (DraftConflict) when the
    draft changed since that revision (another tab saved)."""
    locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if base_revision is not None and locked.draft_revision != base_revision:
        raise DraftConflict(
            f"the draft changed since revision {base_revision} (now {locked.draft_revision})"
        )
    locked.draft = graph
    locked.draft_revision += 1
    locked.save(update_fields=["draft", "draft_revision", "updated_at"])
    return locked


def do_update_workflow(
    workflow: Workflow,
    *,
    name: str | None = None,
    description: str | None = None,
    graph: dict[str, Any] | None = None,
    base_revision: int | None = None,
) -> Workflow:
    """Rename, describe and/or replace the draft, all or nothing.

    Raises WorkflowNameTaken (the team has that name) or DraftConflict."""
    try:
        with transaction.atomic():
            if graph is not None:
                workflow = do_save_draft(workflow, graph, base_revision=base_revision)
            changed = []
            if name is not None:
                workflow.name = name
                changed.append("name")
            if description is not None:
                workflow.description = description
                changed.append("description")
            if changed:
                workflow.save(update_fields=[*changed, "updated_at"])
            audit.record(workflow.team_id, audit.AuditAction.WORKFLOW_EDITED, target=workflow)
    except IntegrityError:
        raise WorkflowNameTaken(f"a workflow named {name!r} already exists") from None
    return workflow


@transaction.atomic
def do_publish(
    workflow: Workflow,
    *,
    message: str = "",
    user: AnyUser | None = None,
    graph: dict[str, Any] | None = None,
) -> WorkflowVersion:
    """Publish the draft (or `graph`) as the next immutable version.

    Raises GraphInvalid with every problem when the graph has errors."""
    locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
    document = graph if graph is not None else locked.draft
    problems = errors_of(document)
    if problems:
        raise GraphInvalid(problems)
    last = locked.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = WorkflowVersion.objects.create(
        team_id=locked.team_id,
        workflow=locked,
        number=last + 1,
        graph=document,
        message=message,
        created_by=author(user),
    )
    audit.record(
        locked.team_id,
        audit.AuditAction.WORKFLOW_PUBLISHED,
        target=locked,
        actor=user,
        detail={"version": version.number},
    )
    return version


def author(user: AnyUser | None) -> User | None:
    """The user to record as author (None for anonymous or system actions)."""
    return user if isinstance(user, User) else None
