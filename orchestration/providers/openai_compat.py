"""OpenAI-compatible chat completions with the official `openai` SDK.

Speaks to OpenAI itself (base_url None) or any server with the Chat Completions
API at `base_url` (vLLM, Ollama, LM Studio, the bundled Simulator...). Every call
streams (`stream_options.include_usage` for the token counts), accumulates
streamed tool-call deltas, maps `response_schema` to a `json_schema`
response_format, and creates and closes its SDK client (one event loop may not
outlive a Celery task, so clients are never shared across calls).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from orchestration.providers.base import (
    ChatRequest,
    LLMCall,
    Message,
    ToolCall,
)
from orchestration.providers.pricing import price_call
from orchestration.providers.retry import (
    concurrency_slot,
    http_client_kwargs,
)
from orchestration.providers.sdk import PLACEHOLDER_API_KEY, SDKErrors, SDKProvider


@dataclass
class _ToolCallParts:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAICompatProvider(SDKProvider):
    """A Provider for OpenAI-compatible endpoints (see providers.base.Provider).

    `policy` tunes the backoff between retries (tests); the number of retries,
    the per-request timeout (seconds without a byte from the server: connect,
    first token, between chunks) and the concurrency limit come from `config`.
    """

    errors = SDKErrors(
        status=openai.APIStatusError,
        connection=(openai.APIConnectionError, httpx2.TransportError),
        timeout=(openai.APITimeoutError, httpx2.TimeoutException),
        base=openai.OpenAIError,
    )

    def _client(self) -> openai.AsyncOpenAI:
        timeout = self.config.timeout_s
        return openai.AsyncOpenAI(
            base_url=self.config.base_url,
            api_key=self.config.api_key or PLACEHOLDER_API_KEY,
            max_retries=0,
            timeout=timeout,
            http_client=openai.DefaultAsyncHttpxClient(**http_client_kwargs(timeout)),
        )

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(m) for m in request.messages],
            "stream_options": {"include_usage": True},
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            # OpenAI's newer models only take max_completion_tokens; most
            # compatible servers only know max_tokens.
            official = not self.config.base_url or "api.openai.com" in self.config.base_url
            params["max_completion_tokens" if official else "max_tokens"] = request.max_tokens
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
        if request.response_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.response_schema},
            }
        return params

    async def _attempt(
        self, request: ChatRequest, on_token: Callable[[str], None] | None
    ) -> LLMCall:
        text: list[str] = []
        calls: dict[int, _ToolCallParts] = {}
        finish: str | None = None
        tokens_in = tokens_out = 0
        ttft_ms: float | None = None
        async with concurrency_slot(self.config), self._client() as client:
            sent = time.perf_counter()
            stream = await client.chat.completions.create(**self._params(request), stream=True)
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        tokens_in = chunk.usage.prompt_tokens
                        tokens_out = chunk.usage.completion_tokens
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        delta = choice.delta
                        if (delta.content or delta.tool_calls) and ttft_ms is None:
                            ttft_ms = (time.perf_counter() - sent) * 1000
                        if delta.content:
                            text.append(delta.content)
                            if on_token is not None:
                                on_token(delta.content)
                        for part in delta.tool_calls or []:
                            slot = calls.setdefault(part.index, _ToolCallParts())
                            slot.id = part.id or slot.id
                            if part.function is not None:
                                slot.name += part.function.name or ""
                                slot.arguments.append(part.function.arguments or "")
                        finish = choice.finish_reason or finish
        tool_calls = tuple(
            ToolCall(
                id=parts.id or f"call_{index}", name=parts.name, arguments="".join(parts.arguments)
            )
            for index, parts in sorted(calls.items())
        )
        return LLMCall(
            provider=self.config.name,
            model=request.model,
            text="".join(text),
            tool_calls=tool_calls,
            finish_reason=finish,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=price_call(self.config, request.model, tokens_in, tokens_out),
            ttft_ms=ttft_ms,
            simulated=self.config.simulated,
        )


def _message(message: Message) -> dict[str, Any]:
    """A base.Message in the Chat Completions wire format."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    elif message.content is None:
        out["content"] = ""
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    return out
