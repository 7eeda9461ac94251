"""The whole dashboard as one PDF: every chart of webapp.monitoring.charts with
its rows (the same rows as the chart's CSV) and a static SVG drawing of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from webapp.accounts.models import Team
from webapp.accounts.permissions import AnyUser
from webapp.monitoring.charts import CHARTS, Chart
from webapp.monitoring.filters import TimeRange
from webapp.monitoring.queries import Scope
from webapp.reports.redact import scrub, team_secrets
from webapp.reports.svg_charts import bars_svg, columns_svg
from webapp.reports.usage import cell

Progress = Callable[[int, int], None]
# The column each chart draws, and the column naming a bar (None: time buckets).
DRAWN = {
    "runs": ("runs", None),
    "success-rate": ("success_rate", None),
    "latency-workflow": ("p95_ms", "workflow"),
    "latency-node-type": ("p95_ms", "node_type"),
    "cost-provider": ("cost_usd", "provider_name"),
    "cost-model": ("cost_usd", "model_name"),
    "cost-workflow": ("cost_usd", "workflow"),
    "tokens": ("tokens_out", None),
    "slowest-nodes": ("mean_ms", "node_id"),
    "expensive-nodes": ("cost_usd", "node_id"),
}


def _svg(chart: Chart, rows: list[dict[str, Any]], bucket: str) -> str:
    value, label = DRAWN.get(chart.slug, (chart.columns[-1], None))
    if label is None:
        sums: dict[str, float] = {}
        for row in rows:
            key = row["bucket"].strftime("%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d")
            sums[key] = sums.get(key, 0.0) + float(row[value] or 0)
        return columns_svg(list(sums.items()), value)
    totals: dict[str, float] = {}
    for row in rows:
        name = str(row[label] or "(none)")
        totals[name] = totals.get(name, 0.0) + float(row[value] or 0)
    return bars_svg(list(totals.items()), value)


def render_html(
    user: AnyUser, team: Team, time_range: TimeRange, progress: Progress | None = None
) -> str:
    """The dashboard as a self-contained printable page (the caller checked
    VIEW_COSTS and EXPORT_REPORTS)."""
    scope = Scope(user, team, time_range)
    sections = []
    for i, chart in enumerate(CHARTS.values(), start=1):
        rows = chart.query(scope)
        sections.append(
            {
                "title": chart.title,
                "svg": _svg(chart, rows, time_range.bucket),
                "columns": chart.columns,
                "rows": [[cell(row.get(c)) for c in chart.columns] for row in rows],
            }
        )
        if progress:
            progress(i, len(CHARTS))
    context = {
        "team": team.name,
        "time_range": time_range,
        "sections": sections,
        "generated_at": timezone.now().isoformat(),
    }
    return scrub(render_to_string("reports/dashboard.html", context), team_secrets(team.pk))


def render_pdf(
    user: AnyUser, team: Team, time_range: TimeRange, progress: Progress | None = None
) -> bytes:
    """The dashboard as PDF bytes."""
    from webapp.reports.runreport import to_pdf

    return to_pdf(render_html(user, team, time_range, progress))
