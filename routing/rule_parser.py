"""Reading a rule-set document: its JSON Schema, validation with exact paths, parsing, and
the names it uses from the configuration (:func:`rule_references`; the application checks
them against the warehouses, SKUs and connectors it has).

The format is described in :mod:`routing.rules`, which re-exports the public functions here.
Every problem of a document is reported, each located by a JSON path; the JSON Schema (what
clients see) and this reader are checked against each other on every read.
"""

import functools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator

from omniroute.routing.carrier_choice.policy import PartialPolicy, PolicyError, read_policy
from omniroute.routing.condition_parser import (
    Check,
    check,
    decimal_value,
    integer,
    is_text,
    kind,
    nonempty_text,
    read_condition,
)
from omniroute.routing.conditions import Condition, RuleError
from omniroute.routing.rule_model import (
    CRITERIA,
    DEFAULT_OUTCOME,
    DOWNGRADE_LEVELS,
    MAX_BOOST,
    MAX_CONSOLIDATION_MINUTES,
    MAX_WEIGHT,
    Boosts,
    CutoffAction,
    NoStockAction,
    Objective,
    PartialOutcome,
    Rule,
    RuleSet,
    RuleSetError,
    SplitMode,
    WarehouseSelector,
)


@functools.cache
def _schema_text() -> str:
    text: str = (
        resources.files("omniroute.routing").joinpath("schemas", "ruleset.v1.json").read_text()
    )
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


def _carrier(value: Any, path: str) -> PartialPolicy:
    """A ``carrier`` outcome (routing.carrier_choice.policy)."""
    try:
        return read_policy(value)
    except PolicyError as error:
        raise RuleError(_at(path, error.key) if error.key else path, str(error)) from None


def _is_weight(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and 0 <= value <= MAX_WEIGHT


_WEIGHT = check(_is_weight, f"a number >= 0 and <= {MAX_WEIGHT:g}", float)
_STRING = check(lambda value: isinstance(value, str), "a string")
_BOOLEAN = check(lambda value: isinstance(value, bool), "true or false", bool)
_RULE_ID = check(
    lambda value: isinstance(value, str) and len(value) <= 64 and value.strip() == value != "",
    "a rule id: a non-empty string of at most 64 characters without surrounding spaces",
)
_DOWNGRADE_LEVEL = check(
    lambda value: value in DOWNGRADE_LEVELS, f"one of {', '.join(DOWNGRADE_LEVELS)}"
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
            "consolidate": self.consolidate,
            "partial_release": _BOOLEAN,
            "on_cutoff_missed": _choice_of(CutoffAction),
            "downgrade_to": _DOWNGRADE_LEVEL,
            "objective": self.objective,
            "carrier": _carrier,
        }
        return PartialOutcome(**self.keys(doc, path, checks))

    def objective(self, doc: Any, path: str) -> tuple[tuple[str, float], ...]:
        """The weights stated, each laid over the ones so far (see routing.optimise)."""
        checks = dict.fromkeys(vars(Objective()), _WEIGHT)
        return tuple(self.keys(doc, path, checks).items())

    def consolidate(self, doc: Any, path: str) -> int:
        """The consolidation window in minutes (0: the order is not held for others)."""
        checks = {"window_minutes": integer(0, MAX_CONSOLIDATION_MINUTES)}
        minutes: int = self.keys(doc, path, checks, required=("window_minutes",))["window_minutes"]
        return minutes

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


# --- what a document refers to in the configuration


class RefKind(StrEnum):
    """What a rule set names that must exist in the configuration."""

    WAREHOUSE = "warehouse"  # a warehouse code
    WAREHOUSE_TAG = "warehouse_tag"  # a capability a warehouse is required or refused for
    SKU = "sku"
    SKU_TAG = "sku_tag"
    CHANNEL = "channel"  # a connector kind
    CONNECTOR = "connector"  # a connector id


@dataclass(frozen=True)
class Reference:
    """One name a rule set uses, where it uses it (a JSON path), and what kind of thing it is."""

    kind: RefKind
    value: str | int
    path: str


_SELECTOR_KINDS = {
    "include": RefKind.WAREHOUSE,
    "exclude": RefKind.WAREHOUSE,
    "require_tags": RefKind.WAREHOUSE_TAG,
    "exclude_tags": RefKind.WAREHOUSE_TAG,
}
_FIELD_KINDS = {
    "sku": RefKind.SKU,
    "sku_tag": RefKind.SKU_TAG,
    "channel": RefKind.CHANNEL,
    "connector_id": RefKind.CONNECTOR,
}


def rule_references(doc: Any) -> list[Reference]:
    """Every warehouse, tag, SKU, channel and connector a rule-set document names, in document
    order. Parts that are not shaped as the schema says are skipped (validation reports them).

    >>> [(r.kind.value, r.value, r.path) for r in rule_references({"rules": [{"id": "a",
    ...     "when": {"field": "sku", "op": "contains_any", "value": ["X"]},
    ...     "then": {"warehouses": {"include": ["NYC"]}}}]})]  # doctest: +NORMALIZE_WHITESPACE
    [('sku', 'X', 'rules[0].when.value[0]'),
     ('warehouse', 'NYC', 'rules[0].then.warehouses.include[0]')]
    """
    found: list[Reference] = []
    if not isinstance(doc, dict):
        return found
    if isinstance(doc.get("default"), dict):
        _outcome_references(doc["default"], "default", found)
    rules = doc.get("rules")
    for n, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict):
            _condition_references(rule.get("when"), f"rules[{n}].when", found)
            if isinstance(rule.get("then"), dict):
                _outcome_references(rule["then"], f"rules[{n}].then", found)
    return found


