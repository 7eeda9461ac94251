"""Exports in Chromium: the run page's PDF link downloads a report whose totals
match the run; a large run's report is a job whose page follows the progress
(htmx, every second) and offers the download; the usage page downloads XLSX."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Personas, WorkerPool
from tests.webapp.reports.helpers import csv_rows, pdf_text, seeded_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Any, live_app: str, username: str) -> None:
    page.goto(live_app + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_have_count(0)


def test_run_report_pdf_from_the_run_page(live_app: str, page: Any, personas: Personas) -> None:
    run = seeded_run(personas.team_a, "Reported", 12, user=personas.owner_a)
    _sign_in(page, live_app, "owner_a")
    page.goto(f"{live_app}/runs/{run.pk}/")
    with page.expect_download() as info:
        page.locator("#report-pdf").click()
    path = Path(info.value.path())
    text = pdf_text(path.read_bytes())
    assert f"Run report #{run.pk}" in text
    assert f"{run.cost_usd:.6f} USD" in text
    assert str(run.tokens_in) in text
    # The HTML report renders under its own policy: inline CSS, no script.
    html_page = page.context.new_page()
    errors: list[str] = []
    html_page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    html_page.goto(f"{live_app}/runs/{run.pk}/report.html")
    expect(html_page.locator("svg.graph g.node")).to_have_count(2)
    expect(html_page.locator("svg.timeline")).to_be_visible()
    assert html_page.locator("h1").evaluate("e => getComputedStyle(e).fontSize") != "32px"
    assert errors == []


def test_large_run_report_job_shows_progress_and_downloads(
    live_app: str, page: Any, personas: Personas, celery_worker_process: WorkerPool
) -> None:
    run = seeded_run(personas.team_a, "Large", 3000, user=personas.owner_a)
    _sign_in(page, live_app, "owner_a")
    page.goto(f"{live_app}/runs/{run.pk}/")
    page.get_by_role("link", name="CSV (steps)").click()
    expect(page.get_by_role("heading", name="csv")).to_be_visible()
    expect(page.locator("#job-status")).to_have_text("done", timeout=60_000)
    with page.expect_download() as info:
        page.locator("#job-download").click()
    rows = csv_rows(Path(info.value.path()).read_bytes())
    assert len(rows) == 3000
    assert sum(int(r["tokens_in"]) for r in rows) == run.tokens_in


def test_usage_xlsx_from_the_usage_page(live_app: str, page: Any, personas: Personas) -> None:
    seeded_run(personas.team_a, "Alpha", 5, user=personas.owner_a)
    _sign_in(page, live_app, "owner_a")
    page.goto(f"{live_app}/dashboards/?range=7d")
    page.get_by_role("link", name="usage report (PDF, HTML, CSV, XLSX)").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="XLSX").click()
    book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    rows = list(book["Cost by workflow"].iter_rows(values_only=True))
    assert rows[1][0] == "Alpha"
    assert rows[1][1] == 5
