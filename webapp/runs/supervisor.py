"""One watcher per worker process for all the steps running in it: cancellation,
budget and leases.

Every CANCEL_POLL_S (0.25 s) the watcher thread reads, with one Redis MGET, the
cancel flags of the runs and the budget flags of the teams that have steps
running in this process. A raised cancel flag is confirmed with the database
(one query; a stale flag of a reused run id is ignored) and the steps of that
run are cancelled: their asyncio tasks, on whatever thread's event loop, through
`call_soon_threadsafe`, which aborts in-flight LLM calls. A raised budget flag
stops the team's steps that call providers, with the flag's message. Every
STEP_LEASE_S / 3 it renews the leases of the steps it watches with one statement
that also checks each step's fencing token; a step whose lease is gone (the
reaper gave the step to a new attempt) is cancelled as "lost".

This replaces a watcher task per step, which cost a Redis connection, an MGET
every 0.25 s and a thread hop per step: about 15 % of the io worker's CPU with
200 steps in flight (docs/benchmarks.md, B2).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from webapp.runs import quotas
from webapp.runs.models import RUN_TERMINAL, Run, Step, StepStatus
from webapp.runs.perprocess import PerProcess, redis_client

log = logging.getLogger(__name__)
CANCEL_POLL_S = 0.25


def cancel_key(run_id: int) -> str:
    """The Redis key whose presence asks the workers to interrupt run `run_id`."""
    return f"quorum:cancel:run:{run_id}"


@dataclass(eq=False)
class Watched:
    """A running step: `task` (on `loop`) is cancelled when it must stop, with
    `reason` set first ("cancelled", "lost", or the budget message)."""

    step_id: int
    run_id: int
    team_id: int
    token: uuid.UUID
    calls_providers: bool
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[Any]
    renewed_at: float  # time.monotonic() of the lease's last renewal
    reason: str | None = None


class Supervisor:
    """The process's watcher thread (see the module docstring)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.watched: set[Watched] = set()
        self.thread = threading.Thread(target=self._run, name="quorum-supervisor", daemon=True)
        self.thread.start()

    def watch(self, watched: Watched) -> None:
        with self.lock:
            self.watched.add(watched)

    def unwatch(self, watched: Watched) -> None:
        with self.lock:
            self.watched.discard(watched)

    def _run(self) -> None:
        while True:
            time.sleep(CANCEL_POLL_S)
            try:
                self.tick()
            except Exception:  # nothing may stop the watcher
                log.warning("step supervisor tick failed", exc_info=True)
                connection.close()

    def tick(self) -> None:
        """Check flags and renew due leases once (the thread calls it every 0.25 s)."""
        with self.lock:
            watched = list(self.watched)
        if not watched:
            connection.close()  # idle: nothing held from the pool
            return
        try:
            self._check_flags(watched)
            self._renew(watched)
        finally:
            connection.close()  # back to the pool between ticks

    def _renew(self, watched: list[Watched]) -> None:
        renew_every = settings.STEP_LEASE_S / 3
        now = time.monotonic()
        due = [w for w in watched if w.reason is None and now - w.renewed_at >= renew_every]
        if due:
            held = renew_leases(due)
            for w in due:
                if w.step_id in held:
                    w.renewed_at = now
                else:
                    self._stop(w, "lost")

    def _check_flags(self, watched: list[Watched]) -> None:
        runs = sorted({w.run_id for w in watched})
        teams = sorted({w.team_id for w in watched if w.calls_providers})
        keys = [cancel_key(r) for r in runs] + [quotas.budget_key(t) for t in teams]
        try:
            flags: list[Any] = redis_client().mget(keys)
        except redis.RedisError:
            log.warning("supervisor: could not read cancel and budget flags", exc_info=True)
            return
        flagged = [run for run, flag in zip(runs, flags, strict=False) if flag]
        cancelled = set(cancelled_runs(flagged)) if flagged else set()
        budgets = {
            team: flag.decode()
            for team, flag in zip(teams, flags[len(runs) :], strict=True)
            if flag
        }
        for w in watched:
            if w.run_id in cancelled:
                self._stop(w, "cancelled")
            elif w.calls_providers and w.team_id in budgets:
                self._stop(w, budgets[w.team_id])

    @staticmethod
    def _stop(watched: Watched, reason: str) -> None:
        if watched.reason is not None:
            return
        watched.reason = reason
        try:
            watched.loop.call_soon_threadsafe(watched.task.cancel)
        except RuntimeError:  # its loop has closed: the step is over anyway
            pass


def cancelled_runs(run_ids: list[int]) -> list[int]:
    """Of `run_ids`, those the database says are cancelled or over."""
    return list(
        Run.objects.filter(pk__in=run_ids)
        .filter(Q(cancel_requested=True) | Q(status__in=RUN_TERMINAL))
        .values_list("pk", flat=True)
    )


def renew_leases(watched: list[Watched]) -> set[int]:
    """Extend by STEP_LEASE_S the leases still held (same fencing token, still
    running) of `watched`, in one statement; returns the step ids renewed."""
    expires = timezone.now() + timedelta(seconds=settings.STEP_LEASE_S)
    rows = ", ".join(["(%s::bigint, %s::uuid)"] * len(watched))
    table = Step._meta.db_table
    sql = f"""
        UPDATE {table} SET lease_expires_at = %s
        FROM (VALUES {rows}) AS held(id, token)
        WHERE {table}.id = held.id AND {table}.lease_token = held.token
          AND {table}.status = %s
        RETURNING {table}.id
    """  # noqa: S608 (only placeholders and our table name are interpolated)
    params: list[Any] = [expires]
    for w in watched:
        params += [w.step_id, w.token]
    params.append(StepStatus.RUNNING.value)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(row[0]) for row in cursor.fetchall()}


_supervisor = PerProcess(Supervisor)


def supervisor() -> Supervisor:
    """This process's supervisor (a new one after a fork)."""
    return _supervisor.get()
