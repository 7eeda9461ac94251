"""Dashboard queries: one function per chart, each returning rows (dicts) for
the chart, its CSV and its table.

Every query starts from `restrict(..., user, VIEW_COSTS)` and the current team,
so another team's rows can never appear. Units: ms, USD (Decimal), tokens.
Steps are bucketed by `finished_at` (index `step_team_finished_cov`), runs by
`created_at` (index `run_team_created`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    F,
    FloatField,
    Func,
    Max,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Trunc

from webapp.accounts.models import Team
from webapp.accounts.permissions import Action, AnyUser, restrict
from webapp.monitoring.filters import TimeRange
from webapp.runs.models import Run, Step

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

    def steps(self) -> QuerySet[Step]:
        """Step attempts of the team that finished in the range."""
        steps = Step.objects.filter(
            team=self.team,
            finished_at__gte=self.time_range.start,
            finished_at__lt=self.time_range.end,
        )
        return restrict(steps, self.user, Action.VIEW_COSTS)

    def billed_steps(self) -> QuerySet[Step]:
        """steps() less map steps: a map's own row carries the sums of its items'
        tokens and cost, which are rows of their own (counting both doubles them)."""
        return self.steps().exclude(node_type="map")

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


def latency_by_node_type(scope: Scope) -> list[dict[str, Any]]:
    """[{node_type, steps, p50_ms, p95_ms, p99_ms}]: step run time (latency_ms)."""
    query = (
        scope.steps()
        .filter(latency_ms__isnull=False)
        .values("node_type")
        .annotate(
            steps=Count("id"),
            **{name: Percentile(F("latency_ms"), p) for name, p in PERCENTILES},
        )
        .order_by("node_type")
    )
    return _round(_rows(query))


def _round(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for name, _ in PERCENTILES:
            if row[name] is not None:
                row[name] = round(row[name], 1)
    return rows


def _cost_by(scope: Scope, dimension: str, field: str) -> list[dict[str, Any]]:
    query = (
        scope.billed_steps()
        .filter(cost_usd__isnull=False)
        .annotate(bucket=scope.bucket("finished_at"))
        .values("bucket", **{dimension: F(field)})
        .annotate(cost_usd=Sum("cost_usd"), steps=Count("id"))
        .order_by("bucket", dimension)
    )
    return _rows(query)


def cost_by_provider(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, provider, cost_usd (Decimal USD), steps}] of priced steps."""
    return _cost_by(scope, "provider_name", "provider")


def cost_by_model(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, model, cost_usd (Decimal USD), steps}] of priced steps."""
    return _cost_by(scope, "model_name", "model")


def cost_by_workflow(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, workflow, cost_usd (Decimal USD), steps}] of priced steps."""
    return _cost_by(scope, "workflow", "run__workflow__name")


def tokens(scope: Scope) -> list[dict[str, Any]]:
    """[{bucket, tokens_in, tokens_out}] summed over steps."""
    query = (
        scope.billed_steps()
        .annotate(bucket=scope.bucket("finished_at"))
        .values("bucket")
        .annotate(tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"))
        .order_by("bucket")
    )
    return _rows(query)


def slowest_nodes(scope: Scope) -> list[dict[str, Any]]:
    """The ten (workflow, node) with the highest mean step latency:
    [{workflow, node_id, node_type, steps, mean_ms, max_ms}]."""
    query = (
        scope.steps()
        .filter(latency_ms__isnull=False)
        .values("node_id", "node_type", workflow=F("run__workflow__name"))
        .annotate(steps=Count("id"), mean_ms=Avg("latency_ms"), max_ms=Max("latency_ms"))
        .order_by("-mean_ms")[:TOP_N]
    )
    rows = _rows(query)
    for row in rows:
        row["mean_ms"], row["max_ms"] = round(row["mean_ms"], 1), round(row["max_ms"], 1)
    return rows


def expensive_nodes(scope: Scope) -> list[dict[str, Any]]:
    """The ten (workflow, node) with the highest total cost:
    [{workflow, node_id, node_type, steps, cost_usd (Decimal USD), tokens}]."""
    query = (
        scope.billed_steps()
        .filter(cost_usd__isnull=False)
        .values("node_id", "node_type", workflow=F("run__workflow__name"))
        .annotate(
            steps=Count("id"),
            cost_usd=Sum("cost_usd"),
            tokens=Sum(F("tokens_in") + F("tokens_out")),
        )
        .order_by("-cost_usd")[:TOP_N]
    )
    return _rows(query)


Query = Callable[[Scope], list[dict[str, Any]]]
