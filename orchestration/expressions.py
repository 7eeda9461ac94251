"""Safe expressions: router and loop conditions, tool bodies.

An expression is a Jinja2 *expression* (`input.score > 0.5 and inputs.lang == "en"`)
compiled by one module-level `jinja2.sandbox.ImmutableSandboxedEnvironment`: no
access to private attributes (`__class__`, `__globals__`...), no calls into
Python objects beyond what the sandbox allows, no mutation of lists or dicts.
Undefined names are errors (StrictUndefined), never a silent null. Two cheap
guards against runaway arithmetic are added: `**` with a huge exponent and
repeating a string or list past `MAX_REPEAT` items are refused.

    >>> compile_expression("value > 2").evaluate({"value": 3})
    True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

#: largest exponent `a ** b` may use (integers grow fast: 10 ** 10 ** 9 never ends)
MAX_EXPONENT = 1000
#: largest length `"ab" * n` or `[x] * n` may produce
MAX_REPEAT = 100_000


class ExpressionError(ValueError):
    """An expression could not be compiled or evaluated; the message names the
    problem (syntax error and where, the undefined variable, the refused access)."""


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus guards on `**` and `*` against resource
    exhaustion. Shared by expressions and templates (orchestration.templating)."""

    intercepted_binops = frozenset({"**", "*"})

    def __init__(self, **options: Any) -> None:
        super().__init__(undefined=StrictUndefined, **options)
        # lipsum(n=10**6) would be an easy way to produce huge text.
        self.globals.pop("lipsum", None)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse `**` with exponents over MAX_EXPONENT and repetitions over
        MAX_REPEAT (raises SecurityError); otherwise compute as Python does."""
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
            return left**right
        _check_repeat(left, right)
        _check_repeat(right, left)
        return left * right


def _check_repeat(sequence: Any, count: Any) -> None:
    if isinstance(sequence, str | list | tuple) and isinstance(count, int):
        if len(sequence) * count > MAX_REPEAT:
            raise SecurityError(f"repeating a sequence past {MAX_REPEAT} items is refused")


_ENV = Sandbox()


@dataclass(frozen=True)
class Expression:
    """A compiled expression. `evaluate(variables)` returns its value (any
    Python value: bool, number, str, list, dict, None)."""

    source: str
    _compiled: Any

    def evaluate(self, variables: dict[str, Any]) -> Any:
        """The expression's value with `variables` in scope.

        Raises ExpressionError on any runtime error: an undefined variable or
        attribute (named in the message), an access the sandbox refuses, or a
        Python error such as a division by zero or comparing str with int.
        """
        try:
            result = self._compiled(**variables)
            if isinstance(result, Undefined):
                str(result)  # StrictUndefined raises its own, precise error here
        except SecurityError as exc:
            raise ExpressionError(f"refused by the sandbox: {exc}") from exc
        except Exception as exc:
            raise ExpressionError(f"{_describe(exc)} in expression {self.source!r}") from exc
        return result


def _describe(exc: Exception) -> str:
    name = type(exc).__name__
    return f"{name}: {exc}" if str(exc) else name


@functools.lru_cache(maxsize=1024)
def compile_expression(source: str) -> Expression:
    """Compile `source` once (cached by source text).

    Raises ExpressionError for an empty expression or a syntax error, with the
    parser's message (e.g. "unexpected '}'").
    """
    if not source.strip():
        raise ExpressionError("the expression is empty")
    try:
        compiled = _ENV.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"syntax error in expression {source!r}: {exc.message}") from exc
    return Expression(source, compiled)


def evaluate(source: str, variables: dict[str, Any]) -> Any:
    """Compile (cached) and evaluate `source`. Raises ExpressionError."""
    return compile_expression(source).evaluate(variables)


def check_expression(source: str) -> str:
    """`source` unchanged when it compiles; for pydantic validators.
    Raises ValueError (an ExpressionError) naming the syntax error."""
    compile_expression(source)
    return source
