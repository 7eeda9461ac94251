"""webapp/runs/events.py's publisher: each group gets its messages in order,
several at once as "run.batch" group messages (over the real Redis layer)."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from webapp.runs import events


def event(run_id: int, seq: int, kind: str = "step.log") -> dict[str, Any]:
    return {"type": "run.event", "run_id": run_id, "seq": seq, "event": kind, "payload": {}}


def test_messages_go_to_each_group_in_order_batched_at_most_batch_max() -> None:
    layer = get_channel_layer()
    assert layer is not None
    run_id, team_id = 91_001, 91_002
    count = events.BATCH_MAX + 5

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        run_channel, team_channel = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(events.run_group(run_id), run_channel)
        await layer.group_add(events.team_group(team_id), team_channel)
        batch: list[tuple[dict[str, Any], int, int | None]] = [
            (event(run_id, seq), run_id, None) for seq in range(1, count)
        ]
        batch.append((event(run_id, count, "run.succeeded"), run_id, team_id))
        await events._send(layer, batch)
        run_messages = [await layer.receive(run_channel), await layer.receive(run_channel)]
        team_message = await layer.receive(team_channel)
        await layer.group_discard(events.run_group(run_id), run_channel)
        await layer.group_discard(events.team_group(team_id), team_channel)
        return run_messages, [team_message]

    run_messages, team_messages = async_to_sync(scenario)()
    assert [m["type"] for m in run_messages] == ["run.batch", "run.batch"]
    first, second = (m["messages"] for m in run_messages)
    assert len(first) == events.BATCH_MAX
    assert [m["seq"] for m in first + second] == list(range(1, count + 1))
    # A group with one message gets it alone: no batch wrapper.
    assert team_messages == [event(run_id, count, "run.succeeded")]


def test_the_publisher_sends_what_is_submitted_within_linger_together() -> None:
    """Two commits' messages submitted back to back reach the group as one
    "run.batch" (the publisher gathers for LINGER_S), in order."""
    layer = get_channel_layer()
    assert layer is not None
    run_id = 91_003

    async def scenario() -> list[dict[str, Any]]:
        channel = await layer.new_channel()
        await layer.group_add(events.run_group(run_id), channel)
        events.publish_many([(event(run_id, 1), run_id, None)])
        await asyncio.sleep(0.005)  # (< LINGER_S; without gathering, 1 would go alone)
        events.publish_many([(event(run_id, 2), run_id, None), (event(run_id, 3), run_id, None)])
        received = [await asyncio.wait_for(layer.receive(channel), 5)]
        try:  # nothing else follows
            received.append(await asyncio.wait_for(layer.receive(channel), 0.3))
        except TimeoutError:
            pass
        await layer.group_discard(events.run_group(run_id), channel)
        return received

    received = async_to_sync(scenario)()
    assert [m["type"] for m in received] == ["run.batch"]
    assert [m["seq"] for m in received[0]["messages"]] == [1, 2, 3]
    assert events.drain(5)
