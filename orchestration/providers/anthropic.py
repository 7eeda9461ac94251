"""Anthropic's Messages API with the official `anthropic` SDK.

System messages become `system=`, tool results become `tool_result` blocks of a
user turn (consecutive turns of one role are merged, as the API wants them
alternating), `response_schema` becomes `output_config.format` (structured
outputs). Every call streams; usage comes from `message_start` (input) and
`message_delta` (output). Stop reasons are given in the OpenAI vocabulary
(`end_turn` -> "stop", `tool_use` -> "tool_calls", `max_tokens` -> "length") so
node types see one set. The SDK client is created and closed per call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from anthropic.types import (
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
)

from orchestration.providers.base import ChatRequest, LLMCall, ToolCall
from orchestration.providers.pricing import price_call
from orchestration.providers.retry import (
    concurrency_slot,
    http_client_kwargs,
)
from orchestration.providers.sdk import PLACEHOLDER_API_KEY, SDKErrors, SDKProvider

# The Messages API requires max_tokens; used when the request leaves it open.
DEFAULT_MAX_TOKENS = 4096
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}


@dataclass
class _ToolUse:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class AnthropicProvider(SDKProvider):
    """A Provider for Anthropic's Messages API (see providers.base.Provider).

    `config.base_url` is the API root (the SDK adds `/v1/messages`; a trailing
    `/v1` is dropped, so one Simulator URL serves both kinds). `temperature` is
    not sent: the Messages API of the anthropic SDK 2.x has no such parameter.
    """

    errors = SDKErrors(
        status=anthropic.APIStatusError,
        connection=(anthropic.APIConnectionError, httpx2.TransportError),
        timeout=(anthropic.APITimeoutError, httpx2.TimeoutException),
        base=anthropic.AnthropicError,
    )

    def _client(self) -> anthropic.AsyncAnthropic:
        base_url = self.config.base_url
        if base_url:
            base_url = base_url.rstrip("/").removesuffix("/v1")
        timeout = self.config.timeout_s
        return anthropic.AsyncAnthropic(
            base_url=base_url,
            api_key=self.config.api_key or PLACEHOLDER_API_KEY,
            max_retries=0,
            timeout=timeout,
            http_client=anthropic.DefaultAsyncHttpxClient(**http_client_kwargs(timeout)),
        )

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        system = "\n\n".join(
            m.content for m in request.messages if m.role == "system" and m.content
        )
        params: dict[str, Any] = {
            "model": request.model,
            "messages": _turns(request),
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            params["system"] = system
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        if request.response_schema is not None:
            params["output_config"] = {
                "format": {"type": "json_schema", "schema": request.response_schema}
            }
        return params

    async def _attempt(
        self, request: ChatRequest, on_token: Callable[[str], None] | None
    ) -> LLMCall:
        text: list[str] = []
        uses: dict[int, _ToolUse] = {}
        stop: str | None = None
        tokens_in = tokens_out = 0
        ttft_ms: float | None = None
        async with concurrency_slot(self.config), self._client() as client:
            sent = time.perf_counter()
            stream = await client.messages.create(**self._params(request), stream=True)
            async with stream:
                async for event in stream:
                    if isinstance(event, RawMessageStartEvent):
                        usage = event.message.usage
                        tokens_in = (
                            usage.input_tokens
                            + (usage.cache_creation_input_tokens or 0)
                            + (usage.cache_read_input_tokens or 0)
                        )
                        tokens_out = usage.output_tokens
                    elif isinstance(event, RawContentBlockStartEvent):
                        block = event.content_block
                        if block.type == "tool_use":
                            ttft_ms = ttft_ms or (time.perf_counter() - sent) * 1000
                            uses[event.index] = _ToolUse(block.id, block.name)
                            if block.input:
                                uses[event.index].arguments.append(json.dumps(block.input))
                    elif isinstance(event, RawContentBlockDeltaEvent):
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            ttft_ms = ttft_ms or (time.perf_counter() - sent) * 1000
                            text.append(delta.text)
                            if on_token is not None:
                                on_token(delta.text)
                        elif delta.type == "input_json_delta" and event.index in uses:
                            ttft_ms = ttft_ms or (time.perf_counter() - sent) * 1000
                            uses[event.index].arguments.append(delta.partial_json)
                    elif isinstance(event, RawMessageDeltaEvent):
                        stop = event.delta.stop_reason or stop
                        tokens_out = event.usage.output_tokens
        tool_calls = tuple(
            ToolCall(id=use.id, name=use.name, arguments="".join(use.arguments) or "{}")
            for _, use in sorted(uses.items())
        )
        return LLMCall(
            provider=self.config.name,
            model=request.model,
            text="".join(text),
            tool_calls=tool_calls,
            finish_reason=_FINISH.get(stop, stop) if stop else None,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=price_call(self.config, request.model, tokens_in, tokens_out),
            ttft_ms=ttft_ms,
            simulated=self.config.simulated,
        )


def _turns(request: ChatRequest) -> list[dict[str, Any]]:
    """The non-system messages as alternating user/assistant turns of blocks."""
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        blocks: list[dict[str, Any]] = []
        role = "assistant" if message.role == "assistant" else "user"
        if message.role == "tool":
            result = {"type": "tool_result", "tool_use_id": message.tool_call_id or ""}
            blocks.append({**result, "content": message.content or ""})
        elif message.role in ("user", "assistant"):
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            for call in message.tool_calls:
                blocks.append(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": _args(call)}
                )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _args(call: ToolCall) -> Any:
    """A tool call's arguments as the object Anthropic wants (`{}` if not JSON)."""
    try:
        value = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"value": value}
