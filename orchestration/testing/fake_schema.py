"""Deterministic JSON documents generated from a JSON Schema, for the Simulator.

`example_for(schema, topic=...)` returns a value that validates against `schema`
for the common vocabulary of structured-output schemas (draft 4 to 2020-12):
`type` (or a list of types), `properties` / `required`, `items` / `prefixItems`,
`minItems` / `maxItems` / `uniqueItems`, `enum`, `const`, `minimum` / `maximum`
and their exclusive forms, `multipleOf`, `minLength` / `maxLength`, common string
`format`s, local `$ref`s (`#/$defs/...`, `#/definitions/...`), `allOf`, `anyOf`,
`oneOf` (first branch) and boolean schemas. Not attempted: `pattern` (a few
simple candidates are tried), `not`, `if`/`then`/`else`, `dependentSchemas`.

The same schema and topic always give the same document; strings are derived
from the property name and the topic (the prompt), arrays have 3 items unless
their bounds say otherwise, enums take their first value.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

DEFAULT_ARRAY_LENGTH = 3
_MAX_DEPTH = 12
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "duration": "P1D",
    "email": "simulated@example.com",
    "idn-email": "simulated@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/simulated",
    "uri-reference": "https://example.com/simulated",
    "iri": "https://example.com/simulated",
    "url": "https://example.com/simulated",
}
_PATTERN_CANDIDATES = ("simulated", "a", "A", "0", "abc", "ABC", "123", "a1", "x-1", "")


def example_for(schema: Any, *, topic: str = "", name: str = "value") -> Any:
    """A value valid against `schema` (a JSON Schema dict or boolean).

    `topic` (e.g. the last user message) flavours the generated strings; `name`
    is the name used for a top-level string.
    """
    return _Generator(schema, topic).value(schema, name=name, index=0, depth=0)


class _Generator:
    def __init__(self, root: Any, topic: str) -> None:
        self.root = root
        words = topic.split()
        self.topic = " ".join(words[:8])[:60]

    def value(self, schema: Any, *, name: str, index: int, depth: int) -> Any:
        if schema is True or schema is None or schema == {}:
            return self._string({}, name, index)
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return None
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            enum = schema["enum"]
            return enum[index % len(enum)]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                rest = {k: v for k, v in schema.items() if k != key}
                return self.value(
                    _merge([rest, _first_non_null(options)]),
                    name=name,
                    index=index,
                    depth=depth + 1,
                )
        kind = _kind(schema)
        if kind == "object":
            return self._object(schema, index, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "integer":
            return _integer(schema, index)
        if kind == "number":
            return _number(schema, index)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema, name, index)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        for _ in range(_MAX_DEPTH):
            ref = schema.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#"):
                break
            target: Any = self.root
            for part in ref.lstrip("#").strip("/").split("/"):
                if part and isinstance(target, dict):
                    target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = _merge([target if isinstance(target, dict) else {}, rest])
        if isinstance(schema.get("allOf"), list):
            parts = [self._resolve(p) for p in schema["allOf"] if isinstance(p, dict)]
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            schema = _merge([*parts, rest])
        return schema

    def _object(self, schema: dict[str, Any], index: int, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        out: dict[str, Any] = {}
        for key, sub in properties.items():
            out[key] = self.value(sub, name=key, index=index, depth=depth + 1)
        for key in schema.get("required") or []:
            if key not in out:
                out[key] = self._string({}, str(key), index)
        wanted = int(schema.get("minProperties") or 0)
        extra = schema.get("additionalProperties", True)
        while len(out) < wanted and extra is not False:
            key = f"extra_{len(out) + 1}"
            out[key] = self.value(extra, name=key, index=index, depth=depth + 1)
        return out

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4-2019 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        prefix = prefix if isinstance(prefix, list) else []
        low = int(schema.get("minItems") or 0)
        high = schema.get("maxItems")
        length = max(low, DEFAULT_ARRAY_LENGTH)
        if items is False:
            length = len(prefix)
        if isinstance(high, int):
            length = min(length, high)
        singular = name[:-1] if name.endswith("s") and len(name) > 1 else name
        out: list[Any] = []
        for i in range(length):
            sub = prefix[i] if i < len(prefix) else items
            out.append(self.value(sub, name=singular, index=i, depth=depth + 1))
        return out

    def _string(self, schema: dict[str, Any], name: str, index: int) -> str:
        fmt = schema.get("format")
        if fmt == "uuid":
            text = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}:{index}:{self.topic}"))
        elif isinstance(fmt, str) and fmt in _FORMATS:
            text = _FORMATS[fmt]
        else:
            label = name.replace("_", " ").strip() or "value"
            suffix = f" {index + 1}" if index else ""
            text = f"Simulated {label}{suffix}"
            if self.topic:
                text += f" about {self.topic}"
        return _fit_string(text, schema)


def _fit_string(text: str, schema: dict[str, Any]) -> str:
    low = int(schema.get("minLength") or 0)
    high = schema.get("maxLength")
    while len(text) < low:
        text += " simulated"
    if isinstance(high, int):
        text = text[:high].rstrip() if high >= low else text[:high]
        text = text.ljust(low, "x") if len(text) < low else text
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            regex = re.compile(pattern)
        except re.error:
            return text
        if not regex.search(text):
            for candidate in _PATTERN_CANDIDATES:
                if regex.search(candidate):
                    return candidate
    return text


def _kind(schema: dict[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        non_null = [t for t in declared if t != "null"]
        return str(non_null[0]) if non_null else "null"
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "multipleOf")):
        return "number"
    return "string"


def _first_non_null(options: list[Any]) -> Any:
    for option in options:
        if not (isinstance(option, dict) and option.get("type") == "null"):
            return option
    return options[0]


def _merge(parts: list[Any]) -> dict[str, Any]:
    """Shallow merge of schemas (for allOf / $ref siblings): properties and
    required are combined, other keywords are taken from the later part."""
    out: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            elif key == "required" and isinstance(out.get(key), list):
                out[key] = [*out[key], *(v for v in value if v not in out[key])]
            else:
                out[key] = value
    return out


def _bounds(schema: dict[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(low, low_exclusive, high, high_exclusive) for draft 4 and draft 6+ forms."""
    low, high = schema.get("minimum"), schema.get("maximum")
    low_ex = high_ex = False
    ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_min is True:
        low_ex = True
    elif isinstance(ex_min, int | float) and not isinstance(ex_min, bool):
        if low is None or ex_min >= low:
            low, low_ex = ex_min, True
    if ex_max is True:
        high_ex = True
    elif isinstance(ex_max, int | float) and not isinstance(ex_max, bool):
        if high is None or ex_max <= high:
            high, high_ex = ex_max, True
    return low, low_ex, high, high_ex


