"""The editor end to end in headless Chromium: build input -> llm -> output from
an empty canvas, configure it, see a validation error and fix it, publish, run
on a real worker and watch the nodes turn green, export and re-import the JSON,
undo and redo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Personas, WorkerPool
from tests.webapp.runs.helpers import simulator
from webapp.workflows.models import Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, live_app: str, path: str) -> None:
    page.goto(live_app + path)
    page.get_by_label("Username").fill("owner_a")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_app + path)


def node(page: Any, node_id: str) -> Any:
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def drag_from_palette(page: Any, node_type: str, x: int, y: int) -> None:
    item = page.locator(f'.q-palette-item[data-node-type="{node_type}"]')
    item.drag_to(page.locator(".q-canvas"), target_position={"x": x, "y": y})


def connect(page: Any, source: str, source_port: str, target: str, target_port: str) -> None:
    start = node(page, source).locator(f'.react-flow__handle.source[data-handleid="{source_port}"]')
    end = node(page, target).locator(f'.react-flow__handle.target[data-handleid="{target_port}"]')
    a, b = start.bounding_box(), end.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=10)
    page.mouse.up()


def test_build_publish_run_export_import_undo(
    live_app: str,
    page: Any,
    personas: Personas,
    fake_llm: str,
    celery_worker_process: WorkerPool,
    tmp_path: Path,
) -> None:
    simulator(personas.team_a, fake_llm, model_names=["sim-small", "sim-large"])
    sign_in(page, live_app, "/workflows/")
    page.get_by_label("Name").fill("Answerer")
    page.get_by_role("button", name="New workflow").click()
    expect(page.get_by_text("Drag a node type here")).to_be_visible()

    drag_from_palette(page, "input", 120, 150)
    drag_from_palette(page, "llm", 380, 150)
    drag_from_palette(page, "output", 640, 150)
    for node_id in ("input_1", "llm_1", "output_1"):
        expect(node(page, node_id)).to_be_visible()
    # Unconnected: the server's validation marks the llm's and output's needs.
    expect(page.locator(".q-problems")).to_contain_text("required")
    expect(page.get_by_role("button", name="Publish", exact=True)).to_be_disabled()

    connect(page, "input_1", "out", "llm_1", "in")
    connect(page, "llm_1", "text", "output_1", "in")
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    node(page, "llm_1").click()
    settings = page.get_by_role("region", name="Node settings")
    expect(settings.get_by_text("Variables:").first).to_contain_text("{{ input_1 }}")
    settings.get_by_label("Model").select_option(
        label="Simulator / sim-large (simulated) — $1 in / $2 out per 1M tokens"
    )
    settings.get_by_label("Prompt", exact=True).fill("Answer briefly: {{ input")
    problems = page.get_by_role("region", name="Problems")
    expect(problems).to_contain_text("prompt")
    expect(node(page, "llm_1").locator(".q-node")).to_have_class(
        "q-node q-cat-agents has-error selected"
    )
    settings.get_by_label("Prompt", exact=True).fill("Answer briefly: {{ input }}")
    expect(problems).to_contain_text("No problems")
    expect(page.get_by_text("All changes saved")).to_be_visible()

    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_label("Version message").fill("first cut")
    page.get_by_role("button", name="Publish version").click()
    expect(page.get_by_text("Published v1.")).to_be_visible()
    workflow = Workflow.objects.get(name="Answerer")
    version = workflow.versions.get(number=1)
    assert version.message == "first cut"
    llm = next(n for n in version.graph["nodes"] if n["id"] == "llm_1")
    assert llm["config"]["model"] == "sim-large"
    assert llm["config"]["prompt"] == "Answer briefly: {{ input }}"

    run_form = page.get_by_role("region", name="Test run")
    run_form.get_by_label("message").fill("What is a heat pump?")
    run_form.get_by_role("button", name="Run v1").click()
    for node_id in ("input_1", "llm_1", "output_1"):
        expect(node(page, node_id).locator(".q-node")).to_have_attribute(
            "data-run-state", "succeeded", timeout=30_000
        )
    expect(page.locator(".q-run-state")).to_have_text("succeeded")
    # The colours came over the run's event stream (WebSocket), not polling.
    expect(page.locator(".q-run-status")).to_contain_text("(live)")
    node(page, "llm_1").click()
    details = page.get_by_role("region", name="Steps of llm_1")
    expect(details).to_contain_text("Tokens")
    expect(details).to_contain_text("Simulator / sim-large")
    expect(details).to_contain_text("What is a heat pump?")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    exported = tmp_path / "answerer.json"
    download.value.save_as(exported)
    data = json.loads(exported.read_text())
    assert data["name"] == "Answerer"
    assert {n["id"] for n in data["graph"]["nodes"]} == {"input_1", "llm_1", "output_1"}

    page.get_by_label("Import JSON").set_input_files(str(exported))
    expect(page.get_by_role("heading", name="Answerer (imported")).to_be_visible()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_role("region", name="Problems")).to_contain_text("No problems")
    imported = Workflow.objects.exclude(pk=workflow.pk).get(team=personas.team_a)
    assert imported.draft["nodes"] == data["graph"]["nodes"]

    node(page, "output_1").click()
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    page.get_by_role("button", name="Undo", exact=True).click()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    page.get_by_role("button", name="Redo", exact=True).click()
    expect(page.locator(".react-flow__node")).to_have_count(2)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_text("All changes saved")).to_be_visible()
    imported.refresh_from_db()
    assert len(imported.draft["nodes"]) == 3
    assert page.console_errors == []
