"""The pure planner, driven by an in-process executor (no Django, no Celery).

`simulate` plays the role of the web layer: it applies each plan, runs started
steps with the real node types (in a random order drawn by hypothesis), and
repeats until the planner reports an outcome.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration import planner
from orchestration.context import LocalContext
from orchestration.graph import Graph
from orchestration.nodes import get_node_type
from orchestration.nodes.base import NodeError, Upstream
from orchestration.planner import MapProgress, Outcome, StepRecord, plan
from orchestration.topology import incoming
from tests.orchestration.strategies import RUN_INPUTS, valid_graphs

Key = tuple[str, int]


class Simulation:
    """A run's state kept in memory, as the web layer keeps it in Postgres."""

    def __init__(self, graph: Graph, inputs: dict[str, Any], rng: random.Random):
        self.graph, self.inputs, self.rng = graph, inputs, rng
        self.records: dict[Key, StepRecord] = {}
        self.items: dict[Key, list[StepRecord | None]] = {}
        self.item_inputs: dict[Key, list[dict[str, Any]]] = {}
        self.started: Counter[Key] = Counter()
        self.start_order: list[Key] = []
        self.queue: list[tuple[Key, int | None, dict[str, Any], list[dict[str, Any]]]] = []

    def progress(self) -> dict[Key, MapProgress]:
        result = {}
        for key, items in self.items.items():
            if self.records[key].status != "running":
                continue
            done = [r for r in items if r is not None]
            queued = sum(1 for k, item, _, _ in self.queue if k == key and item is not None)
            failed = [i for i, r in enumerate(items) if r is not None and r.status == "failed"]
            result[key] = MapProgress(
                total=len(items),
                active=queued,
                pending=len(items) - len(done) - queued,
                succeeded=sum(1 for r in done if r.status == "succeeded"),
                failed=len(failed),
                first_error=f"item {failed[0]}" if failed else None,
            )
        return result

    def step(self) -> Outcome | None:
        result = plan(self.graph, list(self.records.values()), self.progress())
        for skip in result.skip:
            self.records[(skip.node_id, skip.iteration)] = StepRecord(
                skip.node_id, skip.iteration, "skipped"
            )
        for start in result.start:
            key = (start.node_id, start.iteration)
            self.records[key] = StepRecord(start.node_id, start.iteration, "queued")
            self.queue.append((key, None, start.inputs, start.upstream))
        for expand in result.expand:
            key = (expand.node_id, expand.iteration)
            self.records[key] = StepRecord(*key, "running")
            self.items[key] = [None] * len(expand.items)
            self.item_inputs[key] = [
                {"in": v, "item": v, "index": i, "context": expand.context}
                for i, v in enumerate(expand.items)
            ]
        for dispatch in result.dispatch:
            key = (dispatch.node_id, dispatch.iteration)
            queued = {i for k, i, _, _ in self.queue if k == key}
            todo = [i for i, r in enumerate(self.items[key]) if r is None and i not in queued]
            for index in todo[: dispatch.count]:
                self.queue.append((key, index, self.item_inputs[key][index], []))
        for finish in result.finish:
            key = (finish.node_id, finish.iteration)
            results = [
                r.outputs.get("text") if r and r.outputs else None for r in self.items.get(key, [])
            ]
            status: Literal["failed", "succeeded"] = "failed" if finish.error else "succeeded"
            self.records[key] = StepRecord(
                *key, status, {"results": results, "errors": []}, finish.error
            )
        if result.outcome:
            return result.outcome
        if self.queue and result.empty:
            self.execute(self.queue.pop(self.rng.randrange(len(self.queue))))
        elif not self.queue and result.empty:
            raise AssertionError("stuck: nothing queued, nothing planned, no outcome")
        return None

    def execute(self, job: tuple[Key, int | None, dict[str, Any], list[dict[str, Any]]]) -> None:
        key, item, inputs, upstream = job
        node = self.graph.node(key[0])
        node_type = get_node_type(node.type)
        config = node_type.parse_config(node.config)
        if item is not None:
            body = node.config["body"]
            node_type = get_node_type(body["type"])
            config = node_type.parse_config(body.get("config", {}))
        else:
            self.started[key] += 1
            self.start_order.append(key)
        ctx = LocalContext(
            run_inputs=self.inputs,
            upstream=[Upstream(**u) for u in upstream],
            node_id=key[0],
            iteration=key[1],
            item=item,
        )
        try:
            outputs = asyncio.run(node_type(config).run(ctx, inputs))
            record = StepRecord(*key, "succeeded", outputs)
        except NodeError as exc:
            record = StepRecord(*key, "failed", None, str(exc))
        if item is None:
            self.records[key] = record
        else:
            self.items[key][item] = record

    def run(self, limit: int = 2000) -> Outcome:
        for _ in range(limit):
            outcome = self.step()
            if outcome is not None:
                return outcome
        raise AssertionError("the run did not terminate")


