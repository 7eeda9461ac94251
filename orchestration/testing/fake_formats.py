"""Wire formats of the Simulator: parse OpenAI / Anthropic requests, decide the
reply, and render it as JSON bodies or streamed SSE events.

Both formats are reduced to one `Conversation`; `make_reply` decides the
`Reply` (text or one tool call, with token counts); the `openai_*` and
`anthropic_*` functions render it. Token counts are deterministic:
ceil(characters / 4) of the prompt messages' text and of the reply.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orchestration.testing.fake_behaviour import Behaviour, strip_directives
from orchestration.testing.fake_schema import example_for

ECHO_PREFIX = "Simulated answer to: "
TOOL_RESULTS_PREFIX = "Simulated answer using the tool results: "
ECHO_CHARS = 300


class BadRequest(ValueError):
    """The request body is not a valid request of its format (answered with 400)."""


@dataclass(frozen=True)
class ToolDef:
    """A tool offered to the model: its name and JSON Schema parameters."""

    name: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Conversation:
    """A chat request in either wire format, reduced to what the Simulator uses.

    texts: every message's text (system included), for directives and prompt
    tokens; last_user: the last user message's text; tool_results: tool results
    after it (a non-empty tuple means the tools have answered).
    """

    model: str
    texts: tuple[str, ...]
    last_user: str
    tool_results: tuple[str, ...]
    tools: tuple[ToolDef, ...]
    schema: dict[str, Any] | None
    wants_json: bool
    stream: bool
    include_usage: bool
    max_tokens: int | None


@dataclass(frozen=True)
class ToolCallOut:
    """The one tool call the Simulator makes: `arguments` is JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    """What the Simulator answers: text, or one tool call; finish is "stop",
    "length" (cut at max_tokens) or "tool_calls"; token counts are in tokens."""

    text: str
    tool_call: ToolCallOut | None
    finish: str
    prompt_tokens: int
    completion_tokens: int


def count_tokens(chars: int) -> int:
    """The simulated token count of `chars` characters: ceil(chars / 4), at least 1."""
    return max(1, math.ceil(chars / 4))


# ---- parsing ------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of parts/blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif part.get("type") == "tool_result":
                    parts.append(_text_of(part.get("content")))
                elif part.get("type") == "tool_use":
                    parts.append(f"{part.get('name', '')} {json.dumps(part.get('input', {}))}")
        return "\n".join(p for p in parts if p)
    return str(content)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _common(body: Any) -> tuple[str, list[Any]]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    if not all(isinstance(m, dict) for m in messages):
        raise BadRequest("each message must be an object")
    return model, messages


def _positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"'{name}' must be a positive integer")
    return value


def parse_openai(body: Any) -> Conversation:
    """A Chat Completions request body as a Conversation. Raises BadRequest."""
    model, messages = _common(body)
    texts: list[str] = []
    last_user, results = "", list[str]()
    for message in messages:
        role, text = message.get("role"), _text_of(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = _obj(_obj(call).get("function"))
            text += f"\n{function.get('name', '')} {function.get('arguments', '')}"
        texts.append(text)
        if role == "user":
            last_user, results = text, []
        elif role == "tool":
            results.append(text)
    tools = []
    if body.get("tool_choice") != "none":
        for tool in _list(body.get("tools")):
            function = _obj(_obj(tool).get("function"))
            if isinstance(function.get("name"), str):
                tools.append(ToolDef(function["name"], _obj(function.get("parameters"))))
    fmt = _obj(body.get("response_format"))
    schema = None
    if fmt.get("type") == "json_schema":
        schema = _obj(_obj(fmt.get("json_schema")).get("schema")) or {"type": "object"}
    options = _obj(body.get("stream_options"))
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return Conversation(
        model=model,
        texts=tuple(texts),
        last_user=last_user,
        tool_results=tuple(results),
        tools=tuple(tools),
        schema=schema,
        wants_json=fmt.get("type") in ("json_schema", "json_object"),
        stream=bool(body.get("stream")),
        include_usage=bool(options.get("include_usage")),
        max_tokens=_positive_int(max_tokens, "max_tokens"),
    )


def parse_anthropic(body: Any) -> Conversation:
    """A Messages API request body as a Conversation. Raises BadRequest."""
    model, messages = _common(body)
    if "max_tokens" not in body:
        raise BadRequest("max_tokens: Field required")
    texts = [_text_of(body.get("system"))]
    last_user, results = "", list[str]()
    for message in messages:
        content = message.get("content")
        texts.append(_text_of(content))
        if message.get("role") != "user":
            continue
        blocks = content if isinstance(content, list) else [content]
        plain = [b for b in blocks if not (isinstance(b, dict) and b.get("type") == "tool_result")]
        if _text_of(plain):
            last_user, results = _text_of(plain), []
        results.extend(
            _text_of(b.get("content"))
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "tool_result"
        )
    tools = []
    if _obj(body.get("tool_choice")).get("type") != "none":
        for tool in _list(body.get("tools")):
            if isinstance(_obj(tool).get("name"), str):
                tools.append(ToolDef(tool["name"], _obj(tool.get("input_schema"))))
    fmt = _obj(_obj(body.get("output_config")).get("format"))
    schema = _obj(fmt.get("schema")) if fmt.get("type") == "json_schema" else None
    return Conversation(
        model=model,
        texts=tuple(texts),
        last_user=last_user,
        tool_results=tuple(results),
        tools=tuple(tools),
        schema=schema,
        wants_json=schema is not None,
        stream=bool(body.get("stream")),
        include_usage=True,
        max_tokens=_positive_int(body.get("max_tokens"), "max_tokens"),
    )


# ---- the reply ----------------------------------------------------------------


def make_reply(conversation: Conversation, behaviour: Behaviour) -> Reply:
    """The deterministic reply to `conversation` (see docs/fakellm.md)."""
    prompt_tokens = count_tokens(sum(len(t) for t in conversation.texts))
    topic = strip_directives(conversation.last_user)
    if behaviour.reply is None and conversation.tools and not conversation.tool_results:
        tool = conversation.tools[0]
        arguments = json.dumps(example_for(tool.parameters, topic=topic, name=tool.name))
        digest = hashlib.sha256(f"{tool.name}:{arguments}:{topic}".encode()).hexdigest()[:20]
        call = ToolCallOut(id=f"call_{digest}", name=tool.name, arguments=arguments)
        tokens = count_tokens(len(tool.name) + len(arguments))
        return Reply("", call, "tool_calls", prompt_tokens, tokens)
    if behaviour.reply is not None:
        text = behaviour.reply
    elif conversation.wants_json and behaviour.invalid_json:
        text = "This is not JSON. " + ECHO_PREFIX + topic[:ECHO_CHARS]
    elif conversation.wants_json and conversation.schema is not None:
        text = json.dumps(example_for(conversation.schema, topic=topic))
    elif conversation.wants_json:
        text = json.dumps({"answer": ECHO_PREFIX + topic[:ECHO_CHARS]})
    elif conversation.tool_results:
        text = TOOL_RESULTS_PREFIX + "; ".join(conversation.tool_results)[:ECHO_CHARS]
    else:
        text = ECHO_PREFIX + topic[:ECHO_CHARS]
    finish, tokens = "stop", count_tokens(len(text))
    limit = conversation.max_tokens
    if limit is not None and tokens > limit:
        text, finish, tokens = text[: limit * 4], "length", limit
    return Reply(text, None, finish, prompt_tokens, tokens)


def split_words(text: str, per_chunk: int = 1) -> list[str]:
    """`text` cut into chunks of `per_chunk` words (with their trailing spaces);
    joining the chunks gives `text` back."""
    words = re.findall(r"\S+\s*|\s+", text)
    step = max(1, per_chunk)
    return ["".join(words[i : i + step]) for i in range(0, len(words), step)]


def _pieces(text: str, size: int = 16) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# ---- OpenAI Chat Completions ----------------------------------------------------

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
    503: "overloaded_error",
}


