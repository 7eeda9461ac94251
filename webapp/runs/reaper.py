"""Recovery of steps whose worker died, lost messages and overdue runs.

Run by Celery beat every REAPER_INTERVAL_S (5 s):
- a `running` step whose lease expired lost its worker: it is failed (superseded)
  and re-queued as the next attempt, or failed for good after its max attempts,
  so a poison step cannot loop forever;
- a `queued` step not started STEP_REQUEUE_AFTER_S after it was due is sent to
  the broker again (a duplicate delivery is harmless: only a queued step is claimed);
- a run past its deadline fails with "deadline exceeded";
- a team's waiting runs are admitted if a slot is free (in case the admission
  after a run's end was lost with its process).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orchestration.events import EventType
from orchestration.planner import Outcome
from webapp.runs import quotas
from webapp.runs.engine import _ids, advance, finish_run, graph_of, send_step
from webapp.runs.events import append_event
from webapp.runs.models import RUN_TERMINAL, Run, RunStatus, Step, StepStatus
from webapp.runs.worker import node_for, retry

log = logging.getLogger(__name__)


def reap() -> dict[str, int]:
    counts = {"lost": 0, "resent": 0, "overdue": 0, "admitted": 0}
    now = timezone.now()
    for step_id, run_id in Step.objects.filter(
        status=StepStatus.RUNNING, lease_expires_at__lt=now
    ).values_list("pk", "run_id")[:500]:
        counts["lost"] += recover_lost_step(run_id, step_id)
    stale = now - timedelta(seconds=settings.STEP_REQUEUE_AFTER_S)
    for step in Step.objects.filter(status=StepStatus.QUEUED, queued_at__lt=stale).filter(
        Q(not_before__isnull=True) | Q(not_before__lt=stale)
    )[:500]:
        send_step(step.pk, step.queue, step.team_id, item=step.item is not None)
        counts["resent"] += 1
    for team_id in quotas.teams_with_waiting_runs():  # admission missed (a crash)
        counts["admitted"] += quotas.admit_waiting(team_id)
    for run_id in Run.objects.filter(
        deadline_at__lt=now, status__in=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING]
    ).values_list("pk", flat=True)[:100]:
        counts["overdue"] += fail_overdue_run(run_id)
    return counts


def recover_lost_step(run_id: int, step_id: int) -> int:
    """Retry or fail one running step whose lease expired. Returns 1 if it acted."""
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("version").get(pk=run_id)
        step = Step.objects.select_for_update().get(pk=step_id)
        if step.status != StepStatus.RUNNING or step.lease_expires_at is None:
            return 0
        if step.lease_expires_at >= timezone.now():
            return 0  # renewed meanwhile
        error = f"lease expired: worker {step.worker or '?'} stopped answering"
        step.error = error
        if run.status in RUN_TERMINAL:
            step.status = StepStatus.CANCELLED
            step.finished_at = timezone.now()
            step.lease_token = None
            step.save()
            append_event(run, EventType.STEP_CANCELLED, _ids(step))
            return 1
        _, config = node_for(graph_of(run), step.node_id, step.item is not None)
        if step.attempt < config.max_attempts:
            retry(run, step, config, error)
            log.warning("step %s: %s; retrying as attempt %s", step.pk, error, step.attempt + 1)
            return 1
        step.status = StepStatus.FAILED
        step.finished_at = timezone.now()
        step.lease_token = None
        step.save()
        append_event(run, EventType.STEP_FAILED, _ids(step) | {"error": error, "will_retry": False})
        advance(run)
        return 1


def fail_overdue_run(run_id: int) -> int:
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status in RUN_TERMINAL or run.deadline_at is None:
            return 0
        finish_run(run, Outcome("failed", error="deadline exceeded"))
    return 1
