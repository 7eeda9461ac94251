"""Celery tasks of the reports app: thin wrappers that load and delegate."""

from __future__ import annotations

from celery import shared_task

from webapp.reports import jobs, weekly


@shared_task(name="reports.build_export", queue="cpu", acks_late=True)
def build_export(job_id: int) -> None:
    """Build one ExportJob (webapp.reports.jobs.run_job)."""
    jobs.run_job(job_id)


@shared_task(name="reports.send_weekly_usage", queue="cpu")
def send_weekly_usage() -> int:
    """Periodic (beat, weekly): email every enabled team's usage report of the
    last seven days to its chosen members. Returns the number of emails sent."""
    return weekly.send_all()
