"""Appending RunEvents (in the caller's transaction) and publishing them after commit.

Every state change of a run appends an event with the run row locked, so `seq`
is gap-free per run. After commit, the event goes to the channel layer groups
`run.<id>` and `team.<id>`; a browser that misses one replays from Postgres.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
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
    team_id = run.team_id
    transaction.on_commit(lambda: publish(message, run.pk, team_id))
    return event


def publish(message: dict[str, Any], run_id: int, team_id: int) -> None:
    """Send `message` to the run's and the team's groups; never raises (a lost
    message is recovered by replay from Postgres)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send)(layer, message, run_id, team_id)
    except Exception:  # the broker being down must not fail the step
        log.warning("could not publish run event %s/%s", run_id, message.get("seq"))


async def _send(layer: Any, message: dict[str, Any], run_id: int, team_id: int) -> None:
    await layer.group_send(run_group(run_id), message)
    await layer.group_send(team_group(team_id), message)