def _integer(schema: dict[str, Any], index: int) -> int:
    low, low_ex, high, high_ex = _bounds(schema)
    lo = None if low is None else (math.floor(low) + 1 if low_ex else math.ceil(low))
    hi = None if high is None else (math.ceil(high) - 1 if high_ex else math.floor(high))
    step = schema.get("multipleOf")
    step = int(step) if isinstance(step, int | float) and step >= 1 and step == int(step) else 1
    start = lo if lo is not None else (min(1, hi) if hi is not None else 1)
    value = start + index
    if hi is not None and value > hi:
        value = start
    value = math.ceil(value / step) * step
    if hi is not None and value > hi:
        value = math.floor(hi / step) * step
    return int(value)


def _number(schema: dict[str, Any], index: int) -> float | int:
    low, low_ex, high, high_ex = _bounds(schema)
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        return _multiple(step, low, low_ex, high, high_ex, index)
    if low is not None and high is not None:
        return (low + high) / 2
    if low is not None:
        return low + 1 + index
    if high is not None:
        return high - 1 - index
    return 0.5 + index


def _multiple(
    step: float, low: float | None, low_ex: bool, high: float | None, high_ex: bool, index: int
) -> float | int:
    """The first multiple of `step` within the bounds whose float division by
    `step` is exact (as validators check it), e.g. 1.0 rather than 0.3 for 0.1."""
    first = 1 + index if low is None else math.floor(low / step)
    fallback: float = first * step
    for multiple in range(first, first + 1000):
        value = multiple * step
        if low is not None and (value < low or (low_ex and value == low)):
            continue
        if high is not None and (value > high or (high_ex and value == high)):
            break
        fallback = value
        if (value / step) == int(value / step):
            return int(value) if float(value).is_integer() else value
    return fallback
