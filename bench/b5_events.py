"""B5b: event latency from publish to a WebSocket viewer, with 1 and 100 viewers.

    python -m bench.b5_events [--viewers 1 100] [--events 300] [--rate 50]

Starts the real ASGI server (uvicorn, webapp.asgi) on the bench database
(`quorum_b5`) and Redis database 10, signs in a user (a real session cookie),
and opens `--viewers` real WebSocket clients (the `websockets` package) on
`ws/runs/<id>/` of one run, each sending `resume` as the run page does. A
publisher thread then appends `--events` events to the run at `--rate` a second
with the engine's own `append_event` (one transaction each, published after
commit to the channel layer), stamping `time.time()` into the payload just before
the commit. Each viewer records receipt time minus that stamp (ms, one machine's
clock) and checks it received every seq once and in order.

Prints p50/p99/max latency per viewer count, missed and duplicated events, and
the RATIO p99 / 100 ms target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from typing import Any

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://localhost:5432/quorum_b5")
os.environ.setdefault("BENCH_REDIS_URL", "redis://localhost:6379/10")

from bench import harness

TARGET_P99_MS = 100.0


def start_server(services: harness.Services) -> str:
    port = harness.free_port()
    command = [
        sys.executable, "-m", "uvicorn", "webapp.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    proc = services._spawn("uvicorn", command, {"ALLOWED_HOSTS": "127.0.0.1,localhost"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)  # noqa: S310 (ours)
            return url
        except OSError:
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start; see {proc.log.name}") from None
            time.sleep(0.2)


def setup_run() -> tuple[int, str]:
    """A run of a tiny workflow (no steps are executed) and a session cookie of a
    member of its team."""
    from django.contrib.auth.models import User
    from django.test import Client

    from webapp.accounts.models import Membership, Role
    from webapp.runs.models import Run

    team = harness.bench_team()
    user, _ = User.objects.get_or_create(username="b5-viewer")
    Membership.objects.get_or_create(user=user, team=team, defaults={"role": Role.VIEWER})
    doc = harness.graph(
        [harness.node("in", "input"), harness.node("out", "output")],
        [harness.edge("in", "out", "out", "in")],
    )
    version = harness.publish(team, "b5-events", doc)
    run = Run.objects.create(team=team, workflow=version.workflow, version=version)
    client = Client()
    client.force_login(user)
    return int(run.pk), client.cookies["sessionid"].value


def publish(run_id: int, events: int, rate: float, done: threading.Event) -> None:
    """Append `events` events at `rate` per second, each in its own transaction."""
    from django.db import connection, transaction

    from orchestration.events import EventType
    from webapp.runs.events import append_event
    from webapp.runs.models import Run

    try:
        interval = 1 / rate
        next_at = time.monotonic()
        for i in range(events):
            with transaction.atomic():
                run = Run.objects.select_for_update().get(pk=run_id)
                append_event(run, EventType.STEP_LOG, {"i": i, "sent": time.time()})
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        connection.close()
        done.set()


class Viewer:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.seqs: list[int] = []


async def view(url: str, cookie: str, run_id: int, viewer: Viewer, ready: Any, stop: Any) -> None:
    import websockets

    ws_url = url.replace("http://", "ws://") + f"/ws/runs/{run_id}/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": url}
    async with websockets.connect(ws_url, additional_headers=headers, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "replayed":
                break
        ready.release()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            received = time.time()
            message = json.loads(raw)
            if message["type"] == "event":
                viewer.seqs.append(message["seq"])
                viewer.latencies_ms.append((received - message["payload"]["sent"]) * 1000)


async def measure(url: str, cookie: str, viewers: int, events: int, rate: float) -> dict[str, Any]:
    run_id, cookie = await asyncio.to_thread(setup_run)
    clients = [Viewer() for _ in range(viewers)]
    ready = asyncio.Semaphore(0)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(view(url, cookie, run_id, v, ready, stop)) for v in clients]
    for _ in clients:
        await asyncio.wait_for(ready.acquire(), 60)
    done = threading.Event()
    publisher = threading.Thread(target=publish, args=(run_id, events, rate, done))
    publisher.start()
    await asyncio.to_thread(done.wait)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(len(v.seqs) < events for v in clients):
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks)
    latencies = sorted(x for v in clients for x in v.latencies_ms)
    expected = list(range(1, events + 1))
    missed = sum(len(set(expected) - set(v.seqs)) for v in clients)
    duplicated = sum(len(v.seqs) - len(set(v.seqs)) for v in clients)
    out_of_order = sum(v.seqs != sorted(v.seqs) for v in clients)
    return {
        "viewers": viewers,
        "received": len(latencies),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "missed": missed,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    args = parser.parse_args()
    harness.configure()
    harness.flush_broker()
    print(harness.machine())
    rows = []
    with harness.Services() as services:
        url = start_server(services)
        for viewers in args.viewers:
            result = asyncio.run(measure(url, "", viewers, args.events, args.rate))
            rows.append(result)
            print(
                f"{viewers} viewers: p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
                f"max {result['max']:.1f} ms, missed {result['missed']}, "
                f"duplicated {result['duplicated']}, out of order {result['out_of_order']}",
                flush=True,
            )
    print()
    print(
        harness.table(
            ["viewers", "events received", "p50 ms", "p99 ms", "max ms", "missed", "dup"],
            [
                [
                    str(r["viewers"]),
                    str(r["received"]),
                    f"{r['p50']:.1f}",
                    f"{r['p99']:.1f}",
                    f"{r['max']:.1f}",
                    str(r["missed"]),
                    str(r["duplicated"]),
                ]
                for r in rows
            ],
        )
    )
    worst = max(r["p99"] for r in rows)
    print(f"\nRATIO p99/target: {worst / TARGET_P99_MS:.2f} (worst p99 {worst:.1f} ms)")
    print("zero missed events" if not any(r["missed"] for r in rows) else "EVENTS MISSED")


if __name__ == "__main__":
    main()
