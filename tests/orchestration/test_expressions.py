"""Safe expressions and templates: values, sandbox escapes refused, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration.context import LocalContext
from orchestration.expressions import (
    ExpressionError,
    check_expression,
    compile_expression,
    evaluate,
)
from orchestration.nodes.base import Upstream
from orchestration.templating import (
    TemplateError,
    render,
    template_variables,
    undeclared_variables,
)


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [
        ("value > 2", {"value": 3}, True),
        (
            "input.score >= 0.5 and inputs.lang == 'en'",
            {"input": {"score": 0.7}, "inputs": {"lang": "en"}},
            True,
        ),
        ("'urgent' in input|lower", {"input": "URGENT: call back"}, True),
        ("input['items']|length", {"input": {"items": [1, 2, 3]}}, 3),
        ("iteration * 2 + 1", {"iteration": 4}, 9),
        ("none_value is none", {"none_value": None}, True),
        ("[1, 2] + [3]", {}, [1, 2, 3]),
        ("2 ** 10", {}, 1024),
        ("{'a': value}", {"value": 1}, {"a": 1}),
    ],
)
def test_expressions_evaluate_to_python_values(
    source: str, variables: dict[str, Any], expected: Any
) -> None:
    assert compile_expression(source).evaluate(variables) == expected


def test_compiled_expressions_are_cached() -> None:
    assert compile_expression("value + 1") is compile_expression("value + 1")


@pytest.mark.parametrize(
    "source",
    [
        "().__class__.__bases__[0].__subclasses__()",
        "().__class__",
        "''.__class__.__mro__[1].__subclasses__()",
        "cycler.__init__.__globals__.os",
        "range.__self__",
        "value.__dict__",
        "(1).__add__(2)",
    ],
)
def test_private_attribute_escapes_are_refused(source: str) -> None:
    with pytest.raises(ExpressionError, match=r"unsafe|undefined|no attribute"):
        evaluate(source, {"value": object()})


def test_subclasses_escape_is_refused_by_the_sandbox() -> None:
    with pytest.raises(ExpressionError, match=r"refused by the sandbox.*__class__"):
        evaluate("().__class__.__bases__[0].__subclasses__()", {})


def test_import_is_not_available() -> None:
    with pytest.raises(ExpressionError, match="'__import__' is undefined"):
        evaluate("__import__('os').system('true')", {})


def test_mutation_is_refused() -> None:
    items = [1, 2]
    with pytest.raises(ExpressionError, match="unsafe"):
        evaluate("items.append(3)", {"items": items})
    with pytest.raises(ExpressionError, match="unsafe"):
        evaluate("data.update(a=1)", {"data": {}})
    assert items == [1, 2]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("10 ** 100000", "exponent"),
        ("2 ** big", "exponent"),
        ("'ab' * 10000000", "repeating"),
        ("[0] * 10000000", "repeating"),
        ("range(10000000)|list", "MAX_RANGE"),
    ],
)
def test_runaway_computations_are_refused(source: str, problem: str) -> None:
    with pytest.raises(ExpressionError, match=problem):
        evaluate(source, {"big": 10**6})


def test_undefined_variable_is_named() -> None:
    with pytest.raises(ExpressionError, match="'scroe' is undefined"):
        evaluate("scroe > 1", {"score": 2})
    with pytest.raises(ExpressionError, match="'scroe' is undefined"):
        evaluate("scroe", {"score": 2})


def test_undefined_attribute_is_named() -> None:
    with pytest.raises(ExpressionError, match="has no attribute 'lang'"):
        evaluate("inputs.lang", {"inputs": {}})


def test_syntax_error_names_the_problem() -> None:
    with pytest.raises(ExpressionError, match=r"syntax error in expression 'value >': unexpected"):
        compile_expression("value >")
    with pytest.raises(ExpressionError, match="empty"):
        compile_expression("  ")
    with pytest.raises(ValueError, match="syntax error"):
        check_expression("a b")


def test_runtime_errors_name_the_python_error() -> None:
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        evaluate("1 / value", {"value": 0})
    with pytest.raises(ExpressionError, match="TypeError"):
        evaluate("value > 1", {"value": "a"})


def test_render_templates() -> None:
    text = render(
        "Topic: {{ input.topic }}\n{% for p in points %}- {{ p }}\n{% endfor %}",
        {
            "input": {"topic": "tea"},
            "points": ["green", "black"],
        },
    )
    assert text == "Topic: tea\n- green\n- black\n"


def test_render_prints_lists_and_dicts_as_json() -> None:
    assert render("{{ input }} {{ items }}", {"input": {"a": "é"}, "items": [1, None]}) == (
        '{"a": "é"} [1, null]'
    )


def test_render_names_the_undefined_variable_and_its_line() -> None:
    with pytest.raises(TemplateError, match=r"line 2: 'topc' is undefined"):
        render("Hello\n{{ topc }}", {"topic": "tea"})


def test_render_refuses_sandbox_escapes() -> None:
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        render("{{ ().__class__.__bases__[0].__subclasses__() }}", {})
    with pytest.raises(TemplateError, match="undefined"):
        render("{{ lipsum(n=100000) }}", {})


def test_render_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match=r"line 2: syntax error"):
        render("ok\n{% for x in %}", {})


def test_undeclared_variables() -> None:
    assert undeclared_variables("{{ input }} {{ researcher.text }} {% set a = 1 %}{{ a }}") == {
        "input",
        "researcher",
    }
    with pytest.raises(TemplateError, match="syntax error"):
        undeclared_variables("{{ ")


def _upstream(node_id: str, value: Any) -> Upstream:
    return Upstream(
        node_id=node_id, label=node_id.title(), port="out", target_port="in", value=value
    )


def test_template_variables_with_one_and_several_edges() -> None:
    ctx = LocalContext(run_inputs={"topic": "tea"}, upstream=[_upstream("planner", "plan")])
    variables = template_variables(ctx, {"in": ["plan"]})
    assert variables == {"input": "plan", "inputs": {"topic": "tea"}, "planner": "plan"}

    ctx = LocalContext(upstream=[_upstream("a", 1), _upstream("b", 2), _upstream("input", 3)])
    variables = template_variables(ctx, {"in": [1, 2, 3]})
    assert variables["input"] == [1, 2, 3]
    assert (variables["a"], variables["b"]) == (1, 2)
    assert template_variables(LocalContext(), {})["input"] is None


def test_template_variables_in_a_map_body() -> None:
    ctx = LocalContext(item=2)
    inputs = {"in": ["x"], "item": ["x"], "index": 2, "context": {"k": 1}}
    variables = template_variables(ctx, inputs)
    assert variables["input"] == ["x"]  # the item itself, a list is not unwrapped
    assert (variables["item"], variables["index"], variables["context"]) == (["x"], 2, {"k": 1})
