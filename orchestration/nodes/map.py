"""The map node: runs a body node type once per item of a list.

The map is a *control* node: the planner expands its `items` input into one
step per item, each running the body node type with inputs
{"in": item, "item": item, "index": i, "context": <context input or null>},
at most `max_concurrency` at once, and completes the map with
{"results": [...], "errors": [...]} in item order (docs/engine.md, "map").
`run` is therefore not overridden. The planner and validation use `body_type`
and `body_config`.
"""

from __future__ import annotations

import builtins
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestration.nodes import UnknownNodeType, get_node_type
from orchestration.nodes.base import NodeConfig, NodeType, Port, Queue

#: the inputs every body step receives
BODY_INPUTS = frozenset({"in", "item", "index", "context"})


class MapBody(BaseModel):
    """The node type run per item and its config."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(title="Node type", min_length=1, description="A non-control node type")
    config: dict[str, Any] = Field(
        default_factory=dict, title="Config", description="That node type's config"
    )


class MapConfig(NodeConfig):
    """Settings of the map node (docs/engine.md, node-type table)."""

    body: MapBody = Field(
        default_factory=lambda: MapBody(type="llm"),
        title="Body",
        description="Node type (and its config) run for each item",
    )
    max_concurrency: int = Field(
        10, ge=1, le=1000, title="Max concurrency", description="Items running at once"
    )
    on_item_error: Literal["fail", "collect"] = Field(
        "fail",
        title="On item error",
        description="fail: a failed item fails the map; collect: record it in errors",
    )

    @model_validator(mode="after")
    def _check_body(self) -> MapConfig:
        MapNode.body_config(self)
        return self


class MapNode(NodeType):
    """Runs `body` for every item of `items`; executed by the planner."""

    type = "map"
    title = "Map"
    category = "Control flow"
    description = "Runs a node once per item of a list, in parallel, and collects the results."
    Config = MapConfig
    input_ports = (
        Port("items", "list", description="The list to map over"),
        Port("context", "any", required=False, description="Given to every item as context"),
    )
    output_ports = (
        Port("results", "list", description="Each item's first output (null when it failed)"),
        Port("errors", "list", description="Each item's error text (null when it succeeded)"),
    )
    control = "map"
    config: MapConfig

    @classmethod
    def body_type(cls, config: NodeConfig) -> builtins.type[NodeType]:
        """The body's node type. Raises ValueError naming the problem: an unknown
        type, a control type (a map in a map), or a type needing inputs other
        than in, item, index and context (a loop)."""
        body = _body(config)
        try:
            node_type = get_node_type(body.type)
        except UnknownNodeType:
            raise ValueError(f"map body: unknown node type {body.type!r}") from None
        if node_type.control is not None:
            raise ValueError(f"map body: {body.type!r} is a control node type and cannot be a body")
        return node_type

    @classmethod
    def body_config(cls, config: NodeConfig) -> NodeConfig:
        """The body's parsed config. Raises ValueError naming the problem (see
        body_type; or the body config's validation errors)."""
        node_type = cls.body_type(config)
        try:
            parsed = node_type.parse_config(_body(config).config)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(config)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"map body {node_type.type!r} config: {problems}") from None
        missing = [
            p.name for p in node_type.inputs_for(parsed) if p.required and p.name not in BODY_INPUTS
        ]
        if missing:
            raise ValueError(
                f"map body: {node_type.type!r} needs input(s) {', '.join(missing)}, but a "
                f"map body receives only {', '.join(sorted(BODY_INPUTS))}"
            )
        return parsed

    @classmethod
    def queue_for(cls, config: NodeConfig) -> Queue:
        """The body's queue (its steps are the body's)."""
        return cls.body_type(config).queue_for(cls.body_config(config))


def _body(config: NodeConfig) -> MapBody:
    if not isinstance(config, MapConfig):
        raise ValueError(f"expected a map config, got {type(config).__name__}")
    return config.body
