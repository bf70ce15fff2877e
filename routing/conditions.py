"""Conditions of routing rules: a JSON tree parsed into plain objects, evaluated against facts.

A condition is a leaf ``{"field": F, "op": O, "value": V}`` or a combination of conditions,
nested freely: ``{"all": [c, ...]}``, ``{"any": [c, ...]}``, ``{"not": c}``. Parsing
(:mod:`routing.condition_parser`) checks every field, operator and value against the table
below; user text is only ever compared, never executed. This module holds the parsed form and
its evaluation; :func:`compile_condition` gives an equivalent form that is faster to evaluate
many times (rule sets compile theirs once). Example::

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

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, Protocol

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
    # Where order_value came from (routing.valuation): the channel's total, or computed
    # from the lines; and for a missing value why, where there is something to say.
    order_value_source: str = "channel"
    order_value_note: str | None = None


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
        actual = READERS[self.field](facts, local_now)
        if actual is None:
            return self.op in _TRUE_WHEN_MISSING
        if self.currency is not None and _code(facts.currency) != self.currency:
            return False
        return _TESTS[self.op](actual, self.value)

    def describe(self) -> str:
        suffix = f" {self.currency}" if self.currency else ""
        return f"{self.field} {self.op} {show(self.value)}{suffix}"

    def explain(self, facts: OrderFacts, local_now: datetime) -> str:
        actual = show(READERS[self.field](facts, local_now))
        if self.field is Field.ORDER_VALUE:
            actual = _value_words(actual, facts)
        return f"{self.describe()} (was {actual})"


def _value_words(shown: str, facts: OrderFacts) -> str:
    """The order value as a trace says it: with its currency, and how it was found."""
    if facts.order_value is None:
        return f"{shown}: {facts.order_value_note}" if facts.order_value_note else shown
    if facts.order_value_source == "computed":
        return f"{shown} {facts.currency}, computed from the lines"
    return f"{shown} {facts.currency}"


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


# --- reading the facts


def _code(value: str | None) -> str | None:
    return value.strip().upper() if value and value.strip() else None


def _folded(tags: frozenset[str]) -> frozenset[str]:
    return frozenset(map(str.casefold, tags)) if tags else NO_TAGS


NO_TAGS: frozenset[str] = frozenset()


def normal_postal(value: str) -> str:
    """A postal code as conditions compare it: upper-case, without spaces."""
    return "".join(value.split()).upper()


Reader = Callable[[OrderFacts, datetime], Any]  # the fact's value; None when it is missing

READERS: Mapping[Field, Reader] = {
    Field.CHANNEL: lambda f, _: f.channel,
    Field.CONNECTOR_ID: lambda f, _: f.connector_id,
    Field.ORDER_TYPE: lambda f, _: f.order_type,
    Field.COUNTRY: lambda f, _: _code(f.country),
    Field.REGION: lambda f, _: _code(f.region),
    Field.POSTAL_CODE: lambda f, _: normal_postal(f.postal_code or "") or None,
    Field.SKU: lambda f, _: frozenset(f.skus),
    Field.SKU_TAG: lambda f, _: _folded(f.sku_tags),
    Field.CUSTOMER_TAGS: lambda f, _: _folded(f.customer_tags),
    Field.ORDER_TAGS: lambda f, _: _folded(f.order_tags),
    Field.LINE_COUNT: lambda f, _: f.line_count,
    Field.ORDER_VALUE: lambda f, _: f.order_value,
    Field.CURRENCY: lambda f, _: _code(f.currency),
    Field.SERVICE_LEVEL: lambda f, _: f.service_level,
    Field.LOCAL_TIME: lambda _, now: time(now.hour, now.minute),
    Field.WEEKDAY: lambda _, now: WEEKDAYS[now.weekday()],
}


# --- compiled form: the same answers, with every lookup and description done once


class Judge(Protocol):
    """A compiled condition: whether it matches and why, in one pass."""

    group: bool  # an all/any (its explanation is parenthesised inside another condition)

    def judge(self, facts: OrderFacts, local_now: datetime) -> tuple[bool, str]:
        """``(condition.matches(...), condition.explain(...))`` of the condition compiled."""
        ...


def compile_condition(condition: Condition) -> Judge:
    """A form of ``condition`` that answers ``matches`` and ``explain`` together, faster."""
    if isinstance(condition, Leaf):
        return _LeafJudge(condition)
    if isinstance(condition, Group):
        return _GroupJudge(condition.every, tuple(map(compile_condition, condition.parts)))
    if isinstance(condition, Not):
        return _NotJudge(compile_condition(condition.part))
    raise TypeError(f"cannot compile {condition!r}")


class _LeafJudge:
    __slots__ = ("currency", "known", "missing", "money", "read", "test", "text", "value")
    group = False

    MAX_KNOWN: Final = 4096  # answers remembered per condition; past that, forgotten at once

    def __init__(self, leaf: Leaf) -> None:
        self.read = READERS[leaf.field]
        self.test = _TESTS[leaf.op]
        self.value = leaf.value
        self.missing = leaf.op in _TRUE_WHEN_MISSING
        self.currency = leaf.currency
        self.money = leaf.field is Field.ORDER_VALUE
        self.text = leaf.describe()
        # The answer for each value read, when it depends on nothing else: not for money
        # (its words name the currency and the source, and equal amounts print apart).
        self.known: dict[Any, tuple[bool, str]] | None = (
            None if self.money or self.currency is not None else {}
        )

    def judge(self, facts: OrderFacts, local_now: datetime) -> tuple[bool, str]:
        actual = self.read(facts, local_now)
        known = self.known
        if known is None:
            return self._judge(facts, actual)
        answer = known.get(actual)
        if answer is None:
            answer = self._judge(facts, actual)
            if len(known) >= self.MAX_KNOWN:
                known.clear()
            known[actual] = answer
        return answer

    def _judge(self, facts: OrderFacts, actual: Any) -> tuple[bool, str]:
        if actual is None:
            hit = self.missing
        elif self.currency is not None and _code(facts.currency) != self.currency:
            hit = False
        else:
            hit = self.test(actual, self.value)
        shown = show(actual)
        if self.money:
            shown = _value_words(shown, facts)
        return hit, f"{self.text} (was {shown})"


class _GroupJudge:
    __slots__ = ("every", "parts")
    group = True

    def __init__(self, every: bool, parts: tuple[Judge, ...]) -> None:
        self.every, self.parts = every, parts

    def judge(self, facts: OrderFacts, local_now: datetime) -> tuple[bool, str]:
        texts = []
        for part in self.parts:
            hit, text = part.judge(facts, local_now)
            text = f"({text})" if part.group else text
            if hit is not self.every:  # the first failing part of an "all", matching of an "any"
                return hit, text
            texts.append(text)
        return self.every, " and ".join(texts) if self.every else "none of: " + "; ".join(texts)


class _NotJudge:
    __slots__ = ("part",)
    group = False

    def __init__(self, part: Judge) -> None:
        self.part = part

    def judge(self, facts: OrderFacts, local_now: datetime) -> tuple[bool, str]:
        hit, text = self.part.judge(facts, local_now)
        return not hit, f"not ({text})" if self.part.group else f"not {text}"
