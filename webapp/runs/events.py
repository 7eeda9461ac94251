"""Appending RunEvents (in the caller's transaction) and publishing them after commit.

Every state change of a run appends an event with the run row locked, so `seq`
is gap-free per run. After commit, the event goes to the channel layer groups
`run.<id>` and, for run-level events (run.*), `team.<id>`; a browser that
misses one replays from Postgres.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg.types.json import Jsonb

from orchestration.events import EventType
from webapp.runs.bulk import prepared
from webapp.runs.models import Run
from webapp.runs.perprocess import PerProcess

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run.{run_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


@dataclass(slots=True)
class Appended:
    """An event being appended: a RunEvent row once written (`id`, `seq` set
    then). Not a model instance: building one cost more than writing it."""

    type: str
    payload: dict[str, Any]
    ts: datetime
    id: int | None = None
    seq: int | None = None


def append_event(run: Run, type: EventType, payload: dict[str, Any] | None = None) -> Appended:
    """Append one event to `run` (whose row the caller has locked) and publish it
    after commit. Returns the event (its `seq` is set once it is written).

    One statement: the run's counter is bumped and the event inserted with the
    new `seq` together (gap-free: the counter row stays locked until commit).
    Inside `batched(run)`, the event is written when the batch ends instead."""
    event = Appended(type.value, payload or {}, timezone.now())
    batch = _batches().get(id(run))
    if batch is not None:
        batch.append(event)
    else:
        _write(run, [event], 0)
    return event


@contextmanager
def batched(run: Run) -> Iterator[None]:
    """Within the caller's transaction (run row locked): write the events
    appended to this `run` object, and its `step_count` growth (see
    engine.count_created), in one statement when the block ends. An exception
    discards them with the transaction."""
    batches = _batches()
    if id(run) in batches:  # nested: the outer batch writes
        yield
        return
    batches[id(run)] = []
    try:
        yield
        events = batches.pop(id(run))
        created = getattr(run, "_steps_created", 0)
        run._steps_created = 0  # type: ignore[attr-defined]
        _write(run, events, created)
    finally:
        batches.pop(id(run), None)


def is_batched(run: Run) -> bool:
    """Whether `run`'s events and step count are being collected by `batched`."""
    return id(run) in _batches()


_local = threading.local()


def _batches() -> dict[int, list[Appended]]:
    batches: dict[int, list[Appended]] | None = getattr(_local, "batches", None)
    if batches is None:
        batches = _local.batches = {}
    return batches


def _write(run: Run, events: list[Appended], steps_created: int) -> None:
    """One statement: bump the run's event counter by len(events) (and its step
    count), insert the events with consecutive seqs, queue them for publishing."""
    if not events:
        if steps_created:
            Run.objects.filter(pk=run.pk).update(step_count=F("step_count") + steps_created)
        return
    rows = ", ".join(["(%s::int, %s, %s::jsonb, %s::timestamptz)"] * len(events))
    sql = f"""
        WITH next AS (
            UPDATE runs_run SET event_seq = event_seq + %s, step_count = step_count + %s
            WHERE id = %s RETURNING event_seq
        )
        INSERT INTO runs_runevent (run_id, seq, type, payload, ts)
        SELECT %s, next.event_seq - %s + v.ord, v.type, v.payload, v.ts
        FROM next, (VALUES {rows}) AS v(ord, type, payload, ts)
        RETURNING id, seq
    """  # noqa: S608 (only placeholders are interpolated)
    params: list[Any] = [len(events), steps_created, run.pk, run.pk, len(events)]
    for ordinal, event in enumerate(events, start=1):
        params += [ordinal, event.type, Jsonb(event.payload), event.ts]
    with prepared() as cursor:  # (one prepared statement per number of events)
        cursor.execute(sql, params)
        written: list[tuple[int, int]] = sorted(cursor.fetchall(), key=lambda row: int(row[1]))
    if len(written) != len(events):
        raise Run.DoesNotExist(f"run {run.pk} does not exist")
    run.event_seq = written[-1][1]
    for (event_id, seq), event in zip(written, events, strict=True):
        event.id, event.seq = event_id, seq
        # The team's group (ws/team/: the runs list) gets the run's own
        # events only; step events would double the publishing of a big map.
        team = run.team_id if event.type.startswith("run.") else None
        _queue_for_commit(message(run.pk, event), run.pk, team)


def message(run_id: int, event: Appended) -> dict[str, Any]:
    """The "run.event" channel-layer message of a written event (`seq` set)."""
    return {
        "type": "run.event",
        "run_id": run_id,
        "seq": event.seq,
        "event": event.type,
        "payload": event.payload,
        "ts": event.ts.isoformat(),
    }