def _each_text(values: Any, path: str) -> Iterator[tuple[str, str]]:
    for n, value in enumerate(values if isinstance(values, list) else []):
        if is_text(value):
            yield value, f"{path}[{n}]"


def _outcome_references(outcome: dict[str, Any], path: str, found: list[Reference]) -> None:
    selector = outcome.get("warehouses")
    if isinstance(selector, dict):
        for key, kind_ in _SELECTOR_KINDS.items():
            for value, where in _each_text(selector.get(key), f"{path}.warehouses.{key}"):
                found.append(Reference(kind_, value, where))
    boosts = outcome.get("priority_boost")
    if isinstance(boosts, dict):
        for code in boosts:
            if is_text(code):
                found.append(Reference(RefKind.WAREHOUSE, code, f"{path}.priority_boost.{code}"))
    split = outcome.get("split")
    if isinstance(split, dict):
        alone = f"{path}.split.ship_alone_skus"
        found.extend(
            Reference(RefKind.SKU, v, w) for v, w in _each_text(split.get("ship_alone_skus"), alone)
        )
        groups = split.get("keep_together")
        for g, group in enumerate(groups if isinstance(groups, list) else []):
            where = f"{path}.split.keep_together[{g}]"
            found.extend(Reference(RefKind.SKU, v, w) for v, w in _each_text(group, where))


def _condition_references(condition: Any, path: str, found: list[Reference]) -> None:
    if not isinstance(condition, dict):
        return
    for combinator in ("all", "any"):
        parts = condition.get(combinator)
        for n, part in enumerate(parts if isinstance(parts, list) else []):
            _condition_references(part, f"{path}.{combinator}[{n}]", found)
    if "not" in condition:
        _condition_references(condition["not"], f"{path}.not", found)
    kind_ = _FIELD_KINDS.get(str(condition.get("field")))
    if kind_ is None:
        return
    value, where = condition.get("value"), f"{path}.value"
    values = value if isinstance(value, list) else [value]
    for n, item in enumerate(values):
        at = f"{where}[{n}]" if isinstance(value, list) else where
        wanted = (
            isinstance(item, int) and not isinstance(item, bool)
            if kind_ is RefKind.CONNECTOR
            else is_text(item)
        )
        if wanted:
            found.append(Reference(kind_, item, at))
