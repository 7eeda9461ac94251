"""Graph validation: one test per problem code, all problems at once, the
patterns of docs/engine.md valid, and random valid graphs valid."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration import topology, validation
from orchestration.graph import Graph
from orchestration.nodes import REGISTRY
from orchestration.topology import CycleError, topological_order
from orchestration.validation import Problem, validate, validate_inputs
from tests.orchestration.strategies import RUN_INPUTS, valid_graphs

# -- building documents ----------------------------------------------------------------


def node(node_id: str, type_: str, label: str = "", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "label": label, "config": config}


def edge(
    edge_id: str, source: str, target: str, source_port: str = "out", target_port: str = "in"
) -> dict[str, Any]:
    return {
        "id": edge_id,
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


def document(
    *nodes: dict[str, Any],
    edges: tuple[dict[str, Any], ...] = (),
    outputs: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A document; `outputs` defaults to {"result": out.out}."""
    return {
        "schema_version": 1,
        "nodes": list(nodes),
        "edges": list(edges),
        "inputs": inputs if inputs is not None else {"type": "object", "properties": {}},
        "outputs": outputs if outputs is not None else {"result": {"node": "out", "port": "out"}},
    }


def chain(*middle: dict[str, Any], ports: tuple[str, ...] = ()) -> dict[str, Any]:
    """input "in" -> middle nodes in a row -> output "out"; `ports` are the
    middle nodes' output ports (default "out")."""
    nodes = [node("in", "input", "Question"), *middle, node("out", "output", "Answer")]
    edges = []
    for i in range(len(nodes) - 1):
        port = ports[i - 1] if 0 < i <= len(ports) else "out"
        edges.append(edge(f"e{i}", nodes[i]["id"], nodes[i + 1]["id"], port))
    return document(*nodes, edges=tuple(edges))


def codes(problems: list[Problem]) -> list[str]:
    return [problem.code for problem in problems]


def only(problems: list[Problem], code: str) -> Problem:
    """The one problem with `code`."""
    found = [problem for problem in problems if problem.code == code]
    assert len(found) == 1, problems
    return found[0]


# -- valid graphs ----------------------------------------------------------------------

