"""Team quotas: concurrent runs (backpressure) and the monthly cost budget.

- Concurrent runs: a team runs at most `TeamQuota.max_concurrent_runs` top-level
  runs at once (child runs of subworkflow steps are part of their parent's work
  and never wait). A run started beyond it stays `queued` with a `run.waiting`
  event, and is admitted in creation order when another run of the team ends
  (`admit_waiting`, after that run's commit; the reaper retries admission as a
  safety net). Never a rejection.
- Budget: priced LLM calls add their cost to the team's month (`charge`, in the
  step's record transaction). At 80 % pages show a warning; at 100 % new runs
  are refused (`BudgetExhausted`) and running LLM steps are stopped within
  0.25 s with a "budget exhausted" error: a Redis flag, set after commit, that
  each LLM step's watcher polls; LLM steps not yet started fail at once.
  Months are calendar months in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from webapp.runs.models import LLMCallRecord, Run, RunStatus, TeamQuota
from webapp.runs.perprocess import redis_client

WARNING_FRACTION = Decimal("0.8")
ACTIVE = (RunStatus.RUNNING, RunStatus.WAITING)


@dataclass(frozen=True)
class BudgetState:
    """A team's month so far: spent and limit in USD, fraction spent (0..),
    level "ok" | "warning" (>= 80 %) | "exhausted" (>= 100 %)."""

    spent_usd: Decimal
    limit_usd: Decimal
    fraction: float
    level: str

    @property
    def percent(self) -> int:
        """Spent, in whole percent of the limit."""
        return int(self.fraction * 100)

    @property
    def message(self) -> str:
        return (
            f"budget exhausted: the team has spent ${self.spent_usd:.2f} of its "
            f"${self.limit_usd:.2f} monthly budget"
        )


def month_start(now: datetime | None = None) -> date:
    """The first day of the current calendar month in UTC."""
    now = (now or timezone.now()).astimezone(UTC)
    return date(now.year, now.month, 1)


def _next_month(start: date) -> datetime:
    first = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(first.year, first.month, 1, tzinfo=UTC)


def quota_for(team_id: int, *, lock: bool = False) -> TeamQuota:
    """The team's quota row (created with the defaults on first use); with
    `lock`, locked for the caller's transaction."""
    quota, _ = TeamQuota.objects.get_or_create(
        team_id=team_id, defaults={"max_concurrent_runs": settings.TEAM_MAX_CONCURRENT_RUNS}
    )
    if lock:
        quota = TeamQuota.objects.select_for_update().get(pk=quota.pk)
    return quota


def budget_state(quota: TeamQuota) -> BudgetState | None:
    """The budget figures of `quota`, or None when the team has no budget."""
    if quota.monthly_budget_usd is None:
        return None
    spent = quota.spent_usd if quota.spent_month == month_start() else Decimal(0)
    limit = quota.monthly_budget_usd
    fraction = float(spent / limit) if limit > 0 else 1.0
    level = "exhausted" if fraction >= 1 else "warning" if fraction >= WARNING_FRACTION else "ok"
    return BudgetState(spent, limit, fraction, level)


def spent_this_month(team_id: int) -> Decimal:
    """What the team's priced LLM calls cost this month (USD), from the call records."""
    total = LLMCallRecord.objects.filter(
        team_id=team_id,
        created_at__gte=datetime.combine(month_start(), datetime.min.time(), tzinfo=UTC),
    ).aggregate(total=Sum("cost_usd"))["total"]
    return total or Decimal(0)


@transaction.atomic
def do_set_quota(
    team_id: int,
    *,
    max_concurrent_runs: int | None = None,
    monthly_budget_usd: Decimal | str | None = "keep",
) -> TeamQuota:
    """Change a team's limits. `max_concurrent_runs`: 0 = no limit, None = keep.
    `monthly_budget_usd`: USD, None = no budget, "keep" = unchanged. Raises
    ValueError naming a bad value. Recounts the month's spend from the call
    records, re-raises or clears the budget flag, and admits waiting runs if
    the limit went up."""
    if max_concurrent_runs is not None and max_concurrent_runs < 0:
        raise ValueError("max_concurrent_runs must be 0 (no limit) or more")
    if isinstance(monthly_budget_usd, Decimal) and monthly_budget_usd < 0:
        raise ValueError("monthly_budget_usd must be 0 or more")
    quota = quota_for(team_id, lock=True)
    if max_concurrent_runs is not None:
        quota.max_concurrent_runs = max_concurrent_runs
    if monthly_budget_usd != "keep":
        quota.monthly_budget_usd = monthly_budget_usd
    quota.spent_month = month_start()
    quota.spent_usd = spent_this_month(team_id)
    quota.save()
    state = budget_state(quota)
    if state is not None and state.level == "exhausted":
        transaction.on_commit(lambda: flag_budget_exhausted(team_id, state.message))
    else:
        transaction.on_commit(lambda: clear_budget_flag(team_id))
    transaction.on_commit(lambda: admit_waiting(team_id))
    return quota


