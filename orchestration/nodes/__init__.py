"""Node types and their registry.

Node types are found through `REGISTRY`, a map of type name to a lazy dotted
path (as healthchecks does for its integrations), so importing the registry does
not import every node type's dependencies.
"""

from __future__ import annotations

from importlib import import_module

from orchestration.nodes.base import NodeType

REGISTRY: dict[str, str] = {
    "input": "orchestration.nodes.io:InputNode",
    "output": "orchestration.nodes.io:OutputNode",
    "llm": "orchestration.nodes.llm:LLMNode",
    "router": "orchestration.nodes.router:RouterNode",
    "join": "orchestration.nodes.join:JoinNode",
    "map": "orchestration.nodes.map:MapNode",
    "loop": "orchestration.nodes.loop:LoopNode",
    "subworkflow": "orchestration.nodes.subworkflow:SubworkflowNode",
    "template": "orchestration.nodes.template:TemplateNode",
    "passthrough": "orchestration.nodes.io:PassthroughNode",
}

_loaded: dict[str, type[NodeType]] = {}


class UnknownNodeType(KeyError):
    """No node type is registered under this name."""


def get_node_type(name: str) -> type[NodeType]:
    """The node type class registered as `name`. Raises UnknownNodeType."""
    if name not in _loaded:
        if name not in REGISTRY:
            raise UnknownNodeType(name)
        module_name, _, class_name = REGISTRY[name].partition(":")
        _loaded[name] = getattr(import_module(module_name), class_name)
    return _loaded[name]


def catalogue() -> list[dict[str, object]]:
    """Every node type's `describe()`, ordered by category then title."""
    entries = [get_node_type(name).describe() for name in REGISTRY]
    return sorted(entries, key=lambda e: (str(e["category"]), str(e["title"])))
