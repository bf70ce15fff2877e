"""Conditions of routing rules: a JSON tree parsed into plain objects, evaluated against facts.

A condition is a leaf ``{"field": F, "op": O, "value": V}`` or a combination of conditions,
nested freely: ``{"all": [c, ...]}``, ``{"any": [c, ...]}``, ``{"not": c}``. Parsing checks
every field, operator and value against the table below; user text is only ever compared,
never executed. Example::

    {"all": [{"field": "country", "op": "in", "value": ["US", "CA"]},
             {"not": {"field": "order_tags", "op": "contains_any", "value": ["wholesale"]}},
             {"field": "order_value", "op": "gte", "value": "250.00", "currency": "USD"}]}

===============================  ==============================  ============================
field                            ops                             value
===============================  ==============================  ============================
channel, region                  eq, ne / in, not_in             string / list of strings
country (ISO alpha-2, upper)     eq, ne / in, not_in             "DE" / ["US", "CA"]
currency (ISO 4217, upper)       eq, ne / in, not_in             "EUR" / ["EUR", "GBP"]
order_type                       eq, ne / in, not_in             normal, presale, group, b2b
service_level                    eq, ne / in, not_in             standard, express, same_day
connector_id                     eq, ne / in, not_in             integer / list of integers
postal_code                      eq / in / prefix / range        "10001" / [...] / "10" or
                                                                 [...] / ["10000", "19999"]
sku, sku_tag, customer_tags,     contains_any, contains_all,     non-empty list of strings
order_tags                       not_contains
line_count                       eq, ne, gt, gte, lt, lte /      integer / [low, high]
                                 between
order_value                      gt, gte, lt, lte / between      "99.90" or 99.9 / [low, high]
local_time                       between                         ["HH:MM", "HH:MM"]
weekday                          in                              ["mon", ..., "sun"]
===============================  ==============================  ============================

Both ends of ``between`` and ``range`` are included; a ``local_time`` window whose start is
after its end wraps past midnight (``["22:00", "06:00"]``); times (to the minute) and weekdays
are read in the rule set's time zone. ``range`` compares postal codes as strings of the same
length, so ``["10000", "19999"]`` never matches ``"1000"`` or ``"10000-1234"``. Postal codes
are compared upper-cased without spaces; country, region and currency upper-cased; tags
case-insensitively; everything else exactly. ``order_value`` with a ``"currency"`` key matches
only orders in that currency. A missing fact (no country, region, postal code or order value)
matches nothing, except ``ne`` and ``not_in``, which hold for it ("not DE" is true of an order
with no country); tag and SKU sets are never missing, and ``not_contains`` holds for an empty one.
"""

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

MAX_DEPTH = 32
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ORDER_TYPES = ("normal", "presale", "group", "b2b")
SERVICE_LEVELS = ("standard", "express", "same_day")


class RuleError(Exception):
    """One problem in a rule-set document, located by a JSON path such as ``rules[2].when``."""

    def __init__(self, path: str, message: str) -> None:
        # Not a frozen dataclass: Python code (e.g. contextlib) assigns __traceback__ to
        # exceptions it re-raises, which a frozen dataclass refuses.
        super().__init__(path, message)

    @property
    def path(self) -> str:
        return str(self.args[0])

    @property
    def message(self) -> str:
        return str(self.args[1])

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class OrderFacts:
    """What a condition may look at for one order."""

    channel: str  # connector kind, e.g. "shopify"
    connector_id: int
    order_type: str  # normal | presale | group | b2b
    country: str | None  # ISO alpha-2
    region: str | None  # state/province code
    postal_code: str | None
    skus: tuple[str, ...]  # internal SKUs of the lines
    sku_tags: frozenset[str]  # union of tags/categories of the order's SKUs
    line_count: int
    order_value: Decimal | None
    currency: str
    service_level: str  # standard | express | same_day
    customer_tags: frozenset[str]
    order_tags: frozenset[str]


class Condition(Protocol):
    """A parsed condition; ``local_now`` is the decision time in the rule set's time zone."""

    def matches(self, facts: OrderFacts, local_now: datetime) -> bool: ...

    def describe(self) -> str:
        """The condition in words, e.g. ``country in [US, CA]``."""
        ...

    def explain(self, facts: OrderFacts, local_now: datetime) -> str:
        """Why it did or did not match, e.g. ``country in [US, CA] (was DE)``."""
        ...


