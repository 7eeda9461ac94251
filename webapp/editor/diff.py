"""What changed between two graph documents, for the version history."""

from __future__ import annotations

import json
from typing import Any


def _by_id(items: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {str(x["id"]): x for x in items if isinstance(x, dict) and "id" in x}


def _node_key(node: dict[str, Any]) -> str:
    # Position is layout, not behaviour: moving a node is not a change.
    return json.dumps(
        [node.get("type"), node.get("label", ""), node.get("config", {})], sort_keys=True
    )


def _edge_key(edge: dict[str, Any]) -> tuple[Any, ...]:
    return (
        edge.get("source"),
        edge.get("source_port"),
        edge.get("target"),
        edge.get("target_port"),
    )


def diff_graphs(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Summary of `old` -> `new`: ids of nodes added, removed and changed (type,
    label or config; not position), edges added, removed and changed (ends or
    ports), and whether the run inputs schema or the outputs mapping changed.

    Returns {"nodes_added": [...], "nodes_removed": [...], "nodes_changed": [...],
    "edges_added": [...], "edges_removed": [...], "edges_changed": [...],
    "inputs_changed": bool, "outputs_changed": bool, "summary": "2 nodes added, ..."}.
    """
    old_nodes, new_nodes = _by_id(old.get("nodes")), _by_id(new.get("nodes"))
    old_edges, new_edges = _by_id(old.get("edges")), _by_id(new.get("edges"))
    result: dict[str, Any] = {
        "nodes_added": [i for i in new_nodes if i not in old_nodes],
        "nodes_removed": [i for i in old_nodes if i not in new_nodes],
        "nodes_changed": [
            i
            for i in new_nodes
            if i in old_nodes and _node_key(old_nodes[i]) != _node_key(new_nodes[i])
        ],
        "edges_added": [i for i in new_edges if i not in old_edges],
        "edges_removed": [i for i in old_edges if i not in new_edges],
        "edges_changed": [
            i
            for i in new_edges
            if i in old_edges and _edge_key(old_edges[i]) != _edge_key(new_edges[i])
        ],
        "inputs_changed": old.get("inputs") != new.get("inputs"),
        "outputs_changed": old.get("outputs") != new.get("outputs"),
    }
    result["summary"] = summarise(result)
    return result


def summarise(diff: dict[str, Any]) -> str:
    """One line such as "2 nodes added, 1 node changed, 1 edge removed"."""
    parts = []
    for key, noun, verb in (
        ("nodes_added", "node", "added"),
        ("nodes_removed", "node", "removed"),
        ("nodes_changed", "node", "changed"),
        ("edges_added", "edge", "added"),
        ("edges_removed", "edge", "removed"),
        ("edges_changed", "edge", "changed"),
    ):
        count = len(diff[key])
        if count:
            parts.append(f"{count} {noun}{'s' if count != 1 else ''} {verb}")
    if diff["inputs_changed"]:
        parts.append("run inputs changed")
    if diff["outputs_changed"]:
        parts.append("outputs changed")
    return ", ".join(parts) or "no changes"
