"""Celery tasks: thin wrappers that load and delegate (webapp/runs/worker.py)."""

from __future__ import annotations

import random
from collections.abc import Callable

from celery import Task, shared_task
from django.db import OperationalError

from webapp.runs import reaper, worker


@shared_task(bind=True, name="runs.execute_step", acks_late=True, reject_on_worker_lost=True)
def execute_step(self: Task, step_id: int) -> None:
    """Execute one step attempt. The message carries only the step id.

    A database error (e.g. no pooled connection within DB_POOL_TIMEOUT) sends
    the message again after 0.5-2 s, up to 20 times, instead of leaving the step
    queued until the reaper re-sends it (STEP_REQUEUE_AFTER_S): a claim that
    failed claims again, and a record that failed finds its step no longer
    queued (the lease then expires and the step is retried as usual)."""
    _resend_on_database_error(self, lambda host: worker.execute(step_id, host))


@shared_task(bind=True, name="runs.execute_items", acks_late=True, reject_on_worker_lost=True)
def execute_items(self: Task, step_ids: list[int]) -> None:
    """Execute a chunk of map items (ids only; see worker.execute_items); a
    database error re-sends the message as execute_step does."""
    _resend_on_database_error(self, lambda host: worker.execute_items(step_ids, host))


def _resend_on_database_error(task: Task, work: Callable[[str], None]) -> None:
    """Run `work(worker hostname)`; on OperationalError send the message again
    after 0.5-2 s (full jitter), at most 20 times."""
    try:
        work(task.request.hostname or "unknown")
    except OperationalError as exc:
        delay = random.uniform(0.5, 2.0)  # noqa: S311 (jitter, not security)
        raise task.retry(exc=exc, countdown=delay, max_retries=20) from exc


@shared_task(name="runs.reap")
def reap() -> dict[str, int]:
    """Periodic: re-queue steps whose lease expired, re-send stale queued steps,
    fail runs past their deadline. Returns counts by action."""
    return reaper.reap()
