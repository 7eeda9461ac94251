"""The loop node: repeats its body until a condition holds.

Iteration k of the loop node gets `init` (k = 0) or the `feedback` value of
iteration k-1. At k = 0 it emits `body`; at k >= 1 it emits `done` (the
feedback value) when `condition` is true over `value` and `iteration`, or when
k reaches `max_iterations`; otherwise `body` again (docs/engine.md, "loop").
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from orchestration.expressions import ExpressionError, check_expression, evaluate
from orchestration.nodes.base import NodeConfig, NodeContext, NodeError, NodeType, Port


class LoopConfig(NodeConfig):
    """`condition`: expression over `value`, `iteration`; `max_iterations`: cap."""

    condition: str = Field(
        "false",
        title="Stop when",
        description="Expression over value (the feedback) and iteration; true ends the loop",
    )
    max_iterations: int = Field(
        3, ge=1, le=100, title="Max iterations", description="The loop ends at this iteration"
    )

    _check_condition = field_validator("condition")(check_expression)


class LoopNode(NodeType):
    """Emits {"body": value} to run the body again or {"done": value} to end.

    Raises NodeError(retryable=False) when the condition fails to evaluate.
    """

    type = "loop"
    title = "Loop"
    category = "Control flow"
    description = "Runs its body repeatedly, feeding each result back, until a condition holds."
    Config = LoopConfig
    input_ports = (
        Port("init", "any", description="The first value given to the body"),
        Port("feedback", "any", description="The body's result (the back edge)"),
    )
    output_ports = (
        Port("body", "any", description="The value for this iteration's body"),
        Port("done", "any", description="The final value"),
    )
    config: LoopConfig

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """Iteration 0: {"body": init}; later {"done": feedback} or {"body": feedback}."""
        k = ctx.iteration
        if k == 0:
            return {"body": inputs.get("init")}
        value = inputs.get("feedback")
        if k >= self.config.max_iterations or self._stop(value, k):
            return {"done": value}
        return {"body": value}

    def _stop(self, value: Any, iteration: int) -> bool:
        try:
            return bool(evaluate(self.config.condition, {"value": value, "iteration": iteration}))
        except ExpressionError as exc:
            raise NodeError(f"loop condition: {exc}", retryable=False) from exc
