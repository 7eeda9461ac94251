"""The per-node checks of `orchestration.validation`: node types, configs,
templates and expressions, edges and ports. See that module for the codes.

Each check is `check(facts) -> Iterator[Problem]`. `Facts` is what they share:
the graph, its nodes by id, and for each node whatever could be worked out
(its type class when registered, its config when valid, its ports when known),
so one bad node never hides the other problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from orchestration import topology
from orchestration.graph import Edge, Graph, Node
from orchestration.nodes import UnknownNodeType, get_node_type
from orchestration.nodes.base import NodeConfig, NodeType, Port, port_types_compatible
from orchestration.topology import LOOP_FEEDBACK_PORT, LOOP_TYPE

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph (or with run inputs).

    `message` is for people and names the node or edge by label and id;
    `node_id` / `edge_id` point the editor at what to highlight; `field` is the
    path of the offending value ("routes.0.name" in a node's config,
    "outputs.answer", "inputs.properties.topic.type", "$.topic" in run inputs).
    """

    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None
    severity: Severity = "error"

    def to_json(self) -> dict[str, Any]:
        """{"code", "message", "node_id", "edge_id", "field", "severity"}."""
        return asdict(self)


Check = Callable[["Facts"], Iterator[Problem]]


def node_name(node: Node) -> str:
    """How messages name a node: `"Label" (id)`, or `"id"` when it has no label."""
    return f'"{node.label}" ({node.id})' if node.label else f'"{node.id}"'


def edge_name(edge: Edge) -> str:
    """How messages name an edge: `edge "id" (source.port -> target.port)`."""
    ends = f"{edge.source}.{edge.source_port} -> {edge.target}.{edge.target_port}"
    return f'edge "{edge.id}" ({ends})'


def join_path(*parts: object) -> str | None:
    """ "a.0.b" from ("a", 0, "b"); None when there are no parts."""
    return ".".join(str(part) for part in parts) or None


@dataclass(frozen=True)
class Facts:
    """What the checks share. Dicts are keyed by node id; a node is absent from
    `types` when its type is unknown, from `configs` when its config is invalid,
    and from `inputs` / `outputs` ({port name: Port}) when its ports are unknown."""

    graph: Graph
    nodes: dict[str, Node]
    types: dict[str, type[NodeType]]
    configs: dict[str, NodeConfig]
    inputs: dict[str, dict[str, Port]]
    outputs: dict[str, dict[str, Port]]

    @classmethod
    def of(cls, graph: Graph) -> Facts:
        """Work out each node's type, config and ports, as far as each goes."""
        facts = cls(graph, graph.nodes_by_id(), {}, {}, {}, {})
        for node_id, node in facts.nodes.items():
            try:
                node_type = facts.types[node_id] = get_node_type(node.type)
            except UnknownNodeType:
                continue
            try:
                config = facts.configs[node_id] = node_type.parse_config(node.config)
            except ValidationError:
                # ports that do not depend on the config are still known
                if not _overrides(node_type, "inputs_for"):
                    facts.inputs[node_id] = _by_name(node_type.input_ports)
                if not _overrides(node_type, "outputs_for"):
                    facts.outputs[node_id] = _by_name(node_type.output_ports)
                continue
            facts.inputs[node_id] = _by_name(node_type.inputs_for(config))
            facts.outputs[node_id] = _by_name(node_type.outputs_for(config))
        return facts


def _overrides(node_type: type[NodeType], method: str) -> bool:
    """Whether the type's ports depend on its config (it overrides `method`)."""
    mine = getattr(getattr(node_type, method), "__func__", None)
    return mine is not getattr(getattr(NodeType, method), "__func__", None)


def _by_name(ports: tuple[Port, ...]) -> dict[str, Port]:
    return {port.name: port for port in ports}


# -- node types and configs ----------------------------------------------------------


def check_node_types(facts: Facts) -> Iterator[Problem]:
    for node_id, node in facts.nodes.items():
        if node_id not in facts.types:
            yield Problem(
                code="unknown_node_type",
                message=f"node {node_name(node)} has unknown type {node.type!r}",
                node_id=node_id,
                field="type",
            )


