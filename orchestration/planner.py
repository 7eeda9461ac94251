"""The pure planner: given a run's graph and the state of its steps, decide what
happens next. No I/O, no clock, no randomness: the web layer loads the state,
calls `plan`, applies the result in the same transaction, and repeats while the
plan changed state without running anything (`Plan.settles_more`).

Semantics are docs/engine.md ("Readiness", "Control flow"). In short, for every
node instance (node id, iteration) not yet recorded:
- it waits while an incoming edge is pending (its source instance not terminal);
- a join is skipped when all incoming edges are dead, else ready;
- any other node is skipped when any incoming edge is dead, else ready;
- a ready map expands into item steps (`ExpandMap`), dispatched at most
  `max_concurrency` at a time (`DispatchMapItems`) and finished when all items
  are terminal (`FinishMap`);
- a failed instance fails the run; when nothing is active or left to start, the
  run succeeds with `graph.outputs`.

Inputs: `StepRecord`s for the latest attempt of every non-item step (map items are
summarised by `MapProgress`). Output: a `Plan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestration.graph import Edge, Graph, Node
from orchestration.nodes import get_node_type
from orchestration.topology import body_owner, incoming, topological_order

StepStatus = Literal[
    "pending", "queued", "running", "waiting", "succeeded", "failed", "skipped", "cancelled"
]
ACTIVE: frozenset[str] = frozenset({"pending", "queued", "running", "waiting"})
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "cancelled"})

Key = tuple[str, int]  # (node id, iteration)


@dataclass(frozen=True)
class StepRecord:
    """The latest attempt of one node instance (map parents included, items not).

    outputs: {output port: value} when succeeded, else None (any Mapping: the
    caller may decode it lazily, on the planner's first read).
    """

    node_id: str
    iteration: int
    status: StepStatus
    outputs: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class MapProgress:
    """Counts over a map instance's items (latest attempt of each item)."""

    total: int
    active: int = 0  # pending excluded: queued, running or waiting
    pending: int = 0  # created, waiting for a concurrency slot
    succeeded: int = 0
    failed: int = 0
    first_error: str | None = None  # of the lowest failed item

    @property
    def terminal(self) -> int:
        return self.total - self.active - self.pending


@dataclass(frozen=True)
class StartStep:
    """Create and enqueue a step for (node, iteration) with these inputs.

    inputs: {input port: value (a list for multiple ports)};
    upstream: [{"node_id", "label", "port", "target_port", "value"}] of live edges.
    """

    node_id: str
    iteration: int
    inputs: dict[str, Any]
    upstream: list[dict[str, Any]]
    queue: str


@dataclass(frozen=True)
class SkipStep:
    """Record (node, iteration) as skipped."""

    node_id: str
    iteration: int
    reason: str


@dataclass(frozen=True)
class ExpandMap:
    """Create the map's parent step (running) and one pending item step per item.

    Item i runs the body node type with inputs
    {"in": items[i], "item": items[i], "index": i, "context": context}.
    """

    node_id: str
    iteration: int
    items: list[Any]
    context: Any
    body_type: str
    body_config: dict[str, Any]
    queue: str
    upstream: list[dict[str, Any]]


@dataclass(frozen=True)
class DispatchMapItems:
    """Move the next `count` pending items (lowest index first) to queued."""

    node_id: str
    iteration: int
    count: int


@dataclass(frozen=True)
class FinishMap:
    """All items are terminal: the parent succeeds with {"results", "errors"} in
    item order (collected by the caller), or fails with `error`."""

    node_id: str
    iteration: int
    error: str | None


@dataclass(frozen=True)
class Outcome:
    """The run is over. outputs: {output name: value or None}."""

    status: Literal["succeeded", "failed"]
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Plan:
    """What to do next, in order: skips, starts, map actions, then the outcome."""

    start: list[StartStep] = field(default_factory=list)
    skip: list[SkipStep] = field(default_factory=list)
    expand: list[ExpandMap] = field(default_factory=list)
    dispatch: list[DispatchMapItems] = field(default_factory=list)
    finish: list[FinishMap] = field(default_factory=list)
    outcome: Outcome | None = None

    @property
    def settles_more(self) -> bool:
        """True when applying this plan changed state that a new plan call may
        build on without waiting for any step (expansions, map finishes)."""
        return bool(self.expand or self.finish) and self.outcome is None

    @property
    def empty(self) -> bool:
        return not (self.start or self.skip or self.expand or self.dispatch or self.finish)


_SHAPES: dict[int, tuple[Graph, tuple[Any, ...]]] = {}


def _shape(graph: Graph) -> tuple[Any, ...]:
    """(nodes by id, incoming edges, loop body owners, topological order) of
    `graph`, computed once per graph object: a run plans against the same
    pinned, never-mutated graph on every step. Keeps at most 256 graphs."""
    cached = _SHAPES.get(id(graph))
    if cached is not None and cached[0] is graph:
        return cached[1]
    nodes, into, owner = graph.nodes_by_id(), incoming(graph), body_owner(graph)
    shape = (nodes, into, owner, topological_order(graph), _plain_sources(nodes, into, owner))
    if len(_SHAPES) >= 256:
        _SHAPES.clear()
    _SHAPES[id(graph)] = (graph, shape)
    return shape


def _plain_sources(
    nodes: Mapping[str, Node], into: Mapping[str, list[Edge]], owner: Mapping[str, str]
) -> dict[str, list[str]]:
    """{node id: its edges' source ids} of the nodes with one instance (#0)
    fed by sources with one instance: no loop and no loop body among them.
    For those, `_Run.candidates` is [0] and `source_key` is (source, 0)."""
    plain: dict[str, list[str]] = {}
    for node_id in nodes:
        sources = [edge.source for edge in into.get(node_id, [])]
        involved = [node_id, *sources]
        if all(n in nodes and nodes[n].type != "loop" and n not in owner for n in involved):
            plain[node_id] = sources
    return plain


class _Run:
    """One planning pass over a run's state (virtual skips apply immediately)."""

    def __init__(
        self,
        graph: Graph,
        records: Iterable[StepRecord],
        maps: Mapping[Key, MapProgress],
    ):
        self.graph = graph
        self.nodes, self.incoming, self.owner, self.order, self.plain = _shape(graph)
        self.state: dict[Key, StepRecord] = {(r.node_id, r.iteration): r for r in records}
        self.maps = maps
        self.plan = Plan()
        self.waiting: set[Key] = set()  # instances whose inputs are still pending

    # -- edges -------------------------------------------------------------

    def source_key(self, edge: Edge, target: Key) -> Key | None:
        """The source instance feeding `edge` into `target`; None when unknown yet."""
        node, k = target
        src = edge.source
        if self.nodes[node].type == "loop" and edge.target_port == "feedback":
            return (src, k - 1)
        if self.nodes[src].type == "loop" and edge.source_port == "done":
            return self.last_iteration(src)
        if self.nodes[src].type == "loop" and edge.source_port == "body":
            return (src, k)
        if src in self.owner and self.owner[src] == self.owner.get(node):
            return (src, k)
        if src in self.owner:  # validation forbids it; read the latest iteration
            return self.last_iteration(src)
        return (src, 0)

    def last_iteration(self, node_id: str) -> Key:
        iterations = [k for (n, k) in self.state if n == node_id]
        return (node_id, max(iterations) if iterations else 0)

    def edge_state(self, edge: Edge, target: Key) -> tuple[str, Any]:
        """("pending" | "live" | "dead" | "failed", value)."""
        key = self.source_key(edge, target)
        record = self.state.get(key) if key else None
        if record is None or record.status in ACTIVE:
            return "pending", None
        if record.status == "succeeded":
            outputs = record.outputs or {}
            if (
                edge.source_port == "done"
                and self.nodes[edge.source].type == "loop"
                and ("body" in outputs)
            ):
                return "pending", None  # the loop has not exited yet
            if edge.source_port in outputs:
                return "live", outputs[edge.source_port]
            return "dead", None
        if record.status == "failed":
            return "failed", None
        return "dead", None  # skipped or cancelled

    def edges_into(self, key: Key) -> list[Edge]:
        node, k = key
        edges = self.incoming.get(node, [])
        if self.nodes[node].type == "loop":
            port = "init" if k == 0 else "feedback"
            return [e for e in edges if e.target_port == port]
        return edges

    # -- candidates ----------------------------------------------------------

    def candidates(self, node_id: str) -> list[int]:
        """Iterations of `node_id` that may exist now."""
        node = self.nodes[node_id]
        if node_id in self.owner:
            loop = self.owner[node_id]
            return [
                k
                for (n, k), r in sorted(self.state.items())
                if n == loop and r.status == "succeeded" and "body" in (r.outputs or {})
            ]
        if node.type == "loop":
            continued = [
                k + 1
                for (n, k), r in sorted(self.state.items())
                if n == node_id and r.status == "succeeded" and "body" in (r.outputs or {})
            ]
            return [0, *continued]
        return [0]

    def decide(self, key: Key) -> bool:
        """Skip, start or expand `key` if it is decidable. True when state changed."""
        node = self.nodes[key[0]]
        edges = self.edges_into(key)
        for edge in edges:  # fast path: most undecided nodes wait on an unfinished source
            source = self.source_key(edge, key)
            record = self.state.get(source) if source else None
            if record is None or record.status in ACTIVE:
                self.waiting.add(key)
                return False
        states = [(edge, *self.edge_state(edge, key)) for edge in edges]
        if any(s == "pending" or s == "failed" for _, s, _ in states):
            self.waiting.add(key)
            return False
        dead = [e for e, s, _ in states if s == "dead"]
        live = [(e, v) for e, s, v in states if s == "live"]
        if (node.type == "join" and states and not live) or (node.type != "join" and dead):
            why = (
                "all inputs skipped"
                if node.type == "join"
                else f"input from {dead[0].source} skipped"
            )
            self.plan.skip.append(SkipStep(key[0], key[1], why))
            self.state[key] = StepRecord(key[0], key[1], "skipped")
            return True
        self.start(key, node, live)
        return False

    def start(self, key: Key, node: Node, live: list[tuple[Edge, Any]]) -> None:
        node_type = get_node_type(node.type)
        config = node_type.parse_config(node.config)
        inputs: dict[str, Any] = {}
        multiple = {p.name for p in node_type.inputs_for(config) if p.multiple}
        for edge, value in live:
            if edge.target_port in multiple:
                inputs.setdefault(edge.target_port, []).append(value)
            else:
                inputs[edge.target_port] = value
        upstream = [
            {
                "node_id": e.source,
                "label": self.nodes[e.source].title,
                "port": e.source_port,
                "target_port": e.target_port,
                "value": v,
            }
            for e, v in live
        ]
        queue = node_type.queue_for(config)
        self.state[key] = StepRecord(key[0], key[1], "queued")
        if node_type.control == "map":
            self.expand_map(key, node, inputs, upstream, queue)
            return
        self.plan.start.append(StartStep(key[0], key[1], inputs, upstream, queue))

    def expand_map(
        self,
        key: Key,
        node: Node,
        inputs: dict[str, Any],
        upstream: list[dict[str, Any]],
        queue: str,
    ) -> None:
        items = inputs.get("items")
        if not isinstance(items, list):
            kind = type(items).__name__
            error = f"map {node.title!r}: input 'items' must be a list, got {kind}"
            self.state[key] = StepRecord(key[0], key[1], "failed", error=error)
            self.plan.finish.append(FinishMap(key[0], key[1], error))
            return
        body = node.config.get("body") or {}
        self.plan.expand.append(
            ExpandMap(
                key[0],
                key[1],
                items,
                inputs.get("context"),
                body_type=str(body.get("type", "")),
                body_config=dict(body.get("config") or {}),
                queue=queue,
                upstream=upstream,
            )
        )
        if items:
            count = min(len(items), self.max_concurrency(node))
            self.plan.dispatch.append(DispatchMapItems(key[0], key[1], count))

    @staticmethod
    def max_concurrency(node: Node) -> int:
        return max(1, int(node.config.get("max_concurrency", 10)))

    def advance_map(self, key: Key, node: Node) -> None:
        """Dispatch more items of a running map, or finish it."""
        progress = self.maps.get(key)
        if progress is None:
            return
        fail_fast = node.config.get("on_item_error", "fail") == "fail"
        if progress.terminal == progress.total or (fail_fast and progress.failed):
            error = None
            if fail_fast and progress.failed:
                error = f"map {node.title!r}: {progress.first_error or 'an item failed'}"
            self.plan.finish.append(FinishMap(key[0], key[1], error))
            return
        free = self.max_concurrency(node) - progress.active
        if free > 0 and progress.pending:
            self.plan.dispatch.append(DispatchMapItems(key[0], key[1], min(free, progress.pending)))

    # -- the pass ------------------------------------------------------------

    def run(self) -> Plan:
        changed = True
        while changed:
            changed = False
            self.waiting.clear()
            state = self.state
            for node_id in self.order:
                sources = self.plain.get(node_id)
                if sources is not None:  # (decide's first test, without its general lookups)
                    key = (node_id, 0)
                    if key in state:
                        continue
                    for source in sources:
                        record = state.get((source, 0))
                        if record is None or record.status in ACTIVE:
                            self.waiting.add(key)
                            break
                    else:
                        changed = self.decide(key) or changed
                    continue
                for k in self.candidates(node_id):
                    if (node_id, k) not in self.state and self.decide((node_id, k)):
                        changed = True
        for key, record in sorted(self.state.items()):
            node = self.nodes.get(key[0])
            if node is not None and node.type == "map" and record.status == "running":
                self.advance_map(key, node)
        self.plan.outcome = self.outcome()
        return self.plan

    def outcome(self) -> Outcome | None:
        failed = [r for r in self.state.values() if r.status == "failed"]
        if failed:
            first = failed[0]
            title = (
                self.nodes[first.node_id].title if first.node_id in self.nodes else first.node_id
            )
            return Outcome(
                "failed", error=f"node {title!r} failed: {first.error or 'unknown error'}"
            )
        busy = any(r.status in ACTIVE for r in self.state.values())
        if busy or self.plan.start or self.plan.expand or self.plan.finish:
            return None
        if self.waiting:  # nothing runs, yet some node still waits: a defect, not a hang
            stuck = ", ".join(f"{n}#{k}" for n, k in sorted(self.waiting))
            return Outcome("failed", error=f"no step can run; still waiting: {stuck}")
        outputs = {}
        for name, ref in self.graph.outputs.items():
            record = self.state.get(self.last_iteration(ref.node))
            ok = record is not None and record.status == "succeeded"
            outputs[name] = (record.outputs or {}).get(ref.port) if ok and record else None
        return Outcome("succeeded", outputs=outputs)


def plan(
    graph: Graph,
    records: Iterable[StepRecord],
    maps: Mapping[Key, MapProgress] | None = None,
    *,
    step_count: int = 0,
    max_steps: int | None = None,
) -> Plan:
    """Decide the next actions of a run. Pure and deterministic.

    graph: the pinned version's graph (already validated).
    records: the latest attempt of every non-item step of the run.
    maps: progress of each running map instance, keyed by (node id, iteration).
    step_count / max_steps: step rows so far and the run's limit; going over
    fails the run instead of starting more.
    """
    result = _Run(graph, records, maps or {}).run()
    planned = len(result.start) + sum(len(e.items) + 1 for e in result.expand)
    if max_steps is not None and step_count + planned > max_steps and result.outcome is None:
        return Plan(outcome=Outcome("failed", error=f"run exceeded max_steps ({max_steps})"))
    return result
