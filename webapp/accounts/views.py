"""Team pages: the current team's members, and switching between teams."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from webapp.accounts.middleware import SESSION_KEY
from webapp.accounts.models import Membership
from webapp.accounts.permissions import Action, get_team, require


@require_GET
@login_required
def team_detail(request: HttpRequest) -> HttpResponse:
    """The current team: its members and their roles."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return render(request, "accounts/no_team.html")
    require(request.user, team, Action.VIEW)
    members = Membership.objects.select_related("user").filter(team=team).order_by("user__username")
    return render(request, "accounts/team_detail.html", {"team": team, "members": members})


@require_POST
@login_required
def switch_team(request: HttpRequest) -> HttpResponse:
    """Make the team named by POST `team` (a slug) the current one.

    A slug of a team the user is not in is a 404. htmx callers get an
    HX-Redirect; forms get a redirect to `next` (same-site only) or home.
    """
    team = get_team(request.user, Action.VIEW, slug=request.POST.get("team", ""))
    request.session[SESSION_KEY] = team.pk
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("home")
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)
