from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from tests.conftest import Personas
from webapp.accounts.models import Membership, Role
from webapp.accounts.permissions import (
    MATRIX,
    Action,
    allows,
    get_for,
    get_team,
    require,
    restrict,
)

pytestmark = pytest.mark.django_db


def test_every_action_has_a_matrix_entry_and_owner_may_do_everything() -> None:
    assert set(MATRIX) == set(Action)
    for action in Action:
        assert allows(Role.OWNER, action), action


def test_roles_are_ordered_each_role_may_do_at_least_what_the_next_one_may() -> None:
    order = [Role.OWNER, Role.ADMIN, Role.EDITOR, Role.OPERATOR, Role.VIEWER]
    for stronger, weaker in itertools.pairwise(order):
        for action in Action:
            if allows(weaker, action):
                assert allows(stronger, action), (stronger, weaker, action)


def test_viewer_may_view_but_not_edit_run_or_manage() -> None:
    assert allows(Role.VIEWER, Action.VIEW)
    for action in (Action.EDIT_DRAFT, Action.START_RUN, Action.MANAGE_CREDENTIALS):
        assert not allows(Role.VIEWER, action)


def test_require_returns_membership_for_allowed_role(personas: Personas) -> None:
    membership = require(personas.owner_a, personas.team_a, Action.DELETE_TEAM)
    assert membership.user == personas.owner_a
    assert membership.role == Role.OWNER


def test_require_is_403_for_too_low_a_role(personas: Personas) -> None:
    with pytest.raises(PermissionDenied):
        require(personas.viewer_a, personas.team_a, Action.START_RUN)


def test_require_is_404_for_another_team_and_for_anonymous(personas: Personas) -> None:
    with pytest.raises(Http404):
        require(personas.member_b, personas.team_a, Action.VIEW)
    with pytest.raises(Http404):
        require(AnonymousUser(), personas.team_a.pk, Action.VIEW)


def test_get_for_finds_own_team_object_and_hides_foreign_one(personas: Personas) -> None:
    viewer_membership = Membership.objects.get(user=personas.viewer_a)
    found = get_for(personas.owner_a, Membership, Action.VIEW, pk=viewer_membership.pk)
    assert found == viewer_membership
    with pytest.raises(Http404):
        get_for(personas.member_b, Membership, Action.VIEW, pk=viewer_membership.pk)
    with pytest.raises(PermissionDenied):
        get_for(personas.viewer_a, Membership, Action.MANAGE_MEMBERS, pk=viewer_membership.pk)


def test_get_for_missing_object_is_404_like_a_foreign_one(personas: Personas) -> None:
    with pytest.raises(Http404):
        get_for(personas.owner_a, Membership, Action.VIEW, pk=10**9)


def test_get_team_by_slug(personas: Personas) -> None:
    assert get_team(personas.owner_a, Action.VIEW, slug="team-a") == personas.team_a
    with pytest.raises(Http404):
        get_team(personas.member_b, Action.VIEW, slug="team-a")
    with pytest.raises(PermissionDenied):
        get_team(personas.viewer_a, Action.DELETE_TEAM, slug="team-a")


def test_restrict_narrows_to_teams_where_role_allows(personas: Personas) -> None:
    everything = Membership.objects.all()
    assert set(restrict(everything, personas.owner_a, Action.MANAGE_MEMBERS)) == set(
        Membership.objects.filter(team=personas.team_a)
    )
    assert not restrict(everything, personas.viewer_a, Action.MANAGE_MEMBERS).exists()
    assert set(restrict(everything, personas.member_b, Action.VIEW)) == set(
        Membership.objects.filter(team=personas.team_b)
    )
    assert not restrict(everything, AnonymousUser(), Action.VIEW).exists()


def test_docs_permission_matrix_matches_the_code() -> None:
    """docs/permissions.md has one row per action with a mark under each allowed role."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "permissions.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| Action"))
    roles = [cell.strip().lower() for cell in header.strip("|").split("|")[1:]]
    assert roles == [role.value for role in Role]
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*`(\w+)`", line)
        if match:
            cells = [cell.strip() for cell in line.strip("|").split("|")[1:]]
            rows[match.group(1)] = {role for role, cell in zip(roles, cells, strict=True) if cell}
    assert set(rows) == {action.value for action in Action}
    for action in Action:
        assert rows[action.value] == {role.value for role in MATRIX[action]}, action
