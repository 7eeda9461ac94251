"""Editor tools in headless Chromium: a connection refused with its reason,
copy/paste, auto-layout, the shortcuts overlay, a save conflict between two
tabs, restoring a version as the draft, and the read-only view of a viewer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Personas
from tests.e2e.test_editor import connect, node
from webapp.workflows.models import Workflow
from webapp.workflows.services import do_create_workflow, do_publish, do_save_draft

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_triage.json"


def sign_in(page: Any, live_app: str, username: str, path: str) -> None:
    page.goto(live_app + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_app + path)


@pytest.fixture
def triage(personas: Personas) -> Workflow:
    """Team A's support-triage example, published once."""
    document = json.loads(EXAMPLE.read_text())
    workflow = do_create_workflow(personas.team_a, "Triage", graph=document["graph"])
    do_publish(workflow, message="example")
    return workflow


def test_tools_on_the_support_triage_example(
    live_app: str, page: Any, personas: Personas, triage: Workflow
) -> None:
    sign_in(page, live_app, "owner_a", f"/workflows/{triage.pk}/")
    nodes = page.locator(".react-flow__node")
    expect(nodes).to_have_count(len(triage.draft["nodes"]))
    # The router's output ports are its routes.
    for port in ("billing", "technical", "default"):
        expect(node(page, "classify").locator(f'[data-handleid="{port}"]')).to_be_visible()
    expect(page.get_by_role("region", name="Problems")).to_contain_text("No problems")

    # A map's `items` takes a list; an llm's `text` output is refused, with why.
    page.locator('.q-palette-item[data-node-type="map"]').click()
    page.locator('.q-palette-item[data-node-type="llm"]').click()
    expect(node(page, "map_1")).to_be_visible()
    connect(page, "llm_1", "text", "map_1", "items")
    expect(page.locator(".q-banner-error")).to_contain_text(
        "Connection refused: Port types do not match: llm_1.text gives text, "
        "map_1.items takes list."
    )
    page.get_by_role("button", name="Undo", exact=True).click()
    page.get_by_role("button", name="Undo", exact=True).click()
    expect(nodes).to_have_count(len(triage.draft["nodes"]))

    # Copy and paste two nodes with the edge between them.
    node(page, "billing_agent").click()
    node(page, "technical_agent").click(modifiers=["Shift"])
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(nodes).to_have_count(len(triage.draft["nodes"]) + 2)
    expect(node(page, "llm_1")).to_be_visible()
    expect(node(page, "llm_2")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(len(triage.draft["edges"]))

    page.keyboard.press("?")
    overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_contain_text("Auto-layout")
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()

    before = node(page, "ticket").bounding_box()
    page.get_by_role("button", name="Auto-layout").click()
    expect(page.get_by_text("All changes saved")).to_be_visible()
    page.wait_for_timeout(500)
    assert node(page, "ticket").bounding_box() != before
    triage.refresh_from_db()
    assert len(triage.draft["nodes"]) == 9
    assert page.console_errors == []


def test_second_tab_is_told_of_a_conflict(
    live_app: str, page: Any, personas: Personas, triage: Workflow
) -> None:
    sign_in(page, live_app, "owner_a", f"/workflows/{triage.pk}/")
    other = page.context.new_page()
    other.goto(f"{live_app}/workflows/{triage.pk}/")
    expect(other.locator(".react-flow__node")).to_have_count(7)

    node(page, "classify").click()
    page.get_by_label("Label").fill("Classify ticket")
    expect(page.get_by_text("All changes saved")).to_be_visible()

    node(other, "billing_agent").click()
    other.get_by_label("Label").fill("Billing")
    banner = other.get_by_role("alert").filter(has_text="Another tab")
    expect(banner).to_be_visible()
    expect(other.get_by_text("Not saved: conflict")).to_be_visible()
    other.get_by_role("button", name="Overwrite with mine").click()
    expect(other.get_by_text("All changes saved")).to_be_visible()
    triage.refresh_from_db()
    labels = {n["id"]: n["label"] for n in triage.draft["nodes"]}
    assert labels["billing_agent"] == "Billing"
    assert labels["classify"] == "Classify", "overwritten by the second tab"

    node(page, "ticket").click()
    page.get_by_label("Label").fill("Ticket text")
    expect(page.get_by_text("Not saved: conflict")).to_be_visible()
    page.get_by_role("button", name="Reload their version").click()
    expect(node(page, "billing_agent")).to_contain_text("Billing")
    expect(page.get_by_text("All changes saved")).to_be_visible()


def test_restore_a_version_from_the_history(
    live_app: str, page: Any, personas: Personas, triage: Workflow
) -> None:
    draft = dict(triage.draft)
    draft["nodes"] = [n for n in draft["nodes"] if n["id"] != "technical_agent"]
    do_save_draft(triage, draft)
    sign_in(page, live_app, "owner_a", f"/workflows/{triage.pk}/")
    expect(page.locator(".react-flow__node")).to_have_count(6)
    page.get_by_text("Version history").click()
    expect(page.get_by_text("since v1: 1 node removed")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Restore as draft").click()
    expect(page.locator(".react-flow__node")).to_have_count(7)


def test_viewer_sees_a_read_only_editor(
    live_app: str, page: Any, personas: Personas, triage: Workflow
) -> None:
    sign_in(page, live_app, "viewer_a", f"/workflows/{triage.pk}/")
    expect(page.get_by_text("Read only").first).to_be_visible()
    expect(page.locator(".react-flow__node")).to_have_count(7)
    expect(page.get_by_role("button", name="Publish", exact=True)).to_have_count(0)
    node(page, "classify").click()
    expect(page.get_by_label("Label")).to_be_disabled()
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__node")).to_have_count(7)
