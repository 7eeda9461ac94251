"""Background export jobs and the weekly usage email's recipients."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.accounts.models import Team


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportJob(models.Model):
    """A large export built by a Celery worker (a run report of thousands of
    steps, a usage report over months). `done`/`total` is its progress (units of
    the job: steps, or report sections); `content` the finished file, kept until
    it is replaced or the job deleted. `params` holds the request: {"run_id"} or
    {"from", "to"} (ISO 8601, UTC)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16)  # run, usage, dashboard
    fmt = models.CharField(max_length=8)  # html, pdf, json, csv, xlsx
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    filename = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    content = models.BinaryField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.kind} {self.fmt}, {self.status})"

    @property
    def percent(self) -> int:
        """Progress in % (0..100)."""
        if self.status == JobStatus.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class UsageSchedule(models.Model):
    """The weekly usage report of a team: sent by beat every Monday (UTC) for
    the previous seven days to `recipients` (members of the team)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="usage_schedule")
    enabled = models.BooleanField(default=True)
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Weekly usage report of {self.team}"
