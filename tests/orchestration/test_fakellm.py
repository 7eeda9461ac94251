"""The Simulator (orchestration/testing/fakellm.py), spoken to over real HTTP."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from orchestration.testing.fake_schema import example_for

ROOT = Path(__file__).resolve().parents[2]

WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": {"type": "string", "minLength": 5, "maxLength": 12},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "rank": {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 13},
            "step": {"type": "number", "multipleOf": 0.1, "minimum": 0.25},
            "even": {"type": "integer", "multipleOf": 2, "minimum": 3},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "pair": {"type": "array", "items": {"type": "integer"}, "minItems": 5},
            "one": {"type": "array", "items": {"type": "boolean"}, "maxItems": 1},
            "kind": {"enum": ["a", "b"]},
            "fixed": {"const": 42},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "string", "format": "email"}]},
            "when": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
            "code": {"type": "string", "pattern": "^[0-9]+$"},
        },
        "required": ["title", "score", "rank", "tags"],
    },
    {
        "$defs": {
            "person": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": ["integer", "null"]}},
                "required": ["name", "age"],
            }
        },
        "type": "object",
        "properties": {
            "people": {"type": "array", "items": {"$ref": "#/$defs/person"}, "maxItems": 2},
            "lead": {"allOf": [{"$ref": "#/$defs/person"}, {"required": ["email"]}]},
        },
        "required": ["people", "lead"],
    },
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}], "items": False},
    {"type": "string", "enum": ["yes", "no"]},
]


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of a server-sent events body."""
    events = []
    for block in text.strip().split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data.append(line.removeprefix("data: "))
        events.append((name, "\n".join(data)))
    return events


def chat(url: str, content: str, **body: Any) -> httpx.Response:
    payload = {"model": "sim-small", "messages": [{"role": "user", "content": content}], **body}
    return httpx.post(url + "/v1/chat/completions", json=payload, timeout=10)


def messages(url: str, content: Any, **body: Any) -> httpx.Response:
    payload = {
        "model": "sim-large",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": content}],
        **body,
    }
    return httpx.post(url + "/v1/messages", json=payload, timeout=10)


