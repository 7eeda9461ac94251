"""The call policy both providers share: retries, the concurrency limit, HTTP plumbing.

- `call_with_retries` runs one attempt after another: 429, 408, 5xx, connection
  errors and timeouts are retried up to `max_retries` times, waiting what the
  server asked for (`retry-after-ms`, `Retry-After`) or else an exponential
  backoff with full jitter, `uniform(0, min(cap, base * 2**retry))` (Marc Brooker,
  "Exponential Backoff and Jitter", AWS Architecture Blog, 2015). The SDKs' own
  retries are off (`max_retries=0`) so that ours are counted in `LLMCall.retries`.
- `concurrency_slot(config)` holds one of `config.max_concurrency` process-wide
  slots. Celery tasks may each run their own event loop (`asyncio.run`) in their
  own thread, so the limit is a `ProcessSemaphore`: a lock-protected counter
  whose waiters are futures on their own loops, woken thread-safely. Waiting
  blocks no loop and polls nothing; a cancelled waiter gives its slot back.
- `http_client_kwargs()` shares one TLS context between the per-call SDK clients
  (building one costs ~25 ms of CPU, more than a simulated call).

Error messages name the provider, the model and the HTTP status; they never
contain the API key (`redact` masks it and key-like strings in server text).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import re
import ssl
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar

from orchestration.providers.base import ProviderConfig, ProviderError

T = TypeVar("T")
ExceptionTypes = type[Exception] | tuple[type[Exception], ...]

_KEY_LIKE = re.compile(r"\b(sk|pk|key|ak|api)[-_][A-Za-z0-9_\-*.]{6,}", re.IGNORECASE)
_MAX_SERVER_TEXT = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts, in seconds.

    base_s / cap_s: the full-jitter backoff `uniform(0, min(cap_s, base_s * 2**n))`
    before retry n (0-based); max_retry_after_s: the longest server-requested
    wait honoured (longer requests wait this long).
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 60.0


@dataclass(frozen=True)
class Failure:
    """One failed attempt, classified. `reason` is safe to show (no secrets);
    `retry_after_s` is the server's requested wait in seconds, if any."""

    retryable: bool
    reason: str
    status: int | None = None
    retry_after_s: float | None = None


def retryable_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying: 408, 429 and every 5xx."""
    return status in (408, 429) or status >= 500


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The wait a response asks for, in seconds: `retry-after-ms` (milliseconds)
    first, then `Retry-After` (seconds or an HTTP date). None when absent or bad."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(millis) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_s(retry: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Full-jitter backoff before retry number `retry` (0-based), in seconds."""
    ceiling = min(policy.cap_s, policy.base_s * (2**retry))
    return (rng or random).uniform(0, ceiling)


def redact(text: str, secret: str | None) -> str:
    """`text` with `secret` and anything that looks like an API key masked,
    cut to a readable length."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    text = _KEY_LIKE.sub(lambda m: f"{m.group(1)}-***", text)
    return text if len(text) <= _MAX_SERVER_TEXT else text[:_MAX_SERVER_TEXT] + "..."


def describe_status(status: int) -> str:
    """ "HTTP 429 Too Many Requests"."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    classify: Callable[[Exception], Failure | None],
    what: str,
    max_retries: int,
    policy: RetryPolicy | None = None,
) -> tuple[T, int]:
    """Run `attempt` until it succeeds; returns (its result, retries made).

    `classify` turns an exception into a Failure (None: not ours, re-raised
    as is); `what` names the call in messages ("provider 'X', model 'm'").
    Raises ProviderError(retryable=False) at once for a non-retryable failure,
    ProviderError(retryable=True) when `max_retries` retries all failed, and
    asyncio.CancelledError when cancelled (also during a backoff wait).
    """
    policy = policy or RetryPolicy()
    retries = 0
    while True:
        try:
            return await attempt(), retries
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if not failure.retryable:
                message = f"{what}: {failure.reason}"
                raise ProviderError(message, retryable=False, status=failure.status) from None
            if retries >= max_retries:
                tries = "retry" if retries == 1 else "retries"
                message = f"{what}: {failure.reason}; gave up after {retries} {tries}"
                raise ProviderError(message, retryable=True, status=failure.status) from None
            delay = failure.retry_after_s
            if delay is None:
                delay = backoff_s(retries, policy)
            retries += 1
            await asyncio.sleep(min(delay, policy.max_retry_after_s))


