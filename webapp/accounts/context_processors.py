"""Template context: the current team, the user's teams, and what they may do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from webapp.accounts.models import Membership
from webapp.accounts.permissions import MATRIX, can


def team(request: HttpRequest) -> dict[str, Any]:
    """`current_team`, `current_membership`, `user_memberships` and `perms_in_team`
    (a dict of action name -> bool, e.g. `perms_in_team.publish`)."""
    membership = getattr(request, "membership", None)
    if not request.user.is_authenticated:
        return {}
    return {
        "current_membership": membership,
        "current_team": membership.team if membership else None,
        "user_memberships": Membership.objects.select_related("team").filter(user=request.user),
        "perms_in_team": {action.value: can(membership, action) for action in MATRIX},
    }
