"""What the SDK-backed providers share: retries around one attempt, and the
classification of each SDK's errors (see retry.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from orchestration.providers.base import ChatRequest, LLMCall, ProviderConfig
from orchestration.providers.retry import (
    Failure,
    RetryPolicy,
    call_with_retries,
    classify_sdk_error,
)

# Local servers ignore the key, but the SDKs insist on one.
PLACEHOLDER_API_KEY = "not-needed"


@dataclass(frozen=True)
class SDKErrors:
    """An SDK's exception classes, for classify_sdk_error."""

    status: type[Exception]
    connection: tuple[type[Exception], ...]
    timeout: tuple[type[Exception], ...]
    base: type[Exception]


class SDKProvider:
    """Base of OpenAICompatProvider and AnthropicProvider: `chat` retries
    `_attempt` (one streamed request) per `config.max_retries`.

    `policy` tunes the backoff between retries (tests); the number of retries,
    the per-request timeout (seconds without a byte from the server) and the
    concurrency limit come from `config`.
    """

    errors: ClassVar[SDKErrors]

    def __init__(self, config: ProviderConfig, *, policy: RetryPolicy | None = None) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()

    async def chat(
        self, request: ChatRequest, on_token: Callable[[str], None] | None = None
    ) -> LLMCall:
        """One streamed call; see providers.base.Provider.chat.

        latency_ms (ms) spans the whole call: waits for a concurrency slot, every
        attempt and the backoff between them; ttft_ms (ms) runs from sending the
        successful attempt to its first text or tool-call delta. Raises
        ProviderError after retries, asyncio.CancelledError when cancelled.
        """
        started = time.perf_counter()
        call, retries = await call_with_retries(
            lambda: self._attempt(request, on_token),
            classify=self._classify,
            what=f"provider {self.config.name!r}, model {request.model!r}",
            max_retries=self.config.max_retries,
            policy=self.policy,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        return replace(call, latency_ms=latency_ms, retries=retries)

    async def _attempt(
        self, request: ChatRequest, on_token: Callable[[str], None] | None
    ) -> LLMCall:
        raise NotImplementedError

    def _classify(self, exc: Exception) -> Failure | None:
        return classify_sdk_error(
            exc,
            status_error=self.errors.status,
            connection_error=self.errors.connection,
            timeout_error=self.errors.timeout,
            sdk_error=self.errors.base,
            secret=self.config.api_key,
            timeout_s=self.config.timeout_s,
        )
