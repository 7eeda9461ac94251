"""WebSocket consumers: one run (`ws/runs/<id>/`) and the team's activity (`ws/team/`).

The contract (docs/monitoring.md) in short. The client sends, right after open,
`{"type": "resume", "after_seq": N}` (0 = from the start); the run consumer
replays every stored event with seq > N from Postgres, then sends
`{"type": "replayed", "last_seq": M}` and streams live. A live event that is
not the next seq (Redis dropped one) makes the consumer read the missing range
from Postgres first, so a client receives each seq once and in order. A client
that still sees a gap asks `{"type": "fetch", "from_seq": a, "to_seq": b}`.

Authorisation happens in connect() through webapp.accounts.permissions, like the
views; group names come from the server (`run.<id>`, `team.<id>`), never the client.
The socket is accepted and then closed with 4401 (not signed in), 4403 (role too
low) or 4404 (no such run, or another team's) so that browsers see the code.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404

from webapp.accounts.models import Membership
from webapp.accounts.permissions import Action, get_for, require
from webapp.runs.events import run_group, team_group
from webapp.runs.models import Run, RunEvent

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
REPLAY_BATCH = 500  # events read from Postgres per query
FETCH_MAX = 5000  # most events one `fetch` may ask for


def event_message(event: RunEvent) -> dict[str, Any]:
    """The client shape of a stored event: {"type": "event", run_id, seq, event,
    payload, ts (ISO 8601)}."""
    return {
        "type": "event",
        "run_id": event.run_id,
        "seq": event.seq,
        "event": event.type,
        "payload": event.payload,
        "ts": event.ts.isoformat(),
    }


def _live_message(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "event",
        "run_id": message["run_id"],
        "seq": message["seq"],
        "event": message["event"],
        "payload": message["payload"],
        "ts": message["ts"],
    }


@database_sync_to_async
def _events(run_id: int, after_seq: int, to_seq: int | None, limit: int) -> list[dict[str, Any]]:
    query = RunEvent.objects.filter(run_id=run_id, seq__gt=after_seq)
    if to_seq is not None:
        query = query.filter(seq__lte=to_seq)
    return [event_message(e) for e in query.order_by("seq")[:limit]]


@database_sync_to_async
def _authorise_run(user: Any, run_id: int) -> int:
    """The run's id when `user` may view it; raises Http404 / PermissionDenied."""
    run = get_for(user, Run.objects.only("id", "team_id"), Action.VIEW, pk=run_id)
    return int(run.pk)


@database_sync_to_async
def _current_team(user: Any, session: Any) -> int:
    """The team the user works in (the session's `team_id`, else their first team),
    checked with `require(..., VIEW)`; raises Http404 when they have none."""
    memberships = Membership.objects.filter(user_id=user.pk)
    chosen = session.get("team_id") if session is not None else None
    membership = memberships.filter(team_id=chosen).first() if chosen else None
    if membership is None:
        membership = memberships.order_by("team__name", "team_id").first()
    if membership is None:
        raise Http404("No team.")
    require(user, membership.team_id, Action.VIEW)
    return int(membership.team_id)


def _int_field(content: dict[str, Any], name: str) -> int:
    value = content.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