def classify_sdk_error(
    exc: Exception,
    *,
    status_error: ExceptionTypes,
    connection_error: ExceptionTypes,
    timeout_error: ExceptionTypes,
    sdk_error: ExceptionTypes,
    secret: str | None,
    timeout_s: float | None = None,
) -> Failure | None:
    """A Failure for an exception of the openai or anthropic SDK (they share the
    shape: `status_code`, `response.headers`, `message`); None for others.

    The header `x-should-retry: true/false`, when a server sends it, overrides
    the status rule (as both SDKs do).
    """
    if isinstance(exc, status_error):
        status = int(getattr(exc, "status_code", 0) or 0)
        response = getattr(exc, "response", None)
        headers: Mapping[str, str] = getattr(response, "headers", None) or {}
        retryable = retryable_status(status)
        should_retry = headers.get("x-should-retry")
        if should_retry in ("true", "false"):
            retryable = should_retry == "true"
        text = redact(_server_message(exc), secret)
        return Failure(
            retryable, f"{describe_status(status)} ({text})", status, retry_after_s(headers)
        )
    if isinstance(exc, timeout_error):
        waited = f" (no response within {timeout_s:g} s)" if timeout_s else ""
        return Failure(True, f"request timed out{waited}")
    if isinstance(exc, connection_error):
        cause = exc.__cause__ or exc
        return Failure(True, f"connection error ({redact(str(cause), secret) or 'no detail'})")
    if isinstance(exc, sdk_error):
        return Failure(False, f"{type(exc).__name__}: {redact(str(exc), secret)}")
    return None


def _server_message(exc: Exception) -> str:
    """ "type: message" from an SDK status error's body (OpenAI's body is the
    `error` object, Anthropic's the whole document), else the SDK's message."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            kind = error.get("type")
            return f"{kind}: {error['message']}" if isinstance(kind, str) else error["message"]
    return str(getattr(exc, "message", "") or exc)


# ---- the process-wide concurrency limit ---------------------------------------


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False)
class ProcessSemaphore:
    """A counting semaphore shared by every thread and event loop of the process.

    `acquire` waits on a future of the caller's own loop; `release` hands the
    slot straight to the oldest waiter (first come, first served) and wakes it
    with `call_soon_threadsafe`. A waiter cancelled after being handed a slot
    passes it on, so slots never leak.
    """

    limit: int
    _free: int = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _waiters: deque[_Waiter] = field(init=False, default_factory=deque)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("a concurrency limit must be at least 1")
        self._free = self.limit

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        with self._lock:
            return self.limit - self._free

    async def acquire(self) -> None:
        """Wait for a slot. Raises asyncio.CancelledError (holding nothing)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            waiter = _Waiter(loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted:
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back (to the oldest waiter, if any). Any thread may call it."""
        while True:
            with self._lock:
                if not self._waiters:
                    if self._free >= self.limit:
                        raise ValueError("ProcessSemaphore released more often than acquired")
                    self._free += 1
                    return
                waiter = self._waiters.popleft()
                waiter.granted = True
            try:
                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
                return
            except RuntimeError:  # its loop is closed: nobody will take the slot
                continue


_SEMAPHORES: dict[tuple[str, ...], ProcessSemaphore] = {}
_SEMAPHORES_LOCK = threading.Lock()


def semaphore_for(config: ProviderConfig) -> ProcessSemaphore:
    """The process-wide semaphore of a provider configuration.

    Keyed by name, kind, base URL, a hash of the API key and the limit, so two
    teams' providers that share a name do not share a limit, and a changed
    limit takes effect for new calls.
    """
    secret = hashlib.sha256((config.api_key or "").encode()).hexdigest()[:16]
    key = (config.name, config.kind, config.base_url or "", secret, str(config.max_concurrency))
    with _SEMAPHORES_LOCK:
        semaphore = _SEMAPHORES.get(key)
        if semaphore is None:
            semaphore = _SEMAPHORES[key] = ProcessSemaphore(max(1, config.max_concurrency))
        return semaphore


@contextlib.asynccontextmanager
async def concurrency_slot(config: ProviderConfig) -> AsyncIterator[None]:
    """Hold one of the provider's `max_concurrency` slots for the block; always
    released, also on error and cancellation."""
    semaphore = semaphore_for(config)
    await semaphore.acquire()
    try:
        yield
    finally:
        semaphore.release()


# ---- HTTP plumbing -----------------------------------------------------------

_TLS_CONTEXT: ssl.SSLContext | None = None
_TLS_LOCK = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """One TLS context for all SDK clients of the process (httpx2's default)."""
    global _TLS_CONTEXT
    with _TLS_LOCK:
        if _TLS_CONTEXT is None:
            import httpx2

            _TLS_CONTEXT = httpx2.create_ssl_context()
        return _TLS_CONTEXT


def http_client_kwargs(timeout_s: float) -> dict[str, Any]:
    """Keyword arguments for an SDK's `DefaultAsyncHttpxClient` made per call."""
    return {"verify": tls_context(), "timeout": timeout_s}
