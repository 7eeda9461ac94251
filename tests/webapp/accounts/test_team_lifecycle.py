"""Team life cycle through the pages: invite, accept, roles, remove, leave,
transfer ownership, create and delete, with the rules that always hold."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, Personas, client_for
from webapp.accounts.models import Invite, Membership, Role, Team
from webapp.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _invite(client: Client, role: str = "viewer", email: str = "") -> str:
    response = client.post(reverse("invite_create"), {"role": role, "email": email})
    assert response.status_code == 302
    page = client.get(reverse("team_detail")).content.decode()
    match = re.search(r'<code id="invite-link">([^<]+)</code>', page)
    assert match, page
    return match.group(1)


def test_invite_by_link_new_user_signs_up_and_joins_as_viewer(personas: Personas) -> None:
    link = _invite(client_for(personas.owner_a))
    path = link.split("testserver", 1)[1]
    assert Invite.objects.get().token_hash not in link  # only the hash is stored
    newcomer = Client()
    assert "Join Team A" in newcomer.get(path).content.decode()
    response = newcomer.post(
        path,
        {"username": "carol", "email": "c@a.example", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    carol = User.objects.get(username="carol")
    assert Membership.objects.get(user=carol).role == Role.VIEWER
    assert "Team A" in newcomer.get(reverse("team_detail")).content.decode()
    # Used once.
    assert Client().get(path).status_code == 404
    actions = set(AuditEvent.objects.filter(team=personas.team_a).values_list("action", flat=True))
    assert {"member.invited", "member.joined"} <= actions


def test_existing_user_accepts_invite_with_one_click(personas: Personas) -> None:
    path = _invite(client_for(personas.owner_a), role="operator").split("testserver", 1)[1]
    client = client_for(personas.member_b)
    assert "Join as member_b" in client.get(path).content.decode()
    assert client.post(path).status_code == 302
    assert Membership.objects.get(user=personas.member_b, team=personas.team_a).role == "operator"
    # Joining again with another link is refused with a reason.
    path2 = _invite(client_for(personas.owner_a)).split("testserver", 1)[1]
    client.post(path2)
    assert Membership.objects.filter(user=personas.member_b).count() == 2


def test_sign_up_form_errors_are_clear_and_not_500(personas: Personas) -> None:
    path = _invite(client_for(personas.owner_a)).split("testserver", 1)[1]
    response = Client().post(path, {"username": "", "password1": "a", "password2": "b"})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()


def test_bogus_invite_is_404() -> None:
    assert Client().get("/invites/nope/").status_code == 404


def test_viewer_cannot_invite_or_change_roles(personas: Personas) -> None:
    client = client_for(personas.viewer_a)
    assert client.post(reverse("invite_create"), {"role": "admin"}).status_code == 403
    owner_m = Membership.objects.get(user=personas.owner_a)
    assert (
        client.post(reverse("member_role", args=[owner_m.pk]), {"role": "viewer"}).status_code
        == 403
    )
    page = client.get(reverse("team_detail")).content.decode()
    assert "Create invite" not in page
    assert "Change role" not in page


def test_other_team_membership_is_404(personas: Personas) -> None:
    viewer_m = Membership.objects.get(user=personas.viewer_a)
    client = client_for(personas.member_b)
    assert (
        client.post(reverse("member_role", args=[viewer_m.pk]), {"role": "admin"}).status_code
        == 404
    )
    assert client.post(reverse("member_remove", args=[viewer_m.pk])).status_code == 404


def test_change_role_remove_and_audit(personas: Personas) -> None:
    client = client_for(personas.owner_a)
    viewer_m = Membership.objects.get(user=personas.viewer_a)
    client.post(reverse("member_role", args=[viewer_m.pk]), {"role": "editor"})
    viewer_m.refresh_from_db()
    assert viewer_m.role == Role.EDITOR
    response = client.post(reverse("member_role", args=[viewer_m.pk]), {"role": "wizard"})
    assert response.status_code == 302
    assert "Unknown role" in client.get(reverse("team_detail")).content.decode()
    client.post(reverse("member_remove", args=[viewer_m.pk]))
    assert not Membership.objects.filter(pk=viewer_m.pk).exists()
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.detail == {"from": "viewer", "to": "editor"}
    assert event.actor == personas.owner_a
    assert AuditEvent.objects.filter(action="member.removed").exists()


def test_admin_cannot_touch_owner_or_make_admins(personas: Personas) -> None:
    admin = User.objects.create_user("admin_a", password=PASSWORD)
    Membership.objects.create(user=admin, team=personas.team_a, role=Role.ADMIN)
    client = client_for(admin)
    owner_m = Membership.objects.get(user=personas.owner_a)
    client.post(reverse("member_remove", args=[owner_m.pk]))
    assert Membership.objects.filter(pk=owner_m.pk).exists()
    viewer_m = Membership.objects.get(user=personas.viewer_a)
    client.post(reverse("member_role", args=[viewer_m.pk]), {"role": "admin"})
    viewer_m.refresh_from_db()
    assert viewer_m.role == Role.VIEWER
    assert client.post(reverse("team_transfer"), {"member": viewer_m.pk}).status_code == 403


def test_team_always_has_an_owner(personas: Personas) -> None:
    client = client_for(personas.owner_a)
    owner_m = Membership.objects.get(user=personas.owner_a)
    client.post(reverse("member_role", args=[owner_m.pk]), {"role": "viewer"})
    client.post(reverse("team_leave"))
    owner_m.refresh_from_db()
    assert owner_m.role == Role.OWNER
    assert "transfer ownership first" in client.get(reverse("team_detail")).content.decode()


def test_transfer_ownership_then_leave(personas: Personas) -> None:
    client = client_for(personas.owner_a)
    viewer_m = Membership.objects.get(user=personas.viewer_a)
    client.post(reverse("team_transfer"), {"member": viewer_m.pk})
    viewer_m.refresh_from_db()
    assert viewer_m.role == Role.OWNER
    assert Membership.objects.get(user=personas.owner_a).role == Role.ADMIN
    assert client.post(reverse("team_leave")).status_code == 302
    assert not Membership.objects.filter(user=personas.owner_a).exists()
    assert AuditEvent.objects.filter(action="team.ownership_transferred").exists()
    assert AuditEvent.objects.filter(action="member.left", actor=personas.owner_a).exists()


def test_create_switch_and_delete_team(personas: Personas) -> None:
    client = client_for(personas.viewer_a)
    assert client.post(reverse("team_create"), {"name": "  "}).status_code == 400
    response = client.post(reverse("team_create"), {"name": "Team A"})
    assert response.status_code == 302
    team = Team.objects.get(name="Team A", slug="team-a-2")
    assert Membership.objects.get(user=personas.viewer_a, team=team).role == Role.OWNER
    # The new team is current; deleting needs its slug typed.
    client.post(reverse("team_delete"), {"confirm": "wrong"})
    assert Team.objects.filter(pk=team.pk).exists()
    client.post(reverse("team_delete"), {"confirm": "team-a-2"})
    assert not Team.objects.filter(pk=team.pk).exists()
    assert AuditEvent.objects.get(action="team.deleted").team_name == "Team A"
    # Back in team A, where a viewer may not delete.
    client.post(reverse("switch_team"), {"team": "team-a"})
    assert client.post(reverse("team_delete"), {"confirm": "team-a"}).status_code == 403


def test_email_invite_is_sent(personas: Personas, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client = client_for(personas.owner_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("invite_create"), {"role": "viewer", "email": "dave@example.com"})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dave@example.com"]
    assert "/invites/" in mail.outbox[0].body
    assert "Team A" in mail.outbox[0].subject