class _Base(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def _authorised(self) -> bool:
        """Accept the socket, or close it with the right code; True when accepted."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return False
        try:
            self.group = await self.authorise(user)
        except Http404:
            await self._refuse(CLOSE_NOT_FOUND)
            return False
        except PermissionDenied:
            await self._refuse(CLOSE_FORBIDDEN)
            return False
        await self.subscribe()
        await self.accept()
        return True

    async def subscribe(self) -> None:
        assert self.group is not None
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def unsubscribe(self) -> None:
        assert self.group is not None
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def authorise(self, user: Any) -> str:
        raise NotImplementedError

    async def connect(self) -> None:
        await self._authorised()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.unsubscribe()

    async def error(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.error("expected a JSON object with a 'type'")
            return
        kind = content.get("type")
        try:
            if kind == "resume":
                await self.resume(_int_field(content, "after_seq"))
            elif kind == "fetch":
                await self.fetch(_int_field(content, "from_seq"), _int_field(content, "to_seq"))
            else:
                await self.error(f"unknown message type {kind!r} (expected resume or fetch)")
        except ValueError as exc:
            await self.error(str(exc))

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:  # json.JSONDecodeError
            await self.error("messages must be JSON")

    async def resume(self, after_seq: int) -> None:
        raise NotImplementedError

    async def fetch(self, from_seq: int, to_seq: int) -> None:
        raise NotImplementedError

    async def run_event(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    async def run_tokens(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    async def run_batch(self, message: dict[str, Any]) -> None:
        """Several live messages of one group, in order, sent as one group
        message by the publisher (webapp.runs.events): each is handled as if it
        had come alone."""
        for item in message.get("messages", []):
            if item.get("type") == "run.event":
                await self.run_event(item)
            elif item.get("type") == "run.tokens":
                await self.run_tokens(item)


class _Hub:
    """This process's viewers of each group (a run's, a team's), so an event
    crosses Redis once per process rather than once per viewer.

    The first local viewer of a run (the leader) joins the channel-layer group;
    what reaches it is queued to every local viewer, each of which handles its
    queue in its own task (a slow browser delays only itself). When the leader
    leaves, another local viewer joins the group in its place; a message lost in
    that hand-over shows as a seq gap and is read from Postgres.
    (channels_redis keeps one Redis key per process for all its sockets, with a
    capacity of 100 messages: a group message per viewer to 100 viewers of one
    run would overflow it with every event.)
    """

    def __init__(self) -> None:
        self.members: dict[str, list[Any]] = {}  # RunConsumer or TeamConsumer
        self.leaders: dict[str, Any] = {}

    async def join(self, group: str, consumer: Any) -> None:
        self.members.setdefault(group, []).append(consumer)
        if group not in self.leaders:
            self.leaders[group] = consumer
            await consumer.channel_layer.group_add(group, consumer.channel_name)

    async def leave(self, group: str, consumer: Any) -> None:
        members = self.members.get(group, [])
        if consumer in members:
            members.remove(consumer)
        if self.leaders.get(group) is not consumer:
            return
        del self.leaders[group]
        leader: Any = consumer
        await leader.channel_layer.group_discard(group, leader.channel_name)
        if members:
            successor = members[0]
            self.leaders[group] = successor
            await successor.channel_layer.group_add(group, successor.channel_name)
        else:
            self.members.pop(group, None)

    def broadcast(self, group: str, message: dict[str, Any]) -> None:
        for member in self.members.get(group, []):
            member.enqueue(message)


HUB = _Hub()
VIEWER_QUEUE_MAX = 10_000  # live messages waiting for one slow browser; beyond, dropped


class RunConsumer(_Base):
    """`ws/runs/<run_id>/`: one run's events (replayed, then live) and token deltas."""

    run_id: int = 0
    # The last seq sent to the client; None until the client's `resume` (events
    # arriving before it are in Postgres already, since they are published after
    # commit, so the replay covers them).
    last_seq: int | None = None
    queue: asyncio.Queue[dict[str, Any]] | None = None
    drainer: asyncio.Task[None] | None = None

    async def authorise(self, user: Any) -> str:
        self.run_id = await _authorise_run(user, int(self.scope["url_route"]["kwargs"]["run_id"]))
        return run_group(self.run_id)

    async def subscribe(self) -> None:
        assert self.group is not None
        self.lock = asyncio.Lock()  # one of: a replay, a fetch, a live message at a time
        self.queue = asyncio.Queue(VIEWER_QUEUE_MAX)
        self.drainer = asyncio.create_task(self._drain())
        await HUB.join(self.group, self)

    async def unsubscribe(self) -> None:
        assert self.group is not None
        await HUB.leave(self.group, self)
        if self.drainer is not None:
            self.drainer.cancel()

    def enqueue(self, message: dict[str, Any]) -> None:
        """Queue a live message for this viewer (dropped when its queue is full:
        the next event's seq gap brings it back from Postgres)."""
        if self.queue is not None:
            try:
                self.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("viewer of run %s too slow: live message dropped", self.run_id)

    async def _drain(self) -> None:
        assert self.queue is not None
        while True:
            message = await self.queue.get()
            try:
                async with self.lock:
                    if message["type"] == "run.event":
                        await self._live_event(message)
                    else:
                        await self._live_tokens(message)
            except Exception:  # a closed socket: the disconnect handler cleans up
                log.debug("could not deliver a live message to a viewer", exc_info=True)

    async def resume(self, after_seq: int) -> None:
        """Replay stored events with seq > after_seq, then report `replayed`.

        Live messages that arrive meanwhile wait in this viewer's queue (the
        replay holds its lock) and are merged by seq after."""
        async with self.lock:
            self.last_seq = after_seq
            await self._send_stored(after_seq, None)
            await self.send_json({"type": "replayed", "last_seq": self.last_seq})

    async def _send_stored(self, after_seq: int, to_seq: int | None) -> None:
        while True:
            batch = await _events(self.run_id, after_seq, to_seq, REPLAY_BATCH)
            for message in batch:
                await self.send_json(message)
            if batch:
                after_seq = batch[-1]["seq"]
                if self.last_seq is not None and after_seq > self.last_seq:
                    self.last_seq = after_seq
            if len(batch) < REPLAY_BATCH:
                return

    async def fetch(self, from_seq: int, to_seq: int) -> None:
        """Send the stored events from_seq..to_seq (inclusive), at most FETCH_MAX."""
        if from_seq < 1 or to_seq < from_seq:
            raise ValueError(f"need 1 <= from_seq <= to_seq, got {from_seq}..{to_seq}")
        if to_seq - from_seq + 1 > FETCH_MAX:
            raise ValueError(f"fetch at most {FETCH_MAX} events at once")
        async with self.lock:
            for message in await _events(self.run_id, from_seq - 1, to_seq, FETCH_MAX):
                await self.send_json(message)

    async def run_event(self, message: dict[str, Any]) -> None:
        """A live event from the channel layer (to this process's leader viewer)."""
        assert self.group is not None
        message.setdefault("text", json.dumps(_live_message(message)))  # encoded once
        HUB.broadcast(self.group, message)

    async def run_tokens(self, message: dict[str, Any]) -> None:
        """Coalesced token deltas of a running step (never stored as events)."""
        assert self.group is not None
        HUB.broadcast(self.group, message)

    async def _live_event(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        if self.last_seq is None or seq <= self.last_seq:
            return  # the replay has sent it, or will
        if seq > self.last_seq + 1:  # a message was lost: fill from Postgres
            await self._send_stored(self.last_seq, seq - 1)
        await self.send(text_data=message["text"])
        self.last_seq = seq

    async def _live_tokens(self, message: dict[str, Any]) -> None:
        if self.last_seq is None:
            return
        await self.send_json(
            {
                "type": "tokens",
                "run_id": message["run_id"],
                "step_id": message["step_id"],
                "node_id": message["node_id"],
                "text": message["text"],
            }
        )


class TeamConsumer(_Base):
    """`ws/team/`: live events of every run of the user's current team (no replay:
    the runs list is rendered from Postgres; `resume` only starts the stream).
    Fanned out per process like the run sockets (see _Hub)."""

    streaming = False
    queue: asyncio.Queue[dict[str, Any]] | None = None
    drainer: asyncio.Task[None] | None = None

    async def authorise(self, user: Any) -> str:
        team_id = await _current_team(user, self.scope.get("session"))
        return team_group(team_id)

    async def subscribe(self) -> None:
        assert self.group is not None
        self.queue = asyncio.Queue(VIEWER_QUEUE_MAX)
        self.drainer = asyncio.create_task(self._drain())
        await HUB.join(self.group, self)

    async def unsubscribe(self) -> None:
        assert self.group is not None
        await HUB.leave(self.group, self)
        if self.drainer is not None:
            self.drainer.cancel()

    def enqueue(self, message: dict[str, Any]) -> None:
        """Queue a live event for this viewer (dropped when its queue is full)."""
        if self.queue is not None and self.streaming:
            try:
                self.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("runs-list viewer too slow: live message dropped")

    async def _drain(self) -> None:
        assert self.queue is not None
        while True:
            message = await self.queue.get()
            try:
                await self.send(text_data=message["text"])
            except Exception:  # a closed socket: the disconnect handler cleans up
                log.debug("could not deliver a live message to a viewer", exc_info=True)

    async def resume(self, after_seq: int) -> None:
        self.streaming = True
        await self.send_json({"type": "replayed", "last_seq": after_seq})

    async def fetch(self, from_seq: int, to_seq: int) -> None:
        raise ValueError("fetch is for ws/runs/<id>/; reload the runs list instead")

    async def run_event(self, message: dict[str, Any]) -> None:
        """A live event from the channel layer (to this process's leader viewer)."""
        assert self.group is not None
        message.setdefault("text", json.dumps(_live_message(message)))  # encoded once
        HUB.broadcast(self.group, message)

    async def run_tokens(self, message: dict[str, Any]) -> None:
        """Token deltas go to run groups only; ignore any that reach a team group."""
