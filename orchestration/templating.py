"""Templates: llm prompts, the template node, tool bodies.

Templates are Jinja2 templates rendered in the same sandbox as expressions
(`orchestration.expressions.Sandbox`: immutable, private attributes refused),
with autoescape off and StrictUndefined: a misspelt variable is an error naming
it and its line, never an empty string. Lists and dicts print as JSON (what an
LLM reads best); other values print as `str()` does.

Variables (docs/engine.md, "Expressions and templates") come from
`template_variables(ctx, inputs)`.
"""

from __future__ import annotations

import functools
import json
from types import TracebackType
from typing import Any

from jinja2 import Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import SecurityError

from orchestration.expressions import Sandbox
from orchestration.nodes.base import NodeContext

_TEMPLATE_FILENAME = "<template>"

#: names template_variables always defines; an upstream node id never hides them
RESERVED = frozenset({"input", "inputs", "item", "index", "context"})


class TemplateError(ValueError):
    """A template could not be compiled or rendered; the message names the
    problem and its line ("line 3: 'topic' is undefined")."""


def _finalize(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


_ENV = Sandbox(autoescape=False, finalize=_finalize, keep_trailing_newline=True)


@functools.lru_cache(maxsize=512)
def _compile(template: str) -> Template:
    try:
        return _ENV.from_string(template)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: syntax error: {exc.message}") from exc


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost template frame (Jinja rewrites
    tracebacks so template frames carry template line numbers)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render(template: str, variables: dict[str, Any]) -> str:
    """Render `template` with `variables`.

    Raises TemplateError on a syntax error, an undefined variable or attribute
    (named), an access the sandbox refuses, or any other error while rendering;
    the message starts with the template line when it is known.
    """
    compiled = _compile(template)
    try:
        return compiled.render(variables)
    except Exception as exc:
        raise _render_error(exc) from exc


def _render_error(exc: Exception) -> TemplateError:
    line = _template_line(exc.__traceback__)
    where = f"line {line}: " if line is not None else ""
    if isinstance(exc, SecurityError):
        return TemplateError(f"{where}refused by the sandbox: {exc}")
    if isinstance(exc, UndefinedError) or not str(exc):
        return TemplateError(f"{where}{exc or type(exc).__name__}")
    return TemplateError(f"{where}{type(exc).__name__}: {exc}")


def check_template(template: str) -> str:
    """`template` unchanged when it compiles; for pydantic validators.
    Raises ValueError (a TemplateError) naming the syntax error and its line."""
    _compile(template)
    return template


def undeclared_variables(template: str) -> set[str]:
    """Names `template` reads without defining them (for the editor's hints and
    validation), e.g. {"input", "researcher"}. Raises TemplateError on a syntax error."""
    try:
        return set(meta.find_undeclared_variables(_ENV.parse(template)))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: syntax error: {exc.message}") from exc


def input_value(ctx: NodeContext, inputs: dict[str, Any]) -> Any:
    """The `input` variable: the `in` port's value.

    In a map body (ctx.item set) that is the item itself. Otherwise `in` is a
    `multiple` port holding a list of edge values: one edge gives its value,
    several give the list, none gives None.
    """
    value = inputs.get("in")
    if ctx.item is not None or not isinstance(value, list):
        return value
    if not value:
        return None
    return value[0] if len(value) == 1 else value


def template_variables(ctx: NodeContext, inputs: dict[str, Any]) -> dict[str, Any]:
    """The variables of a node's templates.

    Shape: {"input": input_value(ctx, inputs), "inputs": run inputs,
    "<upstream node id>": value on the (first) edge from that node, ...} and, in
    map bodies, "item", "index", "context" from the item's inputs. Upstream node
    ids never override these reserved names.
    """
    variables: dict[str, Any] = {}
    for upstream in ctx.upstream:
        variables.setdefault(upstream.node_id, upstream.value)
    variables["input"] = input_value(ctx, inputs)
    variables["inputs"] = ctx.run_inputs
    if ctx.item is not None:
        variables["item"] = inputs.get("item", inputs.get("in"))
        variables["index"] = inputs.get("index", ctx.item)
        variables["context"] = inputs.get("context")
    return variables
