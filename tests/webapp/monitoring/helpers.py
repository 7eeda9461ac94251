"""Helpers for monitoring tests: runs with stored events, signed-in WebSocket clients."""

from __future__ import annotations

from typing import Any

from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client

from orchestration.events import EventType
from tests.webapp.runs.helpers import edge, graph, node, publish
from webapp.accounts.models import Team
from webapp.asgi import application
from webapp.runs.events import append_event
from webapp.runs.models import Run


def make_run(team: Team, name: str = "Chain") -> Run:
    """A queued run of a published input -> output workflow, with no steps yet
    (nothing is enqueued: these tests drive the events themselves)."""
    doc = graph([node("in", "input"), node("out", "output")], [edge("in", "out", "out", "in")])
    version = publish(team, name, doc)
    return Run.objects.create(team=team, workflow=version.workflow, version=version)


def add_events(run: Run, count: int, type: EventType = EventType.STEP_LOG) -> None:
    """Append `count` events in one transaction (run row locked, published after
    commit, exactly as the engine does)."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        for i in range(count):
            append_event(locked, type, {"node_id": "in", "message": f"line {i}"})


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def communicator(
    path: str, user: User | None, origin: str = "http://testserver"
) -> WebsocketCommunicator:
    """A client of the full ASGI stack (Origin check, session auth, routing)."""
    headers: list[tuple[bytes, bytes]] = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if user is not None:
        headers.append((b"cookie", f"sessionid={session_cookie(user)}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def receive_until(comm: WebsocketCommunicator, kind: str, timeout: float = 5) -> list[Any]:
    """Every JSON message up to and including the first of type `kind`."""
    messages = []
    while True:
        message = await comm.receive_json_from(timeout=timeout)
        messages.append(message)
        if message["type"] == kind:
            return messages
