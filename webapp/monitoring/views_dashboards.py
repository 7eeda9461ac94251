"""The team's dashboards: server-built Plotly figures per chart, a time-range
picker, CSV per chart, and a live queue/worker panel (htmx polling)."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from webapp.accounts.permissions import Action, require
from webapp.monitoring.celerystatus import celery_status
from webapp.monitoring.charts import CHARTS, Chart, figure_json
from webapp.monitoring.filters import PRESETS, FilterError, TimeRange, parse_range
from webapp.monitoring.queries import Scope


def _scope(request: HttpRequest) -> Scope:
    """The user, their current team (VIEW_COSTS) and the requested range;
    raises FilterError for a bad range, Http404 when the user has no team."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        raise Http404("You are not in a team.")
    require(request.user, team, Action.VIEW_COSTS)
    time_range = parse_range(request.GET)
    assert time_range is not None  # a default is given
    return Scope(request.user, team, time_range)


def _chart(slug: str) -> Chart:
    chart = CHARTS.get(slug)
    if chart is None:
        raise Http404(f"No chart named {slug!r}.")
    return chart


@require_GET
@login_required
def dashboards(request: HttpRequest) -> HttpResponse:
    """The dashboards page: one card per chart (figure loaded from
    dashboards/<chart>/), each with its CSV link, and the live queue panel."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return render(request, "accounts/no_team.html")
    require(request.user, team, Action.VIEW_COSTS)
    error = ""
    time_range: TimeRange | None
    try:
        time_range = parse_range(request.GET)
    except FilterError as exc:
        error, time_range = str(exc), None
    query = urlencode(time_range.query()) if time_range else ""
    charts = [
        {
            "chart": chart,
            "figure_url": reverse("dashboard_chart", args=[chart.slug]) + "?" + query,
            "csv_url": reverse("dashboard_csv", args=[chart.slug]) + "?" + query,
        }
        for chart in CHARTS.values()
    ]
    context = {
        "team": team,
        "charts": charts if time_range else [],
        "time_range": time_range,
        "presets": list(PRESETS),
        "error": error,
        "status": celery_status(),
    }
    return render(request, "monitoring/dashboards.html", context, status=400 if error else 200)


@require_GET
@login_required
def chart_json(request: HttpRequest, chart: str) -> HttpResponse:
    """One chart's figure: {"data", "layout"} (Plotly), plus nothing else; 400
    {"error": "..."} for a bad range."""
    found = _chart(chart)
    try:
        scope = _scope(request)
    except FilterError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    rows = found.query(scope)
    return HttpResponse(figure_json(found, rows, scope), content_type="application/json")


@require_GET
@login_required
def chart_csv(request: HttpRequest, chart: str) -> HttpResponse:
    """One chart's rows as CSV (header = the chart's columns; times ISO 8601 UTC,
    ms, USD, tokens); 400 with a plain-text message for a bad range."""
    found = _chart(chart)
    try:
        scope = _scope(request)
    except FilterError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{found.slug}.csv"'
    writer = csv.writer(response)
    writer.writerow(found.columns)
    for row in found.query(scope):
        writer.writerow([_cell(row.get(column)) for column in found.columns])
    return response


def _cell(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@require_GET
@login_required
def queues(request: HttpRequest) -> HttpResponse:
    """The queue panel partial: depth per queue and workers online (refreshed by
    htmx every 5 s)."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        raise Http404("You are not in a team.")
    require(request.user, team, Action.VIEW_COSTS)
    return render(request, "monitoring/_queues.html", {"status": celery_status()})
