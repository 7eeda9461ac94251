"""`fake_llm`: the bundled fake OpenAI-compatible server in a subprocess, over real HTTP.

It is started as users start it (`python -m orchestration.testing.fakellm --port N`)
and answers on `<url>/v1/...`; `GET <url>/_fake/health` says it is up.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_fakellm(*options: str) -> Iterator[str]:
    """Start `python -m orchestration.testing.fakellm` with `options` on a free
    port, yield its base URL once healthy, stop it afterwards. Raises
    RuntimeError when it does not answer within 20 s."""
    port = _free_port()
    command = [sys.executable, "-m", "orchestration.testing.fakellm"]
    command += ["--host", "127.0.0.1", "--port", str(port), *options]
    proc = subprocess.Popen(command, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/_fake/health", timeout=1)  # noqa: S310 (our server)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the fake LLM server did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[str]:
    """Base URL of the running fake server, e.g. "http://127.0.0.1:41234"."""
    with running_fakellm() as url:
        yield url
