"""The io runner: one event loop per worker process runs every io step's node.

The io worker is a Celery threads pool (the Procfile's `--pool threads`): a
delivery's thread claims its step, hands the node's coroutine to this process's
event loop (a daemon thread running `loop.run_forever()`), waits for the
outcome, records it and acknowledges the message. So every LLM and HTTP call in
flight in the process shares one loop, instead of one `asyncio.run` loop per
thread, each with its own selector, executor threads and connections: at 200
steps in flight the per-thread loops cost more CPU than the calls themselves
(docs/benchmarks.md, B2). A waiting delivery thread holds no database
connection and does not compete for the GIL, so the pool's concurrency (the
steps in flight per process) can be raised to the number of calls the process
should keep open (QUORUM_IO_CONCURRENCY).

cpu steps run on a loop of their own thread, in their own process (prefork): a
CPU-bound node on a shared loop would stall every call in flight.

Measured choice (B2, docs/benchmarks.md): Celery's threads pool with this
runner, against threads with a loop per step, prefork and gevent (which cannot
run the sync ORM and asyncio together).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from webapp.runs.perprocess import PerProcess

T = TypeVar("T")


class Runner:
    """A daemon thread running one event loop; `run(coro)` runs a coroutine on
    it from any other thread and returns its result (or raises its error)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="quorum-io-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


_runner = PerProcess(Runner)


def runner() -> Runner:
    """This process's runner (a new one after a fork)."""
    return _runner.get()


_local = threading.local()


def run(coro: Coroutine[Any, Any, T], *, shared: bool) -> T:
    """Run `coro` to completion: on the process's shared loop (`shared`, io
    steps) or on the calling thread's own loop (cpu steps), kept for the
    thread's next step (a new loop per step cost ~0.5 ms: its selector and
    self-pipe, B1 in docs/benchmarks.md). The own loop runs the coroutine with
    `run_until_complete`, not `asyncio.Runner.run`: that one installs and
    restores a SIGINT handler on every call in the main thread (a prefork
    worker's), ~0.2 ms per step, and Celery owns the worker's signals."""
    if shared:
        return runner().run(coro)
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed() or getattr(_local, "pid", None) != os.getpid():
        loop = _local.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # (as asyncio.Runner did: the thread's current loop)
        _local.pid = os.getpid()
    return loop.run_until_complete(coro)
