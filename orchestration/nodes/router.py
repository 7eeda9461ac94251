"""The router node: sends its input down the chosen routes.

Its output ports are one per route `name` plus `default` (`outputs_for`). `run`
returns the input value on the chosen ports only, so the other routes' edges
are dead and their branches skipped (docs/engine.md, "Control flow").

- mode "expression": each route's `condition` is evaluated with `input` (the
  value) and `inputs` (run inputs); the first true route is chosen, or every
  true route when `multi`. None true: `default`.
- mode "llm": the provider classifies the input into one route (by the routes'
  descriptions), answering JSON `{"route": name}` (requested through
  `response_schema`); when the reply is not such JSON, the first route name
  found in the text as a word is taken. Unknown answer: `default`. `multi` does
  not apply.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestration.expressions import ExpressionError, check_expression, evaluate
from orchestration.nodes.base import NodeConfig, NodeContext, NodeError, NodeType, Port, Queue
from orchestration.nodes.llm import chat
from orchestration.providers.base import ChatRequest, Message

DEFAULT = "default"


class RouteConfig(BaseModel):
    """One route: its output port `name`, its `condition` (expression mode) and
    its `description` (what the LLM classifier reads)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(title="Name", description="Output port name (an identifier)")
    condition: str = Field(
        "false",
        title="Condition",
        description="Expression over input and inputs (expression mode; may be empty in llm mode)",
    )
    description: str = Field("", title="Description", description="For the LLM classifier")

    @field_validator("condition")
    @classmethod
    def _compiles(cls, condition: str) -> str:
        return check_expression(condition) if condition.strip() else condition

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not name.isidentifier() or not name.isascii():
            raise ValueError(
                f"route name {name!r} must be an identifier (letters, digits and _, "
                "not starting with a digit)"
            )
        if name == DEFAULT:
            raise ValueError('"default" is the router\'s own port; name the route otherwise')
        return name


class RouterConfig(NodeConfig):
    """Settings of the router node (docs/engine.md, node-type table)."""

    mode: Literal["expression", "llm"] = Field(
        "expression", title="Mode", description="Choose routes by condition, or ask a model"
    )
    routes: list[RouteConfig] = Field(
        default_factory=list, title="Routes", description="Checked in order"
    )
    multi: bool = Field(
        False, title="All matching routes", description="Expression mode: every true route"
    )
    provider: str = Field("Simulator", title="Provider", min_length=1, description="LLM mode")
    model: str = Field("sim-small", title="Model", min_length=1, description="LLM mode")

    @field_validator("routes")
    @classmethod
    def _unique(cls, routes: list[RouteConfig]) -> list[RouteConfig]:
        names = [route.name for route in routes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"route names must be unique; repeated: {', '.join(repeated)}")
        return routes

    @model_validator(mode="after")
    def _conditions_in_expression_mode(self) -> RouterConfig:
        empty = [route.name for route in self.routes if not route.condition.strip()]
        if self.mode == "expression" and empty:
            raise ExpressionError(f"route {empty[0]!r}: the condition is empty")
        return self


class RouterNode(NodeType):
    """Emits its input on the chosen routes' ports (or `default`).

    Raises NodeError(retryable=False) when a condition fails to evaluate, and
    the llm node's errors in llm mode.
    """

    type = "router"
    title = "Router"
    category = "Control flow"
    uses_providers = True
    description = "Sends its input down the matching branch(es), by condition or by a model."
    Config = RouterConfig
    input_ports = (Port("in", "any", description="The value to route"),)
    output_ports = (Port(DEFAULT, "any", description="When no route matches"),)
    config: RouterConfig

    @classmethod
    def outputs_for(cls, config: NodeConfig) -> tuple[Port, ...]:
        """One port per route name, then `default`."""
        assert isinstance(config, RouterConfig)
        routes = tuple(Port(r.name, "any", description=r.description) for r in config.routes)
        return routes + cls.output_ports

    @classmethod
    def queue_for(cls, config: NodeConfig) -> Queue:
        """ "io" in llm mode (waits on the network), else "cpu"."""
        assert isinstance(config, RouterConfig)
        return "io" if config.mode == "llm" else "cpu"

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """{route name: input value} for each chosen route, or {"default": value}."""
        value = inputs.get("in")
        if self.config.mode == "llm":
            chosen = [await self._classify(ctx, value)]
        else:
            chosen = self._matching(ctx, value)
        return {name: value for name in chosen or [DEFAULT]}

    def _matching(self, ctx: NodeContext, value: Any) -> list[str]:
        chosen: list[str] = []
        variables = {"input": value, "inputs": ctx.run_inputs}
        for route in self.config.routes:
            try:
                matched = evaluate(route.condition, variables)
            except ExpressionError as exc:
                raise NodeError(f"router route {route.name!r}: {exc}", retryable=False) from exc
            if matched:
                chosen.append(route.name)
                if not self.config.multi:
                    break
        return chosen

    async def _classify(self, ctx: NodeContext, value: Any) -> str:
        names = [route.name for route in self.config.routes]
        request = ChatRequest(
            model=self.config.model,
            messages=(
                Message(role="system", content=self._instructions()),
                Message(role="user", content=value if isinstance(value, str) else _json(value)),
            ),
            temperature=0.0,
            max_tokens=256,
            response_schema=route_schema(names),
        )
        call = await chat(ctx, ctx.provider(self.config.provider), request)
        answer = parse_route(call.text, names)
        ctx.log(f"classified as {answer!r}")
        return answer

    def _instructions(self) -> str:
        lines = [f"- {r.name}: {r.description or r.name}" for r in self.config.routes]
        return (
            "Classify the user's message into exactly one of these routes:\n"
            + "\n".join(lines)
            + f"\n- {DEFAULT}: none of the above\n"
            + 'Answer with JSON only: {"route": "<route name>"}.'
        )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def route_schema(names: list[str]) -> dict[str, Any]:
    """JSON Schema of the classifier's answer: {"route": one of names or "default"}."""
    return {
        "type": "object",
        "properties": {"route": {"type": "string", "enum": [*names, DEFAULT]}},
        "required": ["route"],
        "additionalProperties": False,
    }


def parse_route(text: str, names: list[str]) -> str:
    """The route a classifier reply names: `{"route": name}`, else the route
    name found earliest in the text as a whole word; "default" otherwise."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and "route" in answer:
        return str(answer["route"]) if answer["route"] in names else DEFAULT
    found = [(m.start(), name) for name in names if (m := re.search(rf"\b{name}\b", text))]
    return min(found)[1] if found else DEFAULT
