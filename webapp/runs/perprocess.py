"""One instance per process of a service that owns a thread (the event
publisher, the group committer, the supervisor, the io runner), and the
process's Redis client."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import redis
from django.conf import settings


class _ThreadService(Protocol):
    pid: int  # the process that made it
    thread: threading.Thread


S = TypeVar("S", bound=_ThreadService)


class PerProcess(Generic[S]):
    """`get()` returns this process's instance, made by `factory` on first use,
    and made again in a forked child (the parent's thread did not survive the
    fork) or if its thread died."""

    def __init__(self, factory: Callable[[], S]) -> None:
        self.factory = factory
        self.current: S | None = None
        self.lock = threading.Lock()

    def _usable(self) -> bool:
        current = self.current
        return current is not None and current.pid == os.getpid() and current.thread.is_alive()

    def get(self) -> S:
        if not self._usable():
            with self.lock:
                if not self._usable():
                    self.current = self.factory()
        assert self.current is not None
        return self.current

    def peek(self) -> S | None:
        """The instance of this process, if one was made (None otherwise)."""
        current = self.current
        return current if current is not None and current.pid == os.getpid() else None


_clients: dict[tuple[int, str], Any] = {}


def redis_client() -> Any:
    """This process's client for REDIS_URL (thread-safe, pooled connections: a
    new client per call cost a connection and ~1 ms of CPU each time)."""
    key = (os.getpid(), settings.REDIS_URL)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(settings.REDIS_URL)
    return client
