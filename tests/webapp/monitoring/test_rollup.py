"""Dashboards over the hourly rollups plus the raw steps after the watermark
give the same figures as the raw steps alone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.conftest import Personas, client_for
from tests.webapp.monitoring.helpers import make_run
from tests.webapp.monitoring.test_views import add_step
from webapp.monitoring.models import LatencyRollup, RollupState, StepRollup
from webapp.monitoring.queries import split_range
from webapp.monitoring.rollup import bucket_of, bucket_value, percentile

pytestmark = pytest.mark.django_db


def csv_rows(client: object, chart: str, **params: str) -> list[dict[str, str]]:
    response = client.get(f"/dashboards/{chart}.csv", params)  # type: ignore[attr-defined]
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_rolled_and_raw_steps_add_up(personas: Personas) -> None:
    run = make_run(personas.team_a, "Alpha")
    old = timezone.now() - timedelta(hours=3)
    latencies = [100.0, 200.0, 300.0, 400.0, 1000.0]
    for i, latency in enumerate(latencies):
        add_step(
            run, "writer", finished_at=old + timedelta(seconds=i), latency_ms=latency,
            cost_usd=Decimal("0.01"), tokens_in=10, tokens_out=5,
        )  # fmt: skip
    add_step(run, "research", node_type="map", finished_at=old, cost_usd=Decimal("9"))
    add_step(run, "writer", latency_ms=500.0, cost_usd=Decimal("0.02"), tokens_in=1, tokens_out=1)
    client = client_for(personas.owner_a)

    for _ in range(2):  # the second request reuses the rollup; nothing is counted twice
        expensive = csv_rows(client, "expensive-nodes", range="24h")
        assert [(r["node_id"], Decimal(r["cost_usd"]), r["steps"]) for r in expensive] == [
            ("writer", Decimal("0.07"), "6")
        ]
        tokens = csv_rows(client, "tokens", range="24h")
        assert sum(int(r["tokens_in"]) for r in tokens) == 51
        slowest = {r["node_id"]: r for r in csv_rows(client, "slowest-nodes", range="24h")}
        assert float(slowest["writer"]["mean_ms"]) == pytest.approx(2500 / 6, abs=0.1)
        assert float(slowest["writer"]["max_ms"]) == 1000.0
        by_type = {r["node_type"]: r for r in csv_rows(client, "latency-node-type", range="24h")}
        assert by_type["llm"]["steps"] == "6"
        assert float(by_type["llm"]["p50_ms"]) == pytest.approx(300, rel=0.06)
        assert float(by_type["llm"]["p99_ms"]) == pytest.approx(1000, rel=0.06)
    assert StepRollup.objects.filter(team=personas.team_a).count() == 2  # writer, map
    assert LatencyRollup.objects.filter(team=personas.team_a).count() == 2
    state = RollupState.objects.get(team=personas.team_a)
    assert state.rolled_until is not None
    assert state.rolled_until > old


def test_rollups_never_cross_teams(personas: Personas) -> None:
    run_b = make_run(personas.team_b, "Beta")
    add_step(run_b, "secret", finished_at=timezone.now() - timedelta(hours=2))
    rows = csv_rows(client_for(personas.owner_a), "slowest-nodes", range="24h")
    assert rows == []
    assert not StepRollup.objects.filter(team=personas.team_b).exists()  # B never asked


def test_split_range() -> None:
    t = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    hour = timedelta(hours=1)
    watermark = datetime(2026, 1, 1, 15, 0, tzinfo=UTC)
    windows = split_range(t, t + 6 * hour, watermark)
    assert windows.rolled == (t + 0.5 * hour, watermark)
    assert windows.raw == [(t, t + 0.5 * hour), (watermark, t + 6 * hour)]
    assert split_range(t, t + 6 * hour, None).raw == [(t, t + 6 * hour)]
    assert split_range(t, t + 0.25 * hour, watermark).rolled is None


def test_percentiles_from_log_buckets() -> None:
    values = [float(v) for v in range(1, 1001)]
    histogram: dict[int, int] = {}
    for value in values:
        histogram[bucket_of(value)] = histogram.get(bucket_of(value), 0) + 1
    for fraction, exact in ((0.5, 500), (0.95, 950), (0.99, 990)):
        assert percentile(histogram, fraction) == pytest.approx(exact, rel=0.06)
    assert percentile({}, 0.5) is None
    assert bucket_value(bucket_of(0)) < 1
