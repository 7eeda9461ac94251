"""Helpers shared by the API routers."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import HttpError

from webapp.accounts.permissions import Action, require


def current_team(request: HttpRequest, action: Action) -> Any:
    """The request's current team (session or API token), checked for `action`.

    Raises HttpError 400 when the user is in no team, PermissionDenied (403)
    when their role does not allow `action`."""
    team = getattr(request, "team", None)
    if team is None:
        raise HttpError(400, "You are not in a team.")
    require(request.user, team, action)
    return team