class Field(StrEnum):
    CHANNEL = "channel"
    CONNECTOR_ID = "connector_id"
    ORDER_TYPE = "order_type"
    COUNTRY = "country"
    REGION = "region"
    POSTAL_CODE = "postal_code"
    SKU = "sku"
    SKU_TAG = "sku_tag"
    LINE_COUNT = "line_count"
    ORDER_VALUE = "order_value"
    CURRENCY = "currency"
    SERVICE_LEVEL = "service_level"
    CUSTOMER_TAGS = "customer_tags"
    ORDER_TAGS = "order_tags"
    LOCAL_TIME = "local_time"
    WEEKDAY = "weekday"


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    PREFIX = "prefix"
    RANGE = "range"
    CONTAINS_ANY = "contains_any"
    CONTAINS_ALL = "contains_all"
    NOT_CONTAINS = "not_contains"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"


def _between(actual: Any, bounds: tuple[Any, Any]) -> bool:
    low, high = bounds
    if low <= high:
        return bool(low <= actual <= high)
    return bool(actual >= low or actual <= high)  # only time windows may wrap (validated)


_TESTS: Mapping[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.IN: lambda actual, value: actual in value,
    Op.NOT_IN: lambda actual, value: actual not in value,
    Op.PREFIX: lambda actual, value: any(actual.startswith(p) for p in value),
    Op.RANGE: lambda actual, value: len(actual) == len(value[0]) and _between(actual, value),
    Op.CONTAINS_ANY: lambda actual, value: not actual.isdisjoint(value),
    Op.CONTAINS_ALL: lambda actual, value: value <= actual,
    Op.NOT_CONTAINS: lambda actual, value: actual.isdisjoint(value),
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.BETWEEN: _between,
}
_TRUE_WHEN_MISSING = frozenset({Op.NE, Op.NOT_IN})


def show(value: Any) -> str:
    """A value in trace words: lists in brackets, sets sorted, times as HH:MM."""
    if value is None:
        return "missing"
    if isinstance(value, frozenset):
        return show(tuple(sorted(value)))
    if isinstance(value, tuple):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, time):
        return value.isoformat(timespec="minutes")
    return str(value)


@dataclass(frozen=True)
class Leaf:
    """``field op value``, with the value already parsed and normalised."""

    field: Field
    op: Op
    value: Any
    currency: str | None = None  # order_value only

    def matches(self, facts: OrderFacts, local_now: datetime) -> bool:
        actual = _FIELDS[self.field].read(facts, local_now)
        if actual is None:
            return self.op in _TRUE_WHEN_MISSING
        if self.currency is not None and _code(facts.currency) != self.currency:
            return False
        return _TESTS[self.op](actual, self.value)

    def describe(self) -> str:
        suffix = f" {self.currency}" if self.currency else ""
        return f"{self.field} {self.op} {show(self.value)}{suffix}"

    def explain(self, facts: OrderFacts, local_now: datetime) -> str:
        actual = show(_FIELDS[self.field].read(facts, local_now))
        if self.field is Field.ORDER_VALUE and facts.order_value is not None:
            actual = f"{actual} {facts.currency}"
        return f"{self.describe()} (was {actual})"


def _wrap(condition: Condition, text: str) -> str:
    return f"({text})" if isinstance(condition, Group) else text


@dataclass(frozen=True)
class Group:
    """``all`` (every part must match) or ``any`` (one part is enough) of some conditions."""

    every: bool
    parts: tuple[Condition, ...]

    def matches(self, facts: OrderFacts, local_now: datetime) -> bool:
        test = all if self.every else any
        return test(part.matches(facts, local_now) for part in self.parts)

    def describe(self) -> str:
        return (" and " if self.every else " or ").join(_wrap(p, p.describe()) for p in self.parts)

    def explain(self, facts: OrderFacts, local_now: datetime) -> str:
        for part in self.parts:
            # The first failing part of an "all", or matching part of an "any", decides.
            if part.matches(facts, local_now) is not self.every:
                return _wrap(part, part.explain(facts, local_now))
        texts = [_wrap(part, part.explain(facts, local_now)) for part in self.parts]
        return " and ".join(texts) if self.every else "none of: " + "; ".join(texts)


