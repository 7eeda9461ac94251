"""Hourly rollups of finished steps, so dashboards over millions of steps stay fast.

Every complete hour that ended more than GRACE ago is summed once into
StepRollup (per workflow, node, node type, provider, model) and LatencyRollup
(a latency histogram per node type). `ensure_rolled(team_id)` does the missing
hours (the first call rolls a team's whole history up, once) and returns the
watermark: hours before it are in the rollups, steps finishing after it are read
from `runs_step` directly. Dashboard queries read rollups for the whole hours of
their range and raw steps for the rest (webapp/monitoring/queries.py).

Lazy, on the dashboard's own requests, so nothing changes in the engine's write
path; one request rolls up at a time (`SELECT ... FOR UPDATE SKIP LOCKED` on the
team's RollupState), the others read what is there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from webapp.monitoring.models import RollupState

GRACE = timedelta(minutes=5)  # a step recorded late still lands in a not yet rolled hour
ANALYZE_AFTER_ROWS = 5000  # rollup rows added at once (a first build) that warrant ANALYZE
BUCKET_RATIO = 1.1
_LN_RATIO = math.log(BUCKET_RATIO)
# The same bucket in SQL: floor(ln(latency + 1) / ln(1.1)).
BUCKET_SQL = "floor(ln(greatest({col}, 0) + 1) / ln(1.1))::int"


def bucket_of(latency_ms: float) -> int:
    """The histogram bucket of a latency in ms (log buckets of ratio 1.1)."""
    return math.floor(math.log(max(latency_ms, 0) + 1) / _LN_RATIO)


def bucket_value(bucket: int) -> float:
    """The geometric middle of a bucket, in ms (within ~5 % of any value in it)."""
    return math.exp((bucket + 0.5) * _LN_RATIO) - 1


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """The `fraction` percentile (0..1) of a {bucket: count} histogram, in ms;
    None when it is empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return bucket_value(max(histogram))


def merge_histograms(histograms: Iterable[tuple[str, dict[str, int] | dict[int, int]]]) -> dict:
    """{key: {bucket: count}} summed from (key, histogram) pairs."""
    merged: dict[str, dict[int, int]] = {}
    for key, histogram in histograms:
        target = merged.setdefault(key, {})
        for bucket, count in histogram.items():
            target[int(bucket)] = target.get(int(bucket), 0) + int(count)
    return merged


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + timedelta(hours=1)


_STEPS_SQL = """
INSERT INTO monitoring_steprollup (team_id, hour, workflow_id, node_id, node_type,
    provider, model, steps, timed, latency_sum_ms, latency_max_ms, tokens_in, tokens_out,
    priced, cost_usd)
SELECT s.team_id, date_trunc('hour', s.finished_at), r.workflow_id, s.node_id, s.node_type,
    s.provider, s.model, count(*), count(s.latency_ms), coalesce(sum(s.latency_ms), 0),
    max(s.latency_ms), sum(s.tokens_in), sum(s.tokens_out), count(s.cost_usd), sum(s.cost_usd)
FROM runs_step s JOIN runs_run r ON r.id = s.run_id
WHERE s.team_id = %(team)s AND s.finished_at >= %(start)s AND s.finished_at < %(end)s
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""

_LATENCY_SQL = f"""
INSERT INTO monitoring_latencyrollup (team_id, hour, node_type, histogram)
SELECT team_id, hour, node_type, jsonb_object_agg(bucket, n)
FROM (
    SELECT s.team_id, date_trunc('hour', s.finished_at) AS hour, s.node_type,
        {BUCKET_SQL.format(col="s.latency_ms")} AS bucket, count(*) AS n
    FROM runs_step s
    WHERE s.team_id = %(team)s AND s.finished_at >= %(start)s AND s.finished_at < %(end)s
        AND s.latency_ms IS NOT NULL
    GROUP BY 1, 2, 3, 4
) AS per_bucket
GROUP BY 1, 2, 3
"""  # noqa: S608 (BUCKET_SQL is a constant)


def _first_finished(team_id: int) -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(finished_at) FROM runs_step WHERE team_id = %s AND finished_at IS NOT NULL",
            [team_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def ensure_rolled(team_id: int, now: datetime | None = None) -> datetime | None:
    """Roll up the team's complete hours not yet rolled (those ending before
    now - GRACE) and return the watermark (None: nothing rolled up yet)."""
    target = floor_hour((now or timezone.now()) - GRACE)
    try:
        RollupState.objects.get_or_create(team_id=team_id)
    except IntegrityError:  # created by a concurrent request
        pass
    with transaction.atomic():
        state = (
            RollupState.objects.select_for_update(skip_locked=True).filter(team_id=team_id).first()
        )
        if state is None:  # another request is rolling up: use what is committed
            return RollupState.objects.get(team_id=team_id).rolled_until
        start = state.rolled_until
        if start is None:
            first = _first_finished(team_id)
            start = floor_hour(first) if first else target
        if start < target:
            params: dict[str, Any] = {"team": team_id, "start": start, "end": target}
            with connection.cursor() as cursor:
                cursor.execute(_STEPS_SQL, params)
                added = cursor.rowcount
                cursor.execute(_LATENCY_SQL, params)
                if added > ANALYZE_AFTER_ROWS:  # fresh statistics, or the planner guesses 1 row
                    cursor.execute("ANALYZE monitoring_steprollup, monitoring_latencyrollup")
        if state.rolled_until != target and start <= target:
            state.rolled_until = target
            state.save(update_fields=["rolled_until"])
        return state.rolled_until