LOOP = document(
    node("in", "input", "Topic", key="topic"),
    node("loop", "loop", "Refine", condition="value is string and 'OK' in value"),
    node("generate", "llm", "Generate", prompt="Write about {{ input }}"),
    node("critique", "llm", "Critique", prompt="Critique: {{ input }}"),
    node("revise", "template", "Revise", template="{{ generate }}\n{{ critique }}"),
    node("out", "output", "Final"),
    edges=(
        edge("e1", "in", "loop", "out", "init"),
        edge("e2", "loop", "generate", "body"),
        edge("e3", "generate", "critique", "text"),
        edge("e4", "generate", "revise", "text"),
        edge("e5", "critique", "revise", "text"),
        edge("e6", "revise", "loop", "text", "feedback"),
        edge("e7", "loop", "out", "done"),
    ),
    inputs={"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]},
)

PATTERNS = {
    "chain": chain(
        node("draft", "llm", "Draft", system="Be brief.", prompt="{{ input }}"),
        node("polish", "template", "Polish", template="Final: {{ input }}"),
        ports=("text", "text"),
    ),
    "fan-out and join": document(
        node("in", "input"),
        node("a", "llm", "Optimist"),
        node("b", "llm", "Pessimist"),
        node("c", "passthrough"),
        node("join", "join", "Merge", mode="object"),
        node("out", "output"),
        edges=(
            edge("e1", "in", "a"),
            edge("e2", "in", "b"),
            edge("e3", "in", "c"),
            edge("e4", "a", "join", "text"),
            edge("e5", "b", "join", "json"),
            edge("e6", "c", "join"),
            edge("e7", "join", "out"),
        ),
    ),
    "router": document(
        node("in", "input"),
        node(
            "route",
            "router",
            "Triage",
            routes=[
                {"name": "urgent", "condition": "'urgent' in input | lower"},
                {"name": "question", "condition": "input is string and input.endswith('?')"},
            ],
        ),
        node("fast", "llm", "Fast"),
        node("slow", "llm", "Slow"),
        node("other", "template", "Other", template="No route for {{ input }}"),
        node("join", "join", "Any", mode="text"),
        node("out", "output"),
        edges=(
            edge("e1", "in", "route"),
            edge("e2", "route", "fast", "urgent"),
            edge("e3", "route", "slow", "question"),
            edge("e4", "route", "other", "default"),
            edge("e5", "fast", "join", "text"),
            edge("e6", "slow", "join", "text"),
            edge("e7", "other", "join", "text"),
            edge("e8", "join", "out"),
        ),
    ),
    "map": document(
        node("in", "input", key="items"),
        node("ctx", "input", key="style"),
        node(
            "each",
            "map",
            "Summarise each",
            body={"type": "llm", "config": {"prompt": "{{ context }}: {{ item }}"}},
            max_concurrency=4,
            on_item_error="collect",
        ),
        node("out", "output"),
        edges=(
            edge("e1", "in", "each", "out", "items"),
            edge("e2", "ctx", "each", "out", "context"),
            edge("e3", "each", "out", "results"),
        ),
        outputs={
            "result": {"node": "out", "port": "out"},
            "errors": {"node": "each", "port": "errors"},
        },
    ),
    "loop": LOOP,
    "subworkflow": chain(node("child", "subworkflow", "Research", workflow="research", version=2)),
}


@pytest.mark.parametrize("name", PATTERNS)
def test_the_documented_patterns_are_valid(name: str) -> None:
    assert validate(PATTERNS[name]) == []


def test_a_graph_object_is_validated_like_its_document() -> None:
    assert validate(Graph.model_validate(LOOP)) == []


@settings(max_examples=150, deadline=None)
@given(valid_graphs(max_nodes=15))
def test_random_valid_graphs_have_no_problems(graph: Graph) -> None:
    assert validate(graph) == []
    assert validate_inputs(graph, RUN_INPUTS) == []
    # what the planner relies on
    assert len(topological_order(graph)) == len(graph.nodes)


@settings(max_examples=30, deadline=None)
@given(valid_graphs(max_nodes=5, loops=False))
def test_small_graphs_without_loops_have_no_loop(graph: Graph) -> None:
    assert len(graph.nodes) <= 5
    assert all(n.type != "loop" for n in graph.nodes)
    assert validate(graph) == []


@settings(max_examples=1)
@given(st.data())
def test_valid_graphs_refuses_a_size_out_of_range(data: st.DataObject) -> None:
    with pytest.raises(ValueError, match="max_nodes"):
        data.draw(valid_graphs(max_nodes=16))


# -- one test per code -----------------------------------------------------------------


def test_invalid_document_names_the_location() -> None:
    doc = chain(node("mid", "passthrough"))
    doc["nodes"][1]["colour"] = "red"
    problem = only(validate(doc), "invalid_document")
    assert problem.field == "nodes.1.colour"
    assert problem.node_id == "mid"
    assert "nodes.1.colour" in problem.message


def test_invalid_document_reports_every_pydantic_error() -> None:
    doc = chain()
    doc["edges"][0].pop("target")
    doc["outputs"]["result"]["port"] = 3
    problems = validate(doc)
    assert codes(problems) == ["invalid_document", "invalid_document"]
    assert [p.field for p in problems] == ["edges.0.target", "outputs.result.port"]
    assert problems[0].edge_id == "e0"


def test_a_document_that_is_not_an_object_is_a_problem() -> None:
    problem = only(validate([1, 2]), "invalid_document")  # type: ignore[arg-type]
    assert problem.field is None


def test_unsupported_schema_version() -> None:
    doc = chain()
    doc["schema_version"] = 2
    problem = only(validate(doc), "invalid_document")
    assert problem.field == "schema_version"
    assert "2" in problem.message


def test_unknown_node_type() -> None:
    problem = only(validate(chain(node("mid", "teleport", "Beam"))), "unknown_node_type")
    assert problem.node_id == "mid"
    assert all(s in problem.message for s in ('"Beam" (mid)', "teleport"))


def test_invalid_config_one_problem_per_error_with_its_path() -> None:
    doc = chain(
        node("mid", "llm", "Writer", temperature=3, max_tokens=0, colour="red"), ports=("text",)
    )
    problems = validate(doc)
    assert codes(problems) == ["invalid_config"] * 3
    assert {p.field for p in problems} == {"temperature", "max_tokens", "colour"}
    assert all(p.node_id == "mid" and "(mid)" in p.message for p in problems)


def test_invalid_config_of_a_router_route_names_the_route_field() -> None:
    doc = chain(node("mid", "router", "Triage", routes=[{"name": "not an id"}]))
    doc["edges"][1]["source_port"] = "default"
    problem = only(validate(doc), "invalid_config")
    assert problem.field == "routes.0.name"
    assert "Triage" in problem.message


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"type": "teleport"}, "body.type", "teleport"),
        ({"type": "map"}, "body.type", "control"),
        ({"type": "loop"}, "body.type", "init"),
        ({"type": "llm", "config": {"temperature": 9}}, "body.config.temperature", "2"),
        ({"type": "llm", "config": {"prompt": "{{ item "}}, "body.config.prompt", "syntax"),
        ({"type": "llm", "kind": "x"}, "body.kind", "Extra"),
    ],
)
def test_invalid_config_of_a_map_body(body: dict[str, Any], field: str, words: str) -> None:
    doc = chain(node("mid", "map", "Each", body=body), ports=("results",))
    doc["edges"][0]["target_port"] = "items"
    problems = [p for p in validate(doc) if p.field and p.field.startswith("body")]
    assert len(problems) >= 1, validate(doc)
    assert problems[0].field == field
    assert problems[0].node_id == "mid"
    assert words in problems[0].message
    expected = "invalid_template" if field.endswith("prompt") else "invalid_config"
    assert problems[0].code == expected


