"""The join node: merges the values of its live incoming edges.

The planner runs a join when at least one incoming edge is live and gives it
the live edges' values in edge order (`in` is a `multiple` port).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from orchestration.nodes.base import NodeConfig, NodeContext, NodeError, NodeType, Port, Upstream


class JoinConfig(NodeConfig):
    """`mode`: how values merge; `separator`: between texts in "text" mode."""

    mode: Literal["list", "object", "text", "vote"] = Field(
        "list",
        title="Mode",
        description=(
            "list: values in edge order; object: keyed by source node label; "
            "text: joined by separator; vote: the most common value"
        ),
    )
    separator: str = Field("\n\n", title="Separator", description="Text mode: between values")


class JoinNode(NodeType):
    """Merges its live inputs into {"out": merged} by `mode`:

    - "list": [v1, v2, ...] in edge order;
    - "object": {label: value}, keyed by the source node's label (its id when
      unlabelled); a repeated label gets a suffix: "a", "a_2", "a_3";
    - "text": str() of each value (strings as they are) joined by `separator`;
    - "vote": the most common value, equality being JSON-canonical equality
      (sorted keys); a tie goes to the value seen first. No values: null.
    """

    type = "join"
    title = "Join"
    category = "Control flow"
    description = "Waits for its branches and merges their values (list, object, text, vote)."
    Config = JoinConfig
    input_ports = (Port("in", "any", multiple=True, description="The branches to merge"),)
    output_ports = (Port("out", "any", description="The merged value"),)
    config: JoinConfig

    async def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"out": merged value}. Raises NodeError(retryable=False) in object
        mode when ctx.upstream does not describe every value."""
        raw = inputs.get("in")
        values: list[Any] = raw if isinstance(raw, list) else [] if raw is None else [raw]
        mode = self.config.mode
        if mode == "object":
            return {"out": _by_label(_sources(ctx.upstream, len(values)), values)}
        if mode == "text":
            texts = (v if isinstance(v, str) else str(v) for v in values)
            return {"out": self.config.separator.join(texts)}
        if mode == "vote":
            return {"out": vote(values)}
        return {"out": values}


def _sources(upstream: list[Upstream], count: int) -> list[Upstream]:
    sources = [u for u in upstream if u.target_port == "in"]
    if len(sources) != count:
        raise NodeError(
            f"join: object mode needs the source of each value ({count} values, "
            f"{len(sources)} upstream edges into 'in')",
            retryable=False,
        )
    return sources


def _by_label(sources: list[Upstream], values: list[Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for source, value in zip(sources, values, strict=True):
        base = source.label or source.node_id
        key, n = base, 1
        while key in merged:
            n += 1
            key = f"{base}_{n}"
        merged[key] = value
    return merged


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def vote(values: list[Any]) -> Any:
    """The most common of `values` by JSON-canonical equality; ties go to the
    one seen first; None for no values."""
    counts: dict[str, int] = {}
    first: dict[str, Any] = {}
    for value in values:
        key = _canonical(value)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, value)
    if not counts:
        return None
    # dicts keep insertion order and max() keeps the first maximum: ties -> earliest
    winner = max(counts, key=lambda key: counts[key])
    return first[winner]
