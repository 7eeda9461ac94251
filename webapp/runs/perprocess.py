"""One instance per process of a service that owns a thread (the event
publisher, the group committer, the supervisor, the io runner)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


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
