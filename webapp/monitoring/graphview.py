"""A read-only drawing of a pinned graph: node boxes and edge curves laid out from
the document's node positions, rendered as inline SVG by the run page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NODE_W = 196  # px
NODE_H = 58  # px
PAD = 24  # px around the drawing


@dataclass(frozen=True)
class NodeBox:
    id: str
    label: str
    type: str
    x: float
    y: float


@dataclass(frozen=True)
class EdgePath:
    id: str
    source: str
    target: str
    d: str  # SVG path data


@dataclass(frozen=True)
class Drawing:
    width: float
    height: float
    nodes: list[NodeBox]
    edges: list[EdgePath]


def _position(node: dict[str, Any], index: int) -> tuple[float, float]:
    pos = node.get("position") or {}
    try:
        return float(pos.get("x", index * 220)), float(pos.get("y", 0))
    except (TypeError, ValueError):
        return float(index * 220), 0.0


def layout(graph: dict[str, Any]) -> Drawing:
    """Boxes (NODE_W x NODE_H px) at each node's `position`, shifted so the drawing
    starts at (PAD, PAD); edges from the source's right side to the target's left
    side as cubic curves (back edges of loops bow below the boxes)."""
    raw = [(n, *_position(n, i)) for i, n in enumerate(graph.get("nodes", []))]
    if not raw:
        return Drawing(2 * PAD, 2 * PAD, [], [])
    min_x = min(x for _, x, _ in raw)
    min_y = min(y for _, _, y in raw)
    boxes = [
        NodeBox(
            id=str(n["id"]),
            label=str(n.get("label") or n["id"]),
            type=str(n.get("type", "")),
            x=x - min_x + PAD,
            y=y - min_y + PAD,
        )
        for n, x, y in raw
    ]
    by_id = {b.id: b for b in boxes}
    edges = []
    for e in graph.get("edges", []):
        src, dst = by_id.get(str(e.get("source"))), by_id.get(str(e.get("target")))
        if src is None or dst is None:
            continue
        edges.append(EdgePath(str(e.get("id", "")), src.id, dst.id, _curve(src, dst)))
    width = max(b.x for b in boxes) + NODE_W + PAD
    height = max(b.y for b in boxes) + NODE_H + PAD + 40  # room for back edges
    return Drawing(width, height, boxes, edges)


def _curve(src: NodeBox, dst: NodeBox) -> str:
    x1, y1 = src.x + NODE_W, src.y + NODE_H / 2
    x2, y2 = dst.x, dst.y + NODE_H / 2
    if x2 > x1:
        mid = (x1 + x2) / 2
        return f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
    # A back edge (loop feedback): leave downwards and come back from below.
    low = max(src.y, dst.y) + NODE_H + 36
    return f"M{x1:.0f},{y1:.0f} C{x1 + 60:.0f},{low:.0f} {x2 - 60:.0f},{low:.0f} {x2:.0f},{y2:.0f}"
