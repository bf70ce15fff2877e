"""Reading conditions of routing rules from JSON: every field, operator and value checked.

The format and its meaning are described in :mod:`routing.conditions`, which holds the parsed
form. :func:`read_condition` collects every problem with its JSON path (a rule-set reader uses
it); :func:`parse_condition` raises the first. The value checks (:func:`check`,
:func:`integer`, ...) are shared with the rule-set reader.
"""

import math
import re
from collections.abc import Callable, Mapping
from datetime import time
from decimal import Decimal
from typing import Any

from omniroute.routing.conditions import (
    MAX_DEPTH,
    ORDER_TYPES,
    SERVICE_LEVELS,
    WEEKDAYS,
    Condition,
    Field,
    Group,
    Leaf,
    Not,
    Op,
    RuleError,
    normal_postal,
    show,
)

# Each check takes the JSON value and its path, and returns the parsed value or raises.
Check = Callable[[Any, str], Any]


def kind(value: Any) -> str:
    """The JSON type name of ``value`` for error messages."""
    names = {bool: "boolean", str: "string", int: "integer", float: "number", list: "list"}
    return "null" if value is None else names.get(type(value), "object")


def check(ok: Callable[[Any], bool], what: str, convert: Callable[[Any], Any] = str) -> Check:
    """A value check: ``ok(value)`` or RuleError "expected <what>"; then ``convert(value)``."""

    def parse(value: Any, path: str) -> Any:
        if not ok(value):
            raise RuleError(path, f"expected {what}, got {value!r}")
        return convert(value)

    return parse


def is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _matches(regex: str) -> Callable[[Any], bool]:
    compiled = re.compile(regex)
    return lambda value: isinstance(value, str) and compiled.fullmatch(value) is not None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def integer(minimum: int, maximum: int | None = None) -> Check:
    """An integer (not a boolean) within the bounds."""

    def ok(value: Any) -> bool:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            return False
        return maximum is None or value <= maximum

    upto = "" if maximum is None else f" and <= {maximum}"
    return check(ok, f"an integer >= {minimum}{upto}", int)


def _choice(options: tuple[str, ...]) -> Check:
    return check(lambda value: value in options, f"one of {', '.join(options)}")


nonempty_text = check(is_text, "a non-empty string")
_is_decimal_text = _matches(r"-?[0-9]+(\.[0-9]+)?")
decimal_value = check(
    lambda v: _is_number(v) or _is_decimal_text(v),
    "a decimal number or string like '12.50'",
    lambda v: Decimal(str(v)),
)
currency_code = check(_matches("[A-Z]{3}"), "an upper-case ISO 4217 currency code like 'EUR'")
_country = check(_matches("[A-Z]{2}"), "an upper-case ISO country code like 'DE'")
_upper = check(is_text, "a non-empty string", str.upper)
_tag = check(is_text, "a non-empty string", str.casefold)
_postal = check(is_text, "a non-empty string", normal_postal)
_clock = check(
    _matches("([01][0-9]|2[0-3]):[0-5][0-9]"),
    "a time of day 'HH:MM' (00:00 to 23:59)",
    lambda v: time(int(v[:2]), int(v[3:])),
)


def _list(item: Check) -> Check:
    def parse(value: Any, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list) or not value:
            raise RuleError(path, f"expected a non-empty list, got {kind(value)}")
        return tuple(item(entry, f"{path}[{n}]") for n, entry in enumerate(value))

    return parse


def _set(item: Check) -> Check:
    return lambda value, path: frozenset(_list(item)(value, path))


def _pair(item: Check, *, ordered: bool = True) -> Check:
    def parse(value: Any, path: str) -> tuple[Any, Any]:
        if not isinstance(value, list) or len(value) != 2:
            raise RuleError(path, "expected a list of two values [low, high]")
        low, high = item(value[0], f"{path}[0]"), item(value[1], f"{path}[1]")
        if ordered and low > high:
            raise RuleError(path, f"low {show(low)} is greater than high {show(high)}")
        return low, high

    return parse


def _postal_range(value: Any, path: str) -> tuple[str, str]:
    low, high = _pair(_postal)(value, path)
    if len(low) != len(high):
        raise RuleError(path, f"range ends must have the same length ({low!r}, {high!r})")
    return low, high


def _one_or_list(item: Check) -> Check:
    many = _list(item)
    return lambda value, path: (item(value, path),) if isinstance(value, str) else many(value, path)


def _equality(item: Check) -> dict[Op, Check]:
    return {Op.EQ: item, Op.NE: item, Op.IN: _list(item), Op.NOT_IN: _list(item)}


def _containment(item: Check) -> dict[Op, Check]:
    return {op: _set(item) for op in (Op.CONTAINS_ANY, Op.CONTAINS_ALL, Op.NOT_CONTAINS)}