def simulate(graph: Graph | dict[str, Any], inputs: dict[str, Any], seed: int = 0) -> Simulation:
    document = graph if isinstance(graph, Graph) else Graph.model_validate(graph)
    sim = Simulation(document, inputs, random.Random(seed))
    sim.outcome = sim.run()  # type: ignore[attr-defined]
    return sim


@settings(max_examples=60, deadline=None)
@given(graph=valid_graphs(max_nodes=12), seed=st.integers(0, 10_000))
def test_random_valid_graphs_terminate_and_respect_the_rules(graph: Graph, seed: int) -> None:
    sim = simulate(graph, RUN_INPUTS, seed)
    assert sim.outcome.status == "succeeded"  # type: ignore[attr-defined]
    # every node instance runs at most once
    assert all(count == 1 for count in sim.started.values()), sim.started
    edges_in = incoming(graph)
    nodes = graph.nodes_by_id()
    position = {key: i for i, key in enumerate(sim.start_order)}
    for (node_id, k), record in sim.records.items():
        preds = [
            e
            for e in edges_in[node_id]
            if not (nodes[node_id].type == "loop" and e.target_port == "feedback")
        ]
        if nodes[node_id].type == "loop" and k > 0:
            continue
        if record.status == "succeeded" and nodes[node_id].type == "join":
            # a join runs after every predecessor that ran (live or not)
            for edge in preds:
                src = (edge.source, 0) if (edge.source, k) not in sim.records else (edge.source, k)
                if src in position:
                    assert position[src] < position[(node_id, k)], (src, node_id)
        if record.status == "skipped" and nodes[node_id].type != "join":
            # skips propagate: a skipped node's non-join successors are skipped too
            for edge in [e for e in graph.edges if e.source == node_id]:
                succ = sim.records.get((edge.target, k)) or sim.records.get((edge.target, 0))
                if succ is not None and nodes[edge.target].type not in ("join", "loop"):
                    assert succ.status == "skipped", (node_id, edge.target)


@settings(max_examples=60, deadline=None)
@given(graph=valid_graphs(max_nodes=12), seed=st.integers(0, 10_000))
def test_the_plain_node_shortcut_plans_as_the_general_rules(graph: Graph, seed: int) -> None:
    """The planner's shortcut for nodes outside loops (planner._plain_sources)
    gives the same run, plan by plan, as deciding every node the general way."""
    shortcut = simulate(graph, RUN_INPUTS, seed)
    assert planner._shape(graph)[4], "no plain node: the shortcut was not exercised"
    plain_sources = planner._plain_sources
    planner._SHAPES.clear()
    planner._plain_sources = lambda *args: {}
    try:
        general = simulate(graph, RUN_INPUTS, seed)
    finally:
        planner._plain_sources = plain_sources
        planner._SHAPES.clear()
    assert shortcut.start_order == general.start_order
    assert shortcut.records == general.records
    assert shortcut.outcome == general.outcome  # type: ignore[attr-defined]


def _doc(
    nodes: list[dict[str, Any]], edges: list[tuple[str, str, str, str]], out: tuple[str, str]
) -> dict[str, Any]:
    return {
        "nodes": [{"id": n["id"], "type": n["type"], "config": n.get("config", {})} for n in nodes],
        "edges": [
            {"id": f"e{i}", "source": s, "source_port": sp, "target": t, "target_port": tp}
            for i, (s, sp, t, tp) in enumerate(edges)
        ],
        "outputs": {"result": {"node": out[0], "port": out[1]}},
    }