def test_duplicate_node_id() -> None:
    doc = chain(node("mid", "passthrough"), node("mid", "passthrough", "Again"))
    problem = only(validate(doc), "duplicate_node_id")
    assert problem.node_id == "mid"
    assert "mid" in problem.message


def test_duplicate_edge_id() -> None:
    doc = chain(node("mid", "passthrough"))
    doc["edges"][1]["id"] = "e0"
    problem = only(validate(doc), "duplicate_edge_id")
    assert problem.edge_id == "e0"
    assert "e0" in problem.message


def test_dangling_edge() -> None:
    doc = chain()
    doc["edges"].append(edge("ghost", "in", "nowhere"))
    problem = only(validate(doc), "dangling_edge")
    assert problem.edge_id == "ghost"
    assert all(s in problem.message for s in ("ghost", "nowhere"))


def test_unknown_port_of_a_static_node() -> None:
    doc = chain(node("mid", "template", "Fill"))  # its output is "text", not "out"
    problem = only(validate(doc), "unknown_port")
    assert (problem.node_id, problem.edge_id) == ("mid", "e1")
    assert all(s in problem.message for s in ('"Fill" (mid)', "'out'", "text"))


def test_unknown_port_of_a_router_comes_from_its_routes() -> None:
    routes = [{"name": "yes", "condition": "input"}]
    doc = chain(node("mid", "router", "Gate", routes=routes), ports=("maybe",))
    problem = only(validate(doc), "unknown_port")
    assert (problem.node_id, problem.edge_id) == ("mid", "e1")
    assert all(s in problem.message for s in ("maybe", "yes", "default"))
    doc["edges"][1]["source_port"] = "yes"
    assert validate(doc) == []


def test_port_type_mismatch() -> None:
    doc = chain(
        node("text", "template", "Words"),
        node("each", "map", "Each", body={"type": "passthrough"}),
        ports=("text", "results"),
    )
    doc["edges"][1]["target_port"] = "items"
    problem = only(validate(doc), "port_type_mismatch")
    assert problem.edge_id == "e1"
    assert all(s in problem.message for s in ("'text'", "'list'", "e1"))


def test_port_takes_one_edge() -> None:
    doc = chain()
    doc["edges"].append(edge("again", "in", "out"))
    problem = only(validate(doc), "port_takes_one_edge")
    assert (problem.node_id, problem.edge_id) == ("out", "again")
    assert all(s in problem.message for s in ('"Answer" (out)', "again"))


def test_required_input_unconnected() -> None:
    doc = chain()
    doc["nodes"].append(node("lonely", "passthrough", "Lonely"))
    problems = validate(doc)
    problem = only(problems, "required_input_unconnected")
    assert problem.node_id == "lonely"
    assert all(s in problem.message for s in ('"Lonely" (lonely)', "'in'"))


