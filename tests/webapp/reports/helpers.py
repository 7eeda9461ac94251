"""Helpers for export tests: seeded runs and steps, reading PDFs, CSVs and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from pypdf import PdfReader

from tests.webapp.monitoring.helpers import make_run
from webapp.runs.models import Run, Step, StepPayload

SECRET = "sk-live-REPORTS-DO-NOT-LEAK-4242"


def seeded_run(team: Any, name: str, steps: int, user: Any = None, **fields: Any) -> Run:
    """A finished run of a published input -> output workflow with `steps` LLM
    step rows (10 tokens in, 20 out, 0.000050 USD each) and run totals to match."""
    run = make_run(team, name)
    now = timezone.now()
    rows = [
        Step(
            team_id=team.pk, run=run, node_id="in" if i % 2 == 0 else "out", node_type="llm",
            item=None, status="succeeded", queued_at=now - timedelta(seconds=3),
            started_at=now - timedelta(seconds=2), finished_at=now - timedelta(seconds=1),
            queue_wait_ms=1000.0, latency_ms=1000.0 + i, tokens_in=10, tokens_out=20,
            cost_usd=Decimal("0.000050"), provider="Simulator", model="sim-small",
        )
        for i in range(steps)
    ]  # fmt: skip
    created = Step.objects.bulk_create(rows, batch_size=2000)
    StepPayload.objects.bulk_create(
        [StepPayload(step=s, outputs={"text": f"answer {s.pk}"}) for s in created[:50]]
    )
    values = {
        "status": "succeeded",
        "started_at": now - timedelta(seconds=4),
        "finished_at": now,
        "created_by": user,
        "step_count": steps,
        "tokens_in": 10 * steps,
        "tokens_out": 20 * steps,
        "cost_usd": Decimal("0.000050") * steps,
        "outputs": {"result": "the final answer"},
    } | fields
    Run.objects.filter(pk=run.pk).update(**values)
    run.refresh_from_db()
    return run


def pdf_text(content: bytes) -> str:
    """Every page's text of a PDF, joined by newlines."""
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def csv_sections(content: bytes) -> dict[str, list[dict[str, str]]]:
    """A usage CSV's tables by title: {"Cost by workflow": [row dicts], ...}."""
    sections: dict[str, list[dict[str, str]]] = {}
    title, header = "", None
    for row in csv.reader(io.StringIO(content.decode())):
        if not row:
            title, header = "", None
        elif row[0].startswith("# "):
            title, header = row[0][2:], None
            sections[title] = []
        elif header is None:
            header = row
        else:
            sections[title].append(dict(zip(header, row, strict=True)))
    return sections