@dataclass(frozen=True)
class Not:
    part: Condition

    def matches(self, facts: OrderFacts, local_now: datetime) -> bool:
        return not self.part.matches(facts, local_now)

    def describe(self) -> str:
        return f"not {_wrap(self.part, self.part.describe())}"

    def explain(self, facts: OrderFacts, local_now: datetime) -> str:
        return f"not {_wrap(self.part, self.part.explain(facts, local_now))}"


# --- value checks: each takes the JSON value and its path, returns the parsed value or raises

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


def _normal_postal(value: str) -> str:
    return "".join(value.split()).upper()


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
_postal = check(is_text, "a non-empty string", _normal_postal)
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


def _code(value: str | None) -> str | None:
    return value.strip().upper() if value and value.strip() else None


def _folded(tags: frozenset[str]) -> frozenset[str]:
    return frozenset(tag.casefold() for tag in tags)


@dataclass(frozen=True)
class _FieldSpec:
    read: Callable[[OrderFacts, datetime], Any]  # None when the fact is missing
    ops: Mapping[Op, Check]


_FIELDS: Mapping[Field, _FieldSpec] = {
    Field.CHANNEL: _FieldSpec(lambda f, _: f.channel, _equality(nonempty_text)),
    Field.CONNECTOR_ID: _FieldSpec(lambda f, _: f.connector_id, _equality(integer(1))),
    Field.ORDER_TYPE: _FieldSpec(lambda f, _: f.order_type, _equality(_choice(ORDER_TYPES))),
    Field.COUNTRY: _FieldSpec(lambda f, _: _code(f.country), _equality(_country)),
    Field.REGION: _FieldSpec(lambda f, _: _code(f.region), _equality(_upper)),
    Field.POSTAL_CODE: _FieldSpec(
        lambda f, _: _normal_postal(f.postal_code or "") or None,
        {
            Op.EQ: _postal,
            Op.IN: _list(_postal),
            Op.PREFIX: _one_or_list(_postal),
            Op.RANGE: _postal_range,
        },
    ),
    Field.SKU: _FieldSpec(lambda f, _: frozenset(f.skus), _containment(nonempty_text)),
    Field.SKU_TAG: _FieldSpec(lambda f, _: _folded(f.sku_tags), _containment(_tag)),
    Field.CUSTOMER_TAGS: _FieldSpec(lambda f, _: _folded(f.customer_tags), _containment(_tag)),
    Field.ORDER_TAGS: _FieldSpec(lambda f, _: _folded(f.order_tags), _containment(_tag)),
    Field.LINE_COUNT: _FieldSpec(
        lambda f, _: f.line_count,
        {Op.EQ: integer(0), Op.NE: integer(0), **_ordering(integer(0))},
    ),
    Field.ORDER_VALUE: _FieldSpec(lambda f, _: f.order_value, _ordering(decimal_value)),
    Field.CURRENCY: _FieldSpec(lambda f, _: _code(f.currency), _equality(currency_code)),
    Field.SERVICE_LEVEL: _FieldSpec(
        lambda f, _: f.service_level, _equality(_choice(SERVICE_LEVELS))
    ),
    Field.LOCAL_TIME: _FieldSpec(
        lambda _, now: time(now.hour, now.minute), {Op.BETWEEN: _pair(_clock, ordered=False)}
    ),
    Field.WEEKDAY: _FieldSpec(
        lambda _, now: WEEKDAYS[now.weekday()], {Op.IN: _list(_choice(WEEKDAYS))}
    ),
}
FIELD_OPS: Mapping[str, tuple[str, ...]] = {
    str(field): tuple(str(op) for op in spec.ops) for field, spec in _FIELDS.items()
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
    value = _FIELDS[field].ops[Op(op)](doc["value"], f"{path}.value")
    return Leaf(field, Op(op), value, currency)


_FIELD_NAMES = ", ".join(FIELD_OPS)
