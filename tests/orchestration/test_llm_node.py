"""The llm node (and the router's llm mode) against the real fake LLM server over
HTTP, plus its pure parts: structured-output parsing and tool calls."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from orchestration.context import LocalContext
from orchestration.nodes import get_node_type
from orchestration.nodes.base import NodeError, NodeType
from orchestration.nodes.llm import LLMConfig, ToolConfig, parse_structured, run_tool
from orchestration.providers.base import ProviderConfig, ToolCall

SCORE_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title", "score", "tags"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "name": "weather",
    "description": "Today's weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "kind": "template",
    "body": "Weather in {{ args.city }}: sunny, 21 C",
}


@pytest.fixture
def ctx(fake_llm: str) -> LocalContext:
    """A context whose "Simulator" provider is the fake server over HTTP."""
    from orchestration.providers import build

    config = ProviderConfig(
        name="Simulator", kind="openai", base_url=fake_llm + "/v1", simulated=True
    )
    return LocalContext(providers={"Simulator": build(config)}, run_inputs={"lang": "en"})


def node(type_name: str, **config: Any) -> NodeType:
    node_type = get_node_type(type_name)
    return node_type(node_type.parse_config(config))


def run(instance: NodeType, ctx: LocalContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(instance.run(ctx, inputs))


def unique_key() -> str:
    return uuid.uuid4().hex[:12]


# -- over HTTP ----------------------------------------------------------------------


def test_text_is_streamed_and_the_call_recorded(ctx: LocalContext) -> None:
    reply = "Green tea is steeped at about eighty degrees"
    outputs = run(node("llm"), ctx, {"in": [f"[[fake:reply={reply}]]"]})
    assert outputs == {"text": reply}
    assert len(ctx.tokens) > 1
    assert ctx.text == reply
    [call] = ctx.llm_calls
    assert (call.provider, call.model, call.simulated) == ("Simulator", "sim-small", True)
    assert call.tokens_in > 0
    assert call.tokens_out > 0
    assert call.latency_ms > 0


def test_latency_is_measured(ctx: LocalContext) -> None:
    run(node("llm"), ctx, {"in": ["[[fake:latency_ms=100]] hello"]})
    [call] = ctx.llm_calls
    assert call.latency_ms >= 100


def test_prompt_and_system_templates_are_rendered(ctx: LocalContext) -> None:
    llm = node(
        "llm",
        system="You answer in {{ inputs.lang }}.",
        prompt="Summarise {{ input.topic }} for {{ inputs.lang }} readers",
    )
    outputs = run(llm, ctx, {"in": [{"topic": "green tea"}]})
    assert outputs["text"] == "Simulated answer to: Summarise green tea for en readers"


def test_structured_output_is_parsed_and_validated(ctx: LocalContext) -> None:
    outputs = run(node("llm", output_schema=SCORE_SCHEMA), ctx, {"in": ["Rate green tea"]})
    jsonschema.validate(outputs["json"], SCORE_SCHEMA)
    assert set(outputs) == {"text", "json"}


def test_a_fenced_json_reply_is_accepted(ctx: LocalContext) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    prompt = '[[fake:reply=Here you are:\n```json\n{"a": 1}\n```]]'
    assert run(node("llm", output_schema=schema), ctx, {"in": [prompt]})["json"] == {"a": 1}


def test_invalid_json_is_a_retryable_error(ctx: LocalContext) -> None:
    with pytest.raises(NodeError, match="does not match output_schema: not valid JSON") as info:
        run(node("llm", output_schema=SCORE_SCHEMA), ctx, {"in": ["[[fake:invalid_json]] x"]})
    assert info.value.retryable is True
    assert len(ctx.llm_calls) == 1  # the call is accounted even though its reply is unusable


def test_a_reply_not_matching_the_schema_says_where(ctx: LocalContext) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    with pytest.raises(NodeError, match=r"at a: 'x' is not of type 'integer'") as info:
        run(node("llm", output_schema=schema), ctx, {"in": ['[[fake:reply={"a": "x"}]]']})
    assert info.value.retryable is True


def test_one_tool_round(ctx: LocalContext) -> None:
    outputs = run(node("llm", tools=[WEATHER_TOOL]), ctx, {"in": ["Weather in Lyon?"]})
    assert outputs["text"].startswith("Simulated answer using the tool results: Weather in ")
    assert "sunny, 21 C" in outputs["text"]
    assert len(ctx.llm_calls) == 2
    assert ctx.llm_calls[0].tool_calls[0].name == "weather"
    assert any(line.message.startswith("tool weather: Weather in") for line in ctx.logs)


def test_an_expression_tool_with_structured_output(ctx: LocalContext) -> None:
    tool = {
        "name": "double",
        "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "kind": "expression",
        "body": "{'doubled': args.n * 2}",
    }
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    outputs = run(node("llm", tools=[tool], output_schema=schema), ctx, {"in": ["Double 4"]})
    assert isinstance(outputs["json"]["answer"], str)
    assert len(ctx.llm_calls) == 2


def test_no_tool_rounds_means_no_tools(ctx: LocalContext) -> None:
    outputs = run(node("llm", tools=[WEATHER_TOOL], max_tool_rounds=0), ctx, {"in": ["Hi"]})
    assert outputs["text"] == "Simulated answer to: Hi"
    assert len(ctx.llm_calls) == 1


def test_a_provider_4xx_is_not_retryable(ctx: LocalContext) -> None:
    with pytest.raises(NodeError, match="provider 'Simulator'") as info:
        run(node("llm"), ctx, {"in": ["[[fake:error=400]] hello"]})
    assert info.value.retryable is False


def test_a_provider_5xx_is_retried_by_the_provider(ctx: LocalContext) -> None:
    prompt = f"[[fake:error=500,times=1,key={unique_key()},retry_after=0.01]] hello"
    outputs = run(node("llm"), ctx, {"in": [prompt]})
    assert outputs["text"].startswith("Simulated answer to:")
    assert ctx.llm_calls[0].retries == 1


def test_an_unknown_provider_is_not_retryable(ctx: LocalContext) -> None:
    with pytest.raises(NodeError, match="no provider named 'Other'") as info:
        run(node("llm", provider="Other"), ctx, {"in": ["hi"]})
    assert info.value.retryable is False


def test_a_prompt_error_is_not_retryable(ctx: LocalContext) -> None:
    with pytest.raises(NodeError, match="llm prompt: line 1: 'topic' is undefined") as info:
        run(node("llm", prompt="{{ topic }}"), ctx, {"in": []})
    assert info.value.retryable is False
    assert ctx.llm_calls == []


ROUTES = [
    {"name": "billing", "description": "Invoices, payments, refunds"},
    {"name": "tech", "description": "Bugs and technical questions"},
]


def test_router_llm_mode_classifies(ctx: LocalContext) -> None:
    router = node("router", mode="llm", routes=ROUTES)
    # the Simulator answers schema-valid JSON: the enum's first value
    assert run(router, ctx, {"in": "My invoice is wrong"}) == {"billing": "My invoice is wrong"}
    assert len(ctx.llm_calls) == 1


def test_router_llm_mode_reads_a_name_in_plain_text(ctx: LocalContext) -> None:
    router = node("router", mode="llm", routes=ROUTES)
    message = "[[fake:reply=This looks like a tech question.]]"
    assert run(router, ctx, {"in": message}) == {"tech": message}


def test_router_llm_mode_unknown_answer_is_default(ctx: LocalContext) -> None:
    router = node("router", mode="llm", routes=ROUTES)
    message = "[[fake:reply=No idea.]]"
    assert run(router, ctx, {"in": message}) == {"default": message}


# -- pure parts -------------------------------------------------------------------------


def test_parse_structured() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    assert parse_structured(" [1, 2] ", schema) == [1, 2]
    assert parse_structured("Sure!\n```\n[3]\n```\nDone.", schema) == [3]
    with pytest.raises(NodeError, match=r"at 1: 'b' is not of type 'integer'"):
        parse_structured('[1, "b"]', schema)


def tool_call(name: str, arguments: str) -> ToolCall:
    return ToolCall(id="call_1", name=name, arguments=arguments)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (tool_call("weather", '{"city": "Lyon"}'), "Weather in Lyon: sunny, 21 C"),
        (tool_call("weather", "{city: Lyon}"), "error: the arguments are not valid JSON"),
        (tool_call("weather", "{}"), "error: the arguments do not match the parameters: at (root)"),
        (tool_call("search", "{}"), "error: there is no tool named 'search'"),
        (tool_call("sum", '{"ns": [1, 2]}'), "3"),
        (tool_call("sum", '{"ns": "x"}'), "error: "),
        (tool_call("keys", '{"k": "a"}'), '{"a": "en"}'),
    ],
)
def test_run_tool(call: ToolCall, expected: str) -> None:
    tools = [
        ToolConfig.model_validate(WEATHER_TOOL),
        ToolConfig.model_validate({"name": "sum", "kind": "expression", "body": "args.ns|sum"}),
        ToolConfig.model_validate(
            {"name": "keys", "kind": "expression", "body": "{args.k: inputs.lang}"}
        ),
    ]
    assert run_tool(tools, call, {"inputs": {"lang": "en"}}).startswith(expected)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"tools": [{**WEATHER_TOOL, "name": "has space"}]}, "should match pattern"),
        ({"tools": [WEATHER_TOOL, WEATHER_TOOL]}, "repeated: weather"),
        ({"tools": [{**WEATHER_TOOL, "body": "{{ args."}]}, "syntax error"),
        ({"tools": [{**WEATHER_TOOL, "kind": "expression", "body": "args +"}]}, "syntax error"),
        ({"tools": [{**WEATHER_TOOL, "parameters": {"type": "thing"}}]}, "not a valid JSON Schema"),
        ({"output_schema": {"type": 3}}, "not a valid JSON Schema"),
        ({"temperature": 2.5}, "less than or equal to 2"),
        ({"max_tokens": 0}, "greater than or equal to 1"),
        ({"prompt": "{% for %}"}, "syntax error"),
    ],
)
def test_llm_config_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LLMConfig.model_validate(config)


def test_llm_node_is_on_the_io_queue() -> None:
    llm_type = get_node_type("llm")
    assert llm_type.queue_for(llm_type.parse_config({})) == "io"
