"""The Simulator: a fake OpenAI- and Anthropic-compatible LLM server.

Run it with::

    python -m orchestration.testing.fakellm --host 127.0.0.1 --port 8765 \\
        [--latency-ms 200] [--tokens-per-second 200] [--script rules.json]

It is a raw ASGI app (no web framework) served by uvicorn; every request is a
coroutine and waits with asyncio sleeps, so one process holds thousands of
concurrent requests. Endpoints: `POST /v1/chat/completions` (OpenAI, streamed or
not), `POST /v1/messages` (Anthropic, streamed or not), `GET /v1/models`,
`GET /_fake/health`, `GET /_fake/stats`, `POST /_fake/reset`. Replies are
deterministic (see fake_formats.make_reply) and scripted per request with
`[[fake:...]]` directives (fake_behaviour). Every response carries the header
`x-simulated: true`. docs/fakellm.md is the user's guide.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from orchestration.testing.fake_behaviour import (
    Behaviour,
    FailureCounters,
    Rule,
    load_rules,
    resolve,
)
from orchestration.testing.fake_formats import (
    Conversation,
    Reply,
    anthropic_error,
    anthropic_events,
    anthropic_response,
    make_reply,
    openai_chunks,
    openai_error,
    openai_response,
    parse_anthropic,
    parse_openai,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODELS = ("sim-small", "sim-large")
DEFAULT_RETRY_AFTER_S = 1.0
# Streamed words are grouped so that one chunk is sent at most every ~20 ms: at
# high tokens-per-second and thousands of streams, one timer per word would cost
# more CPU than the rest of the server.
_MIN_CHUNK_INTERVAL_S = 0.02
_BASE_HEADERS = [(b"x-simulated", b"true")]


@dataclass
class Stats:
    """Counters since start or the last reset: API requests received, requests
    in progress now and at most, and responses sent by HTTP status."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def begin(self) -> None:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        self.in_flight -= 1

    def answered(self, status: int) -> None:
        self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1

    def reset(self) -> None:
        self.requests, self.by_status = 0, {}
        self.max_in_flight = self.in_flight

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "by_status": dict(self.by_status),
        }


class _ClientGone(Exception):
    """The client closed the connection before the response was complete."""