def check_configs(facts: Facts) -> Iterator[Problem]:
    for node_id, node_type in facts.types.items():
        node = facts.nodes[node_id]
        try:
            node_type.parse_config(node.config)
        except ValidationError as exc:
            if node_type.control == "map":
                yield from _map_config_problems(node, exc)
            else:
                yield from _config_problems(node, exc.errors(), prefix=())


def _config_problems(
    node: Node, errors: list[ErrorDetails], prefix: tuple[str, ...]
) -> Iterator[Problem]:
    """One problem per pydantic error; a template or expression syntax error
    raised by the Config's own validators keeps its specific code."""
    for error in errors:
        where = join_path(*prefix, *error["loc"])
        yield Problem(
            code=_config_error_code(error),
            message=f"node {node_name(node)}, config {where or '(object)'}: {error['msg']}",
            node_id=node.id,
            field=where,
        )


def _config_error_code(error: ErrorDetails) -> str:
    from orchestration.expressions import ExpressionError
    from orchestration.templating import TemplateError

    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, TemplateError):
        return "invalid_template"
    if isinstance(cause, ExpressionError):
        return "invalid_expression"
    return "invalid_config"


def _map_config_problems(node: Node, exc: ValidationError) -> Iterator[Problem]:
    """A map's Config checks its body as a whole (one error, no location); the
    body's own problems are reported instead, each at its path."""
    errors = exc.errors()
    yield from _config_problems(node, [error for error in errors if error["loc"]], prefix=())
    whole = [error for error in errors if not error["loc"]]
    if whole:
        body = list(_map_body_problems(node))
        yield from body or _config_problems(node, whole, prefix=())


def _map_body_problems(node: Node) -> Iterator[Problem]:
    """The body's type (`body.type`: known, not a control type, needing only the
    inputs a body gets) and config (`body.config.<path>`), via MapNode.body_type
    and body_config."""
    from orchestration.nodes.map import MapBody, MapConfig, MapNode

    try:
        body = MapBody.model_validate(node.config.get("body"))
    except ValidationError:
        return  # reported by the map's Config at "body.<field>"
    config = MapConfig.model_construct(body=body)
    try:
        body_type = MapNode.body_type(config)
        body_type.parse_config(body.config)
    except ValidationError as exc:
        yield from _config_problems(node, exc.errors(), prefix=("body", "config"))
        return
    except ValueError as exc:
        yield _body_problem(node, exc)
        return
    try:
        MapNode.body_config(config)
    except ValueError as exc:
        yield _body_problem(node, exc)


def _body_problem(node: Node, exc: ValueError) -> Problem:
    return Problem(
        code="invalid_config",
        message=f"node {node_name(node)}: {exc}",
        node_id=node.id,
        field="body.type",
    )


# -- templates and expressions ---------------------------------------------------------

#: config fields holding templates / expressions, by node type
_TEMPLATE_FIELDS = {"llm": ("system", "prompt"), "template": ("template",)}
_EXPRESSION_FIELDS = {"loop": ("condition",)}


def check_sources(facts: Facts) -> Iterator[Problem]:
    """Syntax of templates and expressions, read from the raw config so they are
    checked even when other config fields are invalid (and in map bodies)."""
    from orchestration.expressions import ExpressionError, compile_expression
    from orchestration.templating import TemplateError, undeclared_variables

    for node_id, node in facts.nodes.items():
        for kind, where, source in _sources(node.type, node.config, ()):
            try:
                if kind == "template":
                    undeclared_variables(source)
                else:
                    compile_expression(source)
            except (TemplateError, ExpressionError) as exc:
                yield Problem(
                    code=f"invalid_{kind}",
                    message=f"node {node_name(node)}, {kind} {where}: {exc}",
                    node_id=node_id,
                    field=where,
                )


