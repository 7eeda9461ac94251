"""The run page's Plotly timeline (Gantt): one lane per node instance, a pale bar
for the queue wait and a coloured bar for the run time of each step attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]

from webapp.runs.models import Run, Step

STATUS_COLOURS = {
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "running": "#0969da",
    "waiting": "#8250df",
    "cancelled": "#6e7781",
    "skipped": "#afb8c1",
    "queued": "#d4a72c",
    "pending": "#d4a72c",
}
MAX_STEPS = 5000  # lanes beyond this are not drawn (the step table has them all)


def lane(step: Step) -> str:
    """A lane name: node id, `#k` for loop iteration k > 0, `[i]` for map item i."""
    name = step.node_id
    if step.iteration:
        name += f" #{step.iteration}"
    if step.item is not None:
        name += f" [{step.item}]"
    return name


def _ms(moment: datetime | None, origin: datetime) -> float | None:
    return None if moment is None else (moment - origin).total_seconds() * 1000


def timeline_figure(run: Run, now: datetime) -> str:
    """A Plotly figure as JSON text ({"data", "layout"}): x in ms since the run was
    created; per attempt a queue-wait bar (queued -> started) and a run bar
    (started -> finished, or -> `now` while running) coloured by status."""
    steps = list(
        Step.objects.filter(run=run)
        .only(
            "id",
            "node_id",
            "iteration",
            "item",
            "attempt",
            "status",
            "queued_at",
            "started_at",
            "finished_at",
            "latency_ms",
            "worker",
        )
        .order_by("id")[:MAX_STEPS]
    )
    origin = run.created_at
    lanes: list[str] = []
    for step in steps:
        if lane(step) not in lanes:
            lanes.append(lane(step))
    waits: dict[str, list[Any]] = {"y": [], "base": [], "x": [], "text": []}
    runs: dict[str, list[Any]] = {"y": [], "base": [], "x": [], "text": [], "color": []}
    for step in steps:
        queued, started = _ms(step.queued_at, origin), _ms(step.started_at, origin)
        end = _ms(step.finished_at, origin)
        if end is None and step.status == "running":
            end = _ms(now, origin)
        if queued is not None and started is not None:
            waits["y"].append(lane(step))
            waits["base"].append(queued)
            waits["x"].append(max(started - queued, 0.5))
            waits["text"].append(f"queue wait {started - queued:.0f} ms")
        if started is not None and end is not None:
            runs["y"].append(lane(step))
            runs["base"].append(started)
            runs["x"].append(max(end - started, 0.5))
            runs["text"].append(
                f"{step.status} · attempt {step.attempt} · {end - started:.0f} ms"
                + (f" · {step.worker}" if step.worker else "")
            )
            runs["color"].append(STATUS_COLOURS.get(step.status, "#6e7781"))
    figure = go.Figure()
    figure.add_bar(
        name="queue wait", orientation="h", marker_color="#d8dee4", hoverinfo="text",
        y=waits["y"], base=waits["base"], x=waits["x"], hovertext=waits["text"],
    )  # fmt: skip
    figure.add_bar(
        name="run", orientation="h", marker_color=runs["color"], hoverinfo="text",
        y=runs["y"], base=runs["base"], x=runs["x"], hovertext=runs["text"],
    )  # fmt: skip
    figure.update_layout(
        barmode="overlay",
        height=max(160, 28 * len(lanes) + 80),
        margin={"l": 120, "r": 20, "t": 10, "b": 40},
        xaxis={"title": {"text": "ms since the run was created"}, "rangemode": "tozero"},
        yaxis={"categoryorder": "array", "categoryarray": list(reversed(lanes))},
        showlegend=False,
        template="plotly_white",
    )
    return str(figure.to_json())
