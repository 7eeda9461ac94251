"""Input and output nodes, and the no-op passthrough.

- `input`: emits the run inputs (`key` null) or one of them (`inputs[key]`).
- `output`: passes its input through; graph `outputs` usually point here.
- `passthrough`: passes its input through (used by benchmarks).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestration.nodes.base import NodeConfig, NodeContext, NodeType, Port


class InputConfig(NodeConfig):
    """`key`: which run input to emit; null emits the whole run-inputs object."""

    key: str | None = Field(
        None,
        title="Key",
        min_length=1,
        description="Run input to emit; leave empty to emit the whole run-inputs object",
    )


class InputNode(NodeType):
    """Emits the run inputs on `out`: the whole object, or `inputs[key]`.

    A key the run was not given emits null (and logs a warning), as optional
    inputs may be left out.
    """

    type = "input"
    title = "Input"
    category = "Input/Output"
    description = "Starts the workflow with the run's inputs (all of them, or one by key)."
    Config = InputConfig
    output_ports = (Port("out", "any", description="The run inputs, or the one named by key"),)
    config: InputConfig

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"out": run inputs} or {"out": run_inputs[key]} (null when absent)."""
        key = self.config.key
        if key is None:
            return {"out": dict(ctx.run_inputs)}
        if key not in ctx.run_inputs:
            ctx.log(f"run input {key!r} was not given; emitting null", "warning")
        return {"out": ctx.run_inputs.get(key)}


class OutputNode(NodeType):
    """Passes `in` to `out`; graph `outputs` usually reference this node."""

    type = "output"
    title = "Output"
    category = "Input/Output"
    description = "Ends a branch: its value becomes a run output when the graph names it."
    input_ports = (Port("in", "any", description="The value to output"),)
    output_ports = (Port("out", "any", description="The same value"),)

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"out": inputs["in"]}."""
        return {"out": inputs.get("in")}


class PassthroughNode(NodeType):
    """A no-op: `out` is `in`. Used by benchmarks to measure the engine alone."""

    type = "passthrough"
    title = "Passthrough"
    category = "Utility"
    description = "Passes its input through unchanged (no-op, for benchmarks and wiring)."
    input_ports = (Port("in", "any", description="Any value"),)
    output_ports = (Port("out", "any", description="The same value"),)

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"out": inputs["in"]}."""
        return {"out": inputs.get("in")}
