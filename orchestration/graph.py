"""The workflow graph document: one JSON object per workflow version.

Shape (schema_version 1):
    {
      "schema_version": 1,
      "nodes":   [{"id", "type", "label", "config": {...}, "position": {"x", "y"}}],
      "edges":   [{"id", "source", "source_port", "target", "target_port"}],
      "inputs":  {JSON Schema of the run's inputs (an object schema)},
      "outputs": {"<output name>": {"node": "<node id>", "port": "<output port>"}}
    }

`Graph.model_validate(data)` parses it (pydantic.ValidationError on a malformed
document, with the location of each problem); `graph.to_json()` gives it back
losslessly. Semantic checks (node types, ports, cycles...) are
`orchestration.validation.validate(graph)`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Position(_Strict):
    """Canvas position of a node, in editor pixels."""

    x: float = 0.0
    y: float = 0.0


class Node(_Strict):
    """One node: its `type` names a registered node type; `config` follows that
    type's Config schema."""

    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1)
    label: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    position: Position = Field(default_factory=Position)

    @property
    def title(self) -> str:
        """The label, or the id when the node has no label."""
        return self.label or self.id


class Edge(_Strict):
    """A connection from an output port of `source` to an input port of `target`."""

    id: str = Field(min_length=1, max_length=100)
    source: str
    source_port: str = "out"
    target: str
    target_port: str = "in"


class OutputRef(_Strict):
    """Where a run output comes from: an output port of a node."""

    node: str
    port: str = "out"


class Graph(_Strict):
    """A whole workflow version. See the module docstring for the JSON shape."""

    schema_version: int = SCHEMA_VERSION
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    outputs: dict[str, OutputRef] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON document (plain dicts and lists)."""
        return self.model_dump(mode="json")

    def node(self, node_id: str) -> Node:
        """The node with id `node_id`. Raises KeyError."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def nodes_by_id(self) -> dict[str, Node]:
        """{node id: node}; the first wins when ids repeat (validation reports those)."""
        result: dict[str, Node] = {}
        for node in self.nodes:
            result.setdefault(node.id, node)
        return result
