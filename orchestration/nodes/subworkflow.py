"""The subworkflow node: runs a published workflow of the team as a child run."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestration.nodes.base import NodeConfig, NodeContext, NodeError, NodeType, Port


class SubworkflowConfig(NodeConfig):
    """`workflow`: name or id of a workflow of the same team; `version`: a
    published version number, or null for the latest published one."""

    workflow: str = Field(
        title="Workflow", min_length=1, description="Name or id of a workflow of this team"
    )
    version: int | None = Field(
        None, ge=1, title="Version", description="Published version; empty for the latest"
    )


class SubworkflowNode(NodeType):
    """Runs the child workflow with `in` (an object, or {} when not connected)
    as its inputs; outputs {"out": the child's outputs}.

    Raises NodeError(retryable=False) when `in` is not an object; propagates
    WaitForChild (the step then waits for the child) and the context's errors.
    """

    type = "subworkflow"
    title = "Subworkflow"
    category = "Control flow"
    description = "Runs another published workflow of the team and returns its outputs."
    Config = SubworkflowConfig
    input_ports = (
        Port("in", "any", required=False, description="The child run's inputs (an object)"),
    )
    output_ports = (Port("out", "json", description="The child run's outputs"),)
    config: SubworkflowConfig

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"out": outputs of the child run}."""
        child_inputs = inputs.get("in")
        if child_inputs is None:
            child_inputs = {}
        if not isinstance(child_inputs, dict):
            raise NodeError(
                "subworkflow: input 'in' must be an object of run inputs, "
                f"got {type(child_inputs).__name__}",
                retryable=False,
            )
        cfg = self.config
        return {"out": await ctx.run_subworkflow(cfg.workflow, cfg.version, child_inputs)}
