"""The provider contract: what node types call to talk to an LLM.

A provider is configured by plain data (`ProviderConfig`, built by the web layer
from a team's settings with the credential already decrypted) and answers
`await provider.chat(request, on_token=...) -> LLMCall`. Cancellation is asyncio
cancellation: cancelling the awaiting task aborts the HTTP request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

ProviderKind = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class ModelPrice:
    """A price override for one model, in USD per million tokens."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal


@dataclass(frozen=True)
class ProviderConfig:
    """One configured provider of a team.

    `kind` picks the SDK: "openai" (any OpenAI-compatible chat completions
    endpoint at `base_url`) or "anthropic". `api_key` is a secret: never log it,
    put it in an event, a Celery message or an export (its repr is masked).
    `pricing_provider_id` is the genai-prices provider id used to price calls
    (e.g. "openai", "anthropic"; None: only `price_overrides` price calls).
    `simulated` marks the bundled fake server: its output is labelled simulated.
    """

    name: str
    kind: ProviderKind
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    models: tuple[str, ...] = ()
    pricing_provider_id: str | None = None
    price_overrides: dict[str, ModelPrice] = field(default_factory=dict)
    max_concurrency: int = 16
    timeout_s: float = 120.0
    max_retries: int = 3
    simulated: bool = False


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: `parameters` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for; `arguments` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    """One chat message. role: system | user | assistant | tool."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request. `response_schema` asks for JSON output
    matching that JSON Schema (where the provider supports it)."""

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    tools: tuple[ToolSpec, ...] = ()
    response_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class LLMCall:
    """The outcome of one chat call, as recorded per call.

    tokens_in / tokens_out: tokens as reported by the provider; cost_usd: USD
    from genai-prices or the team's override, None when the model is unpriced
    (never guessed); ttft_ms: time to first token (None when not streamed);
    latency_ms: whole call including retries; retries: retried attempts.
    """

    provider: str
    model: str
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal | None = None
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    retries: int = 0
    simulated: bool = False


class ProviderError(Exception):
    """A provider call failed. `retryable` says whether the node's retry policy
    may try again (the provider has already retried 429/5xx/timeouts itself)."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class Provider(Protocol):
    """What node types use. Implementations: providers/openai_compat.py,
    providers/anthropic.py; build one with providers.build(config)."""

    config: ProviderConfig

    async def chat(
        self, request: ChatRequest, on_token: Callable[[str], None] | None = None
    ) -> LLMCall:
        """Run one chat completion, streaming text deltas to `on_token`.

        Raises ProviderError (after the provider's own retries on 429, 5xx and
        timeouts, honouring Retry-After) and asyncio.CancelledError when cancelled.
        """
        ...
