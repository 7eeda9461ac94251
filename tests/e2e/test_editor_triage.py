"""A newcomer's path: the support-triage example built from an empty canvas
(input, an llm-mode router with two routes, two agents, a join, an output),
published, run, and every node but the unchosen branch green."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Personas, WorkerPool
from tests.e2e.test_editor import connect, node, sign_in
from tests.webapp.runs.helpers import simulator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add(page: Any, node_type: str, node_id: str) -> None:
    page.locator(f'.q-palette-item[data-node-type="{node_type}"]').click()
    expect(node(page, node_id)).to_be_visible()


def test_build_support_triage_from_scratch(
    live_app: str, page: Any, personas: Personas, fake_llm: str, celery_worker_process: WorkerPool
) -> None:
    simulator(personas.team_a, fake_llm)
    sign_in(page, live_app, "/workflows/")
    page.get_by_label("Name").fill("My triage")
    page.get_by_role("button", name="New workflow").click()
    settings = page.get_by_role("region", name="Node settings")

    add(page, "input", "input_1")
    settings.get_by_label("Key", exact=True).fill("ticket")
    add(page, "router", "router_1")
    settings.get_by_label("Mode", exact=True).select_option("llm")
    for i, (name, description) in enumerate(
        [("billing", "invoices and refunds"), ("technical", "errors and outages")]
    ):
        settings.get_by_role("button", name="Add route").click()
        settings.locator(f"#f-router_1-routes-{i}-name").fill(name)
        settings.locator(f"#f-router_1-routes-{i}-description").fill(description)
    for port in ("billing", "technical", "default"):
        expect(node(page, "router_1").locator(f'[data-handleid="{port}"]')).to_be_visible()
    add(page, "llm", "llm_1")
    add(page, "llm", "llm_2")
    add(page, "join", "join_1")
    add(page, "output", "output_1")
    page.locator(".react-flow__pane").click()  # deselect, so keys reach the canvas
    page.keyboard.press("f")  # fit the stacked nodes in view
    page.wait_for_timeout(800)

    connect(page, "input_1", "out", "router_1", "in")
    connect(page, "router_1", "billing", "llm_1", "in")
    connect(page, "router_1", "technical", "llm_2", "in")
    connect(page, "llm_1", "text", "join_1", "in")
    connect(page, "llm_2", "text", "join_1", "in")
    connect(page, "join_1", "out", "output_1", "in")
    expect(page.locator(".react-flow__edge")).to_have_count(6)
    expect(page.get_by_role("region", name="Problems")).to_contain_text("No problems")

    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_role("button", name="Publish version").click()
    expect(page.get_by_text("Published v1.")).to_be_visible()
    run_form = page.get_by_role("region", name="Test run")
    run_form.get_by_label("ticket").fill("I was charged twice on my invoice")
    run_form.get_by_role("button", name="Run v1").click()
    expect(page.locator(".q-run-state")).to_have_text("succeeded", timeout=30_000)
    for node_id in ("input_1", "router_1", "join_1", "output_1"):
        expect(node(page, node_id).locator(".q-node")).to_have_attribute(
            "data-run-state", "succeeded"
        )
    states = {
        node(page, n).locator(".q-node").get_attribute("data-run-state") for n in ("llm_1", "llm_2")
    }
    assert states == {"succeeded", "skipped"}, "one branch ran, the other was skipped"
    assert page.console_errors == []
