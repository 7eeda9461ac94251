from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, Personas, client_for
from webapp.accounts.models import Membership, Role, Team

pytestmark = pytest.mark.django_db

SECTIONS = ["home", "workflows", "runs", "dashboards", "team_detail"]


@pytest.mark.parametrize("name", SECTIONS)
def test_sections_redirect_anonymous_to_sign_in(name: str) -> None:
    response = Client().get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", SECTIONS)
def test_sections_show_each_persona_their_own_team(personas: Personas, name: str) -> None:
    for user, team in [
        (personas.owner_a, personas.team_a),
        (personas.viewer_a, personas.team_a),
        (personas.member_b, personas.team_b),
    ]:
        response = client_for(user).get(reverse(name))
        assert response.status_code == 200, (user, name)
        assert team.name in response.content.decode()


def test_member_of_b_never_sees_team_a(personas: Personas) -> None:
    for name in SECTIONS:
        body = client_for(personas.member_b).get(reverse(name)).content.decode()
        assert "Team A" not in body, name
        assert "owner_a" not in body, name


def test_team_page_lists_members_with_roles(personas: Personas) -> None:
    body = client_for(personas.viewer_a).get(reverse("team_detail")).content.decode()
    assert "owner_a" in body
    assert "viewer_a" in body
    assert "Owner" in body
    assert "Viewer" in body
    assert "member_b" not in body


def test_sign_in_with_password_then_sign_out(personas: Personas) -> None:
    client = Client()
    response = client.post(reverse("login"), {"username": "owner_a", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert "Team A" in client.get(reverse("home")).content.decode()
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(personas: Personas) -> None:
    response = Client().post(reverse("login"), {"username": "owner_a", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_password_reset_sends_a_working_link(personas: Personas) -> None:
    client = Client()
    response = client.post(reverse("password_reset"), {"email": "viewer@a.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    body = str(mail.outbox[0].body)
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", body)
    assert link, body
    response = client.get(link.group(1), follow=True)
    assert b"Choose a new password" in response.content
    response = client.post(
        response.redirect_chain[-1][0],
        {"new_password1": "a brand new passphrase", "new_password2": "a brand new passphrase"},
    )
    assert response.status_code == 302
    assert Client().login(username="viewer_a", password="a brand new passphrase")


def test_user_in_two_teams_switches_between_them(personas: Personas) -> None:
    Membership.objects.create(user=personas.member_b, team=personas.team_a, role=Role.VIEWER)
    client = client_for(personas.member_b)
    body = client.get(reverse("home")).content.decode()
    assert "<h1>Team A</h1>" in body  # first team by name
    response = client.post(reverse("switch_team"), {"team": "team-b", "next": "/runs/"})
    assert response.status_code == 302
    assert response["Location"] == "/runs/"
    assert "<h1>Team B</h1>" in client.get(reverse("home")).content.decode()


def test_switch_to_a_foreign_team_is_404_and_keeps_the_current_team(personas: Personas) -> None:
    client = client_for(personas.member_b)
    assert client.post(reverse("switch_team"), {"team": "team-a"}).status_code == 404
    assert "<h1>Team B</h1>" in client.get(reverse("home")).content.decode()


def test_switch_refuses_an_offsite_next(personas: Personas) -> None:
    client = client_for(personas.owner_a)
    response = client.post(
        reverse("switch_team"), {"team": "team-a", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_htmx_switch_answers_with_hx_redirect(personas: Personas) -> None:
    client = client_for(personas.owner_a)
    response = client.post(
        reverse("switch_team"), {"team": "team-a", "next": "/team/"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/team/"


def test_switch_needs_post_and_csrf(personas: Personas) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.owner_a)
    assert client.get(reverse("switch_team")).status_code == 405
    assert client.post(reverse("switch_team"), {"team": "team-a"}).status_code == 403


def test_user_in_no_team_is_told_so(db: None) -> None:
    from django.contrib.auth.models import User

    lonely = User.objects.create_user("lonely", password=PASSWORD)
    body = client_for(lonely).get(reverse("home")).content.decode()
    assert "not in a team yet" in body


def test_team_left_after_choosing_falls_back_to_remaining_team(personas: Personas) -> None:
    Membership.objects.create(user=personas.member_b, team=personas.team_a, role=Role.VIEWER)
    client = client_for(personas.member_b)
    client.post(reverse("switch_team"), {"team": "team-a"})
    Membership.objects.filter(user=personas.member_b, team=personas.team_a).delete()
    assert "<h1>Team B</h1>" in client.get(reverse("home")).content.decode()
    assert Team.objects.count() == 2


def test_seed_demo_is_idempotent_and_prints_password_once(db: None) -> None:
    from io import StringIO

    from django.core.management import call_command

    first, second = StringIO(), StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    password = re.search(r"password (\S+)", first.getvalue())
    assert password, first.getvalue()
    assert password.group(1) not in second.getvalue()
    assert Client().login(username="demo", password=password.group(1))
    assert Membership.objects.get(user__username="demo").role == Role.OWNER
    assert Team.objects.filter(slug="demo").count() == 1
