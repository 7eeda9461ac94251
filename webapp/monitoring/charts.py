"""The dashboard's charts: each a query (webapp.monitoring.queries), the CSV
columns, and a Plotly figure built on the server with `plotly.graph_objects`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]

from webapp.monitoring import queries
from webapp.monitoring.queries import Query, Scope
from webapp.monitoring.timeline import STATUS_COLOURS


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    query: Query
    columns: tuple[str, ...]
    build: Callable[[list[dict[str, Any]], Scope], go.Figure]


def _layout(figure: go.Figure, y_title: str, **extra: Any) -> go.Figure:
    layout: dict[str, Any] = {
        "height": 320,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 50},
        "yaxis": {"title": {"text": y_title}},
        "legend": {"orientation": "h", "y": -0.2},
        "template": "plotly_white",
    }
    figure.update_layout(**(layout | extra))
    return figure


def _series(
    rows: list[dict[str, Any]], key: str, value: str
) -> dict[str, tuple[list[datetime], list[Any]]]:
    series: dict[str, tuple[list[datetime], list[Any]]] = defaultdict(lambda: ([], []))
    for row in rows:
        xs, ys = series[str(row[key]) or "(none)"]
        xs.append(row["bucket"])
        ys.append(float(row[value]) if isinstance(row[value], Decimal) else row[value])
    return dict(series)


BUCKET_MS = {"hour": 3_600_000, "day": 86_400_000}


def _time_axis(figure: go.Figure, scope: Scope) -> go.Figure:
    """The whole range on the x axis, and bars one bucket wide starting at their
    bucket (so one bucket of data is not drawn as a sliver of milliseconds)."""
    width = BUCKET_MS[scope.time_range.bucket]
    figure.update_traces(width=width * 0.9, offset=0, selector={"type": "bar"})
    figure.update_xaxes(type="date", range=[scope.time_range.start, scope.time_range.end])
    return figure


def _stacked(
    rows: list[dict[str, Any]], key: str, value: str, y_title: str, scope: Scope
) -> go.Figure:
    figure = go.Figure()
    for name, (xs, ys) in sorted(_series(rows, key, value).items()):
        figure.add_bar(name=name, x=xs, y=ys, marker_color=STATUS_COLOURS.get(name))
    return _time_axis(_layout(figure, y_title, barmode="stack"), scope)


def _runs(rows: list[dict[str, Any]], scope: Scope) -> go.Figure:
    return _stacked(rows, "status", "runs", f"runs per {scope.time_range.bucket}", scope)


def _success(rows: list[dict[str, Any]], scope: Scope) -> go.Figure:
    figure = go.Figure()
    figure.add_scatter(
        name="success rate",
        x=[r["bucket"] for r in rows],
        y=[r["success_rate"] * 100 for r in rows],
        mode="lines+markers",
        line_color=STATUS_COLOURS["succeeded"],
    )
    return _time_axis(_layout(figure, "% of finished runs", yaxis_range=[0, 105]), scope)


def _percentiles(key: str) -> Callable[[list[dict[str, Any]], Scope], go.Figure]:
    def build(rows: list[dict[str, Any]], scope: Scope) -> go.Figure:
        figure = go.Figure()
        for name, _ in queries.PERCENTILES:
            figure.add_bar(name=name[:3], x=[r[key] for r in rows], y=[r[name] for r in rows])
        return _layout(figure, "ms", barmode="group")

    return build


def _cost(key: str) -> Callable[[list[dict[str, Any]], Scope], go.Figure]:
    def build(rows: list[dict[str, Any]], scope: Scope) -> go.Figure:
        return _stacked(rows, key, "cost_usd", f"USD per {scope.time_range.bucket}", scope)

    return build


def _tokens(rows: list[dict[str, Any]], scope: Scope) -> go.Figure:
    figure = go.Figure()
    for name in ("tokens_in", "tokens_out"):
        figure.add_bar(name=name, x=[r["bucket"] for r in rows], y=[r[name] for r in rows])
    figure = _layout(figure, f"tokens per {scope.time_range.bucket}", barmode="group")
    figure.update_xaxes(type="date", range=[scope.time_range.start, scope.time_range.end])
    return figure


def _top(value: str, unit: str) -> Callable[[list[dict[str, Any]], Scope], go.Figure]:
    def build(rows: list[dict[str, Any]], scope: Scope) -> go.Figure:
        labels = [f"{r['workflow']} · {r['node_id']}" for r in rows]
        values = [float(r[value]) for r in rows]
        figure = go.Figure()
        figure.add_bar(x=list(reversed(values)), y=list(reversed(labels)), orientation="h")
        return _layout(figure, "", xaxis={"title": {"text": unit}}, margin={"l": 220})

    return build


CHARTS: dict[str, Chart] = {
    chart.slug: chart
    for chart in [
        Chart(
            "runs",
            "Runs by status",
            queries.runs_by_status,
            ("bucket", "status", "runs"),
            _runs,
        ),
        Chart(
            "success-rate",
            "Success rate",
            queries.success_rate,
            ("bucket", "finished", "succeeded", "success_rate"),
            _success,
        ),
        Chart(
            "latency-workflow",
            "Run latency per workflow",
            queries.latency_by_workflow,
            ("workflow", "runs", "p50_ms", "p95_ms", "p99_ms"),
            _percentiles("workflow"),
        ),
        Chart(
            "latency-node-type",
            "Step latency per node type",
            queries.latency_by_node_type,
            ("node_type", "steps", "p50_ms", "p95_ms", "p99_ms"),
            _percentiles("node_type"),
        ),
        Chart(
            "cost-provider",
            "Cost by provider",
            queries.cost_by_provider,
            ("bucket", "provider_name", "cost_usd", "steps"),
            _cost("provider_name"),
        ),
        Chart(
            "cost-model",
            "Cost by model",
            queries.cost_by_model,
            ("bucket", "model_name", "cost_usd", "steps"),
            _cost("model_name"),
        ),
        Chart(
            "cost-workflow",
            "Cost by workflow",
            queries.cost_by_workflow,
            ("bucket", "workflow", "cost_usd", "steps"),
            _cost("workflow"),
        ),
        Chart(
            "tokens",
            "Tokens in and out",
            queries.tokens,
            ("bucket", "tokens_in", "tokens_out"),
            _tokens,
        ),
        Chart(
            "slowest-nodes",
            "Ten slowest nodes (mean step latency)",
            queries.slowest_nodes,
            ("workflow", "node_id", "node_type", "steps", "mean_ms", "max_ms"),
            _top("mean_ms", "mean ms"),
        ),
        Chart(
            "expensive-nodes",
            "Ten most expensive nodes (total cost)",
            queries.expensive_nodes,
            ("workflow", "node_id", "node_type", "steps", "cost_usd", "tokens"),
            _top("cost_usd", "USD"),
        ),
    ]
}


def figure_json(chart: Chart, rows: list[dict[str, Any]], scope: Scope) -> str:
    """The chart's Plotly figure as JSON text: {"data": [...], "layout": {...}}
    (plotly's encoder writes datetimes as ISO 8601 and Decimals as numbers)."""
    return str(chart.build(rows, scope).to_json())
