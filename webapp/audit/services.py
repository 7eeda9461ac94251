"""Writing audit events."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db.models import Model
from django.utils import timezone

from webapp.accounts.models import Team
from webapp.audit.context import client_ip, current_request
from webapp.audit.models import AuditEvent

_ACTION = re.compile(r"^[a-z_]+\.[a-z_]+$")
# The editor saves a draft every few seconds while someone types: repeated edits of
# one workflow by one person within this window update one event ("saves": n).
COALESCE = {"workflow.edited"}
COALESCE_WINDOW = timedelta(minutes=10)


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
    actor_obj = actor if getattr(actor, "pk", None) else None
    if str(action) in COALESCE and team is not None:
        recent = AuditEvent.objects.filter(
            team_id=team.pk if isinstance(team, Team) else team,
            action=str(action),
            actor=actor_obj,
            target_type=target_type,
            target_id=str(target_id),
            created_at__gte=timezone.now() - COALESCE_WINDOW,
        ).first()
        if recent is not None:
            recent.detail["saves"] = int(recent.detail.get("saves", 1)) + 1
            recent.save(update_fields=["detail"])
            return recent
    team_obj = team if isinstance(team, Team) else None
    team_id = team.pk if isinstance(team, Team) else team
    if team_obj is None and team_id is not None:
        team_obj = Team.objects.filter(pk=team_id).first()
    return AuditEvent.objects.create(
        team_id=team_id if team_obj is not None else None,
        team_name=team_obj.name if team_obj is not None else "",
        actor=actor_obj,
        actor_name=actor_obj.get_username() if actor_obj is not None else "",
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