def _ordering(item: Check) -> dict[Op, Check]:
    return {Op.GT: item, Op.GTE: item, Op.LT: item, Op.LTE: item, Op.BETWEEN: _pair(item)}


# --- the values each field's operators take


OPS: Mapping[Field, Mapping[Op, Check]] = {
    Field.CHANNEL: _equality(nonempty_text),
    Field.CONNECTOR_ID: _equality(integer(1)),
    Field.ORDER_TYPE: _equality(_choice(ORDER_TYPES)),
    Field.COUNTRY: _equality(_country),
    Field.REGION: _equality(_upper),
    Field.POSTAL_CODE: {
        Op.EQ: _postal,
        Op.IN: _list(_postal),
        Op.PREFIX: _one_or_list(_postal),
        Op.RANGE: _postal_range,
    },
    Field.SKU: _containment(nonempty_text),
    Field.SKU_TAG: _containment(_tag),
    Field.CUSTOMER_TAGS: _containment(_tag),
    Field.ORDER_TAGS: _containment(_tag),
    Field.LINE_COUNT: {Op.EQ: integer(0), Op.NE: integer(0), **_ordering(integer(0))},
    Field.ORDER_VALUE: _ordering(decimal_value),
    Field.CURRENCY: _equality(currency_code),
    Field.SERVICE_LEVEL: _equality(_choice(SERVICE_LEVELS)),
    Field.LOCAL_TIME: {Op.BETWEEN: _pair(_clock, ordered=False)},
    Field.WEEKDAY: {Op.IN: _list(_choice(WEEKDAYS))},
}
FIELD_OPS: Mapping[str, tuple[str, ...]] = {
    str(field): tuple(str(op) for op in ops) for field, ops in OPS.items()
}


# --- parsing


def parse_condition(doc: Any, path: str) -> Condition:
    """Parse a JSON condition; raise :class:`RuleError` (the first problem found) if invalid."""
    errors: list[RuleError] = []
    condition = read_condition(doc, path, errors)
    if errors or condition is None:
        raise errors[0]
    return condition


def read_condition(
    doc: Any, path: str, errors: list[RuleError], depth: int = 0
) -> Condition | None:
    """Parse a JSON condition, appending every problem to ``errors``; None when invalid."""
    if not isinstance(doc, dict):
        errors.append(RuleError(path, f"expected a condition object, got {kind(doc)}"))
    elif depth >= MAX_DEPTH:
        errors.append(RuleError(path, f"conditions nest deeper than {MAX_DEPTH} levels"))
    elif any(key in doc for key in ("all", "any", "not")):
        return _combination(doc, path, errors, depth)
    else:
        try:
            return _leaf(doc, path)
        except RuleError as error:
            errors.append(error)
    return None


def _combination(
    doc: dict[str, Any], path: str, errors: list[RuleError], depth: int
) -> Condition | None:
    key = next(key for key in ("all", "any", "not") if key in doc)
    for extra in sorted((k for k in doc if k != key), key=str):
        errors.append(RuleError(f"{path}.{extra}", f"unexpected key beside {key!r}"))
    if key == "not":
        part = read_condition(doc["not"], f"{path}.not", errors, depth + 1)
        return None if part is None or len(doc) != 1 else Not(part)
    items = doc[key]
    if not isinstance(items, list) or not items:
        errors.append(RuleError(f"{path}.{key}", "expected a non-empty list of conditions"))
        return None
    parts = [
        read_condition(item, f"{path}.{key}[{n}]", errors, depth + 1)
        for n, item in enumerate(items)
    ]
    checked = tuple(part for part in parts if part is not None)
    if len(checked) != len(parts) or len(doc) != 1:
        return None
    return Group(key == "all", checked)


def _leaf(doc: dict[str, Any], path: str) -> Leaf:
    unknown = sorted(set(doc) - {"field", "op", "value", "currency"}, key=str)
    if unknown:
        raise RuleError(f"{path}.{unknown[0]}", "unknown key; a condition has field, op and value")
    for key in ("field", "op", "value"):
        if key not in doc:
            raise RuleError(f"{path}.{key}", "is required")
    name, op = doc["field"], doc["op"]
    if not isinstance(name, str) or name not in FIELD_OPS:
        raise RuleError(f"{path}.field", f"unknown field {name!r}; expected one of {_FIELD_NAMES}")
    allowed = FIELD_OPS[name]
    if not isinstance(op, str) or op not in allowed:
        raise RuleError(f"{path}.op", f"{op!r} is not allowed for {name}; use {', '.join(allowed)}")
    field = Field(name)
    currency = None
    if "currency" in doc:
        if field is not Field.ORDER_VALUE:
            raise RuleError(f"{path}.currency", "only order_value conditions take a currency")
        currency = currency_code(doc["currency"], f"{path}.currency")
    value = OPS[field][Op(op)](doc["value"], f"{path}.value")
    return Leaf(field, Op(op), value, currency)


_FIELD_NAMES = ", ".join(FIELD_OPS)
