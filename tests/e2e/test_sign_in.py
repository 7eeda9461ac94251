"""Sign in, see the team, switch teams through the htmx switcher, sign out."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Personas
from webapp.accounts.models import Membership, Role, Team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_switch_team_and_sign_out(live_app: str, page: Any, personas: Personas) -> None:
    team_c = Team.objects.create(name="Team C", slug="team-c")
    Membership.objects.create(user=personas.owner_a, team=team_c, role=Role.VIEWER)

    page.goto(live_app + "/runs/")
    expect(page).to_have_url(f"{live_app}/accounts/login/?next=/runs/")
    page.get_by_label("Username").fill("owner_a")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_app}/runs/")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    expect(page.get_by_text("Team A has no runs yet.")).to_be_visible()
    for section in ("Workflows", "Runs", "Dashboards", "Team"):
        expect(page.get_by_role("link", name=section, exact=True)).to_be_visible()

    # The switcher posts through htmx (with the CSRF header) and reloads the page.
    page.get_by_label("Current team").select_option("team-c")
    expect(page.get_by_text("Team C has no runs yet.")).to_be_visible()
    page.get_by_role("link", name="Team", exact=True).click()
    expect(page.get_by_role("heading", name="Team C")).to_be_visible()
    expect(page.get_by_role("cell", name="Viewer")).to_be_visible()

    page.get_by_text("owner_a", exact=True).click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(live_app + "/")
    expect(page).to_have_url(f"{live_app}/accounts/login/?next=/")
    assert page.console_errors == []
