"""The run report: one record of a run (pinned graph, steps, events, totals)
rendered as self-contained HTML, PDF, JSON or CSV.

Times are ISO 8601 (UTC) and ms; tokens in tokens; cost in USD (strings in
JSON, to keep the database's six decimals exact)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.template.loader import render_to_string
from django.utils import timezone

from webapp.accounts.permissions import Action, AnyUser, restrict
from webapp.monitoring.timeline import lane
from webapp.reports.redact import scrub, strip_secrets, team_secrets
from webapp.reports.svg import graph_svg, timeline_svg
from webapp.runs.models import LLMCallRecord, Run, RunEvent, Step

FORMAT = "quorum.run-report/1"
SMALL_RUN_STEPS = 2000  # above this, a run report is built by a background job
CHUNK = 1000  # steps and events read per query
STEP_COLUMNS = (
    "step_id", "node_id", "node_type", "iteration", "item", "attempt", "superseded",
    "status", "queue", "queued_at", "started_at", "finished_at", "queue_wait_ms",
    "latency_ms", "ttft_ms", "tokens_in", "tokens_out", "cost_usd", "provider", "model",
    "worker", "error",
)  # fmt: skip
Progress = Callable[[int, int], None]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _ms(moment: datetime | None, origin: datetime) -> float | None:
    return None if moment is None else round((moment - origin).total_seconds() * 1000, 1)


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.6f}"


def _step_record(step: Step, origin: datetime) -> dict[str, Any]:
    payload = getattr(step, "payload", None)
    return {
        "step_id": step.pk,
        "node_id": step.node_id,
        "node_type": step.node_type,
        "lane": lane(step),
        "iteration": step.iteration,
        "item": step.item,
        "attempt": step.attempt,
        "superseded": step.superseded,
        "status": step.status,
        "queue": step.queue,
        "queued_at": _iso(step.queued_at),
        "started_at": _iso(step.started_at),
        "finished_at": _iso(step.finished_at),
        "queued_ms": _ms(step.queued_at, origin),
        "started_ms": _ms(step.started_at, origin),
        "finished_ms": _ms(step.finished_at, origin),
        "queue_wait_ms": step.queue_wait_ms,
        "latency_ms": step.latency_ms,
        "ttft_ms": step.ttft_ms,
        "tokens_in": step.tokens_in,
        "tokens_out": step.tokens_out,
        "cost_usd": _usd(step.cost_usd),
        "provider": step.provider,
        "model": step.model,
        "worker": step.worker,
        "error": step.error,
        "inputs": strip_secrets(payload.inputs) if payload else None,
        "outputs": strip_secrets(payload.outputs) if payload else None,
        "text": payload.text if payload else "",
        "logs": strip_secrets(payload.logs) if payload else [],
    }


def _steps(run: Run, user: AnyUser, progress: Progress | None) -> list[dict[str, Any]]:
    steps = restrict(Step.objects.filter(run=run), user, Action.VIEW).select_related("payload")
    total = run.step_count or steps.count()
    records: list[dict[str, Any]] = []
    last_id = 0
    while True:
        chunk = list(steps.filter(pk__gt=last_id).order_by("pk")[:CHUNK])
        if not chunk:
            break
        records += [_step_record(step, run.created_at) for step in chunk]
        last_id = chunk[-1].pk
        if progress:
            progress(len(records), max(total, len(records)))
    return records


def _events(run: Run) -> list[dict[str, Any]]:
    # The run came through get_for, so its events are the user's to read.
    events = RunEvent.objects.filter(run=run).order_by("seq")
    return [
        {"seq": e.seq, "type": e.type, "payload": strip_secrets(e.payload), "ts": _iso(e.ts)}
        for e in events.iterator(chunk_size=CHUNK)
    ]


def _cost_by_model(run: Run, user: AnyUser) -> list[dict[str, Any]]:
    calls = restrict(LLMCallRecord.objects.filter(run=run), user, Action.VIEW)
    rows = (
        calls.values("provider", "model")
        .annotate(
            calls=Count("id"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cost_usd=Sum("cost_usd"),
        )
        .order_by("provider", "model")
    )
    return [dict(row) | {"cost_usd": _usd(row["cost_usd"])} for row in rows]


def node_states(steps: list[dict[str, Any]]) -> dict[str, str]:
    """Each node's final state: the status of its last attempt that is not a map
    item (a map's own row), else of its last attempt. {node_id: status}."""
    states: dict[str, str] = {}
    for step in steps:
        if step["item"] is None or step["node_id"] not in states:
            states[step["node_id"]] = step["status"]
    return states


def _badges(steps: list[dict[str, Any]]) -> dict[str, str]:
    latency: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for step in steps:
        if step["node_type"] == "map":
            continue  # a map's row carries its items' sums
        node = step["node_id"]
        latency[node] = latency.get(node, 0.0) + (step["latency_ms"] or 0.0)
        tokens[node] = tokens.get(node, 0) + step["tokens_in"] + step["tokens_out"]
    return {node: f"{latency[node]:,.0f} ms · {tokens.get(node, 0):,} tok" for node in latency}


def build_record(run: Run, user: AnyUser, progress: Progress | None = None) -> dict[str, Any]:
    """The full record of `run` (fetched through permissions by the caller):
    {"format", "generated_at", "run": {...totals...}, "cost_by_model": [...],
    "graph": {...}, "node_states": {node_id: status}, "steps": [...],
    "events": [...]}. Secrets named by key are left out. `progress(done, total)`
    is called after each chunk of steps."""
    steps = _steps(run, user, progress)
    duration = (
        (run.finished_at - run.started_at).total_seconds() * 1000
        if run.started_at and run.finished_at
        else None
    )
    return {
        "format": FORMAT,
        "generated_at": timezone.now().isoformat(),
        "run": {
            "id": run.pk,
            "team": run.team.name,
            "workflow": run.workflow.name,
            "workflow_id": run.workflow_id,
            "version": run.version.number,
            "status": run.status,
            "error": run.error,
            "started_by": run.created_by.get_username() if run.created_by else None,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "duration_ms": None if duration is None else round(duration, 1),
            "steps": run.step_count,
            "tokens_in": run.tokens_in,
            "tokens_out": run.tokens_out,
            "cost_usd": _usd(run.cost_usd),
            "unpriced_calls": run.unpriced_calls,
            "parent_run_id": run.parent_run_id,
            "inputs": strip_secrets(run.inputs),
            "outputs": strip_secrets(run.outputs),
        },
        "cost_by_model": _cost_by_model(run, user),
        "graph": strip_secrets(run.version.graph),
        "node_states": node_states(steps),
        "steps": steps,
        "events": _events(run),
    }


def to_json(record: dict[str, Any], secrets: list[str]) -> bytes:
    """The record as UTF-8 JSON (indented), secrets scrubbed."""
    text = json.dumps(record, indent=1, ensure_ascii=False, default=str)
    return scrub(text, secrets).encode()


def to_csv(record: dict[str, Any], secrets: list[str]) -> bytes:
    """The steps table: a header of STEP_COLUMNS, then one row per attempt."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STEP_COLUMNS)
    for step in record["steps"]:
        writer.writerow(["" if step[c] is None else step[c] for c in STEP_COLUMNS])
    return scrub(out.getvalue(), secrets).encode()


def _pretty(value: Any) -> str:
    if value in (None, {}, []):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)[:5000]


def to_html(record: dict[str, Any], secrets: list[str], for_pdf: bool = False) -> str:
    """A self-contained printable page (inline CSS and SVG, no script, no link
    to anything): summary, cost by model, graph, timeline, steps, outputs."""
    steps = record["steps"]
    context = {
        "r": record["run"],
        "cost_by_model": record["cost_by_model"],
        "graph_svg": graph_svg(record["graph"], record["node_states"], _badges(steps)),
        "timeline_svg": timeline_svg(steps),
        "steps": steps,
        "outputs": _pretty(record["run"]["outputs"]),
        "inputs": _pretty(record["run"]["inputs"]),
        "final_texts": [
            (s["node_id"], s["text"])
            for s in steps
            if s["text"] and s["status"] == "succeeded" and s["item"] is None
        ][-5:],
        "generated_at": record["generated_at"],
        "for_pdf": for_pdf,
    }
    return scrub(render_to_string("reports/run_report.html", context), secrets)


def to_pdf(html: str) -> bytes:
    """HTML (self-contained) -> PDF bytes with WeasyPrint (local fonts only)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    return bytes(HTML(string=html, base_url=None).write_pdf())


FORMATS = {
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "json": ("application/json", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}


def render(run: Run, user: AnyUser, fmt: str, progress: Progress | None = None) -> bytes:
    """The run report of `run` in `fmt` (html, pdf, json or csv) as bytes.
    Raises KeyError for an unknown format."""
    if fmt not in FORMATS:
        raise KeyError(f"unknown format {fmt!r}")
    record = build_record(run, user, progress)
    secrets = team_secrets(run.team_id)
    if fmt == "json":
        return to_json(record, secrets)
    if fmt == "csv":
        return to_csv(record, secrets)
    html = to_html(record, secrets, for_pdf=fmt == "pdf")
    return html.encode() if fmt == "html" else to_pdf(html)