def test_no_input_node() -> None:
    doc = document(
        node("hello", "template", template="hello"),
        node("out", "output"),
        edges=(edge("e1", "hello", "out", "text"),),
    )
    problem = only(validate(doc), "no_input_node")
    assert problem.node_id is None
    assert "input" in problem.message


def test_unreachable_node_is_a_warning() -> None:
    doc = chain()
    doc["nodes"].append(node("hello", "template", "Greeting", template="hello"))
    problems = validate(doc)
    assert codes(problems) == ["unreachable_node"]
    assert problems[0].node_id == "hello"
    assert problems[0].severity == "warning"
    assert '"Greeting" (hello)' in problems[0].message


def test_cycle_lists_its_nodes() -> None:
    doc = chain(node("a", "join", "A"), node("b", "passthrough", "B"))
    doc["edges"].append(edge("back", "b", "a"))
    problem = only(validate(doc), "cycle")
    assert problem.node_id == "a"
    assert all(s in problem.message for s in ('"A" (a)', '"B" (b)'))


def test_a_self_loop_is_a_cycle() -> None:
    doc = chain(node("a", "join", "A"))
    doc["edges"].append(edge("self", "a", "a"))
    assert only(validate(doc), "cycle").node_id == "a"


def loop_document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        key: list(value) if key in ("nodes", "edges") else value for key, value in LOOP.items()
    }
    return {**doc, **changes}


def test_loop_feedback_unconnected() -> None:
    doc = loop_document()
    doc["edges"] = [e for e in doc["edges"] if e["id"] != "e6"]
    problem = only(validate(doc), "loop_feedback_unconnected")
    assert problem.node_id == "loop"
    assert all(s in problem.message for s in ('"Refine" (loop)', "feedback"))
    assert "required_input_unconnected" not in codes(validate(doc))


def test_loop_feedback_outside_body() -> None:
    doc = loop_document()
    doc["edges"] = [e for e in doc["edges"] if e["id"] != "e6"]
    doc["edges"].append(edge("shortcut", "in", "loop", "out", "feedback"))
    problem = only(validate(doc), "loop_feedback_outside_body")
    assert (problem.node_id, problem.edge_id) == ("loop", "shortcut")
    assert all(s in problem.message for s in ("shortcut", '"Refine" (loop)'))


def test_edge_leaves_loop_body() -> None:
    doc = loop_document()
    doc["edges"].append(edge("escape", "critique", "loop", "text", "init"))
    problems = validate(doc)
    problem = only(problems, "edge_leaves_loop_body")
    assert (problem.node_id, problem.edge_id) == ("critique", "escape")
    assert all(s in problem.message for s in ("escape", '"Refine" (loop)'))
    assert "cycle" in codes(problems)  # it also closes a cycle outside the feedback port


def test_nested_loop() -> None:
    doc = loop_document()
    doc["nodes"].append(node("inner", "loop", "Inner"))
    doc["nodes"].append(node("step", "passthrough"))
    doc["edges"] += [
        edge("i1", "generate", "inner", "text", "init"),
        edge("i2", "inner", "step", "body"),
        edge("i3", "step", "inner", "out", "feedback"),
        edge("i4", "inner", "revise", "done"),
    ]
    problem = only(validate(doc), "nested_loop")
    assert problem.node_id == "inner"
    assert all(s in problem.message for s in ('"Inner" (inner)', '"Refine" (loop)'))


def test_overlapping_loop_bodies_are_nested_loops() -> None:
    doc = loop_document()
    doc["nodes"] += [
        node("other", "loop", "Other"),
        node("step", "passthrough"),
        node("note", "join", "Note"),
    ]
    doc["edges"] += [
        edge("o1", "in", "other", "out", "init"),
        edge("o2", "other", "step", "body"),
        edge("o3", "step", "other", "out", "feedback"),
        edge("o4", "other", "note", "body"),
        edge("o5", "generate", "note", "text"),  # note is in both bodies
    ]
    problem = only(validate(doc), "nested_loop")
    assert problem.node_id == "note"
    assert all(s in problem.message for s in ('"Note" (note)', "(loop)", "(other)"))


def test_missing_output_mapping() -> None:
    doc = chain()
    doc["outputs"] = {}
    problem = only(validate(doc), "missing_output_mapping")
    assert problem.field == "outputs"


