"""A compiled yes/no check of a JSON Schema, for the common case of a valid document.

``jsonschema`` walks the schema on every call and builds an error generator per keyword;
this turns the schema into nested closures once. It only says whether a document is valid:
the caller asks ``jsonschema`` for the errors when it is not, so their wording, paths and
order stay jsonschema's. It knows a small set of keywords with jsonschema's exact semantics
(Draft 2020-12); a schema using any other keyword is not compiled (``compile_check`` gives
None) rather than checked loosely.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import FormatChecker

Check = Callable[[Any], bool]

# Keywords that never make a document invalid.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"}
)
_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    # Draft 6 and later: a float with an integral value is an integer too.
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


class _Unsupported(Exception):
    """The schema uses something this compiler does not implement exactly."""


def compile_check(schema: Mapping[str, Any], formats: FormatChecker) -> Check | None:
    """A function telling whether a document is valid against ``schema``; None if unsupported."""
    try:
        return _compile(schema, formats)
    except _Unsupported:
        return None


def _compile(schema: Any, formats: FormatChecker) -> Check:
    if schema is True:
        return lambda _v: True
    if not isinstance(schema, dict):
        raise _Unsupported(repr(schema))
    unknown = set(schema) - _ANNOTATIONS - _KEYWORDS.keys()
    if unknown:
        raise _Unsupported(", ".join(sorted(unknown)))
    # Sizes and bounds before the walks over items and properties: an oversized list fails
    # on its length without one of its items being looked at.
    keys = sorted((key for key in schema if key in _KEYWORDS), key=lambda key: key in _WALKS)
    checks = [_KEYWORDS[key](schema[key], schema, formats) for key in keys]
    if not checks:
        return lambda _v: True
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def _type(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or any(name not in _TYPES for name in names):
        raise _Unsupported(f"type {value!r}")
    tests = [_TYPES[name] for name in names]
    return lambda v: any(test(v) for test in tests)


def _properties(value: Any, _schema: dict[str, Any], formats: FormatChecker) -> Check:
    if not isinstance(value, dict):
        raise _Unsupported("properties")
    subs = {name: _compile(sub, formats) for name, sub in value.items()}

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for name, item in v.items():
            sub = subs.get(name)
            if sub is not None and not sub(item):
                return False
        return True

    return check


def _additional(value: Any, schema: dict[str, Any], _formats: FormatChecker) -> Check:
    if value is not False or "patternProperties" in schema:
        raise _Unsupported("additionalProperties other than false")
    known = frozenset(schema.get("properties", {}))
    return lambda v: not isinstance(v, dict) or known.issuperset(v)


def _required(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    names = tuple(value)
    return lambda v: not isinstance(v, dict) or all(name in v for name in names)


def _items(value: Any, schema: dict[str, Any], formats: FormatChecker) -> Check:
    if "prefixItems" in schema:
        raise _Unsupported("prefixItems")
    sub = _compile(value, formats)
    return lambda v: not isinstance(v, list) or all(sub(item) for item in v)


def _min_items(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    return lambda v: not isinstance(v, list) or len(v) >= value


def _min_length(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= value


def _limit(value: Any, keyword: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Unsupported(f"{keyword} {value!r}")
    return value


def _max_items(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    limit = _limit(value, "maxItems")
    return lambda v: not isinstance(v, list) or len(v) <= limit


def _max_length(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    limit = _limit(value, "maxLength")
    return lambda v: not isinstance(v, str) or len(v) <= limit


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, bool)


def _bound(value: Any, keyword: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unsupported(f"{keyword} {value!r}")
    return value


# Written as jsonschema compares (``instance > maximum`` is the error), so that a NaN
# passes both ways alike.
def _maximum(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    bound = _bound(value, "maximum")
    return lambda v: not _is_number(v) or not v > bound


def _minimum(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    bound = _bound(value, "minimum")
    return lambda v: not _is_number(v) or not v < bound


def _pattern(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    search = re.compile(value).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _enum(value: Any, _schema: dict[str, Any], _formats: FormatChecker) -> Check:
    # jsonschema's equality differs from == for numbers and booleans (1 vs True); strings
    # and null compare the same either way, so only enums of those are compiled.
    if not isinstance(value, list) or not all(
        item is None or isinstance(item, str) for item in value
    ):
        raise _Unsupported("enum of other than strings and null")
    allowed = frozenset(item for item in value if item is not None)
    if None in value:
        return lambda v: v is None or (isinstance(v, str) and v in allowed)
    return lambda v: isinstance(v, str) and v in allowed


def _format(value: Any, _schema: dict[str, Any], formats: FormatChecker) -> Check:
    return lambda v: formats.conforms(v, value)


_WALKS = frozenset({"items", "properties"})

_KEYWORDS: dict[str, Callable[[Any, dict[str, Any], FormatChecker], Check]] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "items": _items,
    "minItems": _min_items,
    "maxItems": _max_items,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minimum": _minimum,
    "maximum": _maximum,
    "pattern": _pattern,
    "enum": _enum,
    "format": _format,
}
