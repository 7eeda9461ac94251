"""The WebSocket contract of ws/runs/<id>/ and ws/team/ over the real stack:
session auth, Origin check, Postgres replay and the Redis channel layer."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from orchestration.events import EventType
from tests.conftest import Personas
from tests.webapp.monitoring.helpers import add_events, communicator, make_run, receive_until
from webapp.runs.events import run_group
from webapp.runs.models import RunEvent

pytestmark = pytest.mark.django_db(transaction=True)


def layer() -> Any:
    channel_layer = get_channel_layer()
    assert channel_layer is not None
    return channel_layer


def run_async(coroutine_fn: Any) -> Any:
    return async_to_sync(coroutine_fn)()


async def closed_with(comm: Any) -> int | None:
    """Connect and return the close code the server ends the socket with."""
    connected, code = await comm.connect()
    if not connected:
        return int(code) if code is not None else None
    message = await comm.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return int(message["code"])


def test_anonymous_is_refused_with_4401(personas: Personas) -> None:
    run = make_run(personas.team_a)

    run_comm = communicator(f"/ws/runs/{run.pk}/", None)
    team_comm = communicator("/ws/team/", None)

    async def scenario() -> None:
        assert await closed_with(run_comm) == 4401
        assert await closed_with(team_comm) == 4401

    run_async(scenario)


def test_bad_origin_is_refused(personas: Personas) -> None:
    run = make_run(personas.team_a)

    comm = communicator(f"/ws/runs/{run.pk}/", personas.owner_a, origin="https://evil.example")

    async def scenario() -> None:
        connected, _ = await comm.connect()
        assert not connected

    run_async(scenario)


def test_another_teams_run_and_a_missing_run_are_4404(personas: Personas) -> None:
    run = make_run(personas.team_a)

    other_team = communicator(f"/ws/runs/{run.pk}/", personas.member_b)
    missing = communicator(f"/ws/runs/{run.pk + 1000}/", personas.owner_a)

    async def scenario() -> None:
        assert await closed_with(other_team) == 4404
        assert await closed_with(missing) == 4404

    run_async(scenario)


def test_replay_from_a_seq_then_live_after_commit(personas: Personas) -> None:
    run = make_run(personas.team_a)
    add_events(run, 5)

    comm = communicator(f"/ws/runs/{run.pk}/", personas.viewer_a)

    async def scenario() -> None:
        connected, _ = await comm.connect()
        assert connected
        await comm.send_json_to({"type": "resume", "after_seq": 2})
        messages = await receive_until(comm, "replayed")
        assert [m["seq"] for m in messages[:-1]] == [3, 4, 5]
        assert messages[0] == {
            "type": "event",
            "run_id": run.pk,
            "seq": 3,
            "event": "step.log",
            "payload": {"node_id": "in", "message": "line 2"},
            "ts": messages[0]["ts"],
        }
        assert messages[-1] == {"type": "replayed", "last_seq": 5}

        # An event committed now reaches the socket through the channel layer.
        await database_sync_to_async(add_events)(run, 2)
        live = [await comm.receive_json_from(timeout=5) for _ in range(2)]
        assert [(m["type"], m["seq"]) for m in live] == [("event", 6), ("event", 7)]
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    run_async(scenario)


def test_resume_from_zero_replays_everything(personas: Personas) -> None:
    run = make_run(personas.team_a)
    add_events(run, 3)

    comm = communicator(f"/ws/runs/{run.pk}/", personas.owner_a)

    async def scenario() -> None:
        await comm.connect()
        await comm.send_json_to({"type": "resume", "after_seq": 0})
        messages = await receive_until(comm, "replayed")
        assert [m.get("seq") for m in messages] == [1, 2, 3, None]
        await comm.disconnect()

    run_async(scenario)


def test_a_lost_live_message_is_filled_from_postgres(personas: Personas) -> None:
    """Redis dropping event 2 must not leave a gap: when 3 arrives live, the
    consumer reads 2 from Postgres first, so the client gets 2, 3 in order."""
    run = make_run(personas.team_a)
    add_events(run, 1)

    comm = communicator(f"/ws/runs/{run.pk}/", personas.owner_a)

    async def scenario() -> None:
        await comm.connect()
        await comm.send_json_to({"type": "resume", "after_seq": 0})
        await receive_until(comm, "replayed")

        # Store events 2 and 3, but publish only 3 (as if Redis lost 2).
        await database_sync_to_async(_store_silently)(run.pk, [2, 3])
        event = await database_sync_to_async(RunEvent.objects.get)(run=run, seq=3)
        await layer().group_send(
            run_group(run.pk),
            {
                "type": "run.event",
                "run_id": run.pk,
                "seq": 3,
                "event": event.type,
                "payload": event.payload,
                "ts": event.ts.isoformat(),
            },
        )
        got = [await comm.receive_json_from(timeout=5) for _ in range(2)]
        assert [m["seq"] for m in got] == [2, 3]
        await comm.disconnect()

    run_async(scenario)


def _store_silently(run_id: int, seqs: list[int]) -> None:
    from webapp.runs.models import Run

    for seq in seqs:
        RunEvent.objects.create(run_id=run_id, seq=seq, type="step.log", payload={"n": seq})
    Run.objects.filter(pk=run_id).update(event_seq=max(seqs))


def test_client_fetch_fills_a_gap(personas: Personas) -> None:
    run = make_run(personas.team_a)
    add_events(run, 6)

    comm = communicator(f"/ws/runs/{run.pk}/", personas.owner_a)

    async def scenario() -> None:
        await comm.connect()
        await comm.send_json_to({"type": "resume", "after_seq": 6})
        assert await comm.receive_json_from(timeout=5) == {"type": "replayed", "last_seq": 6}
        await comm.send_json_to({"type": "fetch", "from_seq": 2, "to_seq": 4})
        got = [await comm.receive_json_from(timeout=5) for _ in range(3)]
        assert [m["seq"] for m in got] == [2, 3, 4]
        assert await comm.receive_nothing(timeout=0.2)
        await comm.disconnect()

    run_async(scenario)


def test_bad_messages_get_a_clear_error(personas: Personas) -> None:
    run = make_run(personas.team_a)

    comm = communicator(f"/ws/runs/{run.pk}/", personas.owner_a)

    async def scenario() -> None:
        await comm.connect()
        await comm.send_json_to({"type": "resume", "after_seq": -1})
        error = await comm.receive_json_from(timeout=5)
        assert error == {
            "type": "error",
            "message": "after_seq must be a non-negative integer, got -1",
        }
        await comm.send_json_to({"type": "fetch", "from_seq": 5, "to_seq": 2})
        assert "from_seq <= to_seq" in (await comm.receive_json_from(timeout=5))["message"]
        await comm.send_json_to({"type": "subscribe", "group": "team.2"})
        assert "unknown message type" in (await comm.receive_json_from(timeout=5))["message"]
        await comm.send_to(text_data="not json")
        assert (await comm.receive_json_from(timeout=5))["message"] == "messages must be JSON"
        await comm.disconnect()

    run_async(scenario)


def test_tokens_are_forwarded_after_resume(personas: Personas) -> None:
    run = make_run(personas.team_a)

    comm = communicator(f"/ws/runs/{run.pk}/", personas.owner_a)

    async def scenario() -> None:
        await comm.connect()
        await comm.send_json_to({"type": "resume", "after_seq": 0})
        await receive_until(comm, "replayed")
        tokens = {"run_id": run.pk, "step_id": 7, "node_id": "writer", "text": "Hel"}
        await layer().group_send(run_group(run.pk), {"type": "run.tokens", **tokens})
        assert await comm.receive_json_from(timeout=5) == {"type": "tokens", **tokens}
        await comm.disconnect()

    run_async(scenario)


def test_team_stream_carries_only_the_current_teams_runs(personas: Personas) -> None:
    run_a = make_run(personas.team_a, "A flow")
    run_b = make_run(personas.team_b, "B flow")

    comm_a = communicator("/ws/team/", personas.viewer_a)
    comm_b = communicator("/ws/team/", personas.member_b)

    async def scenario() -> None:
        for comm in (comm_a, comm_b):
            connected, _ = await comm.connect()
            assert connected
            await comm.send_json_to({"type": "resume", "after_seq": 0})
            assert (await comm.receive_json_from(timeout=5))["type"] == "replayed"
        await database_sync_to_async(add_events)(run_a, 1, EventType.RUN_STARTED)
        message = await comm_a.receive_json_from(timeout=5)
        assert (message["type"], message["run_id"], message["seq"]) == ("event", run_a.pk, 1)
        assert await comm_b.receive_nothing(timeout=0.3)
        await database_sync_to_async(add_events)(run_a, 1)  # a step's event: run page only
        assert await comm_a.receive_nothing(timeout=0.3)
        await database_sync_to_async(add_events)(run_b, 1, EventType.RUN_STARTED)
        assert (await comm_b.receive_json_from(timeout=5))["run_id"] == run_b.pk
        assert await comm_a.receive_nothing(timeout=0.3)
        for comm in (comm_a, comm_b):
            await comm.disconnect()

    run_async(scenario)


def test_many_viewers_share_one_subscription_and_survive_the_leader_leaving(
    personas: Personas,
) -> None:
    run = make_run(personas.team_a)
    comms = [communicator(f"/ws/runs/{run.pk}/", personas.owner_a) for _ in range(3)]

    async def scenario() -> None:
        for comm in comms:
            await comm.connect()
            await comm.send_json_to({"type": "resume", "after_seq": 0})
            await receive_until(comm, "replayed")
        await database_sync_to_async(add_events)(run, 2)
        for comm in comms:
            got = [await comm.receive_json_from(timeout=5) for _ in range(2)]
            assert [m["seq"] for m in got] == [1, 2]
        await comms[0].disconnect()  # the viewer holding the group subscription
        await database_sync_to_async(add_events)(run, 1)
        for comm in comms[1:]:
            assert (await comm.receive_json_from(timeout=5))["seq"] == 3
            await comm.disconnect()

    run_async(scenario)
