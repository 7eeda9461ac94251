"""Pure structure helpers over a graph document: edges per node, loop bodies,
feedback edges, topological order, reachability. Used by validation and by the
planner. Nothing here looks at node type classes or configs, only at node
`type` names ("loop", "input") and edge ports, so it works on invalid graphs too.

Edges whose source or target is not a node of the graph (dangling edges, which
validation reports) are left out of every result. When node ids repeat, the
first node with an id stands for it (as in `Graph.nodes_by_id`).

Loop semantics follow docs/engine.md: a loop node's *body* is every node
reachable from its `body` output port without passing through the loop node
itself, and the edges into a loop node's `feedback` port are its back edges.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from orchestration.graph import Edge, Graph

LOOP_TYPE = "loop"
INPUT_TYPE = "input"
LOOP_BODY_PORT = "body"
LOOP_FEEDBACK_PORT = "feedback"


class CycleError(ValueError):
    """The graph has a cycle that does not pass through a loop's `feedback` port.

    `nodes` lists the node ids of one such cycle, in edge order (each node has
    an edge to the next, and the last to the first), from the node that comes
    first in the document.
    """

    def __init__(self, nodes: list[str]):
        super().__init__("cycle through nodes " + " -> ".join(nodes))
        self.nodes = nodes


def node_ids(graph: Graph) -> list[str]:
    """The distinct node ids, in document order."""
    return list(graph.nodes_by_id())


def known_edges(graph: Graph) -> list[Edge]:
    """The edges whose source and target are both nodes of the graph, in order."""
    ids = graph.nodes_by_id()
    return [edge for edge in graph.edges if edge.source in ids and edge.target in ids]


def incoming(graph: Graph) -> dict[str, list[Edge]]:
    """{node id: [edges into it, in edge order]}; every node id is a key."""
    result: dict[str, list[Edge]] = {node_id: [] for node_id in node_ids(graph)}
    for edge in known_edges(graph):
        result[edge.target].append(edge)
    return result


def outgoing(graph: Graph) -> dict[str, list[Edge]]:
    """{node id: [edges out of it, in edge order]}; every node id is a key."""
    result: dict[str, list[Edge]] = {node_id: [] for node_id in node_ids(graph)}
    for edge in known_edges(graph):
        result[edge.source].append(edge)
    return result


def loop_ids(graph: Graph) -> list[str]:
    """The ids of the loop nodes, in document order."""
    return [node_id for node_id, node in graph.nodes_by_id().items() if node.type == LOOP_TYPE]


def feedback_edges(graph: Graph) -> set[str]:
    """Ids of the edges into a loop node's `feedback` port (the back edges)."""
    loops = set(loop_ids(graph))
    return {
        edge.id
        for edge in known_edges(graph)
        if edge.target in loops and edge.target_port == LOOP_FEEDBACK_PORT
    }


def _reach(starts: Iterable[str], out: dict[str, list[Edge]], avoid: str | None) -> set[str]:
    """Node ids reachable from `starts` (included) along `out`, never entering `avoid`."""
    seen = {node_id for node_id in starts if node_id != avoid}
    queue = deque(seen)
    while queue:
        for edge in out[queue.popleft()]:
            if edge.target != avoid and edge.target not in seen:
                seen.add(edge.target)
                queue.append(edge.target)
    return seen


def loop_bodies(graph: Graph) -> dict[str, frozenset[str]]:
    """{loop node id: frozenset of the ids of its body nodes}.

    The body is every node reachable from the loop's `body` output port without
    passing through the loop node itself (the loop is never in its own body).
    Every loop node is a key, with an empty body when `body` is unconnected.
    """
    out = outgoing(graph)
    bodies: dict[str, frozenset[str]] = {}
    for loop_id in loop_ids(graph):
        starts = [edge.target for edge in out[loop_id] if edge.source_port == LOOP_BODY_PORT]
        bodies[loop_id] = frozenset(_reach(starts, out, avoid=loop_id))
    return bodies


