"""The llm node: one chat with a model, with structured output and tools.

Messages are the rendered `system` template (when not empty) and the rendered
`prompt` template as the user message. Text is streamed to `ctx.emit_token`;
every chat call is recorded with `ctx.record_llm_call`.

Structured output: with `output_schema`, the schema is sent as the request's
`response_schema`, the reply is parsed as JSON (a ```json fenced block is
accepted) and validated; a reply that is not JSON or does not match raises a
*retryable* NodeError (the next attempt may well answer correctly).

Tools: when the model asks for tool calls, each call's arguments (JSON) are
checked against the tool's `parameters`, its result is computed (template
rendered / expression evaluated with `args` and the node's template variables),
and the results are given back as `tool` messages. Arguments that are not JSON,
do not match, or make the body fail give the model an "error: ..." result to
correct itself with. After `max_tool_rounds` rounds of tool calls, one final
call is made *without tools* so the model must answer in text.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestration.expressions import ExpressionError, check_expression, evaluate
from orchestration.nodes.base import NodeConfig, NodeContext, NodeError, NodeType, Port
from orchestration.providers.base import (
    ChatRequest,
    LLMCall,
    Message,
    Provider,
    ProviderError,
    ToolCall,
    ToolSpec,
)
from orchestration.templating import TemplateError, check_template, render, template_variables

_FENCED = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def check_json_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """`schema` unchanged when it is a valid JSON Schema (draft 2020-12).
    Raises ValueError saying what is wrong."""
    if schema is not None:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from exc
    return schema


class ToolConfig(BaseModel):
    """A function the model may call. `kind` "template": `body` is a template
    rendered with `args`; "expression": `body` is an expression over `args`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        title="Name",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Function name the model calls (letters, digits, _ and -)",
    )
    description: str = Field("", title="Description", description="What the tool does")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        title="Parameters",
        description="JSON Schema of the arguments object",
    )
    kind: Literal["template", "expression"] = Field(
        "template", title="Kind", description="How body computes the result"
    )
    body: str = Field(
        title="Body", description="Template or expression computing the result from args"
    )

    _check_parameters = field_validator("parameters")(check_json_schema)

    @model_validator(mode="after")
    def _check_body(self) -> ToolConfig:
        if self.kind == "template":
            check_template(self.body)
        else:
            check_expression(self.body)
        return self


class LLMConfig(NodeConfig):
    """Settings of the llm node (docs/engine.md, node-type table)."""

    provider: str = Field(
        "Simulator", title="Provider", min_length=1, description="Name of a team provider"
    )
    model: str = Field("sim-small", title="Model", min_length=1, description="Model name")
    system: str = Field(
        "", title="System prompt", description="Template of the system message (empty: none)"
    )
    prompt: str = Field(
        "{{ input }}",
        title="Prompt",
        description="Template of the user message (input, inputs, upstream ids, item...)",
    )
    temperature: float = Field(0.7, ge=0, le=2, title="Temperature")
    max_tokens: int = Field(1024, ge=1, le=1_000_000, title="Max tokens", description="Reply cap")
    output_schema: dict[str, Any] | None = Field(
        None,
        title="Output schema",
        description="JSON Schema of a structured reply; `json` carries the parsed value",
    )
    tools: list[ToolConfig] = Field(
        default_factory=list, title="Tools", description="Functions the model may call"
    )
    max_tool_rounds: int = Field(
        3,
        ge=0,
        le=20,
        title="Max tool rounds",
        description="Rounds of tool calls before a final answer",
    )

    _check_templates = field_validator("system", "prompt")(check_template)
    _check_output_schema = field_validator("output_schema")(check_json_schema)

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, tools: list[ToolConfig]) -> list[ToolConfig]:
        names = [tool.name for tool in tools]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"tool names must be unique; repeated: {', '.join(duplicates)}")
        return tools


