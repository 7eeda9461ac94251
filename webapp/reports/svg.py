"""Static SVG drawings for reports (no JavaScript, no external resources): the
pinned graph with each node's final state, and the run's timeline."""

from __future__ import annotations

from html import escape
from typing import Any

from webapp.monitoring.graphview import NODE_H, NODE_W, layout
from webapp.monitoring.timeline import STATUS_COLOURS

TIMELINE_W = 760  # px, the plot area plus the lane labels
LANE_H = 18  # px
LABEL_W = 150  # px
MAX_LANES = 400  # lanes drawn; the steps table and CSV hold every attempt


def _colour(state: str) -> str:
    return STATUS_COLOURS.get(state, "#6e7781")


def graph_svg(graph: dict[str, Any], states: dict[str, str], badges: dict[str, str]) -> str:
    """The graph as an SVG document fragment: boxes at the nodes' positions
    (webapp.monitoring.graphview.layout), each outlined in its final state's
    colour with the state written in it; `states` maps node id -> state
    ("succeeded", "failed", ... or absent = "not run"); `badges` node id -> a
    short line (latency ms, tokens, cost)."""
    drawing = layout(graph)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {drawing.width:.0f} '
        f'{drawing.height:.0f}" width="{drawing.width:.0f}" height="{drawing.height:.0f}" '
        'role="img" aria-label="Workflow graph with final node states">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#57606a"/></marker></defs>',
    ]
    for edge in drawing.edges:
        parts.append(
            f'<path d="{edge.d}" fill="none" stroke="#8c959f" stroke-width="1.5" '
            'marker-end="url(#arrow)"/>'
        )
    for box in drawing.nodes:
        state = states.get(box.id, "not run")
        colour = _colour(state)
        parts.append(
            f'<g class="node" data-node="{escape(box.id)}" data-state="{escape(state)}" '
            f'transform="translate({box.x:.0f},{box.y:.0f})">'
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="6" fill="#ffffff" stroke="{colour}" '
            'stroke-width="2.5"/>'
            f'<rect width="6" height="{NODE_H}" rx="3" fill="{colour}"/>'
            f'<text x="12" y="18" font-size="12" font-weight="bold" fill="#1f2328">'
            f"{escape(box.label[:22])}</text>"
            f'<text x="{NODE_W - 8}" y="18" font-size="10" text-anchor="end" fill="{colour}">'
            f"{escape(state)}</text>"
            f'<text x="12" y="34" font-size="10" fill="#57606a">{escape(box.type)}</text>'
            f'<text x="12" y="50" font-size="9" fill="#57606a">'
            f"{escape(badges.get(box.id, '')[:34])}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(steps: list[dict[str, Any]]) -> str:
    """A Gantt chart as SVG: one lane per node instance (the step records'
    `lane`), a pale bar for the queue wait and a bar coloured by status for the
    run time. `steps` are report step records with `queued_ms`, `started_ms`,
    `finished_ms` (ms since the run was created, or None). At most MAX_LANES
    lanes are drawn, with a note saying how many were left out."""
    lanes: list[str] = []
    for step in steps:
        if step["lane"] not in lanes:
            lanes.append(step["lane"])
    shown = lanes[:MAX_LANES]
    index = {name: i for i, name in enumerate(shown)}
    ends = [s[k] for s in steps for k in ("finished_ms", "started_ms") if s[k] is not None]
    span = max(ends, default=0.0) or 1.0
    plot_w = TIMELINE_W - LABEL_W - 20
    height = LANE_H * len(shown) + 40 + (16 if len(lanes) > MAX_LANES else 0)

    def x(ms: float) -> float:
        return LABEL_W + plot_w * ms / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {TIMELINE_W} '
        f'{height}" width="{TIMELINE_W}" height="{height}" role="img" '
        'aria-label="Timeline of steps">'
    ]
    for name, i in index.items():
        y = i * LANE_H + 4
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 12}" font-size="9" text-anchor="end" '
            f'fill="#1f2328">{escape(name[:28])}</text>'
        )
    for step in steps:
        row = index.get(step["lane"])
        if row is None:
            continue
        y = row * LANE_H + 5
        queued, started, finished = step["queued_ms"], step["started_ms"], step["finished_ms"]
        if queued is not None and started is not None:
            width = max(x(started) - x(queued), 0.5)
            parts.append(
                f'<rect x="{x(queued):.1f}" y="{y}" width="{width:.1f}" height="{LANE_H - 6}" '
                'fill="#d8dee4"/>'
            )
        if started is not None and finished is not None:
            width = max(x(finished) - x(started), 1.0)
            parts.append(
                f'<rect x="{x(started):.1f}" y="{y}" width="{width:.1f}" height="{LANE_H - 6}" '
                f'fill="{_colour(step["status"])}"><title>{escape(step["lane"])} '
                f"{escape(step['status'])} {finished - started:.0f} ms</title></rect>"
            )
    axis_y = LANE_H * len(shown) + 10
    parts.append(
        f'<line x1="{LABEL_W}" y1="{axis_y}" x2="{LABEL_W + plot_w}" y2="{axis_y}" '
        'stroke="#57606a"/>'
    )
    for k in range(5):
        ms = span * k / 4
        parts.append(
            f'<text x="{x(ms):.1f}" y="{axis_y + 14}" font-size="9" text-anchor="middle" '
            f'fill="#57606a">{ms:,.0f} ms</text>'
        )
    if len(lanes) > MAX_LANES:
        parts.append(
            f'<text x="{LABEL_W}" y="{axis_y + 30}" font-size="9" fill="#57606a">'
            f"{len(lanes) - MAX_LANES} more lanes not drawn (every step is in the table)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