def body_owner(graph: Graph) -> dict[str, str]:
    """{node id: id of the loop whose body contains it}; nodes outside every
    loop body are absent. In an invalid graph where bodies overlap (validation
    reports `nested_loop`), the first loop in document order wins.
    """
    owner: dict[str, str] = {}
    for loop_id, body in loop_bodies(graph).items():
        for node_id in body:
            owner.setdefault(node_id, loop_id)
    return owner


def _forward_edges(graph: Graph) -> list[Edge]:
    """The known edges except the loops' feedback (back) edges."""
    back = feedback_edges(graph)
    return [edge for edge in known_edges(graph) if edge.id not in back]


def topological_order(graph: Graph) -> list[str]:
    """Node ids so that every edge other than a feedback edge goes forwards.

    Kahn's algorithm (Kahn, "Topological sorting of large networks", CACM 1962);
    among nodes ready together, document order is kept, so the order is stable.
    Raises CycleError naming the nodes of a remaining cycle.
    """
    ids = node_ids(graph)
    edges = _forward_edges(graph)
    indegree = dict.fromkeys(ids, 0)
    successors: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for edge in edges:
        indegree[edge.target] += 1
        successors[edge.source].append(edge.target)
    position = {node_id: i for i, node_id in enumerate(ids)}
    ready = [node_id for node_id in ids if indegree[node_id] == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=position.__getitem__)
        node_id = ready.pop(0)
        order.append(node_id)
        for target in successors[node_id]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    if len(order) < len(ids):
        remaining = {node_id for node_id in ids if indegree[node_id] > 0}
        raise CycleError(_one_cycle(remaining, edges, ids))
    return order


def _one_cycle(remaining: set[str], edges: list[Edge], ids: list[str]) -> list[str]:
    """A cycle among `remaining`, where every node has a predecessor in `remaining`."""
    predecessor: dict[str, str] = {}
    for edge in edges:
        if edge.source in remaining and edge.target in remaining:
            predecessor.setdefault(edge.target, edge.source)
    walk: list[str] = []
    node_id = next(node_id for node_id in ids if node_id in remaining)
    while node_id not in walk:
        walk.append(node_id)
        node_id = predecessor[node_id]
    cycle = walk[walk.index(node_id) :]
    cycle.reverse()  # the walk followed edges backwards
    first = min(range(len(cycle)), key=lambda i: ids.index(cycle[i]))
    return cycle[first:] + cycle[:first]


def cycles(graph: Graph) -> list[list[str]]:
    """Every group of nodes on a cycle that avoids the feedback edges: the
    strongly connected components with more than one node, or with an edge to
    itself (Tarjan, "Depth-first search and linear graph algorithms", SIAM J.
    Comput. 1972). Each group's ids are in document order; groups are ordered by
    their first node.
    """
    ids = node_ids(graph)
    edges = _forward_edges(graph)
    successors: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for edge in edges:
        successors[edge.source].append(edge.target)
    self_loops = {edge.source for edge in edges if edge.source == edge.target}
    position = {node_id: i for i, node_id in enumerate(ids)}
    groups = [
        sorted(component, key=position.__getitem__)
        for component in _strongly_connected(ids, successors)
        if len(component) > 1 or component[0] in self_loops
    ]
    return sorted(groups, key=lambda group: position[group[0]])


def _strongly_connected(ids: list[str], successors: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in ids:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node_id, child = work.pop()
            if child == 0:
                index[node_id] = low[node_id] = len(index)
                stack.append(node_id)
                on_stack.add(node_id)
            if child < len(successors[node_id]):
                work.append((node_id, child + 1))
                target = successors[node_id][child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node_id] = min(low[node_id], index[target])
                continue
            if low[node_id] == index[node_id]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node_id:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node_id])
    return components


def input_node_ids(graph: Graph) -> list[str]:
    """The ids of the nodes of type `input`, in document order."""
    return [node_id for node_id, node in graph.nodes_by_id().items() if node.type == INPUT_TYPE]


def reachable_from_inputs(graph: Graph) -> set[str]:
    """Ids of the nodes reachable along edges (feedback edges included) from a
    node of type `input`, the input nodes themselves included."""
    return _reach(input_node_ids(graph), outgoing(graph), avoid=None)
