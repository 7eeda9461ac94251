"""Small builders of graph documents (plain JSON dicts), for tests, benchmarks
and scripts that write workflows in code. See orchestration/graph.py for the shape."""

from __future__ import annotations

from typing import Any


def node(
    id: str, type: str, config: dict[str, Any] | None = None, label: str = ""
) -> dict[str, Any]:
    """A node dict at position (0, 0); the label defaults to the id."""
    return {
        "id": id,
        "type": type,
        "label": label or id,
        "config": config or {},
        "position": {"x": 0, "y": 0},
    }


def edge(src: str, sp: str, dst: str, dp: str) -> dict[str, Any]:
    """An edge dict from `src`.`sp` to `dst`.`dp`, with an id derived from both ends."""
    return {
        "id": f"{src}.{sp}-{dst}.{dp}",
        "source": src,
        "source_port": sp,
        "target": dst,
        "target_port": dp,
    }
