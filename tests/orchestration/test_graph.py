"""The graph document: lossless JSON round trips, unknown fields refused."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from orchestration.graph import Graph
from tests.orchestration.strategies import valid_graphs

FULL_DOCUMENT: dict[str, Any] = {
    "schema_version": 1,
    "nodes": [
        {
            "id": "question",
            "type": "input",
            "label": "Question",
            "config": {"key": "question"},
            "position": {"x": 0.0, "y": 10.5},
        },
        {
            "id": "answer",
            "type": "llm",
            "label": "Answer",
            "config": {
                "prompt": "Answer: {{ input }}",
                "temperature": 0.2,
                "output_schema": None,
                "tools": [{"name": "echo", "kind": "template", "body": "{{ args }}"}],
            },
            "position": {"x": 240.0, "y": 10.5},
        },
        {
            "id": "result",
            "type": "output",
            "label": "",
            "config": {},
            "position": {"x": 480.0, "y": 0.0},
        },
    ],
    "edges": [
        {
            "id": "e1",
            "source": "question",
            "source_port": "out",
            "target": "answer",
            "target_port": "in",
        },
        {
            "id": "e2",
            "source": "answer",
            "source_port": "text",
            "target": "result",
            "target_port": "in",
        },
    ],
    "inputs": {
        "type": "object",
        "properties": {"question": {"type": "string", "minLength": 1}},
        "required": ["question"],
    },
    "outputs": {
        "answer": {"node": "result", "port": "out"},
        "raw": {"node": "answer", "port": "text"},
    },
}


def test_a_full_document_round_trips_unchanged() -> None:
    graph = Graph.model_validate(FULL_DOCUMENT)
    assert graph.to_json() == FULL_DOCUMENT
    assert Graph.model_validate(graph.to_json()) == graph


def test_to_json_is_plain_json() -> None:
    document = Graph.model_validate(FULL_DOCUMENT).to_json()
    assert json.loads(json.dumps(document)) == document


def test_parsing_fills_in_the_defaults() -> None:
    graph = Graph.model_validate(
        {
            "nodes": [{"id": "a", "type": "input"}],
            "edges": [{"id": "e", "source": "a", "target": "b"}],
        }
    )
    document = graph.to_json()
    assert document["schema_version"] == 1
    assert document["nodes"][0] == {
        "id": "a",
        "type": "input",
        "label": "",
        "config": {},
        "position": {"x": 0.0, "y": 0.0},
    }
    assert document["edges"][0]["source_port"] == "out"
    assert document["edges"][0]["target_port"] == "in"
    assert document["inputs"] == {"type": "object", "properties": {}}
    assert document["outputs"] == {}
    assert Graph.model_validate(document) == graph


@settings(max_examples=50, deadline=None)
@given(valid_graphs())
def test_random_graphs_round_trip(graph: Graph) -> None:
    document = graph.to_json()
    assert Graph.model_validate(document) == graph
    assert Graph.model_validate(json.loads(json.dumps(document))).to_json() == document


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ((), ("colour",)),
        (("nodes", 1), ("nodes", 1, "colour")),
        (("nodes", 1, "position"), ("nodes", 1, "position", "colour")),
        (("edges", 0), ("edges", 0, "colour")),
        (("outputs", "answer"), ("outputs", "answer", "colour")),
    ],
)
def test_unknown_fields_are_refused_with_their_location(
    path: tuple[str | int, ...], location: tuple[str | int, ...]
) -> None:
    document = copy.deepcopy(FULL_DOCUMENT)
    target: Any = document
    for key in path:
        target = target[key]
    target["colour"] = "red"
    with pytest.raises(ValidationError) as info:
        Graph.model_validate(document)
    errors = info.value.errors()
    assert [(error["type"], error["loc"]) for error in errors] == [("extra_forbidden", location)]


def test_node_config_is_free_form_for_the_document() -> None:
    # The document does not know node types; their Config is validation's job.
    document = copy.deepcopy(FULL_DOCUMENT)
    document["nodes"][0]["config"] = {"anything": [1, {"nested": True}]}
    assert Graph.model_validate(document).to_json() == document


@pytest.mark.parametrize(
    ("change", "location"),
    [
        (lambda d: d["nodes"][0].update(id=""), ("nodes", 0, "id")),
        (lambda d: d["nodes"][1].pop("type"), ("nodes", 1, "type")),
        (lambda d: d["edges"][1].update(target=7), ("edges", 1, "target")),
        (lambda d: d["outputs"]["raw"].pop("node"), ("outputs", "raw", "node")),
    ],
)
def test_malformed_fields_are_refused_with_their_location(
    change: Any, location: tuple[str | int, ...]
) -> None:
    document = copy.deepcopy(FULL_DOCUMENT)
    change(document)
    with pytest.raises(ValidationError) as info:
        Graph.model_validate(document)
    assert [error["loc"] for error in info.value.errors()] == [location]
