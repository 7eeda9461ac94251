"""The one place that decides who may do what.

Every view, API endpoint and WebSocket consumer gets team-owned objects through
these helpers, so no caller filters by team on its own:

- `require(user, team, action)`: the user's Membership, or Http404 when the user
  is not a member of `team`, or PermissionDenied (403) when their role lacks
  `action`.
- `get_for(user, model_or_queryset, action, **lookup)`: one team-owned object;
  Http404 when it does not exist *or belongs to a team the user is not in* (the
  two are indistinguishable on purpose), PermissionDenied when the role is too low.
- `restrict(queryset, user, action)`: only objects of teams where the user's role
  allows `action`.
- `can(membership, action)`: a boolean, for templates and menus.

A request authenticated with an API token (webapp/api/auth.py) carries the token
on the user (`user.api_token`): it then reaches only the token's team, with the
lower of the member's role and the token's role ceiling.

The matrix below is written out for people in docs/permissions.md; a test keeps
the two in step.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from webapp.accounts.models import ApiToken, Membership, Role, Team, lower_role

M = TypeVar("M", bound=Model)
AnyUser = AbstractBaseUser | AnonymousUser


class Action(StrEnum):
    """Things a member can do in a team."""

    VIEW = "view"  # view workflows and runs
    EDIT_DRAFT = "edit_draft"
    PUBLISH = "publish"
    START_RUN = "start_run"
    CANCEL_RUN = "cancel_run"  # cancel and retry runs
    VIEW_COSTS = "view_costs"  # costs and dashboards
    EXPORT_REPORTS = "export_reports"
    MANAGE_CREDENTIALS = "manage_credentials"
    MANAGE_MEMBERS = "manage_members"  # members and roles
    MANAGE_TOKENS = "manage_tokens"
    VIEW_AUDIT = "view_audit"
    DELETE_WORKFLOW = "delete_workflow"
    DELETE_TEAM = "delete_team"
    TRANSFER_OWNERSHIP = "transfer_ownership"


_ALL = frozenset(Role)
_BUILDERS = frozenset({Role.OWNER, Role.ADMIN, Role.EDITOR})
_RUNNERS = _BUILDERS | {Role.OPERATOR}
_ADMINS = frozenset({Role.OWNER, Role.ADMIN})

MATRIX: dict[Action, frozenset[Role]] = {
    Action.VIEW: _ALL,
    Action.EDIT_DRAFT: _BUILDERS,
    Action.PUBLISH: _BUILDERS,
    Action.START_RUN: _RUNNERS,
    Action.CANCEL_RUN: _RUNNERS,
    Action.VIEW_COSTS: _ALL,
    Action.EXPORT_REPORTS: _RUNNERS,
    Action.MANAGE_CREDENTIALS: _ADMINS,
    Action.MANAGE_MEMBERS: _ADMINS,
    Action.MANAGE_TOKENS: _ADMINS,
    Action.VIEW_AUDIT: _ADMINS,
    Action.DELETE_WORKFLOW: _ADMINS,
    Action.DELETE_TEAM: frozenset({Role.OWNER}),
    Action.TRANSFER_OWNERSHIP: frozenset({Role.OWNER}),
}


def allows(role: str, action: Action) -> bool:
    """True when `role` (a Role value) may perform `action`."""
    return role in MATRIX[action]


def can(membership: Membership | None, action: Action) -> bool:
    """True when `membership` exists and its role allows `action`."""
    return membership is not None and allows(membership.role, action)


def token_of(user: AnyUser) -> ApiToken | None:
    """The API token the user authenticated with on this request, if any."""
    return getattr(user, "api_token", None)


def membership_for(user: AnyUser, team: Team | int) -> Membership | None:
    """The user's Membership in `team` (a Team or its id), or None.

    Through an API token: None for any team but the token's, and the role is
    capped at the token's ceiling (on the returned object only, never saved).
    """
    if not user.is_authenticated:
        return None
    team_id = team.pk if isinstance(team, Team) else team
    token = token_of(user)
    if token is not None and token.team_id != team_id:
        return None
    membership = (
        Membership.objects.select_related("team").filter(user_id=user.pk, team_id=team_id).first()
    )
    if membership is not None and token is not None:
        membership.role = lower_role(membership.role, token.role)
    return membership


def require(user: AnyUser, team: Team | int, action: Action) -> Membership:
    """Return the user's Membership in `team` if their role allows `action`.

    Raises Http404 when the user is not a member (another team's things do not
    exist for them) and PermissionDenied when the role is too low.
    """
    membership = membership_for(user, team)
    if membership is None:
        raise Http404("No such team.")
    if not allows(membership.role, action):
        raise PermissionDenied(f"Your role ({membership.role}) may not {action.value}.")
    return membership


def get_team(user: AnyUser, action: Action, **lookup: Any) -> Team:
    """One team found by `lookup` (e.g. slug=...), checked like `require`."""
    if not user.is_authenticated:
        raise Http404("No such team.")
    teams = Team.objects.filter(memberships__user_id=user.pk)
    token = token_of(user)
    if token is not None:
        teams = teams.filter(pk=token.team_id)
    team = teams.filter(**lookup).first()
    if team is None:
        raise Http404("No such team.")
    require(user, team, action)
    return team


def get_for(user: AnyUser, model: type[M] | QuerySet[M], action: Action, **lookup: Any) -> M:
    """One object with a `team` field, found by `lookup` among the user's teams.

    Raises Http404 when no such object exists in any of the user's teams, and
    PermissionDenied when the user's role in its team does not allow `action`.
    """
    queryset = model if isinstance(model, QuerySet) else model._default_manager.all()
    obj = restrict(queryset, user, Action.VIEW).filter(**lookup).first()
    if obj is None:
        raise Http404("Not found.")
    require(user, obj.team_id, action)  # type: ignore[attr-defined]
    return obj


def restrict(queryset: QuerySet[M], user: AnyUser, action: Action) -> QuerySet[M]:
    """`queryset` narrowed to objects of teams where the user's role allows `action`."""
    if not user.is_authenticated:
        return queryset.none()
    token = token_of(user)
    if token is not None:
        membership = membership_for(user, token.team_id)
        if not can(membership, action):
            return queryset.none()
        return queryset.filter(team_id=token.team_id)
    roles = [role.value for role in MATRIX[action]]
    # One subquery rather than a join, so rows are never duplicated.
    team_ids = Membership.objects.filter(user_id=user.pk, role__in=roles).values("team_id")
    return queryset.filter(team_id__in=team_ids)