def _sources(
    type_name: str, config: Any, prefix: tuple[object, ...]
) -> Iterator[tuple[str, str, str]]:
    """(kind "template" or "expression", field path, source) in a raw config."""
    if not isinstance(config, dict):
        return
    for name in _TEMPLATE_FIELDS.get(type_name, ()):
        if isinstance(config.get(name), str):
            yield "template", str(join_path(*prefix, name)), config[name]
    for name in _EXPRESSION_FIELDS.get(type_name, ()):
        if isinstance(config.get(name), str):
            yield "expression", str(join_path(*prefix, name)), config[name]
    if type_name == "router":
        for i, route in _items(config.get("routes")):
            condition = route.get("condition")
            if isinstance(condition, str):
                yield "expression", str(join_path(*prefix, "routes", i, "condition")), condition
    if type_name == "llm":
        for i, tool in _items(config.get("tools")):
            kind = tool.get("kind", "template")
            if kind in ("template", "expression") and isinstance(tool.get("body"), str):
                yield kind, str(join_path(*prefix, "tools", i, "body")), tool["body"]
    body = config.get("body")
    if type_name == "map" and isinstance(body, dict) and isinstance(body.get("type"), str):
        yield from _sources(body["type"], body.get("config", {}), (*prefix, "body", "config"))


def _items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        yield from ((i, item) for i, item in enumerate(value) if isinstance(item, dict))


# -- edges and ports -------------------------------------------------------------------


def check_edges(facts: Facts) -> Iterator[Problem]:
    """dangling_edge, unknown_port, port_type_mismatch, edge by edge."""
    for edge in facts.graph.edges:
        missing = [end for end in (edge.source, edge.target) if end not in facts.nodes]
        if missing:
            yield Problem(
                code="dangling_edge",
                message=f"{edge_name(edge)} connects missing node(s) "
                + ", ".join(repr(node_id) for node_id in missing),
                edge_id=edge.id,
            )
            continue
        source = _port(facts, edge, edge.source, edge.source_port, facts.outputs, "output")
        target = _port(facts, edge, edge.target, edge.target_port, facts.inputs, "input")
        problems = [p for p in (source, target) if isinstance(p, Problem)]
        yield from problems
        if isinstance(source, Port) and isinstance(target, Port):
            if not port_types_compatible(source.type, target.type):
                yield Problem(
                    code="port_type_mismatch",
                    message=f"{edge_name(edge)}: output type {source.type!r} cannot feed "
                    f"input type {target.type!r}",
                    edge_id=edge.id,
                )


def _port(
    facts: Facts,
    edge: Edge,
    node_id: str,
    port_name: str,
    ports: dict[str, dict[str, Port]],
    kind: str,
) -> Port | Problem | None:
    """The port, a problem when the node has no such port, None when unknown."""
    if node_id not in ports:
        return None
    if port_name in ports[node_id]:
        return ports[node_id][port_name]
    node = facts.nodes[node_id]
    return Problem(
        code="unknown_port",
        message=f"{edge_name(edge)}: node {node_name(node)} has no {kind} port "
        f"{port_name!r} (its {kind} ports: {', '.join(ports[node_id]) or 'none'})",
        node_id=node_id,
        edge_id=edge.id,
    )


def check_port_edges(facts: Facts) -> Iterator[Problem]:
    """port_takes_one_edge, required_input_unconnected, loop_feedback_unconnected."""
    incoming = topology.incoming(facts.graph)
    for node_id, ports in facts.inputs.items():
        node = facts.nodes[node_id]
        for port in ports.values():
            edges = [edge for edge in incoming[node_id] if edge.target_port == port.name]
            if not port.multiple:
                for extra in edges[1:]:
                    yield Problem(
                        code="port_takes_one_edge",
                        message=f"input {port.name!r} of node {node_name(node)} takes one "
                        f"edge, but {edge_name(extra)} is another",
                        node_id=node_id,
                        edge_id=extra.id,
                    )
            if port.required and not edges:
                yield _unconnected(node, port)


def _unconnected(node: Node, port: Port) -> Problem:
    if node.type == LOOP_TYPE and port.name == LOOP_FEEDBACK_PORT:
        return Problem(
            code="loop_feedback_unconnected",
            message=f"loop {node_name(node)} needs an edge into its 'feedback' port "
            "(the value for the next iteration)",
            node_id=node.id,
        )
    return Problem(
        code="required_input_unconnected",
        message=f"required input {port.name!r} of node {node_name(node)} has no edge",
        node_id=node.id,
    )


NODE_CHECKS: tuple[Check, ...] = (
    check_node_types,
    check_sources,
    check_configs,
    check_edges,
    check_port_edges,
)
