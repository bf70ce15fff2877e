"""Rule sets as plain objects, and their evaluation against one order.

The format of a rule-set document and what each part means is described in
:mod:`routing.rules`, which re-exports everything here; reading a document is
:mod:`routing.rule_parser`. A rule set compiles its conditions once, on its first evaluation
(:class:`CompiledRules`), and keeps them for every later order.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from omniroute.routing.carrier_choice.policy import CarrierPolicy, PartialPolicy
from omniroute.routing.conditions import Condition, Judge, OrderFacts, RuleError, compile_condition

CRITERIA: Final = (
    "priority",
    "distance",
    "stock_depth",
    "shipping_cost",
    "capacity_headroom",
    "ship_date",
    "fewest_shipments",
)
MAX_BOOST: Final = 1000
MAX_CONSOLIDATION_MINUTES: Final = 1440  # a day: longer holds are a backlog, not a merge
DEFAULT_CARRIER: Final = CarrierPolicy()
MAX_WEIGHT: Final = 1e6  # an objective weight; larger ones only drown the others


class NoStockAction(StrEnum):
    """What to do when the order cannot be covered under the outcome's constraints."""

    EXCEPTION = "exception"
    BACKORDER = "backorder"
    HOLD = "hold"
    REJECT = "reject"


class CutoffAction(StrEnum):
    """What to do with an urgent order when every warehouse that could ship it has missed
    today's cut-off (or is closed today by its calendar)."""

    EXCEPTION = "exception"  # park it with the exception ``cutoff_missed``
    DOWNGRADE = "downgrade"  # route it as ``downgrade_to`` (a lower service level)
    SHIP_NEXT_DAY = "ship_next_day"  # keep its level; ship on the warehouse's next open day
    HOLD = "hold"  # hold it until the warehouse's next shipping day begins, then route it


# The service levels an order may be downgraded to when it misses the cut-off.
DOWNGRADE_LEVELS: Final = ("standard", "express")


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


@dataclass(frozen=True)
class Objective:
    """Weights of what a plan costs, per shipment: each shipment, its shipping cost (the
    warehouse's rate band: base + per kg x weight shipped), its distance in km, and the share
    of the warehouse's remaining daily capacity it takes (1 / orders it can still take).

    The default, one per shipment and nothing else, is today's rule: fewest shipments first,
    then the best-ranked warehouses (:mod:`routing.optimise`)."""

    shipments: float = 1.0
    cost: float = 0.0
    distance_km: float = 0.0
    capacity: float = 0.0

    @property
    def shipments_only(self) -> bool:
        """Whether only the number of shipments counts (ranking breaks the ties)."""
        return self.shipments > 0 and not (self.cost or self.distance_km or self.capacity)


Boosts = tuple[tuple[str, int], ...]  # (warehouse code, boost), sorted by code


@dataclass(frozen=True)
class RuleOutcome:
    """Everything the rules decide for one order."""

    warehouses: WarehouseSelector
    ranking: tuple[str, ...]
    split: SplitPolicy
    on_no_stock: NoStockAction
    priority_boost: Boosts = ()
    # Minutes to hold the order for others of the same customer and address; 0 = none.
    consolidate_minutes: int = 0
    # With on_no_stock "backorder": release what stock covers now, backorder only the rest.
    partial_release: bool = False
    on_cutoff_missed: CutoffAction = CutoffAction.EXCEPTION
    downgrade_to: str = "standard"  # the service level of on_cutoff_missed "downgrade"
    objective: Objective = Objective()
    carrier: CarrierPolicy = DEFAULT_CARRIER  # how its fulfilment orders' carrier is chosen

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
            "consolidate": {"window_minutes": self.consolidate_minutes},
            "partial_release": self.partial_release,
            "on_cutoff_missed": self.on_cutoff_missed.value,
            "downgrade_to": self.downgrade_to,
            "objective": vars(self.objective).copy(),
            "carrier": self.carrier.to_json(),
        }


