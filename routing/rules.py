"""Rule sets: ordered rules whose conditions shape how an order is routed.

A rule set is a JSON document (JSON Schema: :func:`rule_set_schema`, conditions: see
:mod:`routing.conditions`). Rules are tried in order. A rule whose ``when`` matches lays its
``then`` over the outcome so far, starting from the rule set's ``default``, and evaluation
stops there unless the rule says ``"continue": true``, in which case later rules may refine
the outcome further. When no rule matches, ``default`` applies. Example::

    {"name": "peak-2026", "timezone": "America/New_York",
     "default": {"ranking": ["priority", "distance", "stock_depth"],
                 "split": {"mode": "split", "max_shipments": 3}},
     "rules": [
       {"id": "cold-chain", "when": {"field": "sku_tag", "op": "contains_any", "value": ["cold"]},
        "then": {"warehouses": {"require_tags": ["cold-chain"]}}, "continue": true},
       {"id": "ca-orders",
        "when": {"all": [{"field": "country", "op": "eq", "value": "CA"},
                         {"not": {"field": "service_level", "op": "eq", "value": "express"}}]},
        "then": {"warehouses": {"include": ["NORTH"]}, "split": {"mode": "ship_complete"},
                 "on_no_stock": "backorder"}},
       {"id": "after-hours-express",
        "when": {"all": [{"field": "service_level", "op": "in", "value": ["express", "same_day"]},
                         {"field": "local_time", "op": "between", "value": ["16:00", "23:59"]}]},
        "then": {"priority_boost": {"WEST": 5}}}]}

An outcome (``default`` or a rule's ``then``) states any of:

* ``warehouses``: ``include`` (only these codes), ``exclude`` (never these), ``require_tags``
  (a warehouse needs every one, e.g. cold-chain, hazmat) and ``exclude_tags``;
* ``ranking``: criteria chained in order, from :data:`CRITERIA`;
* ``split``: ``mode`` (ship_complete | split), ``max_shipments`` (null: no limit; ignored by
  ship_complete), ``allow_line_split``, ``ship_alone_skus`` (each always its own shipment),
  ``keep_together`` (groups of SKUs such as a kit's parts) and
  ``min_value_per_extra_shipment`` (in the order's currency);
* ``on_no_stock``: exception | backorder | hold | reject;
* ``priority_boost``: warehouse code -> integer, positive = more preferred.

Laying a ``then`` over an outcome replaces what it states: ``ranking`` and ``on_no_stock``
whole, ``split`` key by key and ``priority_boost`` code by code; ``warehouses.include``
replaces too. ``exclude``, ``require_tags`` and ``exclude_tags`` add to those so far instead,
so that a later rule cannot drop a constraint such as cold chain set by an earlier one.
"""

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator

from routing.conditions import (
    Check,
    Condition,
    OrderFacts,
    RuleError,
    check,
    decimal_value,
    integer,
    is_text,
    kind,
    nonempty_text,
    read_condition,
)

# Condition, OrderFacts and RuleError are re-exported: callers need only this module.
__all__ = [
    "CRITERIA",
    "DEFAULT_OUTCOME",
    "Condition",
    "Evaluation",
    "NoStockAction",
    "OrderFacts",
    "PartialOutcome",
    "Rule",
    "RuleError",
    "RuleOutcome",
    "RuleSet",
    "RuleSetError",
    "SplitMode",
    "SplitPolicy",
    "WarehouseSelector",
    "evaluate",
    "parse_rule_set",
    "rule_set_schema",
    "validate_rule_set",
]

CRITERIA: Final = (
    "priority",
    "distance",
    "stock_depth",
    "shipping_cost",
    "capacity_headroom",
    "fewest_shipments",
)
MAX_BOOST: Final = 1000


class NoStockAction(StrEnum):
    """What to do when the order cannot be covered under the outcome's constraints."""

    EXCEPTION = "exception"
    BACKORDER = "backorder"
    HOLD = "hold"
    REJECT = "reject"


class SplitMode(StrEnum):
    SHIP_COMPLETE = "ship_complete"
    SPLIT = "split"


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(first + second))


