"""Every node type run with a LocalContext, and its config validated (no database)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from orchestration.context import LocalContext, make_key
from orchestration.nodes import REGISTRY, catalogue, get_node_type
from orchestration.nodes.base import NodeContext, NodeError, NodeType, Upstream, WaitForChild
from orchestration.nodes.join import vote
from orchestration.nodes.map import MapConfig, MapNode
from orchestration.nodes.router import RouterNode, parse_route, route_schema


def node(type_name: str, **config: Any) -> NodeType:
    node_type = get_node_type(type_name)
    return node_type(node_type.parse_config(config))


def run(
    instance: NodeType, inputs: dict[str, Any], ctx: LocalContext | None = None
) -> dict[str, Any]:
    return asyncio.run(instance.run(ctx or LocalContext(), inputs))


def up(node_id: str, value: Any, label: str = "") -> Upstream:
    return Upstream(node_id=node_id, label=label, port="out", target_port="in", value=value)


# -- the catalogue -------------------------------------------------------------


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_describe_is_json_with_a_json_schema_config(type_name: str) -> None:
    node_type = get_node_type(type_name)
    entry = json.loads(json.dumps(node_type.describe()))
    assert entry["type"] == type_name == node_type.type
    assert entry["category"] in {"Input/Output", "Agents", "Control flow", "Text", "Utility"}
    assert entry["title"]
    assert entry["description"]
    schema = entry["config_schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert {"max_attempts", "timeout_s"} <= set(schema["properties"])
    node_type.parse_config({} if type_name != "subworkflow" else {"workflow": "w"})


def test_catalogue_lists_every_type() -> None:
    assert sorted(str(e["type"]) for e in catalogue()) == sorted(REGISTRY)


def test_config_fields_have_titles_and_descriptions() -> None:
    schema = get_node_type("llm").describe()["config_schema"]
    assert schema["properties"]["temperature"]["maximum"] == 2
    assert schema["properties"]["prompt"]["description"]
    assert get_node_type("join").describe()["config_schema"]["properties"]["mode"]["enum"] == [
        "list",
        "object",
        "text",
        "vote",
    ]


def test_local_context_is_a_node_context() -> None:
    ctx: NodeContext = LocalContext(run_id="r1", node_id="n", iteration=2, item=5)
    assert ctx.idempotency_key == "r1:n:2:5"
    assert make_key("r1", "n", 0, None) == "r1:n:0:-"
    step = LocalContext(run_id="r1").for_step("fetch", iteration=1)
    assert step.idempotency_key == "r1:fetch:1:-"


def test_local_context_provider_errors_name_it() -> None:
    with pytest.raises(NodeError, match="no provider named 'Nope'") as info:
        LocalContext().provider("Nope")
    assert info.value.retryable is False


# -- input / output / passthrough / template ----------------------------------


def test_input_emits_run_inputs_or_one_key() -> None:
    ctx = LocalContext(run_inputs={"topic": "tea", "n": 2})
    assert run(node("input"), {}, ctx) == {"out": {"topic": "tea", "n": 2}}
    assert run(node("input", key="topic"), {}, ctx) == {"out": "tea"}
    assert run(node("input", key="missing"), {}, ctx) == {"out": None}
    assert ctx.logs[-1].level == "warning"
    assert "'missing'" in ctx.logs[-1].message


@pytest.mark.parametrize("type_name", ["output", "passthrough"])
def test_output_and_passthrough_pass_the_value(type_name: str) -> None:
    assert run(node(type_name), {"in": {"a": [1]}}) == {"out": {"a": [1]}}


def test_template_renders_with_upstream_and_run_inputs() -> None:
    ctx = LocalContext(run_inputs={"lang": "fr"}, upstream=[up("planner", "plan A")])
    template = node("template", template="{{ planner }} in {{ inputs.lang }} ({{ input }})")
    assert run(template, {"in": ["plan A"]}, ctx) == {"text": "plan A in fr (plan A)"}


def test_template_errors_are_not_retryable_and_name_the_variable() -> None:
    with pytest.raises(NodeError, match="template: line 1: 'topic' is undefined") as info:
        run(node("template", template="{{ topic }}"), {"in": []})
    assert info.value.retryable is False


def test_template_syntax_is_checked_with_the_config() -> None:
    with pytest.raises(ValidationError, match="syntax error"):
        get_node_type("template").parse_config({"template": "{% if %}"})


def test_unknown_config_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        get_node_type("output").parse_config({"colour": "red"})


# -- router ---------------------------------------------------------------------


ROUTES = [
    {"name": "urgent", "condition": "'urgent' in input|lower"},
    {"name": "french", "condition": "inputs.lang == 'fr'"},
]


def test_router_ports_and_queue() -> None:
    config = RouterNode.parse_config({"routes": ROUTES})
    assert [p.name for p in RouterNode.outputs_for(config)] == ["urgent", "french", "default"]
    assert RouterNode.queue_for(config) == "cpu"
    assert RouterNode.queue_for(RouterNode.parse_config({"mode": "llm", "routes": ROUTES})) == "io"


def test_router_chooses_the_first_match() -> None:
    ctx = LocalContext(run_inputs={"lang": "fr"})
    assert run(node("router", routes=ROUTES), {"in": "URGENT!"}, ctx) == {"urgent": "URGENT!"}
    assert run(node("router", routes=ROUTES), {"in": "hello"}, ctx) == {"french": "hello"}


def test_router_multi_chooses_every_match() -> None:
    ctx = LocalContext(run_inputs={"lang": "fr"})
    router = node("router", routes=ROUTES, multi=True)
    assert run(router, {"in": "urgent"}, ctx) == {"urgent": "urgent", "french": "urgent"}


def test_router_default_when_nothing_matches() -> None:
    ctx = LocalContext(run_inputs={"lang": "en"})
    assert run(node("router", routes=ROUTES), {"in": "hi"}, ctx) == {"default": "hi"}
    assert run(node("router"), {"in": 1}, ctx) == {"default": 1}


def test_router_condition_errors_are_not_retryable() -> None:
    router = node("router", routes=[{"name": "a", "condition": "input.score > 1"}])
    with pytest.raises(NodeError, match=r"router route 'a'.*has no attribute 'score'") as info:
        run(router, {"in": {}})
    assert info.value.retryable is False


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([{"name": "has space"}], "must be an identifier"),
        ([{"name": "9lives"}], "must be an identifier"),
        ([{"name": "default"}], "router's own port"),
        ([{"name": "a"}, {"name": "a"}], "repeated: a"),
        ([{"name": "a", "condition": "input >"}], "syntax error"),
        ([{"name": "a", "condition": " "}], "route 'a': the condition is empty"),
    ],
)
def test_router_config_errors(routes: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RouterNode.parse_config({"routes": routes})


def test_router_llm_mode_needs_no_conditions() -> None:
    config = RouterNode.parse_config({"mode": "llm", "routes": [{"name": "a", "condition": ""}]})
    assert [p.name for p in RouterNode.outputs_for(config)] == ["a", "default"]


def test_parse_route() -> None:
    names = ["billing", "tech"]
    assert route_schema(names)["properties"]["route"]["enum"] == ["billing", "tech", "default"]
    assert parse_route('{"route": "tech"}', names) == "tech"
    assert parse_route('{"route": "sales"}', names) == "default"
    assert parse_route("It is a tech question, not billing.", names) == "tech"
    assert parse_route("technical", names) == "default"


# -- join -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "values", "expected"),
    [
        ({}, [1, "a", None], [1, "a", None]),
        ({"mode": "text"}, ["a", 1, {"k": 2}], "a\n\n1\n\n{'k': 2}"),
        ({"mode": "text", "separator": ", "}, ["a", "b"], "a, b"),
        ({"mode": "vote"}, ["x", "y", "y", "x", "y"], "y"),
        ({"mode": "vote"}, [{"a": 1, "b": 2}, "z", {"b": 2, "a": 1}], {"a": 1, "b": 2}),
        ({"mode": "vote"}, ["b", "a", "a", "b"], "b"),
        ({"mode": "vote"}, [1, 1.0, True], 1),
    ],
)
def test_join_modes(config: dict[str, Any], values: list[Any], expected: Any) -> None:
    assert run(node("join", **config), {"in": values}) == {"out": expected}


def test_join_object_keys_by_label_with_suffixes() -> None:
    ctx = LocalContext(
        upstream=[
            up("n1", "a", "Writer"),
            up("n2", "b", "Writer"),
            up("n3", "c"),
            up("n4", "d", "Writer"),
        ]
    )
    assert run(node("join", mode="object"), {"in": ["a", "b", "c", "d"]}, ctx) == {
        "out": {"Writer": "a", "Writer_2": "b", "n3": "c", "Writer_3": "d"}
    }


def test_join_object_needs_the_sources() -> None:
    with pytest.raises(NodeError, match="2 values, 0 upstream edges"):
        run(node("join", mode="object"), {"in": ["a", "b"]})


def test_vote_of_nothing_is_none() -> None:
    assert vote([]) is None


# -- loop -------------------------------------------------------------------------


def loop_step(loop: NodeType, iteration: int, inputs: dict[str, Any]) -> dict[str, Any]:
    return run(loop, inputs, LocalContext(node_id="loop", iteration=iteration))


def test_loop_starts_with_init_and_stops_on_condition() -> None:
    loop = node("loop", condition="value.score >= 0.8", max_iterations=5)
    assert loop_step(loop, 0, {"init": {"score": 0}}) == {"body": {"score": 0}}
    assert loop_step(loop, 1, {"feedback": {"score": 0.5}}) == {"body": {"score": 0.5}}
    assert loop_step(loop, 2, {"feedback": {"score": 0.9}}) == {"done": {"score": 0.9}}


def test_loop_condition_sees_the_iteration() -> None:
    loop = node("loop", condition="iteration >= 2", max_iterations=10)
    assert loop_step(loop, 1, {"feedback": "v"}) == {"body": "v"}
    assert loop_step(loop, 2, {"feedback": "v"}) == {"done": "v"}


def test_loop_stops_at_max_iterations() -> None:
    loop = node("loop")  # condition "false", max_iterations 3
    outputs = [loop_step(loop, k, {"init": 0, "feedback": k}) for k in range(4)]
    assert outputs == [{"body": 0}, {"body": 1}, {"body": 2}, {"done": 3}]


def test_loop_config_bounds_and_errors() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        get_node_type("loop").parse_config({"max_iterations": 101})
    with pytest.raises(ValidationError, match="syntax error"):
        get_node_type("loop").parse_config({"condition": "value >"})
    with pytest.raises(NodeError, match=r"loop condition.*'valu' is undefined") as info:
        loop_step(node("loop", condition="valu"), 1, {"feedback": 1})
    assert info.value.retryable is False


# -- map --------------------------------------------------------------------------


def test_map_body_type_and_config() -> None:
    config = MapNode.parse_config(
        {"body": {"type": "template", "config": {"template": "{{ item }}"}}}
    )
    assert MapNode.body_type(config) is get_node_type("template")
    assert MapNode.body_config(config).model_dump()["template"] == "{{ item }}"
    assert MapNode.queue_for(config) == "cpu"
    assert MapNode.queue_for(MapNode.parse_config({"body": {"type": "llm"}})) == "io"
    assert MapNode.control == "map"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "nope"}, "unknown node type 'nope'"),
        ({"type": "map"}, "'map' is a control node type"),
        ({"type": "loop"}, "'loop' needs input"),
        ({"type": "llm", "config": {"temperature": 3}}, "temperature"),
        ({"type": "template", "config": {"template": "{{"}}, "syntax error"),
    ],
)
def test_map_body_errors(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MapNode.parse_config({"body": body})


def test_map_body_helpers_raise_value_error() -> None:
    config = MapNode.parse_config({})
    assert isinstance(config, MapConfig)
    config.body.type = "nope"  # as if edited after validation
    with pytest.raises(ValueError, match="unknown node type 'nope'"):
        MapNode.body_type(config)
    with pytest.raises(ValueError, match="map config"):
        MapNode.body_type(get_node_type("join").parse_config({}))


def test_map_run_is_left_to_the_planner() -> None:
    with pytest.raises(NodeError, match="executed by the planner"):
        run(node("map", body={"type": "passthrough"}), {"items": [1]})


def test_map_body_runs_per_item_with_template_variables() -> None:
    body = get_node_type("template")
    config = body.parse_config({"template": "{{ index }}: {{ item.name }} for {{ context }}"})
    ctx = LocalContext(item=1)
    inputs = {"in": {"name": "b"}, "item": {"name": "b"}, "index": 1, "context": "Ann"}
    assert run(body(config), inputs, ctx) == {"text": "1: b for Ann"}


# -- subworkflow ------------------------------------------------------------------


def test_subworkflow_runs_the_child() -> None:
    calls: list[tuple[str, int | None, dict[str, Any]]] = []

    async def child(workflow: str, version: int | None, inputs: dict[str, Any]) -> dict[str, Any]:
        calls.append((workflow, version, inputs))
        return {"summary": f"{inputs.get('topic', 'none')}!"}

    ctx = LocalContext(subworkflows=child)
    sub = node("subworkflow", workflow="summarise", version=2)
    assert run(sub, {"in": {"topic": "tea"}}, ctx) == {"out": {"summary": "tea!"}}
    assert run(sub, {}, ctx) == {"out": {"summary": "none!"}}
    assert calls == [("summarise", 2, {"topic": "tea"}), ("summarise", 2, {})]


def test_subworkflow_input_must_be_an_object() -> None:
    with pytest.raises(NodeError, match=r"must be an object.*got list") as info:
        run(node("subworkflow", workflow="w"), {"in": [1]})
    assert info.value.retryable is False


def test_subworkflow_without_a_runner_fails_clearly() -> None:
    with pytest.raises(NodeError, match="subworkflows are not available"):
        run(node("subworkflow", workflow="w"), {"in": {}})


def test_subworkflow_wait_for_child_propagates() -> None:
    async def elsewhere(
        workflow: str, version: int | None, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        raise WaitForChild("child-1")

    with pytest.raises(WaitForChild):
        run(node("subworkflow", workflow="w"), {}, LocalContext(subworkflows=elsewhere))


def test_subworkflow_config() -> None:
    with pytest.raises(ValidationError, match="workflow"):
        get_node_type("subworkflow").parse_config({})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        get_node_type("subworkflow").parse_config({"workflow": "w", "version": 0})
