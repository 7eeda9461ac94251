"""Usage reports and the dashboard PDF: contents equal the dashboard's figures
and the database's sums; permissions; bad ranges; the weekly email."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from openpyxl import load_workbook  # type: ignore[import-untyped]

from tests.conftest import Personas, client_for
from tests.webapp.reports.helpers import SECRET, csv_rows, csv_sections, pdf_text, seeded_run
from tests.webapp.runs.helpers import simulator
from webapp.reports.models import UsageSchedule
from webapp.reports.weekly import send_all
from webapp.runs.models import Step

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(personas: Personas) -> Personas:
    simulator(personas.team_a, "http://127.0.0.1:9", api_key=SECRET)
    seeded_run(personas.team_a, "Alpha", 6, user=personas.owner_a)
    seeded_run(personas.team_a, "Beta", 4, user=personas.owner_a, status="failed")
    seeded_run(personas.team_b, "Gamma", 8, user=personas.member_b)
    return personas


def _dashboard_cost(client: object, chart: str) -> Decimal:
    response = client.get(f"/dashboards/{chart}.csv", {"range": "7d"})  # type: ignore[attr-defined]
    return sum((Decimal(r["cost_usd"]) for r in csv_rows(response.content)), Decimal(0))


def test_usage_csv_matches_dashboard_and_database(seeded: Personas) -> None:
    client = client_for(seeded.owner_a)
    response = client.get("/reports/usage.csv", {"range": "7d"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    sections = csv_sections(response.content)
    steps = Step.objects.filter(team=seeded.team_a)
    db_cost = sum((s.cost_usd or Decimal(0) for s in steps), Decimal(0))
    for title, chart in [
        ("Cost by workflow", "cost-workflow"),
        ("Cost by model", "cost-model"),
        ("Cost by provider", "cost-provider"),
    ]:
        total = sum((Decimal(r["cost_usd"]) for r in sections[title]), Decimal(0))
        assert total == db_cost == _dashboard_cost(client, chart)
    assert {r["workflow"] for r in sections["Cost by workflow"]} == {"Alpha", "Beta"}
    summary = {r["figure"]: r["value"] for r in sections["Summary"]}
    assert summary["runs"] == "2"
    assert summary["tokens_in"] == str(10 * 10)
    assert summary["tokens_out"] == str(20 * 10)
    assert Decimal(summary["cost_usd"]) == db_cost
    assert summary["success_rate"] == "0.5"
    users = sections["By user"]
    assert [(u["user"], u["runs"]) for u in users] == [("owner_a", "2")]
    latency = {r["workflow"]: r for r in sections["Run latency per workflow"]}
    dash = {r["workflow"]: r for r in csv_rows(client.get(
        "/dashboards/latency-workflow.csv", {"range": "7d"}).content)}  # fmt: skip
    assert latency == dash
    assert "Gamma" not in response.content.decode()  # team B's workflow
    assert SECRET not in response.content.decode()


def test_usage_xlsx_rows_and_sums(seeded: Personas) -> None:
    response = client_for(seeded.owner_a).get("/reports/usage.xlsx", {"range": "7d"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert "Cost by workflow" in book.sheetnames
    rows = list(book["Cost by workflow"].iter_rows(values_only=True))
    assert rows[0] == ("workflow", "steps", "cost_usd")
    assert len(rows) == 3
    assert sum(r[1] for r in rows[1:]) == 10
    assert round(sum(r[2] for r in rows[1:]), 6) == 0.0005
    tokens = list(book["Tokens"].iter_rows(values_only=True))[1:]
    assert sum(r[1] for r in tokens) == 100
    assert sum(r[2] for r in tokens) == 200
    summary = dict(list(book["Summary"].iter_rows(values_only=True))[1:])
    assert summary["runs"] == 2


def test_usage_pdf_and_html_totals(seeded: Personas) -> None:
    client = client_for(seeded.owner_a)
    text = pdf_text(client.get("/reports/usage.pdf", {"range": "7d"}).content)
    assert "Usage report — Team A" in text
    assert "0.000500 USD" in text
    assert "Alpha" in text
    assert "Beta" in text
    assert "Gamma" not in text
    response = client.get("/reports/usage.html", {"range": "7d"})
    assert "script-src" not in response["Content-Security-Policy"]  # none at all
    assert "default-src 'none'" in response["Content-Security-Policy"]
    html = response.content.decode()
    assert "<svg" in html
    assert "<script" not in html
    assert SECRET not in html


def test_dashboard_pdf_has_every_chart(seeded: Personas) -> None:
    from webapp.monitoring.charts import CHARTS

    response = client_for(seeded.owner_a).get("/reports/dashboard.pdf", {"range": "24h"})
    assert response.status_code == 200
    text = pdf_text(response.content)
    for chart in CHARTS.values():
        assert chart.title.split(" (")[0] in text


def test_usage_permissions_and_bad_ranges(seeded: Personas) -> None:
    assert client_for(seeded.viewer_a).get("/reports/usage.csv").status_code == 403
    assert client_for(seeded.viewer_a).get("/reports/dashboard.pdf").status_code == 403
    assert client_for(None).get("/reports/usage.csv").status_code == 302
    b = client_for(seeded.member_b).get("/reports/usage.csv", {"range": "7d"})
    assert b.status_code == 200
    assert "Alpha" not in b.content.decode()
    owner = client_for(seeded.owner_a)
    bad = owner.get("/reports/usage.csv", {"from": "2026-02-30"})
    assert bad.status_code == 400
    assert b"from: '2026-02-30' is not a date" in bad.content
    bad = owner.get("/reports/usage.csv", {"from": "2026-03-01", "to": "2026-02-01"})
    assert bad.status_code == 400
    assert owner.get("/reports/usage.docx").status_code == 400
    page = owner.get("/reports/usage/", {"range": "nope"})
    assert page.status_code == 400
    assert "range: &#x27;nope&#x27;" in page.content.decode()
    assert owner.get("/reports/usage/").status_code == 200


def test_weekly_email_to_chosen_members(seeded: Personas) -> None:
    owner = client_for(seeded.owner_a)
    refused = owner.post(
        "/reports/usage/schedule/", {"enabled": "on", "recipients": [seeded.viewer_a.pk]}
    )
    assert refused.status_code == 400
    assert b"recipients" in refused.content
    refused = owner.post("/reports/usage/schedule/", {"recipients": [seeded.member_b.pk]})
    assert refused.status_code == 400
    assert not UsageSchedule.objects.exists()  # nothing half-written
    saved = owner.post(
        "/reports/usage/schedule/", {"enabled": "on", "recipients": [seeded.owner_a.pk]}
    )
    assert saved.status_code == 302
    # Sent tomorrow, the report covers the seven days up to today's end.
    assert send_all(now=timezone.now() + timedelta(days=1)) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["owner@a.example"]
    assert "Team A" in message.subject
    assert "2 runs, 0.000500 USD, 100 tokens in, 200 tokens out" in message.body
    names = [a[0] for a in message.attachments]
    assert any(n.endswith(".pdf") for n in names)
    assert any(n.endswith(".xlsx") for n in names)
    assert SECRET not in message.body
    assert UsageSchedule.objects.get().last_sent_at is not None


def test_a_job_whose_user_lost_the_right_fails_with_the_reason(seeded: Personas) -> None:
    from webapp.accounts.models import Membership
    from webapp.reports.jobs import run_job
    from webapp.reports.models import ExportJob

    job = ExportJob.objects.create(
        team=seeded.team_a,
        created_by=seeded.owner_a,
        kind="usage",
        fmt="csv",
        params={"from": "2026-01-01T00:00:00+00:00", "to": "2026-02-01T00:00:00+00:00"},
    )
    Membership.objects.filter(user=seeded.owner_a).update(role="viewer")
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert "export_reports" in job.error or "permission" in job.error.lower()
    assert job.content is None
    run_job(job.pk)  # a duplicate delivery leaves a finished job alone
    job.refresh_from_db()
    assert job.status == "failed"