@dataclass(frozen=True)
class WarehouseSelector:
    """Which warehouses are eligible; an empty ``include`` means every warehouse."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    require_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()

    def narrowed(self, later: "WarehouseSelector") -> "WarehouseSelector":
        """``later`` laid over this one: its include replaces, its other filters add up."""
        return WarehouseSelector(
            later.include or self.include,
            _union(self.exclude, later.exclude),
            _union(self.require_tags, later.require_tags),
            _union(self.exclude_tags, later.exclude_tags),
        )


@dataclass(frozen=True)
class SplitPolicy:
    """How an order may be divided into shipments."""

    mode: SplitMode = SplitMode.SPLIT
    max_shipments: int | None = None  # None: no limit; ignored by SHIP_COMPLETE
    allow_line_split: bool = True  # may one line's quantity come from several warehouses
    ship_alone_skus: tuple[str, ...] = ()
    keep_together: tuple[tuple[str, ...], ...] = ()
    min_value_per_extra_shipment: Decimal | None = None


Boosts = tuple[tuple[str, int], ...]  # (warehouse code, boost), sorted by code


@dataclass(frozen=True)
class RuleOutcome:
    """Everything the rules decide for one order."""

    warehouses: WarehouseSelector
    ranking: tuple[str, ...]
    split: SplitPolicy
    on_no_stock: NoStockAction
    priority_boost: Boosts = ()

    def boost(self, code: str) -> int:
        """The priority boost of warehouse ``code``, 0 when none is set."""
        return dict(self.priority_boost).get(code, 0)

    def to_json(self) -> dict[str, Any]:
        """The outcome as a JSON object that is itself a valid ``default``/``then``."""
        split = self.split
        amount = split.min_value_per_extra_shipment
        selector = self.warehouses
        return {
            "warehouses": {
                key: list(value)
                for key, value in vars(selector).items()
                if value or key != "include"
            },
            "ranking": list(self.ranking),
            "split": {
                "mode": split.mode.value,
                "max_shipments": split.max_shipments,
                "allow_line_split": split.allow_line_split,
                "ship_alone_skus": list(split.ship_alone_skus),
                "keep_together": [list(group) for group in split.keep_together],
                "min_value_per_extra_shipment": None if amount is None else str(amount),
            },
            "on_no_stock": self.on_no_stock.value,
            "priority_boost": dict(self.priority_boost),
        }


DEFAULT_OUTCOME: Final = RuleOutcome(
    warehouses=WarehouseSelector(),
    ranking=("priority", "stock_depth"),
    split=SplitPolicy(),
    on_no_stock=NoStockAction.EXCEPTION,
)


@dataclass(frozen=True)
class PartialOutcome:
    """What a rule's ``then`` (or a rule set's ``default``) states; None is "not stated"."""

    warehouses: WarehouseSelector | None = None
    ranking: tuple[str, ...] | None = None
    split: tuple[tuple[str, Any], ...] = ()  # (SplitPolicy field, value) for each key stated
    on_no_stock: NoStockAction | None = None
    priority_boost: Boosts = ()

    def stated(self) -> tuple[str, ...]:
        """The outcome keys this partial outcome sets, for the trace."""
        return tuple(key for key, value in vars(self).items() if value not in (None, ()))

    def over(self, base: RuleOutcome) -> RuleOutcome:
        """This partial outcome laid over ``base`` (see the module docs)."""
        boosts = dict(base.priority_boost) | dict(self.priority_boost)
        return RuleOutcome(
            warehouses=(
                base.warehouses
                if self.warehouses is None
                else base.warehouses.narrowed(self.warehouses)
            ),
            ranking=self.ranking or base.ranking,
            split=replace(base.split, **dict(self.split)),
            on_no_stock=self.on_no_stock or base.on_no_stock,
            priority_boost=tuple(sorted(boosts.items())),
        )


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    when: Condition
    then: PartialOutcome
    continue_after: bool  # "continue" in JSON: go on to later rules after this one matched


@dataclass(frozen=True)
class RuleSet:
    name: str
    timezone: str  # IANA name; local_time and weekday conditions are read in it
    rules: tuple[Rule, ...]
    default: RuleOutcome  # DEFAULT_OUTCOME with the document's "default" laid over it


@dataclass(frozen=True)
class Evaluation:
    """The outcome for one order, the ids of the rules applied and a JSON-ready trace."""

    outcome: RuleOutcome
    matched: tuple[str, ...]
    steps: tuple[dict[str, Any], ...]


class RuleSetError(ValueError):
    """A rule-set document is invalid; ``errors`` holds every problem found."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors = tuple(errors)
        super().__init__("invalid rule set: " + "; ".join(str(error) for error in self.errors))


@functools.cache
def _schema_text() -> str:
    text: str = resources.files("routing").joinpath("schemas", "ruleset.v1.json").read_text()
    return text


def rule_set_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rule set; a fresh copy on every call."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(rule_set_schema())


def validate_rule_set(doc: Any) -> list[RuleError]:
    """Every problem of a rule-set document, each located by a JSON path; empty when valid."""
    return _read(doc)[1]


def parse_rule_set(doc: Any) -> RuleSet:
    """Parse a rule-set document; raise :class:`RuleSetError` with every problem if invalid."""
    rule_set, errors = _read(doc)
    if errors or rule_set is None:
        raise RuleSetError(errors)
    return rule_set


