"""Hypothesis strategies for graph documents.

`valid_graphs()` draws random graphs that `orchestration.validation.validate`
accepts with no problem at all (no errors, no warnings). They are DAGs of
`input`, `passthrough`, `template`, `router` (expression mode, conditions over
`input`) and `join` nodes, optionally with one `loop` whose body is a short
chain, and end in one `output` node named by `graph.outputs["result"]`.

    from tests.orchestration.strategies import valid_graphs

    @given(valid_graphs(max_nodes=10))
    def test_something(graph: Graph) -> None: ...

How a graph is built: one or two input nodes, then nodes added one at a time,
each fed by 1-3 output ports of earlier nodes (so every node is reachable from
an input and there is no cycle); a router offers each route and `default` as
ports for later nodes (so some branches are skipped at run time); a loop takes
`init` from an earlier port, its body is 1-3 passthrough/template nodes in a
chain from `body` to `feedback` (body templates may also read earlier outside
ports), and only its `done` port is offered to later nodes. Some graph outputs
besides "result" may name other earlier ports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from orchestration.graph import Graph

#: the largest graph valid_graphs draws (keeps property tests fast)
MAX_NODES = 15

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"topic": {"type": "string"}, "n": {"type": "integer"}},
    "required": ["topic"],
}
#: run inputs that satisfy INPUT_SCHEMA, for tests that run the graphs
RUN_INPUTS: dict[str, Any] = {"topic": "graphs", "n": 3}

TEMPLATES = ("{{ input }}", "[{{ input }}]", "{% if input %}yes{% else %}no{% endif %}")
CONDITIONS = (
    "input is string",
    "input is mapping",
    "(input | string | length) > 10",
    "input == 'yes'",
    "true",
    "false",
)
LOOP_CONDITIONS = ("false", "iteration >= 2", "value is string")
LABELS = ("", "Draft", "Critique", "Revise", "Research", "Summary")
#: kinds of node drawn between the inputs and the output
KINDS = ("passthrough", "template", "router", "join", "loop")

Port = tuple[str, str]  # (node id, output port)


@dataclass
class _Builder:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    #: output ports outside any loop body, for later nodes to read
    ports: list[Port] = field(default_factory=list)

    def add_node(self, kind: str, label: str, config: dict[str, Any]) -> str:
        node_id = f"{kind}{len(self.nodes)}"
        x, y = 220.0 * len(self.nodes), 80.0 * (len(self.nodes) % 3)
        self.nodes.append(
            {
                "id": node_id,
                "type": kind,
                "label": label,
                "config": config,
                "position": {"x": x, "y": y},
            }
        )
        return node_id

    def connect(self, source: Port, target: str, target_port: str = "in") -> None:
        self.edges.append(
            {
                "id": f"e{len(self.edges)}",
                "source": source[0],
                "source_port": source[1],
                "target": target,
                "target_port": target_port,
            }
        )


@st.composite
def valid_graphs(draw: st.DrawFn, max_nodes: int = 12, loops: bool = True) -> Graph:
    """Random valid graphs.

    max_nodes: the most nodes in all (inputs, loop body and output included),
    3 to MAX_NODES (15). loops: whether a graph may contain a loop (at most one).
    Raises ValueError for a max_nodes out of range.
    """
    if not 3 <= max_nodes <= MAX_NODES:
        raise ValueError(f"max_nodes must be 3 to {MAX_NODES}, not {max_nodes}")
    builder = _Builder()
    for _ in range(draw(st.integers(1, 2))):
        key = draw(st.sampled_from([None, "topic"]))
        node_id = builder.add_node("input", draw(st.sampled_from(LABELS)), {"key": key})
        builder.ports.append((node_id, "out"))
    budget = draw(st.integers(0, max_nodes - len(builder.nodes) - 1))
    has_loop = False
    while budget > 0:
        kind = draw(st.sampled_from(KINDS))
        if kind == "loop" and (has_loop or not loops or budget < 2):
            kind = "passthrough"
        if kind == "loop":
            has_loop = True
            budget -= _add_loop(draw, builder, budget)
        else:
            _ADDERS[kind](draw, builder)
            budget -= 1
    output = builder.add_node("output", "Result", {})
    builder.connect(draw(st.sampled_from(builder.ports)), output)
    outputs = {"result": {"node": output, "port": "out"}}
    extra = draw(st.lists(st.sampled_from(builder.ports), max_size=2, unique=True))
    for i, (node_id, port) in enumerate(extra):
        outputs[f"extra_{i}"] = {"node": node_id, "port": port}
    document = {
        "schema_version": 1,
        "nodes": builder.nodes,
        "edges": builder.edges,
        "inputs": INPUT_SCHEMA,
        "outputs": outputs,
    }
    return Graph.model_validate(document)


def _sources(draw: st.DrawFn, builder: _Builder, most: int) -> list[Port]:
    """1 to `most` distinct earlier output ports."""
    return draw(st.lists(st.sampled_from(builder.ports), min_size=1, max_size=most, unique=True))


def _add_passthrough(draw: st.DrawFn, builder: _Builder) -> None:
    node_id = builder.add_node("passthrough", draw(st.sampled_from(LABELS)), {})
    builder.connect(draw(st.sampled_from(builder.ports)), node_id)
    builder.ports.append((node_id, "out"))


def _add_template(draw: st.DrawFn, builder: _Builder) -> None:
    config = {"template": draw(st.sampled_from(TEMPLATES))}
    node_id = builder.add_node("template", draw(st.sampled_from(LABELS)), config)
    for source in _sources(draw, builder, 3):
        builder.connect(source, node_id)
    builder.ports.append((node_id, "text"))


def _add_join(draw: st.DrawFn, builder: _Builder) -> None:
    config = {"mode": draw(st.sampled_from(["list", "object", "text", "vote"]))}
    node_id = builder.add_node("join", draw(st.sampled_from(LABELS)), config)
    for source in _sources(draw, builder, 3):
        builder.connect(source, node_id)
    builder.ports.append((node_id, "out"))


def _add_router(draw: st.DrawFn, builder: _Builder) -> None:
    conditions = draw(st.lists(st.sampled_from(CONDITIONS), min_size=1, max_size=3))
    routes = [
        {"name": f"route_{i}", "condition": condition, "description": ""}
        for i, condition in enumerate(conditions)
    ]
    config = {"mode": "expression", "routes": routes, "multi": draw(st.booleans())}
    node_id = builder.add_node("router", draw(st.sampled_from(LABELS)), config)
    builder.connect(draw(st.sampled_from(builder.ports)), node_id)
    builder.ports.extend((node_id, route["name"]) for route in routes)
    builder.ports.append((node_id, "default"))


def _add_loop(draw: st.DrawFn, builder: _Builder, budget: int) -> int:
    """A loop and its body chain; returns the number of nodes added."""
    config = {
        "condition": draw(st.sampled_from(LOOP_CONDITIONS)),
        "max_iterations": draw(st.integers(1, 4)),
    }
    loop = builder.add_node("loop", draw(st.sampled_from(LABELS)), config)
    builder.connect(draw(st.sampled_from(builder.ports)), loop, "init")
    previous: Port = (loop, "body")
    size = draw(st.integers(1, min(3, budget - 1)))
    for _ in range(size):
        if draw(st.booleans()):
            node_id = builder.add_node("passthrough", draw(st.sampled_from(LABELS)), {})
            builder.connect(previous, node_id)
            previous = (node_id, "out")
        else:
            config = {"template": draw(st.sampled_from(TEMPLATES))}
            node_id = builder.add_node("template", draw(st.sampled_from(LABELS)), config)
            builder.connect(previous, node_id)
            # outside ports may feed the body; body ports never leave it
            for source in draw(st.lists(st.sampled_from(builder.ports), max_size=1)):
                builder.connect(source, node_id)
            previous = (node_id, "text")
    builder.connect(previous, loop, "feedback")
    builder.ports.append((loop, "done"))
    return 1 + size


_ADDERS = {
    "passthrough": _add_passthrough,
    "template": _add_template,
    "join": _add_join,
    "router": _add_router,
}
