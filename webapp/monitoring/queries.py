"""Dashboard queries: one function per chart, each returning rows (dicts) for
the chart, its CSV and its table.

Every query starts from `restrict(..., user, VIEW_COSTS)` and the current team,
so another team's rows can never appear. Units: ms, USD (Decimal), tokens.
Runs are read directly (by `created_at`, index `run_team_created`, or
`finished_at`). Steps are bucketed by `finished_at`: the whole hours of the range
come from the hourly rollups (webapp/monitoring/rollup.py), the rest from
`runs_step` (index `step_team_finished`), and the two are summed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Model,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Trunc

from webapp.accounts.models import Team
from webapp.accounts.permissions import Action, AnyUser, restrict
from webapp.monitoring.filters import TimeRange
from webapp.monitoring.models import LatencyRollup, StepRollup
from webapp.monitoring.rollup import (
    BUCKET_SQL,
    ceil_hour,
    ensure_rolled,
    floor_hour,
    merge_histograms,
    percentile,
)
from webapp.runs.models import Run, Step

R = TypeVar("R", bound=Model)
TOP_N = 10
PERCENTILES = (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99))


class Percentile(Aggregate):
    """percentile_cont(fraction) WITHIN GROUP (ORDER BY expr) — continuous
    percentile (Postgres ordered-set aggregate; same-input calls share one sort)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


class DurationMs(Func):
    """(end - start) of two timestamps in ms."""

    template = "(EXTRACT(EPOCH FROM (%(expressions)s)) * 1000)"
    arg_joiner = " - "
    output_field = FloatField()


@dataclass(frozen=True)
class Windows:
    """A time range cut into whole hours read from the rollups (`rolled`, or
    None) and the rest read from runs_step (`raw`, zero to two windows)."""

    rolled: tuple[datetime, datetime] | None
    raw: list[tuple[datetime, datetime]]


def split_range(start: datetime, end: datetime, watermark: datetime | None) -> Windows:
    """Rollups answer the whole hours of [start, end) before `watermark`; raw
    steps answer the rest."""
    first = ceil_hour(start)
    last = min(floor_hour(end), watermark) if watermark else first
    if last <= first:
        return Windows(None, [(start, end)])
    raw = [(start, first)] if start < first else []
    if last < end:
        raw.append((last, end))
    return Windows((first, last), raw)


@dataclass(frozen=True)
class Scope:
    """Who asks, for which team and time range."""

    user: AnyUser
    team: Team
    time_range: TimeRange

    def runs(self) -> QuerySet[Run]:
        """Runs of the team created in the range."""
        runs = Run.objects.filter(
            team=self.team,
            created_at__gte=self.time_range.start,
            created_at__lt=self.time_range.end,
        )
        return restrict(runs, self.user, Action.VIEW_COSTS)

    def finished_runs(self) -> QuerySet[Run]:
        runs = Run.objects.filter(
            team=self.team,
            finished_at__gte=self.time_range.start,
            finished_at__lt=self.time_range.end,
        )
        return restrict(runs, self.user, Action.VIEW_COSTS)

    @cached_property
    def _windows(self) -> Windows:
        return split_range(self.time_range.start, self.time_range.end, ensure_rolled(self.team.pk))

    def windows(self) -> Windows:
        """Which part of the range the rollups answer, and which raw steps do."""
        return self._windows

    def rollup(self, model: type[R], window: tuple[datetime, datetime]) -> QuerySet[R]:
        """Rollup rows (StepRollup or LatencyRollup) of the team for whole hours."""
        rows = model._default_manager.filter(
            team=self.team, hour__gte=window[0], hour__lt=window[1]
        )
        return restrict(rows, self.user, Action.VIEW_COSTS)

    def raw_steps(self, windows: Windows) -> QuerySet[Step]:
        """Step attempts of the team that finished in the raw windows."""
        where = Q()
        for start, end in windows.raw:
            where |= Q(finished_at__gte=start, finished_at__lt=end)
        steps = Step.objects.filter(where, team=self.team)
        return restrict(steps, self.user, Action.VIEW_COSTS)

    def bucket(self, field: str) -> Trunc:
        return Trunc(field, self.time_range.bucket)


def _rows(queryset: Any) -> list[dict[str, Any]]:
    # Percentiles sort in memory; 64 MB keeps a million floats off the disk.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")
        return list(queryset)