class LLMNode(NodeType):
    """Calls a model once (plus tool rounds). Outputs {"text": reply} and, with
    `output_schema`, {"json": parsed reply}.

    Raises NodeError: retryable for provider errors the provider calls
    retryable and for replies not matching `output_schema`; non-retryable for
    template errors, unknown providers and other provider errors (4xx).
    """

    type = "llm"
    title = "LLM"
    category = "Agents"
    description = "Asks a model: prompt template in, text (and validated JSON) out; can call tools."
    Config = LLMConfig
    input_ports = (
        Port("in", "any", required=False, multiple=True, description="Values for the prompt"),
    )
    output_ports = (
        Port("text", "text", description="The model's reply"),
        Port("json", "any", description="The parsed reply (with an output schema)"),
    )
    queue = "io"
    uses_providers = True
    config: LLMConfig

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"text": str} or {"text": str, "json": value}."""
        cfg = self.config
        variables = template_variables(ctx, inputs)
        messages = _first_messages(cfg, variables)
        provider = ctx.provider(cfg.provider)
        call = await _converse(ctx, provider, cfg, messages, variables)
        if cfg.output_schema is None:
            return {"text": call.text}
        return {"text": call.text, "json": parse_structured(call.text, cfg.output_schema)}


def _first_messages(cfg: LLMConfig, variables: dict[str, Any]) -> list[Message]:
    try:
        system = render(cfg.system, variables) if cfg.system else ""
        prompt = render(cfg.prompt, variables)
    except TemplateError as exc:
        raise NodeError(f"llm prompt: {exc}", retryable=False) from exc
    user = Message(role="user", content=prompt)
    return [Message(role="system", content=system), user] if system else [user]


async def chat(ctx: NodeContext, provider: Provider, request: ChatRequest) -> LLMCall:
    """One recorded, streamed chat call. ProviderError becomes NodeError with
    the provider's message and retryability."""
    try:
        call = await provider.chat(request, on_token=ctx.emit_token)
    except ProviderError as exc:
        name = provider.config.name
        raise NodeError(f"provider {name!r}: {exc}", retryable=exc.retryable) from exc
    ctx.record_llm_call(call)
    return call


async def _converse(
    ctx: NodeContext,
    provider: Provider,
    cfg: LLMConfig,
    messages: list[Message],
    variables: dict[str, Any],
) -> LLMCall:
    specs = tuple(ToolSpec(t.name, t.description, t.parameters) for t in cfg.tools)
    for round_ in range(cfg.max_tool_rounds + 1):
        tools = specs if round_ < cfg.max_tool_rounds else ()
        request = ChatRequest(
            model=cfg.model,
            messages=tuple(messages),
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            tools=tools,
            response_schema=cfg.output_schema,
        )
        call = await chat(ctx, provider, request)
        if not tools or not call.tool_calls:
            return call
        messages.append(
            Message(role="assistant", content=call.text or None, tool_calls=call.tool_calls)
        )
        for tool_call in call.tool_calls:
            result = run_tool(cfg.tools, tool_call, variables)
            ctx.log(f"tool {tool_call.name}: {result[:200]}")
            messages.append(Message(role="tool", content=result, tool_call_id=tool_call.id))
    raise AssertionError("unreachable: the last round is made without tools")


def run_tool(tools: list[ToolConfig], call: ToolCall, variables: dict[str, Any]) -> str:
    """The text result of one tool call, or "error: ..." for the model to read
    when the tool is unknown, the arguments are not a JSON object matching
    `parameters`, or the body fails on them."""
    tool = next((t for t in tools if t.name == call.name), None)
    if tool is None:
        return f"error: there is no tool named {call.name!r}"
    try:
        args = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        return f"error: the arguments are not valid JSON ({exc})"
    problem = _schema_problem(args, tool.parameters)
    if problem:
        return f"error: the arguments do not match the parameters: {problem}"
    try:
        if tool.kind == "template":
            return render(tool.body, {**variables, "args": args})
        value = evaluate(tool.body, {**variables, "args": args})
    except (TemplateError, ExpressionError) as exc:
        return f"error: {exc}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(root)"
    return f"at {where}: {error.message}"


def parse_structured(text: str, schema: dict[str, Any]) -> Any:
    """The reply parsed as JSON (a ```json fenced block is accepted) and
    validated against `schema`. Raises NodeError(retryable=True) saying where
    and why it does not match."""
    fenced = _FENCED.search(text)
    source = fenced.group(1) if fenced else text
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise NodeError(
            f"llm reply does not match output_schema: not valid JSON ({exc})", retryable=True
        ) from exc
    problem = _schema_problem(value, schema)
    if problem:
        raise NodeError(f"llm reply does not match output_schema: {problem}", retryable=True)
    return value