def test_health_models_and_unknown_routes(fake_llm: str) -> None:
    health = httpx.get(fake_llm + "/_fake/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    models = httpx.get(fake_llm + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["sim-small", "sim-large"]
    missing = httpx.get(fake_llm + "/v1/nothing")
    assert missing.status_code == 404
    assert missing.headers["x-simulated"] == "true"
    assert httpx.get(fake_llm + "/v1/chat/completions").status_code == 405


def test_openai_reply_is_deterministic_and_counts_tokens(fake_llm: str) -> None:
    prompt = "What is the capital of France? Answer briefly."
    first, second = chat(fake_llm, prompt), chat(fake_llm, prompt)
    assert first.status_code == 200
    assert first.headers["x-simulated"] == "true"
    body = first.json()
    text = body["choices"][0]["message"]["content"]
    assert text == f"Simulated answer to: {prompt}"
    assert text == second.json()["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == math.ceil(len(prompt) / 4)
    assert body["usage"]["completion_tokens"] == math.ceil(len(text) / 4)


def test_openai_streaming_sends_chunks_usage_and_done(fake_llm: str) -> None:
    prompt = "Tell me about the rivers of Europe in a few words"
    response = chat(fake_llm, prompt, stream=True, stream_options={"include_usage": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    words = [c for c in contents if c]
    assert len(words) >= 5
    assert "".join(words) == f"Simulated answer to: {prompt}"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == math.ceil(len(prompt) / 4)
    without_usage = chat(fake_llm, prompt, stream=True)
    assert all("usage" not in json.loads(d) for _, d in sse_events(without_usage.text)[:-1])


def test_directives_are_not_echoed(fake_llm: str) -> None:
    text = chat(fake_llm, "Hello [[fake:latency_ms=1]] there").json()
    assert text["choices"][0]["message"]["content"] == "Simulated answer to: Hello there"


def test_anthropic_format_streamed_and_not(fake_llm: str) -> None:
    body = messages(fake_llm, "Describe a cat", system="You are terse.").json()
    assert body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": "Simulated answer to: Describe a cat"}]
    assert body["stop_reason"] == "end_turn"
    prompt_chars = len("You are terse.") + len("Describe a cat")
    assert body["usage"]["input_tokens"] == math.ceil(prompt_chars / 4)

    streamed = messages(fake_llm, "Describe a cat", system="You are terse.", stream=True)
    events = sse_events(streamed.text)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [json.loads(d)["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert "".join(deltas) == "Simulated answer to: Describe a cat"
    final = json.loads(events[-2][1])
    assert final["usage"]["output_tokens"] == body["usage"]["output_tokens"]
    assert final["delta"]["stop_reason"] == "end_turn"


def test_anthropic_requires_max_tokens(fake_llm: str) -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(fake_llm + "/v1/messages", json=payload)
    assert response.status_code == 400
    assert response.json()["type"] == "error"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_generated_documents_validate(schema: dict[str, Any]) -> None:
    value = example_for(schema, topic="the history of Rome")
    jsonschema.validate(value, schema)
    assert value == example_for(schema, topic="the history of Rome")


def test_generated_strings_use_the_property_name_and_topic() -> None:
    value = example_for(SCHEMAS[0], topic="the history of Rome")
    assert value == {"answer": "Simulated answer about the history of Rome"}
    assert len(example_for({"type": "array", "items": {"type": "integer"}})) == 3


@pytest.mark.parametrize("schema", SCHEMAS[:3])
def test_structured_output_validates_over_http(fake_llm: str, schema: dict[str, Any]) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    body = chat(fake_llm, "Summarise Rome", response_format=response_format).json()
    jsonschema.validate(json.loads(body["choices"][0]["message"]["content"]), schema)

    output_config = {"format": {"type": "json_schema", "schema": schema}}
    body = messages(fake_llm, "Summarise Rome", output_config=output_config).json()
    jsonschema.validate(json.loads(body["content"][0]["text"]), schema)


def test_json_object_and_invalid_json(fake_llm: str) -> None:
    body = chat(fake_llm, "Rome", response_format={"type": "json_object"}).json()
    assert json.loads(body["choices"][0]["message"]["content"]) == {
        "answer": "Simulated answer to: Rome"
    }
    schema = SCHEMAS[0]
    response_format = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    bad = chat(fake_llm, "Rome [[fake:invalid_json]]", response_format=response_format).json()
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad["choices"][0]["message"]["content"])


def test_openai_tool_call_round_trip(fake_llm: str) -> None:
    tools = [{"type": "function", "function": WEATHER_TOOL}]
    user = {"role": "user", "content": "What is the weather in Oslo?"}
    first = httpx.post(
        fake_llm + "/v1/chat/completions",
        json={"model": "sim-small", "messages": [user], "tools": tools},
    ).json()
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    jsonschema.validate(json.loads(call["function"]["arguments"]), WEATHER_TOOL["parameters"])

    streamed = httpx.post(
        fake_llm + "/v1/chat/completions",
        json={"model": "sim-small", "messages": [user], "tools": tools, "stream": True},
    )
    deltas = [json.loads(d) for _, d in sse_events(streamed.text)[:-1]]
    parts = [t for c in deltas for t in c["choices"][0]["delta"].get("tool_calls", [])]
    assert parts[0]["id"] == call["id"]
    assert "".join(p["function"]["arguments"] for p in parts) == call["function"]["arguments"]

    history = [
        user,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21 degrees"},
    ]
    second = httpx.post(
        fake_llm + "/v1/chat/completions",
        json={"model": "sim-small", "messages": history, "tools": tools},
    ).json()
    assert second["choices"][0]["finish_reason"] == "stop"
    assert "Sunny, 21 degrees" in second["choices"][0]["message"]["content"]


def test_anthropic_tool_use_round_trip(fake_llm: str) -> None:
    tool = {"name": "get_weather", "input_schema": WEATHER_TOOL["parameters"]}
    first = messages(fake_llm, "Weather in Oslo?", tools=[tool]).json()
    assert first["stop_reason"] == "tool_use"
    (block,) = first["content"]
    assert block["type"] == "tool_use"
    jsonschema.validate(block["input"], WEATHER_TOOL["parameters"])

    streamed = sse_events(messages(fake_llm, "Weather in Oslo?", tools=[tool], stream=True).text)
    partial = [
        json.loads(d)["delta"]["partial_json"] for n, d in streamed if n == "content_block_delta"
    ]
    assert json.loads("".join(partial)) == block["input"]

    payload = {
        "model": "sim-large",
        "max_tokens": 100,
        "tools": [tool],
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": [block]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": block["id"], "content": "Rainy"}
                ],
            },
        ],
    }
    second = httpx.post(fake_llm + "/v1/messages", json=payload).json()
    assert second["stop_reason"] == "end_turn"
    assert "Rainy" in second["content"][0]["text"]


def test_error_directive_fails_only_the_first_times_per_key(fake_llm: str) -> None:
    key = uuid.uuid4().hex
    prompt = f"hello [[fake:error=429,times=2,key={key},retry_after=0.2]]"
    statuses = [chat(fake_llm, prompt) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["retry-after"] == "0.2"
    assert statuses[0].headers["retry-after-ms"] == "200"
    assert statuses[0].json()["error"]["type"] == "rate_limit_error"
    other = chat(fake_llm, f"hello [[fake:error=503,times=1,key={key}-other]]")
    assert other.status_code == 503
    assert other.headers["retry-after"] == "1"
    always = [chat(fake_llm, "x [[fake:error=500]]").status_code for _ in range(2)]
    assert always == [500, 500]
    anthropic = messages(fake_llm, "x [[fake:error=529]]")
    assert anthropic.status_code == 529
    assert anthropic.json()["error"]["type"] == "overloaded_error"


def reset(url: str) -> int:
    """Reset the Simulator's stats; returns requests still in flight (from other tests)."""
    assert httpx.post(url + "/_fake/reset").status_code == 200
    in_flight: int = httpx.get(url + "/_fake/stats").json()["in_flight"]
    return in_flight


def test_stats_count_requests_and_reset(fake_llm: str) -> None:
    base = reset(fake_llm)
    chat(fake_llm, "one")
    chat(fake_llm, "two [[fake:error=500]]")
    messages(fake_llm, "three")
    stats = httpx.get(fake_llm + "/_fake/stats").json()
    assert stats == {
        "requests": 3,
        "in_flight": base,
        "max_in_flight": base + 1,
        "by_status": {"200": 2, "500": 1},
    }
    reset(fake_llm)
    assert httpx.get(fake_llm + "/_fake/stats").json()["requests"] == 0


def test_reply_latency_tps_and_max_tokens_directives(fake_llm: str) -> None:
    body = chat(fake_llm, "x [[fake:reply=Exactly this, with commas]]").json()
    assert body["choices"][0]["message"]["content"] == "Exactly this, with commas"

    started = time.monotonic()
    chat(fake_llm, "slow [[fake:latency_ms=150]]")
    assert time.monotonic() - started >= 0.15

    started = time.monotonic()
    reply = "one two three four five six seven eight nine ten"
    chat(fake_llm, f"[[fake:tps=40]] [[fake:reply={reply}]]", stream=True)
    assert time.monotonic() - started >= 9 / 40

    cut = chat(fake_llm, "a rather long question " * 10, max_tokens=3).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 3


def test_bad_requests_are_answered_400(fake_llm: str) -> None:
    assert chat(fake_llm, "x [[fake:latency_ms=soon]]").status_code == 400
    assert chat(fake_llm, "x [[fake:unknown=1]]").status_code == 400
    bad = httpx.post(fake_llm + "/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert httpx.post(fake_llm + "/v1/chat/completions", json={"model": "m"}).status_code == 400


def test_hang_holds_the_request_until_the_client_leaves(fake_llm: str) -> None:
    base = reset(fake_llm)
    payload = {"model": "m", "messages": [{"role": "user", "content": "[[fake:hang]]"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fake_llm + "/v1/chat/completions", json=payload, timeout=0.3)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if httpx.get(fake_llm + "/_fake/stats").json()["in_flight"] == base:
            break
        time.sleep(0.02)
    stats = httpx.get(fake_llm + "/_fake/stats").json()
    assert stats["in_flight"] == base
    assert stats["max_in_flight"] == base + 1
    assert stats["by_status"] == {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def scripted_server(tmp_path: Path) -> Iterator[str]:
    rules = [
        {"match": "(?i)capital of france", "reply": "Paris."},
        {"match": "flaky", "error": 500, "times": 1},
        {"match": "", "latency_ms": 1},
    ]
    script = tmp_path / "rules.json"
    script.write_text(json.dumps(rules))
    port = _free_port()
    command = [sys.executable, "-m", "orchestration.testing.fakellm", "--port", str(port)]
    proc = subprocess.Popen([*command, "--script", str(script)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/_fake/health")
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the scripted Simulator did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_script_rules_first_match_wins(scripted_server: str) -> None:
    body = chat(scripted_server, "What is the Capital of France?").json()
    assert body["choices"][0]["message"]["content"] == "Paris."
    assert [chat(scripted_server, "flaky one").status_code for _ in range(2)] == [500, 200]
    body = chat(scripted_server, "capital of france [[fake:reply=directive wins]]").json()
    assert body["choices"][0]["message"]["content"] == "directive wins"