def runs_by_status(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket (datetime), status, runs (count)}] by created_at bucket."""
    query = (
        scope.runs()
        .annotate(bucket=scope.bucket("created_at"))
        .values("bucket", "status")
        .annotate(runs=Count("id"))
        .order_by("bucket", "status")
    )
    return _rows(query)


def success_rate(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, finished, succeeded, success_rate (0..1)}] of runs that finished
    in each bucket (succeeded / succeeded + failed + cancelled)."""
    query = (
        scope.finished_runs()
        .filter(status__in=["succeeded", "failed", "cancelled"])
        .annotate(bucket=scope.bucket("finished_at"))
        .values("bucket")
        .annotate(finished=Count("id"), succeeded=Count("id", filter=Q(status="succeeded")))
        .order_by("bucket")
    )
    rows = _rows(query)
    for row in rows:
        row["success_rate"] = round(row["succeeded"] / row["finished"], 4)
    return rows


def latency_by_workflow(scope: Scope) -> list[dict[str, Any]]:
    """[{workflow, runs, p50_ms, p95_ms, p99_ms}]: run duration (started ->
    finished) of runs that finished in the range, per workflow."""
    duration = DurationMs(F("finished_at"), F("started_at"))
    query = (
        scope.finished_runs()
        .filter(started_at__isnull=False)
        .values(workflow_name=F("workflow__name"))
        .annotate(runs=Count("id"), **{name: Percentile(duration, p) for name, p in PERCENTILES})
        .order_by("workflow_name")
    )
    rows = _round(_rows(query))
    for row in rows:  # "workflow" is a field of Run, so it cannot be the annotation's name
        row["workflow"] = row.pop("workflow_name")
    return rows


def _round(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for name, _ in PERCENTILES:
            if row[name] is not None:
                row[name] = round(row[name], 1)
    return rows


def latency_by_node_type(scope: Scope) -> list[dict[str, Any]]:
    """[{node_type, steps, p50_ms, p95_ms, p99_ms}]: step run time (latency_ms),
    from log-bucket histograms (within ~5 % of the exact percentile)."""
    windows = scope.windows()
    pairs: list[tuple[str, dict[Any, int]]] = []
    if windows.rolled:
        rollups = scope.rollup(LatencyRollup, windows.rolled)
        pairs += list(rollups.values_list("node_type", "histogram"))
    if windows.raw:
        bucket = Func(
            F("latency_ms"),
            template=BUCKET_SQL.format(col="%(expressions)s"),
            output_field=IntegerField(),
        )
        raw = (
            scope.raw_steps(windows)
            .filter(latency_ms__isnull=False)
            .values("node_type", bucket=bucket)
            .annotate(n=Count("id"))
        )
        pairs += [(row["node_type"], {row["bucket"]: row["n"]}) for row in raw]
    rows = []
    for node_type, histogram in sorted(merge_histograms(pairs).items()):
        row: dict[str, Any] = {"node_type": node_type, "steps": sum(histogram.values())}
        for name, fraction in PERCENTILES:
            value = percentile(histogram, fraction)
            row[name] = None if value is None else round(value, 1)
        rows.append(row)
    return rows


def _merge(
    parts: list[Any], keys: tuple[str, ...], sums: tuple[str, ...], maxes: tuple[str, ...] = ()
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows of several querysets (dicts with `keys`, `sums` and `maxes`), merged
    by `keys`: `sums` added, `maxes` the largest (None counts as nothing)."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for queryset in parts:
        for row in queryset:
            key = tuple(row[k] for k in keys)
            target = merged.setdefault(
                key, {k: row[k] for k in keys} | dict.fromkeys(sums, 0) | dict.fromkeys(maxes)
            )
            for name in sums:
                if row[name] is not None:
                    target[name] += row[name]
            for name in maxes:
                if row[name] is not None and (target[name] is None or row[name] > target[name]):
                    target[name] = row[name]
    return merged


def _cost_by(
    scope: Scope, dimension: str, raw_field: str, rolled_field: str
) -> list[dict[str, Any]]:
    windows = scope.windows()
    parts: list[Any] = []
    if windows.rolled:
        rolled = (
            scope.rollup(StepRollup, windows.rolled)
            .exclude(node_type="map")
            .filter(priced__gt=0)
            .annotate(bucket=Trunc("hour", scope.time_range.bucket))
            .values("bucket", label=F(rolled_field))
            .annotate(cost_usd=Sum("cost_usd"), steps=Sum("priced"))
        )
        parts.append(rolled)
    if windows.raw:
        raw = (
            scope.raw_steps(windows)
            .exclude(node_type="map")
            .filter(cost_usd__isnull=False)
            .annotate(bucket=scope.bucket("finished_at"))
            .values("bucket", label=F(raw_field))
            .annotate(cost_usd=Sum("cost_usd"), steps=Count("id"))
        )
        parts.append(raw)
    merged = _merge(parts, ("bucket", "label"), ("cost_usd", "steps"))
    rows = [merged[key] for key in sorted(merged, key=lambda k: (k[0], str(k[1])))]
    for row in rows:  # "label" inside: "workflow" is a field of the rollup model
        row[dimension] = row.pop("label")
    return rows


def cost_by_provider(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, provider_name, cost_usd (Decimal USD), steps (priced)}]."""
    return _cost_by(scope, "provider_name", "provider", "provider")


def cost_by_model(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, model_name, cost_usd (Decimal USD), steps (priced)}]."""
    return _cost_by(scope, "model_name", "model", "model")


def cost_by_workflow(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, workflow, cost_usd (Decimal USD), steps (priced)}]."""
    return _cost_by(scope, "workflow", "run__workflow__name", "workflow__name")


def tokens(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, tokens_in, tokens_out}] summed over steps (map steps left out)."""
    windows = scope.windows()
    parts: list[Any] = []
    sums = {"tokens_in": Sum("tokens_in"), "tokens_out": Sum("tokens_out")}
    if windows.rolled:
        rolled = (
            scope.rollup(StepRollup, windows.rolled)
            .exclude(node_type="map")
            .annotate(bucket=Trunc("hour", scope.time_range.bucket))
            .values("bucket")
            .annotate(**sums)
        )
        parts.append(rolled)
    if windows.raw:
        raw = (
            scope.raw_steps(windows)
            .exclude(node_type="map")
            .annotate(bucket=scope.bucket("finished_at"))
            .values("bucket")
            .annotate(**sums)
        )
        parts.append(raw)
    merged = _merge(parts, ("bucket",), ("tokens_in", "tokens_out"))
    return [merged[key] for key in sorted(merged)]


