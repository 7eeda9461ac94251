"""Group commit of map items: many items' claims and records in few transactions.

A map over N items makes N steps that all lock the same run row to claim and
again to record. One transaction per item serialises the whole map on that lock
(docs/benchmarks.md, B2: 15-19 items a second, and 200 threads queueing for 10
pooled connections). Instead, in each worker process, an item's delivery hands
its claim, and later its record, to one committer thread. The committer takes
everything that is waiting and does it in one transaction per run: the run row
locked once, the steps locked with one statement, the claimed steps updated with
one statement, every event written with one statement (events.batched), the LLM
calls inserted together, the run's totals and the team's charge written once,
and the planner run once if any item needs it (a slot for a pending item, the
map's end, a failure).

A delivery waits for its own result, so `acks_late` still acknowledges a message
only after its record committed, and the lease and fencing rules are those of
one item at a time (worker.py). With one item waiting, a batch is that item: no
added delay; under load, batches grow with the queue, as in Postgres's own group
commit (`commit_delay`, PostgreSQL documentation, "WAL Configuration").

Errors: a batch that raises (say `OperationalError`) hands the exception to
every delivery in it; each then re-sends its message (tasks.execute_step).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connection

from webapp.runs.perprocess import PerProcess

log = logging.getLogger(__name__)
MAX_BATCH = 500  # operations taken per round; the rest wait for the next


@dataclass
class _Op:
    kind: str  # "claim" | "record"
    args: tuple[Any, ...]
    future: Future[Any] = field(default_factory=Future)


class Committer:
    """One thread per process that runs claims and records in batches.

    `claim_many(list of (step id, worker)) -> {step id: result}` and
    `record_many(list of (attempt, outcome)) -> None` are the batch functions;
    each round runs the records waiting, then the claims waiting."""

    def __init__(
        self,
        claim_many: Callable[[list[tuple[Any, ...]]], dict[int, Any]],
        record_many: Callable[[list[tuple[Any, ...]]], None],
    ) -> None:
        self.pid = os.getpid()
        self.claim_many = claim_many
        self.record_many = record_many
        self.queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="quorum-groupcommit", daemon=True)
        self.thread.start()

    def enqueue(self, kind: str, *args: Any) -> Future[Any]:
        """Queue one operation; returns the future of its result (to wait on
        from a thread, or from an event loop with asyncio.wrap_future)."""
        op = _Op(kind, args)
        self.queue.put(op)
        return op.future

    def _run(self) -> None:
        while True:
            ops = [self.queue.get()]
            while len(ops) < MAX_BATCH:
                try:
                    ops.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            records = [op for op in ops if op.kind == "record"]
            claims = [op for op in ops if op.kind == "claim"]
            if records:
                self._round(records, self.record_many)
            if claims:
                self._round(claims, self.claim_many)
            if self.queue.empty():  # idle: the connection goes back to the pool
                connection.close()

    def _round(self, ops: list[_Op], work: Callable[[list[tuple[Any, ...]]], Any]) -> None:
        try:
            close_old_connections()
            result = work([op.args for op in ops])
        except BaseException as exc:  # every waiting delivery gets the error
            log.warning("group commit of %d %ss failed: %s", len(ops), ops[0].kind, exc)
            connection.close()  # a broken connection goes back to the pool, not reused
            for op in ops:
                op.future.set_exception(exc)
            return
        seen: set[Any] = set()
        for op in ops:
            if isinstance(result, dict):  # a duplicate delivery in the same batch gets None
                key = op.args[0]
                op.future.set_result(None if key in seen else result.get(key))
                seen.add(key)
            else:
                op.future.set_result(None)


def by_run(pairs: list[tuple[int, Any]]) -> dict[int, list[Any]]:
    """Group (run id, thing) pairs by run id, runs in ascending id order (the
    lock order between runs: two batches never wait on each other's runs)."""
    groups: dict[int, list[Any]] = defaultdict(list)
    for run_id, thing in pairs:
        groups[run_id].append(thing)
    return dict(sorted(groups.items()))


_committers: dict[tuple[Any, Any], PerProcess[Committer]] = {}


def committer(
    claim_many: Callable[[list[tuple[Any, ...]]], dict[int, Any]],
    record_many: Callable[[list[tuple[Any, ...]]], None],
) -> Committer:
    """This process's committer for these batch functions (a new one after a fork)."""
    key = (claim_many, record_many)
    if key not in _committers:
        _committers.setdefault(key, PerProcess(lambda: Committer(claim_many, record_many)))
    return _committers[key].get()
