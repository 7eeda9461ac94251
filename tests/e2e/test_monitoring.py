"""Watching runs live in headless Chromium: the runs list, the run page and the
dashboards, against uvicorn, a real Celery worker and a paced Simulator."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from playwright.sync_api import expect

from tests.conftest import Personas, WorkerPool
from tests.fixtures_fakellm import running_fakellm
from tests.webapp.runs.helpers import simulator
from webapp.runs.services import do_start_run
from webapp.workflows.examples import load_examples

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def paced_llm() -> Iterator[str]:
    """The Simulator answering after 100 ms at 100 words a second, so a viewer
    sees steps running and text streaming."""
    with running_fakellm("--latency-ms", "100", "--tokens-per-second", "100") as url:
        yield url


def sign_in(page: Any, live_app: str, user: Any) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_app}]
    )


def start_run(version: Any, inputs: dict[str, Any], personas: Personas) -> Any:
    """do_start_run in a plain thread: this one runs Playwright's event loop, where
    the after-commit publish (async_to_sync) cannot run."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["run"] = do_start_run(version, inputs, user=personas.owner_a)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    return result["run"]


def money(text: str) -> float:
    return float(text.strip().lstrip("$"))


def test_watch_a_research_run_live_then_the_dashboard(
    live_app: str,
    page: Any,
    personas: Personas,
    paced_llm: str,
    celery_worker_process: WorkerPool,
    tmp_path: Any,
) -> None:
    simulator(personas.team_a, paced_llm, model_names=["sim-small", "sim-large"])
    versions = {v.workflow.name: v for v in load_examples(personas.team_a)}
    sign_in(page, live_app, personas.owner_a)

    # The runs list is open when the run starts: its row appears without a reload.
    page.goto(live_app + "/runs/")
    expect(page.get_by_text("Team A has no runs yet.")).to_be_visible()
    run = start_run(versions["Research team"], {"topic": "heat pumps in cold climates"}, personas)
    row = page.locator(f"#run-{run.pk}")
    expect(row).to_be_visible(timeout=10_000)
    row.get_by_role("link", name=f"#{run.pk}").click()

    # The run page: node states, streamed text and cost all move without a reload.
    expect(page.get_by_role("heading", name=f"Run #{run.pk}")).to_be_visible()
    expect(page.locator("#live-indicator")).to_have_text("live", timeout=30_000)
    writer = page.locator('#run-graph [data-node="writer"]')
    stream = page.locator("#live-output-streams article pre").first
    expect(stream).to_contain_text("Simulated", timeout=30_000)
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=90_000)
    # States the page showed after its replay, i.e. pushed live over the socket.
    live_states = page.evaluate("window.quorumRun.liveStates")
    ran_live = [node for node, states in live_states.items() if "running" in states]
    assert ran_live, live_states
    assert all(live_states[node][-1] == "succeeded" for node in ran_live), live_states
    assert page.evaluate("window.quorumRun.statusAtReplay") in ("queued", "running")
    cost_at_replay = page.evaluate("window.quorumRun.costAtReplay")
    assert money(page.locator("#total-cost").inner_text()) > cost_at_replay
    expect(writer).to_have_attribute("data-state", "succeeded")
    expect(page.locator('#run-graph [data-node="research"]')).to_contain_text("succeeded 3/3")
    expect(writer.locator('[data-role="badge"]')).to_contain_text("tok")
    expect(page.locator("#run-steps table.steps")).to_contain_text("writer")
    expect(page.locator("#run-timeline .main-svg").first).to_be_attached(timeout=10_000)
    expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()

    # The runs list (reloaded now) shows it succeeded.
    page.goto(live_app + "/runs/")
    expect(page.locator(f"#run-{run.pk} [data-field='status']")).to_have_text("succeeded")

    # The dashboard draws its charts from the run, and a chart's CSV holds its rows.
    page.goto(live_app + "/dashboards/?range=1h")
    card = page.locator("#chart-cost-model")
    expect(card).to_have_attribute("data-rendered", "1", timeout=20_000)
    expect(card.locator(".main-svg").first).to_be_attached()
    expect(page.locator("#chart-latency-node-type")).to_have_attribute("data-rendered", "1")
    expect(page.locator("#queues [data-queue='io']")).to_be_visible()
    with page.expect_download() as download_info:
        card.get_by_role("link", name="CSV").click()
    path = tmp_path / "cost-model.csv"
    download_info.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert {row["model_name"] for row in rows} == {"sim-small", "sim-large"}
    assert sum(float(row["cost_usd"]) for row in rows) == pytest.approx(
        float(run.__class__.objects.get(pk=run.pk).cost_usd), rel=1e-6
    )
    assert page.console_errors == []
