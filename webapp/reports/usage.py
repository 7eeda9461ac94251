"""The usage report of a team over a time range, built from the dashboard's own
queries (webapp.monitoring.queries) so its figures are the dashboard's.

Units: ms, USD (Decimal, six places), tokens. Sums of cost and tokens leave out
map steps (a map's own row carries its items' sums), as the dashboard does.
"Cost by user" sums the runs each user started in the range (Run totals)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Sum
from django.template.loader import render_to_string
from django.utils import timezone

from webapp.accounts.models import Team
from webapp.accounts.permissions import AnyUser
from webapp.monitoring import queries
from webapp.monitoring.filters import TimeRange
from webapp.monitoring.queries import Scope
from webapp.reports.redact import scrub, team_secrets
from webapp.reports.svg_charts import bars_svg, columns_svg

Progress = Callable[[int, int], None]
SECTIONS = 11  # query groups; the progress of a usage job counts these
ZERO = Decimal("0")


@dataclass
class Usage:
    """Every figure of the report (rows as the dashboard's CSVs have them)."""

    team: str
    start: datetime
    end: datetime
    bucket: str
    summary: dict[str, Any]
    runs_by_status: list[dict[str, Any]]
    success_rate: list[dict[str, Any]]
    latency_workflow: list[dict[str, Any]]
    latency_node_type: list[dict[str, Any]]
    cost_workflow: list[dict[str, Any]]
    cost_model: list[dict[str, Any]]
    cost_provider: list[dict[str, Any]]
    by_user: list[dict[str, Any]]
    tokens: list[dict[str, Any]]
    slowest: list[dict[str, Any]]
    expensive: list[dict[str, Any]]

    def tables(self) -> list[tuple[str, tuple[str, ...], list[dict[str, Any]]]]:
        """(title, columns, rows) of every table, in report order."""
        pct = ("p50_ms", "p95_ms", "p99_ms")
        return [
            ("Summary", ("figure", "value"), [{"figure": k, "value": v} for k, v in
                                              self.summary.items()]),
            ("Runs by status", ("bucket", "status", "runs"), self.runs_by_status),
            ("Success rate", ("bucket", "finished", "succeeded", "success_rate"),
             self.success_rate),
            ("Run latency per workflow", ("workflow", "runs", *pct), self.latency_workflow),
            ("Step latency per node type", ("node_type", "steps", *pct), self.latency_node_type),
            ("Cost by workflow", ("workflow", "steps", "cost_usd"), self.cost_workflow),
            ("Cost by model", ("model_name", "steps", "cost_usd"), self.cost_model),
            ("Cost by provider", ("provider_name", "steps", "cost_usd"), self.cost_provider),
            ("By user", ("user", "runs", "tokens_in", "tokens_out", "cost_usd"), self.by_user),
            ("Tokens", ("bucket", "tokens_in", "tokens_out"), self.tokens),
            ("Slowest nodes", ("workflow", "node_id", "node_type", "steps", "mean_ms", "max_ms"),
             self.slowest),
            ("Most expensive nodes",
             ("workflow", "node_id", "node_type", "steps", "cost_usd", "tokens"), self.expensive),
        ]  # fmt: skip


def _total(rows: list[dict[str, Any]], key: str, dimension: str) -> list[dict[str, Any]]:
    """Bucketed cost rows summed per `dimension`: [{dimension, steps, cost_usd}],
    most expensive first."""
    sums: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = str(row[key] or "(none)")
        target = sums.setdefault(name, {dimension: name, "steps": 0, "cost_usd": ZERO})
        target["steps"] += row["steps"]
        target["cost_usd"] += row["cost_usd"] or ZERO
    return sorted(sums.values(), key=lambda r: (-r["cost_usd"], r[dimension]))


def _by_user(scope: Scope) -> list[dict[str, Any]]:
    rows = (
        scope.runs()
        .values(user=F("created_by__username"))
        .annotate(
            runs=Count("id"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cost_usd=Sum("cost_usd"),
        )
        .order_by("-cost_usd", "user")
    )
    return [dict(row) | {"user": row["user"] or "(system)"} for row in rows]


def build_usage(
    user: AnyUser, team: Team, time_range: TimeRange, progress: Progress | None = None
) -> Usage:
    """Every figure of the usage report of `team` over `time_range` (the caller
    has checked VIEW_COSTS and EXPORT_REPORTS); `progress(done, SECTIONS)`."""
    scope = Scope(user, team, time_range)
    step = 0

    def run(query: Callable[[Scope], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        nonlocal step
        rows = query(scope)
        step += 1
        if progress:
            progress(step, SECTIONS)
        return rows

    runs_by_status = run(queries.runs_by_status)
    success = run(queries.success_rate)
    tokens = run(queries.tokens)
    cost_workflow = _total(run(queries.cost_by_workflow), "workflow", "workflow")
    cost_model = _total(run(queries.cost_by_model), "model_name", "model_name")
    cost_provider = _total(run(queries.cost_by_provider), "provider_name", "provider_name")
    finished = sum(r["finished"] for r in success)
    succeeded = sum(r["succeeded"] for r in success)
    summary = {
        "runs": sum(r["runs"] for r in runs_by_status),
        "runs_finished": finished,
        "runs_succeeded": succeeded,
        "success_rate": round(succeeded / finished, 4) if finished else None,
        "tokens_in": sum(r["tokens_in"] or 0 for r in tokens),
        "tokens_out": sum(r["tokens_out"] or 0 for r in tokens),
        "cost_usd": sum((r["cost_usd"] for r in cost_workflow), ZERO),
    }
    return Usage(
        team=team.name,
        start=time_range.start,
        end=time_range.end,
        bucket=time_range.bucket,
        summary=summary,
        runs_by_status=runs_by_status,
        success_rate=success,
        latency_workflow=run(queries.latency_by_workflow),
        latency_node_type=run(queries.latency_by_node_type),
        cost_workflow=cost_workflow,
        cost_model=cost_model,
        cost_provider=cost_provider,
        by_user=run(_by_user),
        tokens=tokens,
        slowest=run(queries.slowest_nodes),
        expensive=run(queries.expensive_nodes),
    )


def cell(value: Any) -> Any:
    """A value as a CSV/XLSX cell: datetimes ISO 8601, Decimals as float-free
    strings in CSV (exact); None as empty."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def to_csv(usage: Usage, secrets: list[str]) -> bytes:
    """Every table one after another: a line `# <title>`, the header, the rows,
    a blank line."""
    out = io.StringIO()
    writer = csv.writer(out)
    for title, columns, rows in usage.tables():
        writer.writerow([f"# {title}"])
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in columns])
        writer.writerow([])
    return scrub(out.getvalue(), secrets).encode()


def to_xlsx(usage: Usage, secrets: list[str]) -> bytes:
    """One sheet per table (header row, then rows); numbers stay numbers (USD
    as floats rounded to 6 places), datetimes as naive UTC."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    book.remove(book.active)
    for title, columns, rows in usage.tables():
        sheet = book.create_sheet(title[:31])
        sheet.append(list(columns))
        for row in rows:
            values = []
            for c in columns:
                value = row.get(c)
                if isinstance(value, Decimal):
                    value = round(float(value), 6)
                elif isinstance(value, datetime):
                    value = value.astimezone(UTC).replace(tzinfo=None)
                elif isinstance(value, str):
                    value = scrub(value, secrets)
                values.append(value)
            sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def charts(usage: Usage) -> list[tuple[str, str]]:
    """(title, SVG) of the report's charts."""
    runs: dict[str, int] = {}
    for row in usage.runs_by_status:
        label = row["bucket"].strftime("%m-%d %H:00" if usage.bucket == "hour" else "%Y-%m-%d")
        runs[label] = runs.get(label, 0) + row["runs"]
    return [
        ("Runs per " + usage.bucket, columns_svg(list(runs.items()), "runs")),
        (
            "Cost by workflow (USD)",
            bars_svg([(r["workflow"], float(r["cost_usd"])) for r in usage.cost_workflow], "USD"),
        ),
        (
            "Cost by model (USD)",
            bars_svg([(r["model_name"], float(r["cost_usd"])) for r in usage.cost_model], "USD"),
        ),
        (
            "Run latency p95 per workflow (ms)",
            bars_svg([(r["workflow"], r["p95_ms"] or 0) for r in usage.latency_workflow], "ms"),
        ),
        (
            "Slowest nodes, mean ms",
            bars_svg(
                [(f"{r['workflow']} · {r['node_id']}", r["mean_ms"]) for r in usage.slowest], "ms"
            ),
        ),
    ]


def to_html(usage: Usage, secrets: list[str]) -> str:
    """A self-contained printable page: summary, charts (inline SVG), tables."""
    context = {
        "u": usage,
        "charts": charts(usage),
        "tables": [
            (title, columns, [[cell(row.get(c)) for c in columns] for row in rows])
            for title, columns, rows in usage.tables()
        ],
        "generated_at": timezone.now().isoformat(),
    }
    return scrub(render_to_string("reports/usage_report.html", context), secrets)


FORMATS = {
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


def render(
    user: AnyUser, team: Team, time_range: TimeRange, fmt: str, progress: Progress | None = None
) -> bytes:
    """The usage report in `fmt` (html, pdf, csv, xlsx) as bytes."""
    if fmt not in FORMATS:
        raise KeyError(f"unknown format {fmt!r}")
    usage = build_usage(user, team, time_range, progress)
    secrets = team_secrets(team.pk)
    if fmt == "csv":
        return to_csv(usage, secrets)
    if fmt == "xlsx":
        return to_xlsx(usage, secrets)
    html = to_html(usage, secrets)
    if fmt == "html":
        return html.encode()
    from webapp.reports.runreport import to_pdf

    return to_pdf(html)