# -- concurrent runs ---------------------------------------------------------------


def admit(run: Run) -> bool:
    """Whether a new run may start now (call in its creating transaction).
    Child runs always may; a top-level run may when the team runs fewer than
    its limit and no earlier run of the team is still waiting (first come,
    first served). Serialised per team by locking the quota row."""
    if run.parent_run_id is not None:
        return True
    quota = quota_for(run.team_id, lock=True)
    if quota.max_concurrent_runs == 0:
        return True
    top = Run.objects.filter(team_id=run.team_id, parent_run__isnull=True)
    if top.filter(status=RunStatus.QUEUED, pk__lt=run.pk).exists():
        return False
    return top.filter(status__in=ACTIVE).count() < quota.max_concurrent_runs


def admit_waiting(team_id: int) -> int:
    """Start the team's waiting runs, oldest first, while it is under its limit.
    Returns how many started. Safe to call at any time, from any process."""
    from webapp.runs.engine import advance

    top = Run.objects.filter(team_id=team_id, parent_run__isnull=True)
    if not top.filter(status=RunStatus.QUEUED).exists():
        return 0  # (a run queued after this check admits itself: see `admit`)
    started = 0
    with transaction.atomic():
        quota = quota_for(team_id, lock=True)
        waiting = top.filter(status=RunStatus.QUEUED).order_by("created_at", "pk")
        if quota.max_concurrent_runs:
            free = quota.max_concurrent_runs - top.filter(status__in=ACTIVE).count()
            waiting = waiting[: max(0, free)]
        for run_id in list(waiting.values_list("pk", flat=True)):
            run = (
                Run.objects.select_for_update(skip_locked=True)
                .select_related("version")
                .filter(pk=run_id, status=RunStatus.QUEUED)
                .first()
            )
            if run is None:
                continue
            advance(run)  # queued -> running, run.started and its first steps
            started += 1
    return started


def teams_with_waiting_runs(older_than_s: float = 5.0) -> list[int]:
    """Teams with a top-level run queued for longer than `older_than_s` (for the reaper)."""
    before = timezone.now() - timedelta(seconds=older_than_s)
    return list(
        Run.objects.filter(status=RunStatus.QUEUED, parent_run__isnull=True, created_at__lt=before)
        .values_list("team_id", flat=True)
        .distinct()
    )


# -- budget ------------------------------------------------------------------------


_CHARGE_SQL = """
UPDATE runs_teamquota SET
    spent_usd = CASE WHEN spent_month = %s THEN spent_usd + %s ELSE %s END,
    spent_month = %s
WHERE team_id = %s AND monthly_budget_usd IS NOT NULL
RETURNING spent_usd, monthly_budget_usd
"""


def charge(team_id: int, cost_usd: Decimal) -> None:
    """Add a step's priced LLM cost to the team's month (in the record
    transaction; one statement, nothing for a team without a budget), and
    raise the budget flag after commit when the budget is spent."""
    if cost_usd <= 0:
        return
    month = month_start()
    with connection.cursor() as cursor:
        cursor.execute(_CHARGE_SQL, [month, cost_usd, cost_usd, month, team_id])
        row = cursor.fetchone()
    if row is None:
        return
    spent, limit = Decimal(row[0]), Decimal(row[1])
    if spent >= limit:
        state = BudgetState(spent, limit, float(spent / limit) if limit else 1.0, "exhausted")
        transaction.on_commit(lambda: flag_budget_exhausted(team_id, state.message))


def budget_key(team_id: int) -> str:
    return f"quorum:budget-exhausted:team:{team_id}"


def flag_budget_exhausted(team_id: int, message: str) -> None:
    """Tell every worker to stop the team's LLM steps, until the month ends."""
    seconds = int((_next_month(month_start()) - timezone.now()).total_seconds()) + 60
    redis_client().set(budget_key(team_id), message, ex=max(60, seconds))


def clear_budget_flag(team_id: int) -> None:
    redis_client().delete(budget_key(team_id))


def budget_exhausted(team_id: int) -> str | None:
    """The "budget exhausted" message when the team's budget flag is up, else None."""
    value = redis_client().get(budget_key(team_id))
    return value.decode() if value else None
