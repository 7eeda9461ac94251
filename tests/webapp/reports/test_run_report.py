"""Run reports of a real run (the Research team example on the Simulator,
through a real worker): every format's content against the database, no secret
anywhere, permissions, a 10,000-step run as a background job, and a workflow
exported from one team that imports into another and runs."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps

from tests.conftest import Personas, WorkerPool, client_for
from tests.webapp.reports.helpers import SECRET, csv_rows, pdf_text, seeded_run
from tests.webapp.runs.helpers import simulator, wait_for
from webapp.reports.models import ExportJob
from webapp.reports.redact import scrub
from webapp.runs.models import LLMCallRecord, Run, RunEvent, Step
from webapp.runs.services import do_start_run
from webapp.workflows.examples import load_examples
from webapp.workflows.models import Workflow

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
TOPIC = f"heat pumps (my key is {SECRET})"  # a key pasted into an input


@pytest.fixture
def research_run(personas: Personas, fake_llm: str, celery_worker_process: WorkerPool) -> Run:
    simulator(personas.team_a, fake_llm, api_key=SECRET, model_names=["sim-small", "sim-large"])
    versions = {v.workflow.name: v for v in load_examples(personas.team_a)}
    run = do_start_run(versions["Research team"], {"topic": TOPIC}, user=personas.owner_a)
    run = wait_for(run, timeout_s=90)
    assert run.status == "succeeded", run.error
    return run


def _get(client: Any, run: Run, fmt: str) -> Any:
    response = client.get(f"/runs/{run.pk}/report.{fmt}")
    assert response.status_code == 200, response.content[:500]
    return response


def test_run_report_in_every_format(research_run: Run, personas: Personas) -> None:
    run = research_run
    client = client_for(personas.owner_a)
    steps = Step.objects.filter(run=run)

    record = json.loads(_get(client, run, "json").content)
    assert record["run"]["tokens_in"] == run.tokens_in
    assert record["run"]["tokens_out"] == run.tokens_out
    assert Decimal(record["run"]["cost_usd"]) == run.cost_usd
    assert record["run"]["started_by"] == "owner_a"
    assert record["graph"] == run.version.graph
    assert len(record["steps"]) == steps.count()
    assert [e["seq"] for e in record["events"]] == list(
        RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True)
    )
    assert set(record["node_states"].values()) <= {"succeeded", "skipped"}
    by_model = sum(Decimal(m["cost_usd"]) for m in record["cost_by_model"])
    assert by_model == sum(c.cost_usd or 0 for c in LLMCallRecord.objects.filter(run=run))
    outputs = json.loads(scrub(json.dumps(run.outputs), [SECRET]))
    assert record["run"]["outputs"] == outputs  # the pasted key redacted, even cut off

    rows = csv_rows(_get(client, run, "csv").content)
    assert len(rows) == steps.count()
    assert sum(int(r["tokens_in"]) for r in rows) == sum(s.tokens_in for s in steps)
    assert sum(Decimal(r["cost_usd"] or 0) for r in rows) == sum(s.cost_usd or 0 for s in steps)
    assert {r["node_id"] for r in rows} >= {"planner", "research", "critic"}

    html = _get(client, run, "html").content.decode()
    assert "<script" not in html
    assert "src=" not in html
    assert "<link" not in html
    for node in run.version.graph["nodes"]:
        assert (
            f'data-node="{node["id"]}" data-state="succeeded"' in html
            or node["id"] not in record["node_states"]
        )
    assert 'class="timeline"' in html

    pdf = _get(client, run, "pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert "attachment" in pdf["Content-Disposition"]
    text = pdf_text(pdf.content)
    assert f"Run report #{run.pk}" in text
    assert f"{run.cost_usd:.6f} USD" in text
    assert str(run.tokens_in) in text
    assert str(run.tokens_out) in text
    assert "succeeded" in text
    assert "Planner" in text
    assert "ms since the run was created" in text  # the timeline

    for fmt in ("json", "csv", "html"):
        assert SECRET[:12] not in _get(client, run, fmt).content.decode()
    assert SECRET[:12] not in text

    if apps.is_installed("webapp.audit"):
        from webapp.audit.models import AuditEvent

        assert AuditEvent.objects.filter(action="export.downloaded").count() >= 4


def test_run_report_permissions(research_run: Run, personas: Personas) -> None:
    run = research_run
    assert client_for(personas.viewer_a).get(f"/runs/{run.pk}/report.pdf").status_code == 403
    assert client_for(personas.member_b).get(f"/runs/{run.pk}/report.pdf").status_code == 404
    assert client_for(None).get(f"/runs/{run.pk}/report.pdf").status_code == 302
    assert client_for(personas.owner_a).get(f"/runs/{run.pk}/report.docx").status_code == 400
    page = client_for(personas.owner_a).get(f"/runs/{run.pk}/").content.decode()
    assert f"/runs/{run.pk}/report.pdf" in page
    viewer_page = client_for(personas.viewer_a).get(f"/runs/{run.pk}/").content.decode()
    assert f"/runs/{run.pk}/report.pdf" not in viewer_page


def _wait_job(client: Any, job_id: int, timeout_s: float = 120) -> ExportJob:
    deadline = time.monotonic() + timeout_s
    seen: set[int] = set()
    while time.monotonic() < deadline:
        job = ExportJob.objects.get(pk=job_id)
        seen.add(job.percent)
        if job.status in ("done", "failed"):
            return job
        partial = client.get(f"/reports/jobs/{job_id}/", HTTP_HX_REQUEST="true")
        assert partial.status_code == 200
        assert b"job-progress" in partial.content
        time.sleep(0.2)
    raise AssertionError(f"export job {job_id} not done after {timeout_s} s")


def test_ten_thousand_steps_as_a_background_job(
    personas: Personas, celery_worker_process: WorkerPool
) -> None:
    run = seeded_run(personas.team_a, "Huge", 10_000, user=personas.owner_a)
    client = client_for(personas.owner_a)
    response = client.get(f"/runs/{run.pk}/report.csv")
    assert response.status_code == 302
    job_id = int(response["Location"].rstrip("/").split("/")[-1])
    assert client.get(f"/reports/jobs/{job_id}/").status_code == 200
    assert client.get(f"/reports/jobs/{job_id}/download").status_code in (409, 200)
    assert client_for(personas.member_b).get(f"/reports/jobs/{job_id}/").status_code == 404
    job = _wait_job(client, job_id)
    assert job.status == "done", job.error
    assert job.done == job.total == 10_000
    download = client.get(f"/reports/jobs/{job_id}/download")
    assert download.status_code == 200
    rows = csv_rows(download.content)
    assert len(rows) == 10_000
    assert sum(int(r["tokens_out"]) for r in rows) == run.tokens_out
    assert sum(Decimal(r["cost_usd"]) for r in rows) == run.cost_usd
    page = client.get(f"/reports/jobs/{job_id}/").content.decode()
    assert f"/reports/jobs/{job_id}/download" in page


def test_usage_over_a_year_is_a_background_job(
    personas: Personas, celery_worker_process: WorkerPool
) -> None:
    seeded_run(personas.team_a, "Alpha", 20, user=personas.owner_a)
    client = client_for(personas.owner_a)
    response = client.get("/reports/usage.xlsx", {"from": "2026-01-01", "to": "2026-12-31"})
    assert response.status_code == 302
    job_id = int(response["Location"].rstrip("/").split("/")[-1])
    job = _wait_job(client, job_id)
    assert job.status == "done", job.error
    assert job.filename.endswith(".xlsx")
    assert job.done == job.total


def test_exported_workflow_imports_into_another_team_and_runs(
    personas: Personas, fake_llm: str, celery_worker_process: WorkerPool
) -> None:
    simulator(personas.team_a, fake_llm, api_key=SECRET, model_names=["sim-small", "sim-large"])
    load_examples(personas.team_a)
    source = Workflow.objects.get(team=personas.team_a, name="Research team")
    exported = client_for(personas.owner_a).get(f"/reports/workflows/{source.pk}/export.yaml")
    assert SECRET not in exported.content.decode()
    simulator(personas.team_b, fake_llm, model_names=["sim-small", "sim-large"])
    response = client_for(personas.member_b).post(
        "/reports/workflows/import/", {"text": exported.content.decode()}
    )
    assert response.status_code == 302
    copy = Workflow.objects.get(team=personas.team_b, name="Research team")
    version = copy.latest_version()
    assert version is not None
    run = wait_for(do_start_run(version, {"topic": "tidal power"}), timeout_s=90)
    assert run.status == "succeeded", run.error
    assert run.team_id == personas.team_b.pk
    assert run.cost_usd > 0