@pytest.mark.parametrize(
    ("ref", "node_id", "words"),
    [({"node": "ghost"}, None, "ghost"), ({"node": "in", "port": "text"}, "in", "'text'")],
)
def test_output_ref_unknown(ref: dict[str, str], node_id: str | None, words: str) -> None:
    doc = chain()
    doc["outputs"]["extra"] = ref
    problem = only(validate(doc), "output_ref_unknown")
    assert (problem.node_id, problem.field) == (node_id, "outputs.extra")
    assert words in problem.message


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": "object", "properties": {"x": {"type": "strang"}}}, "inputs.properties.x.type"),
        ({"type": "array"}, "inputs.type"),
        ({"properties": {}}, "inputs.type"),
    ],
)
def test_invalid_input_schema(schema: dict[str, Any], field: str) -> None:
    doc = chain()
    doc["inputs"] = schema
    problem = only(validate(doc), "invalid_input_schema")
    assert problem.field == field


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"template": "{{ input "}, "template"),
        ({"system": "{% if %}"}, "system"),
        ({"prompt": "{{ }}"}, "prompt"),
        ({"tools": [{"name": "t", "kind": "template", "body": "{% for %}"}]}, "tools.0.body"),
    ],
)
def test_invalid_template(config: dict[str, Any], field: str) -> None:
    type_ = "template" if "template" in config else "llm"
    doc = chain(node("mid", type_, "Writer", **config), ports=("text",))
    problem = only(validate(doc), "invalid_template")
    assert (problem.node_id, problem.field) == ("mid", field)
    assert all(s in problem.message for s in ('"Writer" (mid)', "syntax"))


@pytest.mark.parametrize(
    ("type_", "config", "field", "port"),
    [
        ("router", {"routes": [{"name": "a", "condition": "input >"}]}, "routes.0.condition", "a"),
        ("loop", {"condition": "value ==="}, "condition", "done"),
        (
            "llm",
            {"tools": [{"name": "t", "kind": "expression", "body": "1 +"}]},
            "tools.0.body",
            "text",
        ),
    ],
)
def test_invalid_expression(type_: str, config: dict[str, Any], field: str, port: str) -> None:
    doc = chain(node("mid", type_, "Decide", **config), ports=(port,))
    problem = only(validate(doc), "invalid_expression")
    assert (problem.node_id, problem.field) == ("mid", field)
    assert '"Decide" (mid)' in problem.message


def test_invalid_run_input_names_the_json_path() -> None:
    doc = chain()
    doc["inputs"] = {
        "type": "object",
        "properties": {"topic": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["topic"],
    }
    graph = Graph.model_validate(doc)
    assert validate_inputs(graph, {"topic": "x", "n": 2}) == []
    problems = validate_inputs(graph, {"n": "two"})
    assert codes(problems) == ["invalid_run_input"] * 2
    assert sorted(p.field or "" for p in problems) == ["$", "$.n"]
    assert any("topic" in p.message for p in problems)


def test_validate_inputs_reports_a_bad_schema() -> None:
    graph = Graph.model_validate({**chain(), "inputs": {"type": "array"}})
    assert codes(validate_inputs(graph, {})) == ["invalid_input_schema"]


# -- everything at once ----------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    doc = document(
        node("in", "input"),
        node("in", "input"),
        node("beam", "teleport"),
        node("fill", "template", "Fill", template="{{ oops "),
        node("gate", "router", "Gate", routes=[{"name": "bad name"}]),
        node("a", "join"),
        node("b", "passthrough"),
        node("c", "passthrough"),
        node("out", "output"),
        edges=(
            edge("e1", "in", "fill"),
            edge("e1", "fill", "out", "nope"),
            edge("e3", "in", "ghost"),
            edge("e4", "a", "b"),
            edge("e5", "b", "a"),
        ),
        outputs={},
        inputs={"type": "array"},
    )
    found = set(codes(validate(doc)))
    assert found >= {
        "duplicate_node_id",
        "duplicate_edge_id",
        "unknown_node_type",
        "invalid_template",
        "invalid_config",
        "dangling_edge",
        "unknown_port",
        "required_input_unconnected",
        "unreachable_node",
        "cycle",
        "missing_output_mapping",
        "invalid_input_schema",
    }