class _Connection:
    """Watches for the client going away while a response is being prepared."""

    def __init__(self, receive: Receive) -> None:
        self.gone = asyncio.Event()
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone.set()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`; raises _ClientGone as soon as the client leaves."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gone.wait(), seconds)
        if self.gone.is_set():
            raise _ClientGone

    def close(self) -> None:
        self._watcher.cancel()


def _headers(content_type: bytes, extra: Iterable[tuple[bytes, bytes]] = ()) -> list[Any]:
    return [(b"content-type", content_type), *_BASE_HEADERS, *extra]


async def _send_json(
    send: Send, status: int, payload: Any, extra: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps(payload).encode()
    headers = _headers(b"application/json", [(b"content-length", str(len(body)).encode()), *extra])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class FakeLLM:
    """The Simulator as an ASGI application.

    `defaults` is the Behaviour of a request without directives or matching
    rules; `rules` are `--script` rules (first match wins).
    """

    def __init__(self, defaults: Behaviour | None = None, rules: tuple[Rule, ...] = ()) -> None:
        self.defaults = defaults or Behaviour()
        self.rules = rules
        self.stats = Stats()
        self.failures = FailureCounters()
        self._ids = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"].rstrip("/")
        if path in ("/v1/chat/completions", "/v1/messages"):
            if method != "POST":
                await _send_json(send, 405, openai_error(405, f"{method} {path}: use POST"))
                return
            await self._api(path == "/v1/messages", receive, send)
            return
        routes: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "/_fake/health"): lambda: {"status": "ok"},
            ("GET", "/_fake/stats"): self.stats.as_json,
            ("POST", "/_fake/reset"): self._reset,
            ("GET", "/v1/models"): lambda: {"object": "list", "data": [_model(m) for m in MODELS]},
        }
        if (method, path) in routes:
            await _send_json(send, 200, routes[(method, path)]())
        elif method == "GET" and path.startswith("/v1/models/"):
            await _send_json(send, 200, _model(path.removeprefix("/v1/models/")))
        else:
            await _send_json(send, 404, openai_error(404, f"no route {method} {path}"))

    def _reset(self) -> dict[str, str]:
        self.stats.reset()
        self.failures.reset()
        return {"status": "reset"}

    async def _api(self, anthropic: bool, receive: Receive, send: Send) -> None:
        self.stats.begin()
        connection: _Connection | None = None
        try:
            raw = await _read_body(receive)
            connection = _Connection(receive)
            await self._answer(anthropic, raw, connection, send)
        except _ClientGone:
            pass
        finally:
            if connection is not None:
                connection.close()
            self.stats.end()

    async def _answer(
        self, anthropic: bool, raw: bytes, connection: _Connection, send: Send
    ) -> None:
        error_body = anthropic_error if anthropic else openai_error
        try:
            conversation = (parse_anthropic if anthropic else parse_openai)(json.loads(raw))
            behaviour = resolve(
                self.defaults, self.rules, conversation.last_user, conversation.texts
            )
        except ValueError as exc:  # bad JSON, BadRequest, DirectiveError
            self.stats.answered(400)
            await _send_json(send, 400, error_body(400, f"simulated: {exc}"))
            return
        if behaviour.hang:
            await connection.gone.wait()
            raise _ClientGone
        await connection.sleep(behaviour.latency_ms / 1000)
        if behaviour.error is not None and self.failures.should_fail(behaviour):
            await self._fail(behaviour, error_body, send)
            return
        reply = make_reply(conversation, behaviour)
        self._ids += 1
        self.stats.answered(200)
        if not conversation.stream:
            model = conversation.model
            payload = (
                anthropic_response(reply, model, f"msg_sim{self._ids:08d}")
                if anthropic
                else openai_response(reply, model, f"chatcmpl-sim{self._ids:08d}", int(time.time()))
            )
            await _send_json(send, 200, payload)
            return
        await self._stream(anthropic, conversation, reply, behaviour, connection, send)

    async def _fail(
        self, behaviour: Behaviour, error_body: Callable[[int, str], Any], send: Send
    ) -> None:
        status = behaviour.error or 500
        retry_after = behaviour.retry_after
        if retry_after is None and status in (429, 503):
            retry_after = DEFAULT_RETRY_AFTER_S
        extra = []
        if retry_after is not None:
            extra = [
                (b"retry-after", f"{retry_after:g}".encode()),
                (b"retry-after-ms", f"{retry_after * 1000:g}".encode()),
            ]
        self.stats.answered(status)
        await _send_json(send, status, error_body(status, f"simulated error {status}"), extra)

    async def _stream(
        self,
        anthropic: bool,
        conversation: Conversation,
        reply: Reply,
        behaviour: Behaviour,
        connection: _Connection,
        send: Send,
    ) -> None:
        per_chunk = max(1, math.ceil(behaviour.tps * _MIN_CHUNK_INTERVAL_S))
        interval = per_chunk / behaviour.tps if behaviour.tps > 0 else 0.0
        events: Iterable[tuple[str | None, Any, bool]]
        if anthropic:
            ident = f"msg_sim{self._ids:08d}"
            events = anthropic_events(reply, conversation.model, ident, per_chunk=per_chunk)
        else:
            ident, created = f"chatcmpl-sim{self._ids:08d}", int(time.time())
            chunks = openai_chunks(
                reply,
                conversation.model,
                ident,
                created,
                include_usage=conversation.include_usage,
                per_chunk=per_chunk,
            )
            events = ((None, data, paced) for data, paced in chunks)
        headers = _headers(b"text/event-stream", [(b"cache-control", b"no-cache")])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        first_token = True
        for name, data, paced in events:
            if paced and not first_token and interval:
                await asyncio.sleep(interval)
                if connection.gone.is_set():
                    raise _ClientGone
            first_token = first_token and not paced
            prefix = f"event: {name}\n" if name else ""
            body = f"{prefix}data: {json.dumps(data)}\n\n".encode()
            await send({"type": "http.response.body", "body": body, "more_body": True})
        tail = b"" if anthropic else b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail, "more_body": False})


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "quorum-simulator"}


def _raise_open_files_limit() -> None:
    """Each concurrent request holds a socket: lift the soft limit to the hard one."""
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.testing.fakellm",
        description="Simulator: a fake OpenAI/Anthropic-compatible LLM server (simulated output).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before the first token"
    )
    parser.add_argument(
        "--tokens-per-second", type=float, default=0.0, help="streaming pace (0: unpaced)"
    )
    parser.add_argument("--script", help="JSON list of rules {match, reply, latency_ms, error...}")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    rules = load_rules(args.script) if args.script else ()
    defaults = Behaviour(latency_ms=args.latency_ms, tps=args.tokens_per_second)
    _raise_open_files_limit()

    import uvicorn

    uvicorn.run(
        FakeLLM(defaults, rules),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
        backlog=16384,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
