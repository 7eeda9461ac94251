"""Team access in Chromium: an owner invites a colleague as viewer, who accepts,
watches runs, sees no edit, run or admin controls, and gets 403 from the API;
and every page holds its Content-Security-Policy (no violation, no eval)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Personas
from tests.webapp.api.helpers import echo_graph
from webapp.runs.models import Run
from webapp.runs.services import do_start_run
from webapp.workflows.models import Workflow, WorkflowVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _published_run(personas: Personas) -> tuple[Workflow, Run]:
    workflow = Workflow.objects.create(team=personas.team_a, name="Echo", draft=echo_graph())
    version = WorkflowVersion.objects.create(
        team=personas.team_a, workflow=workflow, number=1, graph=echo_graph()
    )
    return workflow, do_start_run(version, {})


def _sign_in(page: Any, live_app: str, username: str) -> None:
    page.goto(live_app + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("details.dropdown summary", has_text=username)).to_be_visible()


def test_invite_accept_viewer_sees_no_controls_and_api_refuses(
    live_app: str, browser: Any, page: Any, personas: Personas
) -> None:
    workflow, run = _published_run(personas)
    _sign_in(page, live_app, "owner_a")
    page.goto(live_app + "/team/")
    page.get_by_label("Email (optional: leave empty for a link to share)").fill("carol@a.example")
    page.locator("#invites").get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create invite").click()
    link = page.locator("#invite-link").inner_text()
    assert "/invites/" in link

    # The colleague, in a browser of their own, creates an account from the link.
    context = browser.new_context()
    colleague = context.new_page()
    errors: list[str] = []
    colleague.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    colleague.goto(link)
    expect(colleague.get_by_role("heading", name="Join Team A")).to_be_visible()
    colleague.get_by_label("Username").fill("carol")
    colleague.get_by_label("Password", exact=True).fill(PASSWORD)
    colleague.get_by_label("Password confirmation").fill(PASSWORD)
    colleague.get_by_role("button", name="Create account and join").click()
    expect(colleague.get_by_text("You joined Team A as viewer")).to_be_visible()

    # Runs: visible, no start, cancel or retry.
    colleague.goto(live_app + "/runs/")
    expect(colleague.get_by_role("link", name=f"#{run.pk}").first).to_be_visible()
    expect(colleague.get_by_text("Start a run")).to_have_count(0)
    colleague.goto(f"{live_app}/runs/{run.pk}/")
    expect(colleague.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(colleague.get_by_role("button", name="Retry (new run, same inputs)")).to_have_count(0)
    # Workflows: no new workflow; the editor is read only, with no publish or run.
    colleague.goto(live_app + "/workflows/")
    expect(colleague.get_by_role("button", name="New workflow")).to_have_count(0)
    colleague.goto(f"{live_app}/workflows/{workflow.pk}/")
    expect(colleague.get_by_text("Read only").first).to_be_visible()
    expect(colleague.get_by_role("button", name="Publish", exact=True)).to_have_count(0)
    expect(colleague.get_by_role("button", name=re.compile(r"^Run v\d"))).to_have_count(0)
    # Team: no invites, roles, tokens or audit; no Audit in the menu.
    colleague.goto(live_app + "/team/")
    expect(colleague.get_by_role("button", name="Create invite")).to_have_count(0)
    expect(colleague.get_by_role("button", name="Change role")).to_have_count(0)
    expect(colleague.get_by_role("link", name="API tokens")).to_have_count(0)
    expect(colleague.get_by_role("link", name="Audit", exact=True)).to_have_count(0)

    # The API, with the browser's session and CSRF token, refuses with 403.
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = colleague.request.post(
        f"{live_app}/api/workflows/{workflow.pk}/runs",
        data={"inputs": {}},
        headers={"X-CSRFToken": csrf, "Referer": live_app + "/"},
    )
    assert response.status == 403, response.text()
    assert "viewer" in response.json()["detail"]
    assert colleague.request.get(f"{live_app}/api/runs/{run.pk}").status == 200
    context.close()

    # The owner sees it all in the audit log.
    page.goto(live_app + "/audit/")
    log = page.locator("#audit")
    expect(log).to_contain_text("member.invited")
    expect(log).to_contain_text("member.joined")
    expect(log).to_contain_text("carol")
    assert errors == [], errors
    assert page.console_errors == []


PAGES = [
    "/",
    "/workflows/",
    "/workflows/{workflow}/",
    "/workflows/{workflow}/versions",
    "/runs/",
    "/runs/{run}/",
    "/dashboards/",
    "/team/",
    "/team/tokens/",
    "/audit/",
    "/reports/usage/",
    "/api/docs/",
    "/accounts/password_change/",
]


def test_every_page_holds_the_content_security_policy(
    live_app: str, page: Any, personas: Personas
) -> None:
    workflow, run = _published_run(personas)
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _sign_in(page, live_app, "owner_a")
    for template in PAGES:
        path = template.format(workflow=workflow.pk, run=run.pk)
        response = page.goto(live_app + path)
        assert response is not None
        assert response.status == 200, path
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, path
        assert "unsafe-eval" not in policy, path
        page.wait_for_load_state("networkidle")
        if path == "/dashboards/":  # Plotly drew its charts under the policy
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
        if path == f"/workflows/{workflow.pk}/":  # the React editor
            expect(page.locator(".react-flow").first).to_be_visible()
        if path == "/api/docs/":  # Swagger UI rendered the operations
            expect(page.get_by_text("/api/workflows").first).to_be_visible()
        assert violations == [], (path, violations)
    # Browsers ask for /favicon.ico on pages (Swagger UI) that name none.
    failed = [f for f in failed if not f.endswith("/favicon.ico")]
    assert failed == [], failed
    assert all("Failed to load resource" in e for e in page.console_errors), page.console_errors