def test_problems_serialise_to_json() -> None:
    problem = only(validate(chain(node("mid", "teleport"))), "unknown_node_type")
    assert problem.to_json() == {
        "code": "unknown_node_type",
        "message": problem.message,
        "node_id": "mid",
        "edge_id": None,
        "field": "type",
        "severity": "error",
    }


def test_a_template_error_is_reported_once() -> None:
    doc = chain(node("mid", "template", template="{{ x "), ports=("text",))
    assert codes(validate(doc)) == ["invalid_template"]


# -- never raising -----------------------------------------------------------------------

IDS = ("a", "b", "c", "d", "e")
PORTS = ("in", "out", "text", "json", "body", "done", "init", "feedback", "items", "yes")
CONFIGS: tuple[dict[str, Any], ...] = (
    {},
    {"template": "{{ input }}"},
    {"template": "{{ input "},
    {"routes": [{"name": "yes", "condition": "input"}]},
    {"routes": "nope"},
    {"condition": "iteration > 1"},
    {"body": {"type": "template"}},
    {"body": {"type": "loop"}},
    {"body": 3},
    {"key": "topic"},
)


@st.composite
def arbitrary_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Well-formed documents wired at random: mostly invalid graphs."""
    types = st.sampled_from([*REGISTRY, "bogus"])
    nodes = [
        node(node_id, draw(types), **draw(st.sampled_from(CONFIGS)))
        for node_id in draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=6))
    ]
    edges = tuple(
        edge(f"e{i}", *draw(st.tuples(*[st.sampled_from(IDS)] * 2, *[st.sampled_from(PORTS)] * 2)))
        for i in range(draw(st.integers(0, 8)))
    )
    refs = st.fixed_dictionaries({"node": st.sampled_from(IDS), "port": st.sampled_from(PORTS)})
    outputs = draw(st.dictionaries(st.sampled_from(["x", "y"]), refs, max_size=2))
    return document(*nodes, edges=edges, outputs=outputs)


DOCUMENTED_CODES = {
    line.split("`")[1] for line in (validation.__doc__ or "").splitlines() if line.startswith("- `")
} | {"duplicate_edge_id", "invalid_expression"}


@settings(max_examples=300, deadline=None)
@given(arbitrary_documents())
def test_validate_never_raises_and_uses_documented_codes(doc: dict[str, Any]) -> None:
    problems = validate(doc)
    assert set(codes(problems)) <= DOCUMENTED_CODES


# -- topology (shared with the planner) ----------------------------------------------------


def test_loop_structure() -> None:
    graph = Graph.model_validate(LOOP)
    assert topology.loop_bodies(graph) == {"loop": frozenset({"generate", "critique", "revise"})}
    assert topology.body_owner(graph) == dict.fromkeys(["generate", "critique", "revise"], "loop")
    assert topology.feedback_edges(graph) == {"e6"}
    assert topological_order(graph) == ["in", "loop", "generate", "critique", "revise", "out"]
    assert topology.reachable_from_inputs(graph) == {n.id for n in graph.nodes}


def test_incoming_and_outgoing_keep_edge_order_and_skip_dangling_edges() -> None:
    doc = PATTERNS["fan-out and join"]
    doc = {**doc, "edges": [*doc["edges"], edge("ghost", "in", "nowhere")]}
    graph = Graph.model_validate(doc)
    assert [e.id for e in topology.outgoing(graph)["in"]] == ["e1", "e2", "e3"]
    assert [e.id for e in topology.incoming(graph)["join"]] == ["e4", "e5", "e6"]
    assert topology.incoming(graph)["in"] == []


def test_topological_order_names_a_cycle() -> None:
    doc = chain(node("a", "join"), node("b", "passthrough"), node("c", "passthrough"))
    doc["edges"].append(edge("back", "c", "a"))
    graph = Graph.model_validate(doc)
    with pytest.raises(CycleError) as info:
        topological_order(graph)
    assert info.value.nodes == ["a", "b", "c"]
    assert topology.cycles(graph) == [["a", "b", "c"]]


def test_reachability_starts_at_input_nodes_only() -> None:
    doc = chain()
    doc["nodes"].append(node("hello", "template"))
    doc["edges"].append(edge("h", "hello", "out", "text"))
    assert topology.reachable_from_inputs(Graph.model_validate(doc)) == {"in", "out"}
