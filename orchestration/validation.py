"""Semantic validation of a graph document: every problem at once, never raising.

`validate(graph)` returns a list of `Problem`s (empty: the graph can run);
`validate_inputs(graph, inputs)` checks one run's inputs against the graph's
input schema. Semantics are docs/engine.md. The per-node checks (types,
configs, templates, ports) live in `orchestration.validation_checks`.

Problem codes (severity "error" unless noted):
- `invalid_document`: the JSON is not a graph document (one per pydantic error,
  at `field` such as "nodes.0.colour"), or its `schema_version` is not supported.
- `duplicate_node_id` / `duplicate_edge_id`: an id used again (the later uses).
- `unknown_node_type`: no node type is registered under the node's `type`.
- `invalid_config`: one per error of the node type's Config, at `field`
  ("routes.0.name"); for a map also its body's type ("body.type") and config
  ("body.config.<path>").
- `invalid_template` / `invalid_expression`: a syntax error in an llm/template
  `prompt`, `system` or `template`, an llm tool `body`, or a router/loop
  `condition` (map bodies included).
- `dangling_edge`: an edge's source or target node does not exist.
- `unknown_port`: an edge names a port its node does not have, given its config
  (a router's outputs are its route names and `default`).
- `port_type_mismatch`: the source port's type may not feed the target port's.
- `port_takes_one_edge`: another edge into an input port that is not `multiple`.
- `required_input_unconnected`: a required input port has no edge.
- `loop_feedback_unconnected`: a loop's `feedback` port has no edge.
- `loop_feedback_outside_body`: a loop's `feedback` edge comes from a node that is
  not in that loop's body, so there is nothing to iterate.
- `no_input_node`: the graph has no node of type `input`.
- `unreachable_node` (warning): no path leads from an input node to the node.
- `cycle`: a cycle that does not pass through a loop's `feedback` port.
- `nested_loop`: a loop inside another loop's body, or a node in two loops' bodies.
- `edge_leaves_loop_body`: an edge from a loop's body node to a node outside that
  body, other than into the loop's own `feedback` port.
- `missing_output_mapping`: `graph.outputs` is empty.
- `output_ref_unknown`: a graph output names a missing node or output port
  (`field` "outputs.<name>").
- `invalid_input_schema`: `graph.inputs` is not a valid JSON Schema (draft 2020-12)
  of an object (`field` "inputs.<path>").
- `invalid_run_input` (validate_inputs only): a run input breaks the input schema
  (`field` is its JSON path, e.g. "$.topic").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError

from orchestration import topology
from orchestration.graph import SCHEMA_VERSION, Graph
from orchestration.topology import LOOP_FEEDBACK_PORT
from orchestration.validation_checks import (
    NODE_CHECKS,
    Check,
    Facts,
    Problem,
    Severity,
    edge_name,
    join_path,
    node_name,
)

__all__ = ["Problem", "Severity", "validate", "validate_inputs"]


def validate(graph: Graph | dict[str, Any]) -> list[Problem]:
    """Every problem of `graph` (a Graph, or its JSON document), errors and
    warnings, in a stable order. Never raises for a bad graph: a document that
    does not parse yields its `invalid_document` problems only, since nothing
    else can be checked."""
    if not isinstance(graph, Graph):
        try:
            graph = Graph.model_validate(graph)
        except ValidationError as exc:
            return _document_problems(exc, graph)
    facts = Facts.of(graph)
    problems = [problem for check in CHECKS for problem in check(facts)]
    return _unique(problems)


def validate_inputs(graph: Graph, inputs: dict[str, Any]) -> list[Problem]:
    """Problems of one run's `inputs` against `graph.inputs` (JSON Schema draft
    2020-12): `invalid_run_input`, `field` the JSON path of the bad value ("$"
    for the object itself, e.g. a missing required key). When the schema itself
    is invalid, its `invalid_input_schema` problems instead."""
    schema_problems = list(_input_schema_problems(graph.inputs))
    if schema_problems:
        return schema_problems
    return [
        Problem(
            code="invalid_run_input",
            message=f"run input {error.json_path}: {error.message}",
            field=error.json_path,
        )
        for error in Draft202012Validator(graph.inputs).iter_errors(inputs)
    ]


def _unique(problems: list[Problem]) -> list[Problem]:
    """Drop repeats: a Config that checks its own templates reports the syntax
    error the template check finds too, at the same field or at an enclosing
    one ("tools.0" for "tools.0.body"); the first report is kept."""
    kept: list[Problem] = []
    for problem in problems:
        if not any(_same_error(earlier, problem) for earlier in kept):
            kept.append(problem)
    return kept


def _same_error(earlier: Problem, later: Problem) -> bool:
    if (earlier.code, earlier.node_id, earlier.edge_id) != (
        later.code,
        later.node_id,
        later.edge_id,
    ):
        return False
    if earlier.field == later.field:
        return True
    enclosing = later.field is not None and (earlier.field or "").startswith(later.field + ".")
    return enclosing and later.code in ("invalid_template", "invalid_expression")


# -- the document ----------------------------------------------------------------------


def _document_problems(exc: ValidationError, data: object) -> list[Problem]:
    """One `invalid_document` problem per pydantic error, at its location."""
    problems = []
    for error in exc.errors():
        where = join_path(*error["loc"])
        problems.append(
            Problem(
                code="invalid_document",
                message=f"{where or 'the document'}: {error['msg']}",
                node_id=_id_at(data, "nodes", error["loc"]),
                edge_id=_id_at(data, "edges", error["loc"]),
                field=where,
            )
        )
    return problems


def _id_at(data: object, key: str, loc: tuple[int | str, ...]) -> str | None:
    """The id of data[key][i] when `loc` starts with (key, i) and it has one."""
    if len(loc) < 2 or loc[0] != key or not isinstance(loc[1], int):
        return None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not 0 <= loc[1] < len(items):
        return None
    item = items[loc[1]]
    found = item.get("id") if isinstance(item, dict) else None
    return found if isinstance(found, str) else None


def check_schema_version(facts: Facts) -> Iterator[Problem]:
    version = facts.graph.schema_version
    if version != SCHEMA_VERSION:
        yield Problem(
            code="invalid_document",
            message=f"schema_version {version} is not supported (expected {SCHEMA_VERSION})",
            field="schema_version",
        )


def check_duplicate_ids(facts: Facts) -> Iterator[Problem]:
    seen: set[str] = set()
    for node in facts.graph.nodes:
        if node.id in seen:
            yield Problem(
                code="duplicate_node_id",
                message=f"node id {node.id!r} is used by more than one node ({node_name(node)})",
                node_id=node.id,
            )
        seen.add(node.id)
    seen = set()
    for edge in facts.graph.edges:
        if edge.id in seen:
            yield Problem(
                code="duplicate_edge_id",
                message=f"edge id {edge.id!r} is used by more than one edge ({edge_name(edge)})",
                edge_id=edge.id,
            )
        seen.add(edge.id)


def check_input_schema(facts: Facts) -> Iterator[Problem]:
    yield from _input_schema_problems(facts.graph.inputs)


def _input_schema_problems(schema: dict[str, Any]) -> Iterator[Problem]:
    """As Draft202012Validator.check_schema, but every error rather than the
    best one; and the schema must describe an object (`"type": "object"`)."""
    meta = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    for error in meta.iter_errors(schema):
        yield Problem(
            code="invalid_input_schema",
            message=f"the input schema is not valid JSON Schema: {error.message}",
            field=join_path("inputs", *error.absolute_path),
        )
    if schema.get("type") != "object":
        yield Problem(
            code="invalid_input_schema",
            message='the input schema must describe an object ("type": "object")',
            field="inputs.type",
        )


# -- structure -------------------------------------------------------------------------


def check_reachability(facts: Facts) -> Iterator[Problem]:
    """no_input_node; else unreachable_node (a warning) for each node no input reaches."""
    if not topology.input_node_ids(facts.graph):
        yield Problem(code="no_input_node", message="the graph has no input node")
        return
    reachable = topology.reachable_from_inputs(facts.graph)
    for node_id, node in facts.nodes.items():
        if node_id not in reachable:
            yield Problem(
                code="unreachable_node",
                message=f"node {node_name(node)} is not reachable from any input node",
                node_id=node_id,
                severity="warning",
            )


def check_cycles(facts: Facts) -> Iterator[Problem]:
    for group in topology.cycles(facts.graph):
        names = ", ".join(node_name(facts.nodes[node_id]) for node_id in group)
        yield Problem(
            code="cycle",
            message=f"nodes {names} form a cycle; cycles may only pass through "
            "a loop's 'feedback' port",
            node_id=group[0],
        )


def check_loops(facts: Facts) -> Iterator[Problem]:
    """nested_loop, edge_leaves_loop_body, loop_feedback_outside_body."""
    bodies = topology.loop_bodies(facts.graph)
    yield from _nested_loops(facts, bodies)
    for loop_id, body in bodies.items():
        loop = facts.nodes[loop_id]
        for edge in topology.known_edges(facts.graph):
            into_feedback = edge.target == loop_id and edge.target_port == LOOP_FEEDBACK_PORT
            if edge.source in body and edge.target not in body and not into_feedback:
                yield Problem(
                    code="edge_leaves_loop_body",
                    message=f"{edge_name(edge)} leaves the body of loop {node_name(loop)}; "
                    "only its 'feedback' port may be fed from inside the body",
                    node_id=edge.source,
                    edge_id=edge.id,
                )
            if into_feedback and edge.source not in body:
                yield Problem(
                    code="loop_feedback_outside_body",
                    message=f"{edge_name(edge)} feeds back loop {node_name(loop)} from "
                    "outside its body; the feedback must come from a body node",
                    node_id=loop_id,
                    edge_id=edge.id,
                )


def _nested_loops(facts: Facts, bodies: dict[str, frozenset[str]]) -> Iterator[Problem]:
    loops = list(bodies)
    for outer in loops:
        for inner in loops:
            if inner in bodies[outer]:
                yield Problem(
                    code="nested_loop",
                    message=f"loop {node_name(facts.nodes[inner])} is inside the body of "
                    f"loop {node_name(facts.nodes[outer])}; loops do not nest",
                    node_id=inner,
                )
    for i, first in enumerate(loops):
        for second in loops[i + 1 :]:
            if first in bodies[second] or second in bodies[first]:
                continue  # reported above
            for node_id in sorted(bodies[first] & bodies[second]):
                yield Problem(
                    code="nested_loop",
                    message=f"node {node_name(facts.nodes[node_id])} is in the bodies of "
                    f"loops {node_name(facts.nodes[first])} and "
                    f"{node_name(facts.nodes[second])}; loop bodies may not overlap",
                    node_id=node_id,
                )


def check_outputs(facts: Facts) -> Iterator[Problem]:
    """missing_output_mapping, output_ref_unknown."""
    if not facts.graph.outputs:
        yield Problem(
            code="missing_output_mapping",
            message="the graph maps no outputs: name at least one node port as a run output",
            field="outputs",
        )
    for name, ref in facts.graph.outputs.items():
        where = join_path("outputs", name)
        if ref.node not in facts.nodes:
            yield Problem(
                code="output_ref_unknown",
                message=f"output {name!r} refers to missing node {ref.node!r}",
                field=where,
            )
        elif ref.node in facts.outputs and ref.port not in facts.outputs[ref.node]:
            node = facts.nodes[ref.node]
            yield Problem(
                code="output_ref_unknown",
                message=f"output {name!r} refers to port {ref.port!r}, which node "
                f"{node_name(node)} does not have (its output ports: "
                f"{', '.join(facts.outputs[ref.node]) or 'none'})",
                node_id=ref.node,
                field=where,
            )


CHECKS: tuple[Check, ...] = (
    check_schema_version,
    check_duplicate_ids,
    *NODE_CHECKS,
    check_reachability,
    check_cycles,
    check_loops,
    check_outputs,
    check_input_schema,
)