def test_router_skips_branch_and_join_merges_live_ones() -> None:
    doc = _doc(
        [
            {"id": "in", "type": "input", "config": {"key": "n"}},
            {
                "id": "r",
                "type": "router",
                "config": {"routes": [{"name": "big", "condition": "input > 5"}]},
            },
            {"id": "a", "type": "template", "config": {"template": "big"}},
            {"id": "b", "type": "template", "config": {"template": "small"}},
            {"id": "a2", "type": "passthrough"},
            {"id": "j", "type": "join", "config": {"mode": "list"}},
            {"id": "out", "type": "output"},
        ],
        [
            ("in", "out", "r", "in"),
            ("r", "big", "a", "in"),
            ("r", "default", "b", "in"),
            ("a", "text", "a2", "in"),
            ("a2", "out", "j", "in"),
            ("b", "text", "j", "in"),
            ("j", "out", "out", "in"),
        ],
        ("out", "out"),
    )
    sim = simulate(doc, {"n": 1})
    assert sim.outcome.outputs == {"result": ["small"]}  # type: ignore[attr-defined]
    assert sim.records[("a", 0)].status == "skipped" == sim.records[("a2", 0)].status
    sim = simulate(doc, {"n": 9})
    assert sim.outcome.outputs == {"result": ["big"]}  # type: ignore[attr-defined]


def test_loop_iterates_until_condition_then_done_flows_on() -> None:
    doc = _doc(
        [
            {"id": "in", "type": "input", "config": {"key": "s"}},
            {
                "id": "L",
                "type": "loop",
                "config": {"condition": "value | length >= 4", "max_iterations": 10},
            },
            {"id": "grow", "type": "template", "config": {"template": "{{ input }}x"}},
            {"id": "out", "type": "output"},
        ],
        [
            ("in", "out", "L", "init"),
            ("L", "body", "grow", "in"),
            ("grow", "text", "L", "feedback"),
            ("L", "done", "out", "in"),
        ],
        ("out", "out"),
    )
    sim = simulate(doc, {"s": "a"})
    assert sim.outcome.outputs == {"result": "axxx"}  # type: ignore[attr-defined]
    assert sorted(k for (n, k) in sim.started if n == "grow") == [0, 1, 2]


def test_map_dispatches_at_most_max_concurrency_and_keeps_order() -> None:
    doc = _doc(
        [
            {"id": "in", "type": "input", "config": {"key": "xs"}},
            {
                "id": "m",
                "type": "map",
                "config": {
                    "max_concurrency": 2,
                    "body": {"type": "template", "config": {"template": "<{{ item }}>"}},
                },
            },
            {"id": "out", "type": "output"},
        ],
        [("in", "out", "m", "items"), ("m", "results", "out", "in")],
        ("out", "out"),
    )
    graph = Graph.model_validate(doc)
    sim = Simulation(graph, {"xs": [1, 2, 3, 4, 5]}, random.Random(3))
    peak = 0
    outcome = None
    while outcome is None:
        outcome = sim.step()
        peak = max(peak, sum(1 for k, i, _, _ in sim.queue if i is not None))
    assert peak <= 2
    assert outcome.outputs == {"result": ["<1>", "<2>", "<3>", "<4>", "<5>"]}


def test_map_over_a_non_list_fails_the_run_with_a_clear_error() -> None:
    doc = _doc(
        [
            {"id": "in", "type": "input", "config": {"key": "xs"}},
            {"id": "m", "type": "map", "config": {"body": {"type": "passthrough"}}},
            {"id": "out", "type": "output"},
        ],
        [("in", "out", "m", "items"), ("m", "results", "out", "in")],
        ("out", "out"),
    )
    sim = simulate(doc, {"xs": "not a list"})
    assert sim.outcome.status == "failed"  # type: ignore[attr-defined]
    assert "must be a list" in sim.outcome.error  # type: ignore[attr-defined]


def test_max_steps_fails_the_run_instead_of_starting_more() -> None:
    doc = _doc(
        [{"id": "in", "type": "input"}, {"id": "out", "type": "output"}],
        [("in", "out", "out", "in")],
        ("out", "out"),
    )
    result = plan(Graph.model_validate(doc), [], step_count=5, max_steps=5)
    assert result.outcome is not None
    assert result.outcome.status == "failed"
    assert "max_steps" in (result.outcome.error or "")
    assert result.start == []
