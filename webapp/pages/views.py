"""The home page (runs and dashboards live in webapp/monitoring)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webapp.accounts.models import Membership
from webapp.accounts.permissions import Action, require


def _section(request: HttpRequest, template: str, **context: object) -> HttpResponse:
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return render(request, "accounts/no_team.html")
    require(request.user, team, Action.VIEW)
    return render(request, template, {"team": team, **context})


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The current team at a glance."""
    team = request.team  # type: ignore[attr-defined]
    members = Membership.objects.filter(team=team).count() if team else 0
    return _section(request, "pages/home.html", member_count=members)