_NODE_KEYS = ("workflow_name", "node_id", "node_type")


def _per_node(
    scope: Scope,
    rolled_sums: dict[str, Any],
    raw_sums: dict[str, Any],
    billed: bool,
    maxes: tuple[str, ...] = (),
) -> dict[tuple[Any, ...], dict[str, Any]]:
    windows = scope.windows()
    parts: list[Any] = []
    if windows.rolled:
        rolled = scope.rollup(StepRollup, windows.rolled)
        if billed:
            rolled = rolled.exclude(node_type="map")
        values = rolled.values("node_id", "node_type", workflow_name=F("workflow__name"))
        parts.append(values.annotate(**rolled_sums))
    if windows.raw:
        raw = scope.raw_steps(windows)
        if billed:
            raw = raw.exclude(node_type="map")
        raw_values = raw.values("node_id", "node_type", workflow_name=F("run__workflow__name"))
        parts.append(raw_values.annotate(**raw_sums))
    sums = tuple(name for name in rolled_sums if name not in maxes)
    merged = _merge(parts, _NODE_KEYS, sums, maxes)
    for row in merged.values():
        row["workflow"] = row.pop("workflow_name")
    return merged


def slowest_nodes(scope: Scope) -> list[dict[str, Any]]:
    """The ten (workflow, node) with the highest mean step latency:
    [{workflow, node_id, node_type, steps, mean_ms, max_ms}]."""
    merged = _per_node(
        scope,
        {
            "steps": Sum("timed"),
            "latency_sum": Sum("latency_sum_ms"),
            "max_ms": Max("latency_max_ms"),
        },
        {
            "steps": Count("latency_ms"),
            "latency_sum": Sum("latency_ms"),
            "max_ms": Max("latency_ms"),
        },
        billed=False,
        maxes=("max_ms",),
    )
    rows = [
        {k: row[k] for k in ("workflow", "node_id", "node_type")}
        | {
            "steps": row["steps"],
            "mean_ms": round(row["latency_sum"] / row["steps"], 1),
            "max_ms": round(float(row["max_ms"] or 0), 1),
        }
        for row in merged.values()
        if row["steps"]
    ]
    rows.sort(key=lambda r: -r["mean_ms"])
    return rows[:TOP_N]


def expensive_nodes(scope: Scope) -> list[dict[str, Any]]:
    """The ten (workflow, node) with the highest total cost:
    [{workflow, node_id, node_type, steps (priced), cost_usd (Decimal USD), tokens}]."""
    merged = _per_node(
        scope,
        {
            "steps": Sum("priced"),
            "cost_usd": Sum("cost_usd"),
            "tokens": Sum(F("tokens_in") + F("tokens_out")),
        },
        {
            "steps": Count("cost_usd"),
            "cost_usd": Sum("cost_usd"),
            "tokens": Sum(F("tokens_in") + F("tokens_out")),
        },
        billed=True,
    )
    rows = [row for row in merged.values() if row["steps"]]
    rows.sort(key=lambda r: -r["cost_usd"])
    return rows[:TOP_N]


Query = Callable[[Scope], list[dict[str, Any]]]
