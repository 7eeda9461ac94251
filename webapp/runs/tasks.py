"""Celery tasks: thin wrappers that load and delegate (webapp/runs/worker.py)."""

from __future__ import annotations

from celery import Task, shared_task

from webapp.runs import reaper, worker


@shared_task(bind=True, name="runs.execute_step", acks_late=True, reject_on_worker_lost=True)
def execute_step(self: Task, step_id: int) -> None:
    """Execute one step attempt. The message carries only the step id."""
    worker.execute(step_id, self.request.hostname or "unknown")


@shared_task(name="runs.reap")
def reap() -> dict[str, int]:
    """Periodic: re-queue steps whose lease expired, re-send stale queued steps,
    fail runs past their deadline. Returns counts by action."""
    return reaper.reap()
