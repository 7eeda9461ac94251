"""Writing audit events."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Model

from webapp.accounts.models import Team
from webapp.audit.context import client_ip, current_request
from webapp.audit.models import AuditEvent

_ACTION = re.compile(r"^[a-z_]+\.[a-z_]+$")


def record(
    team: Team | int | None,
    action: str,
    *,
    target: Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    target_repr: str = "",
    detail: dict[str, Any] | None = None,
    actor: Any = None,
    ip: str | None = None,
    via: str | None = None,
) -> AuditEvent:
    """Append one audit event and return it (in the caller's transaction, if any).

    team: the Team (or its id) the action happened in; None for actions outside
      any team.
    action: "<thing>.<verb>" such as "workflow.published"; an AuditAction member
      or any string of that shape (ValueError otherwise).
    target: the model instance acted on; fills target_type (model name),
      target_id (pk) and target_repr (str(target)) unless those are given.
    detail: small JSON-serialisable facts (never secrets).
    actor, ip, via: default to the current HTTP request's user, REMOTE_ADDR and
      how they authenticated ("web", "api" or "token"); "system" with no actor
      outside a request (Celery workers, management commands).
    """
    if not _ACTION.match(str(action)):
        raise ValueError(f"audit action {action!r} is not of the form 'thing.verb'")
    request = current_request.get()
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    if request is not None:
        ip = ip or client_ip(request)
        via = via or getattr(request, "auth_via", None) or _via_of(request)
    if target is not None:
        target_type = target_type or target._meta.model_name or ""
        target_id = target_id or str(target.pk)
        target_repr = target_repr or str(target)
    team_obj = team if isinstance(team, Team) else None
    team_id = team.pk if isinstance(team, Team) else team
    if team_obj is None and team_id is not None:
        team_obj = Team.objects.filter(pk=team_id).first()
    return AuditEvent.objects.create(
        team_id=team_id if team_obj is not None else None,
        team_name=team_obj.name if team_obj is not None else "",
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=actor.get_username() if getattr(actor, "pk", None) else "",
        via=via or "system",
        action=str(action),
        target_type=target_type[:32],
        target_id=str(target_id)[:64],
        target_repr=target_repr[:200],
        detail=detail or {},
        ip=ip,
    )


def _via_of(request: Any) -> str:
    return "api" if request.path.startswith("/api/") else "web"
