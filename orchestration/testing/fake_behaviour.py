"""How the Simulator behaves for one request: directives, script rules, failures.

A request's `Behaviour` is built from, in increasing priority: the server's
defaults (`--latency-ms`, `--tokens-per-second`), the first `--script` rule whose
`match` regex finds the last user message, and the `[[fake:...]]` directives found
anywhere in the messages' text, e.g.::

    [[fake:latency_ms=500]] [[fake:tps=50]] [[fake:error=429,times=2,key=abc]]
    [[fake:error=500,retry_after=0.05]] [[fake:hang]] [[fake:invalid_json]]
    [[fake:reply=exact text, commas allowed]]

`reply=` takes the rest of its directive verbatim. A malformed directive raises
`DirectiveError` (the server answers 400, so a typo is loud rather than ignored).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DIRECTIVE = re.compile(r"\[\[fake:(.*?)\]\]", re.DOTALL)
_FLAGS = {"hang", "invalid_json"}
_FLOATS = {"latency_ms", "tps", "retry_after"}
_INTS = {"error", "times"}
_STRINGS = {"key", "reply"}


class DirectiveError(ValueError):
    """A `[[fake:...]]` directive or a script rule that cannot be understood."""


@dataclass(frozen=True)
class Behaviour:
    """What the Simulator does for one request.

    latency_ms: delay before the first byte (ms); tps: streamed words per second
    (0 = as fast as possible); error: HTTP status to answer with (None = succeed);
    times / key: fail only the first `times` requests carrying `key`; retry_after:
    seconds sent as `Retry-After` (always on 429 and 503, default 1 s; on other
    errors only when set); hang: never answer; reply: exact reply text;
    invalid_json: answer non-JSON even when JSON was asked for.
    """

    latency_ms: float = 0.0
    tps: float = 0.0
    error: int | None = None
    times: int | None = None
    key: str | None = None
    retry_after: float | None = None
    hang: bool = False
    reply: str | None = None
    invalid_json: bool = False


@dataclass(frozen=True)
class Rule:
    """One `--script` rule: `match` is a regex searched in the last user message;
    `overrides` are Behaviour fields (same names as the directives)."""

    match: re.Pattern[str]
    overrides: Mapping[str, Any]


def strip_directives(text: str) -> str:
    """`text` without its `[[fake:...]]` directives (and the spaces they leave)."""
    return re.sub(r"\s{2,}", " ", DIRECTIVE.sub("", text)).strip()


def parse_directives(texts: Iterable[str]) -> dict[str, Any]:
    """Behaviour overrides from every directive in `texts`, later ones winning.

    A directive with `error` and `times` but no `key` is keyed by its own text.
    Raises DirectiveError on an unknown name or a bad value.
    """
    out: dict[str, Any] = {}
    for text in texts:
        for found in DIRECTIVE.finditer(text):
            body = found.group(1).strip()
            parsed = _parse_one(body)
            if "times" in parsed and "key" not in parsed:
                parsed["key"] = f"directive:{body}"
            out.update(parsed)
    return out


def _parse_one(body: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rest = body
    while rest:
        if rest.startswith("reply="):
            out["reply"] = rest[len("reply=") :]
            break
        item, _, rest = rest.partition(",")
        rest = rest.lstrip()
        name, sep, value = (part.strip() for part in item.partition("="))
        if not name:
            continue
        out[name] = _convert(name, value if sep else None)
    return out


def _convert(name: str, value: Any) -> Any:
    """A directive or rule value converted to its Behaviour field type."""
    try:
        if name in _FLAGS:
            return value is None or value is True or str(value).lower() in ("1", "true", "yes")
        if value is None:
            raise DirectiveError(f"fake directive {name!r} needs a value ({name}=...)")
        if name in _FLOATS:
            number = float(value)
            if number < 0:
                raise DirectiveError(f"fake directive {name!r} must not be negative")
            return number
        if name in _INTS:
            return int(value)
        if name in _STRINGS:
            return str(value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DirectiveError):
            raise
        raise DirectiveError(f"fake directive {name}={value!r}: not a valid value") from None
    known = ", ".join(sorted(_FLAGS | _FLOATS | _INTS | _STRINGS))
    raise DirectiveError(f"unknown fake directive {name!r} (known: {known})")


def load_rules(path: str | Path) -> tuple[Rule, ...]:
    """Rules from a JSON file: a list of objects with a `match` regex and any of
    reply, latency_ms, tps, error, times, key, retry_after, hang, invalid_json.

    Raises DirectiveError when the file is not such a list.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise DirectiveError(f"{path}: a script is a JSON list of rules")
    rules = []
    for number, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("match", ""), str):
            raise DirectiveError(f"{path}: rule {number} must be an object with a 'match' string")
        try:
            pattern = re.compile(item.get("match", ""))
        except re.error as exc:
            raise DirectiveError(f"{path}: rule {number}: bad regex: {exc}") from None
        overrides = {k: _convert(k, v) for k, v in item.items() if k != "match"}
        if "times" in overrides and "key" not in overrides:
            overrides["key"] = f"rule:{number}"
        rules.append(Rule(pattern, overrides))
    return tuple(rules)


def resolve(
    defaults: Behaviour, rules: Iterable[Rule], last_user: str, texts: Iterable[str]
) -> Behaviour:
    """The Behaviour for a request: defaults < first matching rule < directives."""
    merged: dict[str, Any] = {}
    for rule in rules:
        if rule.match.search(last_user):
            merged.update(rule.overrides)
            break
    merged.update(parse_directives(texts))
    names = {f.name for f in fields(Behaviour)}
    return replace(defaults, **{k: v for k, v in merged.items() if k in names})


class FailureCounters:
    """How many failures each `key` has served, so `times=N` fails only N requests.

    Used from the server's single event loop, so it needs no lock.
    """

    def __init__(self) -> None:
        self._served: dict[str, int] = {}

    def should_fail(self, behaviour: Behaviour) -> bool:
        """Whether this request fails; counts the failure when it does."""
        if behaviour.error is None:
            return False
        if behaviour.times is None:
            return True
        key = behaviour.key or ""
        served = self._served.get(key, 0)
        if served >= behaviour.times:
            return False
        self._served[key] = served + 1
        return True

    def reset(self) -> None:
        """Forget every counter."""
        self._served.clear()
