"""The template node: renders a sandboxed Jinja2 template to text."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from orchestration.nodes.base import NodeConfig, NodeContext, NodeError, NodeType, Port
from orchestration.templating import TemplateError, check_template, render, template_variables


class TemplateConfig(NodeConfig):
    """`template`: Jinja2 source (sandboxed, StrictUndefined)."""

    template: str = Field(
        "{{ input }}",
        title="Template",
        description=(
            "Jinja2 template. Variables: input, inputs (run inputs), each upstream node "
            "by id, and item, index, context in map bodies"
        ),
    )

    _check_template = field_validator("template")(check_template)


class TemplateNode(NodeType):
    """Renders `template` with the template variables; outputs {"text": str}.

    Raises NodeError(retryable=False) naming the undefined variable / line.
    """

    type = "template"
    title = "Template"
    category = "Text"
    description = "Builds text from its inputs with a Jinja2 template."
    Config = TemplateConfig
    input_ports = (
        Port("in", "any", required=False, multiple=True, description="Values for the template"),
    )
    output_ports = (Port("text", "text", description="The rendered text"),)
    config: TemplateConfig

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"text": rendered template}."""
        try:
            text = render(self.config.template, template_variables(ctx, inputs))
        except TemplateError as exc:
            raise NodeError(f"template: {exc}", retryable=False) from exc
        return {"text": text}