_pending = threading.local()


def _queue_for_commit(message: dict[str, Any], run_id: int, team_id: int | None) -> None:
    """Collect this transaction's messages; publish them together after commit
    (one channel-layer connection per transaction, not one per event). A batch
    whose transaction rolled back is dropped with it."""
    batch: list[tuple[dict[str, Any], int, int | None]] | None = getattr(_pending, "batch", None)
    flush = getattr(_pending, "flush", None)
    registered = any(entry[1] is flush for entry in connection.run_on_commit)
    if batch is None or not registered or not connection.in_atomic_block:
        batch = []
        _pending.batch = batch

        def flush() -> None:
            _pending.batch = None
            publish_many(batch)

        _pending.flush = flush
        batch.append((message, run_id, team_id))
        transaction.on_commit(flush)
        return
    batch.append((message, run_id, team_id))


def publish_many(batch: list[tuple[dict[str, Any], int, int | None]]) -> None:
    """Hand each (message, run id, team id) to this process's publisher, which
    sends it to the run's and the team's groups in order; returns at once and
    never raises (a lost message is recovered by replay from Postgres)."""
    if batch:
        _publisher().submit(batch)


def publish_tokens(run_id: int, message: dict[str, Any]) -> None:
    """Hand a step's streamed text (a "run.tokens" message) to this process's
    publisher, for the run's group only; best effort, returns at once."""
    _publisher().submit([(message, run_id, None)])


def drain(timeout_s: float = 5.0) -> bool:
    """Wait until everything submitted so far has been sent (or dropped).
    Returns False on timeout. For process exit and tests."""
    publisher = _publishers.peek()
    return True if publisher is None else publisher.drain(timeout_s)


class _Publisher:
    """One thread per process with one event loop and one channel layer, so a
    step's commit never waits for Redis, and the layer's connections are reused
    (`async_to_sync` per call cost a thread, a loop and a new connection: ~5 ms
    per call, ~40 ms under 200 threads; docs/benchmarks.md)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="quorum-events", daemon=True)
        self.thread.start()

    def submit(self, batch: Sequence[tuple[dict[str, Any], int, int | None]]) -> None:
        self.queue.put(batch)

    def drain(self, timeout_s: float) -> bool:
        done = threading.Event()
        self.queue.put(done)
        return done.wait(timeout_s)

    def _collect(self) -> list[Any]:
        """The next item, and what else arrives within LINGER_S of it (at
        once if a drain asks to): a run-next chain commits a step every few
        ms, and each send costs this thread, competing for the GIL with the
        step's own, more than its messages (docs/benchmarks.md, B1)."""
        items = [self.queue.get()]
        deadline = time.monotonic() + LINGER_S
        while not isinstance(items[-1], threading.Event):
            left = deadline - time.monotonic()
            try:
                items.append(self.queue.get(timeout=left) if left > 0 else self.queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        while True:
            items = self._collect()
            batch = [entry for item in items if isinstance(item, list) for entry in item]
            layer = get_channel_layer()  # (settings may change it, e.g. in tests)
            if batch and layer is not None:
                try:
                    loop.run_until_complete(_send(layer, batch))
                except BaseException:  # also CancelledError: nothing may stop the publisher
                    log.warning("could not publish %d run events", len(batch), exc_info=True)
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()


def _new_publisher() -> _Publisher:
    publisher = _Publisher()
    atexit.register(publisher.drain, 2.0)
    return publisher


_publishers = PerProcess(_new_publisher)


def _publisher() -> _Publisher:
    return _publishers.get()


LINGER_S = 0.02  # how long the publisher gathers messages before sending (s)
BATCH_MAX = 100  # messages per "run.batch" group message


async def _send(layer: Any, batch: list[tuple[dict[str, Any], int, int | None]]) -> None:
    """Send each group its messages in order: one alone, several as "run.batch"
    messages of up to BATCH_MAX (consumers handle each item as if it came
    alone). A group message costs the channel layer a Redis round trip and its
    Python work, per message: batching keeps that off each step's events."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for message, run_id, team_id in batch:
        groups.setdefault(run_group(run_id), []).append(message)
        if team_id is not None:  # (streamed tokens go to the run's group only)
            groups.setdefault(team_group(team_id), []).append(message)
    for group, messages in groups.items():
        for start in range(0, len(messages), BATCH_MAX):
            chunk = messages[start : start + BATCH_MAX]
            if len(chunk) == 1:
                await layer.group_send(group, chunk[0])
            else:
                await layer.group_send(group, {"type": "run.batch", "messages": chunk})