def evaluate(rule_set: RuleSet, facts: OrderFacts, now: datetime) -> Evaluation:
    """Apply the rules to one order at ``now`` (timezone-aware); pure and deterministic."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    local_now = now.astimezone(ZoneInfo(rule_set.timezone))
    outcome = rule_set.default
    matched: list[str] = []
    steps: list[dict[str, Any]] = []
    for rule in rule_set.rules:
        hit = rule.when.matches(facts, local_now)
        step: dict[str, Any] = {
            "rule": rule.id,
            "matched": hit,
            "why": rule.when.explain(facts, local_now),
        }
        steps.append(step)
        if hit:
            outcome = rule.then.over(outcome)
            matched.append(rule.id)
            step.update({"applied": list(rule.then.stated()), "continue": rule.continue_after})
            if not rule.continue_after:
                break
    return Evaluation(outcome, tuple(matched), tuple(steps))


# --- reading a document


class _Invalid(Exception):
    """A part of the document is invalid; its problems are already in the reader's errors."""


def _read(doc: Any) -> tuple[RuleSet | None, list[RuleError]]:
    reader = _Reader()
    try:
        rule_set: RuleSet | None = reader.rule_set(doc)
    except _Invalid:
        rule_set = None
    errors = reader.errors
    # The schema is what clients see; a problem it finds that the reader did not (they should
    # agree) is still reported, so the two can never silently drift apart.
    for error in sorted(_validator().iter_errors(doc), key=lambda e: str(list(e.absolute_path))):
        path = _json_path(error.absolute_path)
        if not any(_overlaps(path, known.path) for known in errors):
            errors.append(RuleError(path, error.message[:300]))
    return rule_set, errors


def _json_path(parts: Sequence[str | int]) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)
    return path.removeprefix(".") or "$"


def _overlaps(schema_path: str, known_path: str) -> bool:
    """Whether a schema error is about the same spot as one the reader reported."""
    known = re.sub(r"\.(field|op|value|currency)(\[\d+\])*$", "", known_path)  # the whole leaf
    if "$" in (schema_path, known):
        return True
    short, long = sorted((schema_path, known), key=len)
    return long == short or long.startswith((f"{short}.", f"{short}["))


def _at(path: str, key: str) -> str:
    return key if path == "$" else f"{path}.{key}"


def _choice_of(enum: type[StrEnum]) -> Check:
    values = tuple(member.value for member in enum)
    return check(lambda value: value in values, f"one of {', '.join(values)}", enum)


def _optional(item: Check) -> Check:
    return lambda value, path: None if value is None else item(value, path)


def _names(value: Any, path: str, *, least: int = 0) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) < least:
        wanted = f"{least} or more strings" if least else "strings"
        raise RuleError(path, f"expected a list of {wanted}, got {kind(value)}")
    names = tuple(nonempty_text(item, f"{path}[{n}]") for n, item in enumerate(value))
    for n, name in enumerate(names):
        if name in names[:n]:
            raise RuleError(f"{path}[{n}]", f"{name!r} is listed twice")
    return names


def _ranking(value: Any, path: str) -> tuple[str, ...]:
    names = _names(value, path, least=1)
    for n, name in enumerate(names):
        if name not in CRITERIA:
            raise RuleError(
                f"{path}[{n}]", f"unknown criterion {name!r}; expected one of {', '.join(CRITERIA)}"
            )
    return names


def _boosts(value: Any, path: str) -> Boosts:
    if not isinstance(value, dict):
        raise RuleError(path, f"expected an object of warehouse code -> integer, got {kind(value)}")
    boost = integer(-MAX_BOOST, MAX_BOOST)
    for code, amount in value.items():
        if not is_text(code):
            raise RuleError(path, f"expected non-empty warehouse codes, got {code!r}")
        boost(amount, _at(path, code))
    return tuple(sorted(value.items()))


