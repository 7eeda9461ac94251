"""Appending RunEvents (in the caller's transaction) and publishing them after commit.

Every state change of a run appends an event with the run row locked, so `seq`
is gap-free per run. After commit, the event goes to the channel layer groups
`run.<id>` and `team.<id>`; a browser that misses one replays from Postgres.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import F

from orchestration.events import EventType
from webapp.runs.models import Run, RunEvent

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run.{run_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def append_event(run: Run, type: EventType, payload: dict[str, Any] | None = None) -> RunEvent:
    """Append one event to `run` (whose row the caller has locked) and publish it
    after commit. Returns the stored event."""
    Run.objects.filter(pk=run.pk).update(event_seq=F("event_seq") + 1)
    run.event_seq += 1
    event = RunEvent.objects.create(
        run_id=run.pk, seq=run.event_seq, type=type.value, payload=payload or {}
    )
    message = {
        "type": "run.event",
        "run_id": run.pk,
        "seq": event.seq,
        "event": event.type,
        "payload": event.payload,
        "ts": event.ts.isoformat(),
    }
    _queue_for_commit(message, run.pk, run.team_id)
    return event


_pending = threading.local()


def _queue_for_commit(message: dict[str, Any], run_id: int, team_id: int) -> None:
    """Collect this transaction's messages; publish them together after commit
    (one channel-layer connection per transaction, not one per event). A batch
    whose transaction rolled back is dropped with it."""
    batch: list[tuple[dict[str, Any], int, int]] | None = getattr(_pending, "batch", None)
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


def publish_many(batch: list[tuple[dict[str, Any], int, int]]) -> None:
    """Send each (message, run id, team id) to the run's and the team's groups;
    never raises (a lost message is recovered by replay from Postgres)."""
    layer = get_channel_layer()
    if layer is None or not batch:
        return
    try:
        async_to_sync(_send)(layer, batch)
    except Exception:  # the broker being down must not fail the step
        log.warning("could not publish %d run events", len(batch))


async def _send(layer: Any, batch: list[tuple[dict[str, Any], int, int]]) -> None:
    for message, run_id, team_id in batch:
        await layer.group_send(run_group(run_id), message)
        await layer.group_send(team_group(team_id), message)