# Nearest first where the ship-to and the warehouse are both placed (a warehouse with no
# place ranks after every placed one; an unplaced ship-to leaves distance out), then
# priority, then most stock; code and id break what is still tied (routing.ranking).
DEFAULT_RANKING: Final = ("distance", "priority", "stock_depth")

DEFAULT_OUTCOME: Final = RuleOutcome(
    warehouses=WarehouseSelector(),
    ranking=DEFAULT_RANKING,
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
    consolidate: int | None = None  # window minutes; 0 states "no consolidation"
    partial_release: bool | None = None
    on_cutoff_missed: CutoffAction | None = None
    downgrade_to: str | None = None
    objective: tuple[tuple[str, float], ...] = ()  # (Objective field, weight) for each key stated
    carrier: PartialPolicy | None = None

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
            consolidate_minutes=(
                base.consolidate_minutes if self.consolidate is None else self.consolidate
            ),
            partial_release=(
                base.partial_release if self.partial_release is None else self.partial_release
            ),
            on_cutoff_missed=self.on_cutoff_missed or base.on_cutoff_missed,
            downgrade_to=self.downgrade_to or base.downgrade_to,
            objective=replace(base.objective, **dict(self.objective)),
            carrier=base.carrier if self.carrier is None else self.carrier.over(base.carrier),
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

    @functools.cached_property
    def consolidates(self) -> bool:
        """Whether any outcome of this rule set may hold an order for consolidation."""
        return self.default.consolidate_minutes > 0 or any(
            rule.then.consolidate for rule in self.rules
        )

    @functools.cached_property
    def partial_releases(self) -> bool:
        """Whether any outcome of this rule set may release part of a backordered order."""
        return self.default.partial_release or any(rule.then.partial_release for rule in self.rules)

    @functools.cached_property
    def compiled(self) -> "CompiledRules":
        """The rule set ready to evaluate, made on first use and kept (not part of its value)."""
        return CompiledRules(self)


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


def evaluate(rule_set: RuleSet, facts: OrderFacts, now: datetime) -> Evaluation:
    """Apply the rules to one order at ``now`` (timezone-aware); pure and deterministic."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    compiled = rule_set.compiled
    local_now = now.astimezone(compiled.zone)
    path: list[int] = []
    steps: list[dict[str, Any]] = []
    for n, (rule_id, when, stated, go_on) in enumerate(compiled.rules):
        hit, why = when.judge(facts, local_now)
        if not hit:
            steps.append({"rule": rule_id, "matched": False, "why": why})
            continue
        steps.append(
            {
                "rule": rule_id,
                "matched": True,
                "why": why,
                "applied": list(stated),
                "continue": go_on,
            }
        )
        path.append(n)
        if not go_on:
            break
    matched = tuple(compiled.rules[n][0] for n in path)
    return Evaluation(compiled.outcome(tuple(path)), matched, tuple(steps))


class CompiledRules:
    """A rule set ready to evaluate: its time zone loaded, its conditions compiled, and the
    outcome of each sequence of matched rules laid over the default once, then remembered."""

    MAX_REMEMBERED: Final = 1024  # outcomes kept; past that they are laid over every time

    def __init__(self, rule_set: RuleSet) -> None:
        self.zone: tzinfo = ZoneInfo(rule_set.timezone)
        self.rules: tuple[tuple[str, Judge, tuple[str, ...], bool], ...] = tuple(
            (rule.id, compile_condition(rule.when), rule.then.stated(), rule.continue_after)
            for rule in rule_set.rules
        )
        self._then = tuple(rule.then for rule in rule_set.rules)
        self._outcomes: dict[tuple[int, ...], RuleOutcome] = {(): rule_set.default}
        self._default = rule_set.default

    def outcome(self, path: tuple[int, ...]) -> RuleOutcome:
        """The outcome when the rules at positions ``path`` matched (in that order)."""
        known = self._outcomes.get(path)
        if known is not None:
            return known
        outcome = self._default
        for n in path:
            outcome = self._then[n].over(outcome)
        if len(self._outcomes) < self.MAX_REMEMBERED:
            self._outcomes[path] = outcome
        return outcome