def error_type(status: int) -> str:
    """The error `type` string both APIs use for an HTTP status."""
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def openai_error(status: int, message: str) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": error_type(status), "param": None, "code": None}}


def _openai_tool_calls(call: ToolCallOut) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
    ]


def _openai_usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def openai_response(reply: Reply, model: str, ident: str, created: int) -> dict[str, Any]:
    """A non-streamed `chat.completion` body."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_call:
        message["tool_calls"] = _openai_tool_calls(reply.tool_call)
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "simulated",
        "choices": [
            {"index": 0, "message": message, "finish_reason": reply.finish, "logprobs": None}
        ],
        "usage": _openai_usage(reply),
    }


def openai_chunks(
    reply: Reply, model: str, ident: str, created: int, *, include_usage: bool, per_chunk: int
) -> Iterator[tuple[dict[str, Any], bool]]:
    """Streamed `chat.completion.chunk` bodies, each with whether it carries a
    token (the server paces those). The caller ends the stream with `[DONE]`."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "simulated",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    yield chunk({"role": "assistant", "content": ""}), False
    if reply.tool_call:
        call = reply.tool_call
        head = {"index": 0, "id": call.id, "type": "function"}
        yield (
            chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]}),
            True,
        )
        for piece in _pieces(call.arguments):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), True
    else:
        for words in split_words(reply.text, per_chunk):
            yield chunk({"content": words}), True
    yield chunk({}, reply.finish), False
    if include_usage:
        last = chunk({})
        last["choices"], last["usage"] = [], _openai_usage(reply)
        yield last, False


# ---- Anthropic Messages -------------------------------------------------------

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """An Anthropic-style error body."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def _anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    if reply.tool_call:
        call = reply.tool_call
        tool_id = "toolu_" + call.id.removeprefix("call_")
        return [
            {
                "type": "tool_use",
                "id": tool_id,
                "name": call.name,
                "input": json.loads(call.arguments),
            }
        ]
    return [{"type": "text", "text": reply.text}]


def anthropic_response(reply: Reply, model: str, ident: str) -> dict[str, Any]:
    """A non-streamed `message` body."""
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_blocks(reply),
        "stop_reason": _STOP_REASONS[reply.finish],
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
    }


def anthropic_events(
    reply: Reply, model: str, ident: str, *, per_chunk: int
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Streamed (event name, data, carries a token) triples, message_start to
    message_stop."""
    start = anthropic_response(reply, model, ident)
    start.update(content=[], stop_reason=None)
    start["usage"] = {"input_tokens": reply.prompt_tokens, "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}, False
    block = _anthropic_blocks(reply)[0]
    if reply.tool_call is not None:
        opening = {**block, "input": {}}
        pieces = _pieces(reply.tool_call.arguments)
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    else:
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": w} for w in split_words(reply.text, per_chunk)]
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": opening},
        False,
    )
    for delta in deltas:
        yield (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": delta},
            True,
        )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}, False
    message_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": _STOP_REASONS[reply.finish], "stop_sequence": None},
        "usage": {"output_tokens": reply.completion_tokens},
    }
    yield "message_delta", message_delta, False
    yield "message_stop", {"type": "message_stop"}, False
