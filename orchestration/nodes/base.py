"""The node type contract.

A node type declares its `type` name, title, category, description, a pydantic
`Config` (its JSON Schema drives the editor's forms), typed input and output
ports, the Celery queue its steps run on, and `async run(ctx, inputs) -> outputs`.

Inputs and outputs are dicts keyed by port name. A port with `multiple=True`
receives a list of the values on its edges, in edge order. A node that returns
no value for an output port leaves that port's edges *dead*: nodes downstream
are skipped (this is how `router` chooses branches).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from orchestration.providers.base import LLMCall, Provider

PortType = Literal["any", "text", "json", "list", "number", "boolean"]
Queue = Literal["io", "cpu"]


def port_types_compatible(source: PortType, target: PortType) -> bool:
    """Whether an output of type `source` may feed an input of type `target`:
    equal types, `any` on either side, or anything into `text` (rendered as text).
    """
    if source == target or "any" in (source, target):
        return True
    return target == "text"


@dataclass(frozen=True)
class Port:
    """A typed input or output of a node. `required` inputs must be connected."""

    name: str
    type: PortType = "any"
    required: bool = True
    multiple: bool = False
    description: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "multiple": self.multiple,
            "description": self.description,
        }


class NodeConfig(BaseModel):
    """Settings every node type has: retry policy and timeout.

    max_attempts: attempts in all (1 = no retry); retry_backoff_s: first delay,
    doubled each attempt with full jitter (AWS Architecture Blog, "Exponential
    Backoff and Jitter", 2015), capped at retry_backoff_max_s; timeout_s: one
    attempt's limit in seconds.
    """

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(3, ge=1, le=10, description="Attempts in all (1 = no retry)")
    retry_backoff_s: float = Field(1.0, ge=0, le=600, description="First retry delay (s)")
    retry_backoff_max_s: float = Field(30.0, ge=0, le=3600, description="Longest retry delay (s)")
    timeout_s: float = Field(120.0, gt=0, le=3600, description="Time limit of one attempt (s)")


@dataclass(frozen=True)
class Upstream:
    """One live incoming edge's value, for templates and merges."""

    node_id: str
    label: str
    port: str
    target_port: str
    value: Any


class NodeError(Exception):
    """A node failed. `retryable=False` skips the remaining attempts."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class WaitForChild(Exception):
    """Raised by `ctx.run_subworkflow` when the child run executes elsewhere: the
    step waits, and is completed with the child's outputs when the child ends."""

    def __init__(self, child_run_id: str):
        super().__init__(child_run_id)
        self.child_run_id = child_run_id


class NodeContext(Protocol):
    """What a running node may use. Implemented by the web layer's worker
    (webapp.runs.context) and by orchestration.context.LocalContext."""

    run_id: str
    node_id: str
    iteration: int
    item: int | None
    attempt: int
    #: stable across attempts: "<run>:<node>:<iteration>:<item or ->"
    idempotency_key: str
    #: run inputs, as validated against the graph's input schema
    run_inputs: dict[str, Any]
    #: live incoming edges' values, in edge order
    upstream: list[Upstream]
    #: absolute deadline of the run as a UNIX timestamp (s), or None
    deadline: float | None

    def provider(self, name: str) -> Provider:
        """The team's provider named `name`. Raises NodeError(retryable=False)
        naming it when the team has no such provider."""
        ...

    def emit_token(self, text: str) -> None:
        """Stream a text delta to viewers (coalesced; not stored one by one)."""
        ...

    def log(self, message: str, level: str = "info") -> None:
        """A log line shown on the step (never put secrets here)."""
        ...

    def record_llm_call(self, call: LLMCall) -> None:
        """Account one LLM call's tokens, cost and latency to this step."""
        ...

    async def run_subworkflow(
        self, workflow: str, version: int | None, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        """Run a published version (None = latest) of the team's workflow named or
        id'd `workflow` as a child run and return its outputs, or raise
        WaitForChild when the child runs elsewhere. Raises NodeError when the
        workflow or version does not exist."""
        ...


class NodeType:
    """Base class of node types (see the module docstring).

    Subclasses set the ClassVars and implement `run`. Nodes whose ports depend
    on their config (router routes) override `inputs_for` / `outputs_for`.
    `control` marks node types the planner expands itself ("map"): their steps
    run the body node type instead of `run`.
    """

    type: ClassVar[str]
    title: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[builtins.type[NodeConfig]] = NodeConfig
    input_ports: ClassVar[tuple[Port, ...]] = ()
    output_ports: ClassVar[tuple[Port, ...]] = ()
    queue: ClassVar[Queue] = "cpu"
    side_effects: ClassVar[bool] = False
    uses_providers: ClassVar[bool] = False  # calls ctx.provider(): the worker loads the configs
    control: ClassVar[str | None] = None

    def __init__(self, config: NodeConfig):
        self.config = config

    @classmethod
    def parse_config(cls, raw: dict[str, Any]) -> NodeConfig:
        """The config validated by `Config`. Raises pydantic.ValidationError."""
        return cls.Config.model_validate(raw)

    @classmethod
    def inputs_for(cls, config: NodeConfig) -> tuple[Port, ...]:
        return cls.input_ports

    @classmethod
    def outputs_for(cls, config: NodeConfig) -> tuple[Port, ...]:
        return cls.output_ports

    @classmethod
    def queue_for(cls, config: NodeConfig) -> Queue:
        """The Celery queue this node's steps run on (`io` waits on the network)."""
        return cls.queue

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The catalogue entry served by GET /api/node-types."""
        return {
            "type": cls.type,
            "title": cls.title,
            "category": cls.category,
            "description": cls.description,
            "queue": cls.queue,
            "side_effects": cls.side_effects,
            "config_schema": cls.Config.model_json_schema(),
            "inputs": [port.describe() for port in cls.input_ports],
            "outputs": [port.describe() for port in cls.output_ports],
            "dynamic_ports": cls.inputs_for.__func__ is not NodeType.inputs_for.__func__  # type: ignore[attr-defined]
            or cls.outputs_for.__func__ is not NodeType.outputs_for.__func__,  # type: ignore[attr-defined]
        }

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """Execute once. Returns {output port: value}; raises NodeError."""
        raise NodeError(f"node type {self.type!r} is executed by the planner", retryable=False)
