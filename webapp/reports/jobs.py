"""Building exports: at once for small ones, as an ExportJob on a Celery worker
for large ones (progress in the job row, polled by the job page every second).

An export is described by (kind, fmt, params): kind "run" {"run_id"}, "usage"
or "dashboard" {"from", "to"} (ISO 8601, UTC)."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from webapp.accounts.models import Team
from webapp.accounts.permissions import Action, AnyUser, get_for, require
from webapp.monitoring.filters import TimeRange
from webapp.reports import dashboard, runreport, usage
from webapp.reports.models import ExportJob, JobStatus
from webapp.runs.models import Run

log = logging.getLogger(__name__)
LARGE_SPAN_DAYS = 31  # usage reports over a longer range are built by a job
KEEP_JOBS = timedelta(days=1)  # a finished job's file is kept this long


@dataclass(frozen=True)
class Export:
    """A finished export: the file's bytes, its name and content type."""

    content: bytes
    filename: str
    content_type: str


def time_range_of(params: dict[str, Any]) -> TimeRange:
    """The TimeRange of a job's params {"from", "to"} (ISO 8601)."""
    return TimeRange(
        datetime.fromisoformat(params["from"]), datetime.fromisoformat(params["to"]), ""
    )


def build(
    user: AnyUser,
    team: Team,
    kind: str,
    fmt: str,
    params: dict[str, Any],
    progress: runreport.Progress | None = None,
) -> Export:
    """Build one export for `user` (permissions checked again here, so a job
    whose user lost the right fails). Raises Http404/PermissionDenied, KeyError
    for an unknown kind or format."""
    if kind == "run":
        run = get_for(
            user,
            Run.objects.select_related("team", "workflow", "version", "created_by"),
            Action.EXPORT_REPORTS,
            pk=params["run_id"],
        )
        content_type, ext = runreport.FORMATS[fmt]
        content = runreport.render(run, user, fmt, progress)
        return Export(content, f"run-{run.pk}-report.{ext}", content_type)
    require(user, team, Action.VIEW_COSTS)
    require(user, team, Action.EXPORT_REPORTS)
    time_range = time_range_of(params)
    stamp = f"{time_range.start:%Y%m%d}-{time_range.end:%Y%m%d}"
    if kind == "usage":
        content_type, ext = usage.FORMATS[fmt]
        content = usage.render(user, team, time_range, fmt, progress)
        return Export(content, f"usage-{team.slug}-{stamp}.{ext}", content_type)
    if kind == "dashboard" and fmt == "pdf":
        content = dashboard.render_pdf(user, team, time_range, progress)
        return Export(content, f"dashboard-{team.slug}-{stamp}.pdf", "application/pdf")
    raise KeyError(f"{kind} {fmt}")


def record_download(team: Team | int, kind: str, fmt: str, params: dict[str, Any]) -> None:
    """Record "export downloaded" in the audit log (webapp.audit), when that app
    is installed."""
    if not apps.is_installed("webapp.audit"):
        return
    from webapp import audit

    audit.record(
        team,
        audit.AuditAction.EXPORT_DOWNLOADED,
        target_type="export",
        target_id=params.get("run_id", ""),
        target_repr=f"{kind} report ({fmt})",
        detail={"kind": kind, "format": fmt} | {k: str(v) for k, v in params.items()},
    )


def start_job(user: User, team: Team, kind: str, fmt: str, params: dict[str, Any]) -> ExportJob:
    """Create a queued ExportJob and send it to a worker after commit. The
    user's finished jobs older than KEEP_JOBS go (their files are not kept)."""
    from webapp.reports.tasks import build_export

    ExportJob.objects.filter(
        created_by=user,
        status__in=[JobStatus.DONE, JobStatus.FAILED],
        created_at__lt=timezone.now() - KEEP_JOBS,
    ).delete()

    job = ExportJob.objects.create(team=team, created_by=user, kind=kind, fmt=fmt, params=params)
    transaction.on_commit(lambda: build_export.delay(job.pk))
    return job


def run_job(job_id: int) -> None:
    """Build a job's export (on a worker): status running, progress saved as it
    goes (at most one write per 2 %), then done with the file, or failed with
    the reason. A job not queued (a duplicate delivery) is left alone."""
    claimed = ExportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING
    )
    if not claimed:
        return
    job = ExportJob.objects.select_related("team", "created_by").get(pk=job_id)
    last = [-1]

    def progress(done: int, total: int) -> None:
        if (total and (100 * done // total) - last[0] >= 2) or done == total:
            last[0] = 100 * done // max(total, 1)
            ExportJob.objects.filter(pk=job_id).update(done=done, total=total)

    try:
        export = build(job.created_by, job.team, job.kind, job.fmt, job.params, progress)
    except Exception as exc:
        log.warning("export job %s failed: %s", job_id, traceback.format_exc())
        ExportJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED,
            error=str(exc) or type(exc).__name__,
            finished_at=timezone.now(),
        )
        return
    ExportJob.objects.filter(pk=job_id).update(
        status=JobStatus.DONE,
        content=export.content,
        filename=export.filename,
        content_type=export.content_type,
        finished_at=timezone.now(),
    )
