"""Sets `request.membership` and `request.team`: the team the user is working in."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from webapp.accounts.models import Membership

SESSION_KEY = "team_id"


def current_membership(request: HttpRequest) -> Membership | None:
    """The user's membership in the team chosen in their session.

    Falls back to their first team (by name) when the session names none or a
    team they have since left. None for anonymous users and users in no team.
    """
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("team").filter(user=user)
    chosen = request.session.get(SESSION_KEY)
    membership = memberships.filter(team_id=chosen).first() if chosen else None
    if membership is None:
        membership = memberships.order_by("team__name", "team_id").first()
        if membership is not None:
            request.session[SESSION_KEY] = membership.team_id
    return membership


class CurrentTeamMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = current_membership(request)
        request.membership = membership  # type: ignore[attr-defined]
        request.team = membership.team if membership else None  # type: ignore[attr-defined]
        return self.get_response(request)
