"""Parsing the query string of the runs list and the dashboards.

Every bad value raises FilterError with a message naming the parameter and what
is wrong; views answer 400 with it (never a 500)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from webapp.accounts.models import Membership, Team
from webapp.runs.models import Run, RunStatus
from webapp.workflows.models import Workflow

PRESETS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
MAX_SPAN = timedelta(days=366)
PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FilterError(ValueError):
    """A query parameter is invalid; str(error) names it and says why."""


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in UTC; `preset` is the key of PRESETS used, or "" for custom."""

    start: datetime
    end: datetime
    preset: str

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    @property
    def bucket(self) -> str:
        """ "hour" for spans up to two days, else "day" (Postgres date_trunc units)."""
        return "hour" if self.span <= timedelta(days=2) else "day"

    def query(self) -> dict[str, str]:
        if self.preset:
            return {"range": self.preset}
        return {"from": _fmt(self.start), "to": _fmt(self.end)}


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _parse_moment(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FilterError(
            f"{name}: {value!r} is not a date and time (use YYYY-MM-DDTHH:MM, UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_range(params: QueryDict, default: str | None = "7d") -> TimeRange | None:
    """`range=<preset>` (1h, 24h, 7d, 30d, 90d) or `from`/`to` (ISO 8601; naive
    means UTC; `to` defaults to now). None when nothing is given and `default` is None.

    Raises FilterError for an unknown preset, an unreadable date, `from` not
    before `to`, or a span over 366 days."""
    now = timezone.now()
    preset = params.get("range", "").strip()
    start_raw, end_raw = params.get("from", "").strip(), params.get("to", "").strip()
    if preset and preset != "custom":
        if preset not in PRESETS:
            choices = ", ".join(PRESETS)
            raise FilterError(f"range: {preset!r} is not one of {choices} (or use from/to)")
        return TimeRange(now - PRESETS[preset], now, preset)
    if start_raw or end_raw:
        if not start_raw:
            raise FilterError("from: missing (give from with to, or a range)")
        start = _parse_moment("from", start_raw)
        end = _parse_moment("to", end_raw) if end_raw else now
        if start >= end:
            raise FilterError(f"from ({_fmt(start)}) must be before to ({_fmt(end)})")
        if end - start > MAX_SPAN:
            raise FilterError("from/to: the range may span at most 366 days")
        return TimeRange(start, end, "")
    if default is None:
        return None
    return TimeRange(now - PRESETS[default], now, default)


def _int_param(params: QueryDict, name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise FilterError(f"{name}: {raw!r} is not a number") from None
    if value < 1:
        raise FilterError(f"{name}: must be a positive id, got {value}")
    return value


@dataclass(frozen=True)
class RunFilters:
    """The runs list's filters (all optional) and its keyset cursor."""

    workflow: Workflow | None
    status: str
    started_by: int | None
    time_range: TimeRange | None
    before: tuple[datetime, int] | None

    def query(self) -> dict[str, Any]:
        """The filters (not the cursor) as query parameters."""
        out: dict[str, Any] = {}
        if self.workflow:
            out["workflow"] = self.workflow.pk
        if self.status:
            out["status"] = self.status
        if self.started_by:
            out["started_by"] = self.started_by
        if self.time_range:
            out.update(self.time_range.query())
        return out

    @property
    def is_default(self) -> bool:
        return not self.query() and self.before is None


def parse_run_filters(team: Team, params: QueryDict) -> RunFilters:
    """Filters for `team`'s runs from the query string: `workflow` (id of one of the
    team's workflows), `status` (a run status), `started_by` (user id of a member),
    a time range (see parse_range; none by default) and `before` (a cursor
    "<created_at epoch µs>_<run id>" from the previous page)."""
    workflow = None
    workflow_id = _int_param(params, "workflow")
    if workflow_id is not None:
        workflow = Workflow.objects.filter(team=team, pk=workflow_id).first()
        if workflow is None:
            raise FilterError(f"workflow: {team.name} has no workflow with id {workflow_id}")
    status = params.get("status", "").strip()
    if status and status not in RunStatus.values:
        raise FilterError(f"status: {status!r} is not one of {', '.join(RunStatus.values)}")
    started_by = _int_param(params, "started_by")
    if (
        started_by is not None
        and not Membership.objects.filter(team=team, user_id=started_by).exists()
    ):
        raise FilterError(f"started_by: no member of {team.name} has id {started_by}")
    return RunFilters(
        workflow, status, started_by, parse_range(params, default=None), _cursor(params)
    )


def _cursor(params: QueryDict) -> tuple[datetime, int] | None:
    raw = params.get("before", "").strip()
    if not raw:
        return None
    try:
        micros, run_id = (int(part) for part in raw.split("_"))
        moment = EPOCH + timedelta(microseconds=micros)
    except (ValueError, OverflowError, OSError):
        raise FilterError(f"before: {raw!r} is not a page cursor") from None
    return moment, run_id


def cursor_for(run: Run) -> str:
    """The `before` cursor that continues after `run` (newest first)."""
    micros = (run.created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{run.pk}"


def apply_run_filters(runs: QuerySet[Run], filters: RunFilters) -> QuerySet[Run]:
    """`runs` narrowed by the filters and the cursor, newest first (keyset
    pagination on (created_at, id): a page costs the same however deep)."""
    if filters.workflow is not None:
        runs = runs.filter(workflow=filters.workflow)
    if filters.status:
        runs = runs.filter(status=filters.status)
    if filters.started_by is not None:
        runs = runs.filter(created_by_id=filters.started_by)
    if filters.time_range is not None:
        runs = runs.filter(
            created_at__gte=filters.time_range.start, created_at__lt=filters.time_range.end
        )
    if filters.before is not None:
        moment, run_id = filters.before
        runs = runs.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=run_id))
    return runs.order_by("-created_at", "-id")
