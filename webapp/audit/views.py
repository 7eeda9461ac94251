"""The audit log page (owners and admins): filters, pages, CSV export."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from webapp.accounts.permissions import Action, require
from webapp.audit.actions import AuditAction
from webapp.audit.models import AuditEvent

PAGE = 100
CSV_MAX_ROWS = 100_000


class FilterError(ValueError):
    """A filter value that cannot be used, with the reason."""


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name} must be a date like 2026-01-31, got {value!r}") from None


def filtered(request: HttpRequest, team_id: int) -> tuple[QuerySet[AuditEvent], dict[str, str]]:
    """The team's events narrowed by GET action (exact or a "thing." prefix),
    actor (username), target (type), since and until (dates, inclusive).
    Raises FilterError naming a bad value."""
    params = {
        k: request.GET.get(k, "").strip() for k in ("action", "actor", "target", "since", "until")
    }
    events = AuditEvent.objects.filter(team_id=team_id)
    if params["action"]:
        action = params["action"]
        events = (
            events.filter(action__startswith=action)
            if action.endswith(".")
            else events.filter(action=action)
        )
    if params["actor"]:
        events = events.filter(actor_name=params["actor"])
    if params["target"]:
        events = events.filter(target_type=params["target"])
    since, until = _date(params["since"], "since"), _date(params["until"], "until")
    tz = timezone.get_current_timezone()
    if since:
        events = events.filter(created_at__gte=datetime.combine(since, time.min, tz))
    if until:
        events = events.filter(
            created_at__lt=datetime.combine(until + timedelta(days=1), time.min, tz)
        )
    return events.order_by("-created_at", "-id"), params


@require_GET
@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    """The current team's audit log, newest first, PAGE rows a page (GET before=<id>)."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return render(request, "accounts/no_team.html")
    require(request.user, team, Action.VIEW_AUDIT)
    context: dict[str, Any] = {"team": team, "actions": list(AuditAction)}
    try:
        events, params = filtered(request, team.pk)
    except FilterError as error:
        context.update(error=str(error), events=[], params=request.GET)
        return render(request, "audit/list.html", context, status=400)
    before = request.GET.get("before", "")
    if before.isdigit():
        events = events.filter(id__lt=int(before))
    page = list(events[: PAGE + 1])
    context.update(
        events=page[:PAGE],
        next_before=page[PAGE - 1].pk if len(page) > PAGE else None,
        params=params,
        query=request.GET.urlencode(),
        actors=AuditEvent.objects.filter(team=team)
        .exclude(actor_name="")
        .values_list("actor_name", flat=True)
        .distinct()
        .order_by("actor_name"),
    )
    return render(request, "audit/list.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@login_required
def audit_csv(request: HttpRequest) -> HttpResponseBase:
    """The filtered audit log as CSV (at most CSV_MAX_ROWS rows, newest first)."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return HttpResponse("You are not in a team.", status=400, content_type="text/plain")
    require(request.user, team, Action.VIEW_AUDIT)
    try:
        events, _ = filtered(request, team.pk)
    except FilterError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    writer = csv.writer(_Echo())
    header = [
        "time_utc",
        "actor",
        "via",
        "ip",
        "action",
        "target_type",
        "target_id",
        "target",
        "detail",
    ]

    def rows() -> Any:
        yield writer.writerow(header)
        for e in events[:CSV_MAX_ROWS].iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    e.created_at.astimezone(UTC).isoformat(),
                    e.actor_name,
                    e.via,
                    e.ip or "",
                    e.action,
                    e.target_type,
                    e.target_id,
                    _safe(e.target_repr),
                    _safe(str(e.detail) if e.detail else ""),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="audit-{team.slug}.csv"'
    return response


def _safe(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in free text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