def _groups(value: Any, path: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise RuleError(path, f"expected a list of SKU groups, got {kind(value)}")
    return tuple(_names(group, f"{path}[{n}]", least=2) for n, group in enumerate(value))


def _timezone(value: Any, path: str) -> str:
    name: str = nonempty_text(value, path)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RuleError(path, f"unknown time zone {name!r}; use an IANA name") from None
    return name


def _amount(value: Any, path: str) -> Decimal:
    amount: Decimal = decimal_value(value, path)
    if amount < 0:
        raise RuleError(path, f"expected an amount >= 0, got {value!r}")
    return amount


_STRING = check(lambda value: isinstance(value, str), "a string")
_BOOLEAN = check(lambda value: isinstance(value, bool), "true or false", bool)
_RULE_ID = check(
    lambda value: isinstance(value, str) and len(value) <= 64 and value.strip() == value != "",
    "a rule id: a non-empty string of at most 64 characters without surrounding spaces",
)
_VERSION = check(lambda value: value == 1 and value is not True, "1", int)


class _Reader:
    """Reads a rule-set document, collecting every problem rather than stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[RuleError] = []

    def keys(
        self, doc: Any, path: str, checks: Mapping[str, Check], required: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Check each key of an object; raise _Invalid after recording what is wrong."""
        if not isinstance(doc, dict):
            self.errors.append(RuleError(path, f"expected an object, got {kind(doc)}"))
            raise _Invalid
        before = len(self.errors)
        parsed: dict[str, Any] = {}
        for key, value in doc.items():
            if key not in checks:
                message = f"unknown key; expected one of {', '.join(checks)}"
                self.errors.append(RuleError(_at(path, str(key)), message))
                continue
            try:
                parsed[key] = checks[key](value, _at(path, key))
            except RuleError as error:
                self.errors.append(error)
            except _Invalid:
                pass
        self.errors.extend(RuleError(_at(path, k), "is required") for k in required if k not in doc)
        if len(self.errors) > before:
            raise _Invalid
        return parsed

    def fail(self, path: str, message: str) -> None:
        self.errors.append(RuleError(path, message))

    def rule_set(self, doc: Any) -> RuleSet:
        checks = {
            "schema_version": _VERSION,
            "name": nonempty_text,
            "description": _STRING,
            "timezone": _timezone,
            "default": self.outcome,
            "rules": self.rules,
        }
        got = self.keys(doc, "$", checks, required=("name", "timezone", "rules"))
        default = got.get("default", PartialOutcome()).over(DEFAULT_OUTCOME)
        return RuleSet(got["name"], got["timezone"], got["rules"], default)

    def rules(self, doc: Any, path: str) -> tuple[Rule, ...]:
        if not isinstance(doc, list):
            raise RuleError(path, f"expected a list of rules, got {kind(doc)}")
        before = len(self.errors)
        rules: list[Rule] = []
        first_use: dict[str, str] = {}
        for n, item in enumerate(doc):
            where = f"{path}[{n}]"
            rule_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(rule_id, str) and rule_id in first_use:
                self.fail(f"{where}.id", f"duplicate id {rule_id!r}, first at {first_use[rule_id]}")
            elif isinstance(rule_id, str):
                first_use[rule_id] = where
            try:
                rules.append(self.rule(item, where))
            except _Invalid:
                continue
        if len(self.errors) > before:
            raise _Invalid
        return tuple(rules)

    def rule(self, doc: Any, path: str) -> Rule:
        checks = {
            "id": _RULE_ID,
            "description": _STRING,
            "when": self.condition,
            "then": self.outcome,
            "continue": _BOOLEAN,
        }
        got = self.keys(doc, path, checks, required=("id", "when", "then"))
        description = got.get("description", "")
        return Rule(got["id"], description, got["when"], got["then"], got.get("continue", False))

    def condition(self, doc: Any, path: str) -> Condition:
        condition = read_condition(doc, path, self.errors)
        if condition is None:
            raise _Invalid
        return condition

    def outcome(self, doc: Any, path: str) -> PartialOutcome:
        checks = {
            "warehouses": self.warehouses,
            "ranking": _ranking,
            "split": self.split,
            "on_no_stock": _choice_of(NoStockAction),
            "priority_boost": _boosts,
        }
        return PartialOutcome(**self.keys(doc, path, checks))

    def warehouses(self, doc: Any, path: str) -> WarehouseSelector:
        checks: dict[str, Check] = {
            "include": lambda value, where: _names(value, where, least=1),
            "exclude": _names,
            "require_tags": _names,
            "exclude_tags": _names,
        }
        selector = WarehouseSelector(**self.keys(doc, path, checks))
        for wanted, unwanted in (("include", "exclude"), ("require_tags", "exclude_tags")):
            both = [x for x in getattr(selector, unwanted) if x in getattr(selector, wanted)]
            if both:
                self.fail(_at(path, unwanted), f"{', '.join(both)} also in {wanted}")
                raise _Invalid
        return selector

    def split(self, doc: Any, path: str) -> tuple[tuple[str, Any], ...]:
        checks = {
            "mode": _choice_of(SplitMode),
            "max_shipments": _optional(integer(1)),
            "allow_line_split": _BOOLEAN,
            "ship_alone_skus": _names,
            "keep_together": _groups,
            "min_value_per_extra_shipment": _optional(_amount),
        }
        got = self.keys(doc, path, checks)
        alone = set(got.get("ship_alone_skus", ()))
        for n, group in enumerate(got.get("keep_together", ())):
            if alone.intersection(group):
                clash = ", ".join(sorted(alone.intersection(group)))
                self.fail(f"{_at(path, 'keep_together')}[{n}]", f"{clash} must ship alone")
                raise _Invalid
        return tuple(got.items())
