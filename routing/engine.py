"""The rules-driven router: rule evaluation, feasibility filters, ranking chain, minimum split.

Pure: everything it needs comes in a RoutingRequest (warehouse profiles with their
locations already geocoded, the stock snapshot, SKU requirements, the parsed rule set and
"now"); a RoutingResult with a full trace comes out. Applying it is the caller's business.

``warehouses`` may be a plain list of profiles or a :class:`~routing.warehouses.WarehouseSet`
prepared once for many decisions (same result, less work per decision). The trace is
assembled by :mod:`routing.trace`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import product, repeat
from typing import Any

from routing.allocate import OrderDemand, RoutingResult, Shipment
from routing.conditions import OrderFacts
from routing.geo import GeoPoint, distances_km, prepare_point
from routing.rules import (
    DEFAULT_OUTCOME,
    RuleOutcome,
    RuleSet,
    SplitMode,
    WarehouseSelector,
    evaluate,
)
from routing.search import SearchLimits, SearchResult, min_split_rows
from routing.trace import ScoreColumns, Stock, Verdicts, build_result
from routing.warehouses import (
    RateBand,
    ShipDay,
    Shipping,
    Site,
    SkuProfile,
    WarehouseProfile,
    WarehouseSet,
    buffered,
    held_back,
    prepare_warehouses,
    ship_days,
    sites_of,
)

# The profile types moved to routing.warehouses; they stay importable from here.
__all__ = [
    "DEFAULT_RULES",
    "SMALLER_IS_BETTER",
    "URGENT_LEVELS",
    "RateBand",
    "RoutingRequest",
    "SkuProfile",
    "WarehouseProfile",
    "WarehouseSet",
    "decide",
    "order_value",
    "prepare_warehouses",
]

URGENT_LEVELS = frozenset({"express", "same_day"})
DEFAULT_RULES = RuleSet(name="default", timezone="UTC", rules=(), default=DEFAULT_OUTCOME)
# Sorting direction per criterion: smaller is better for these, larger for the others.
SMALLER_IS_BETTER = frozenset({"priority", "distance", "shipping_cost", "ship_date"})
NEVER_UNKNOWN = frozenset({"priority", "stock_depth"})  # every warehouse has these
# Position of each criterion in ScoreColumns (fewest_shipments is the search's own).
SCORE_INDEX = {name: n for n, name in enumerate(ScoreColumns._fields)}


@dataclass(frozen=True)
class RoutingRequest:
    order: OrderDemand
    facts: OrderFacts
    channel_name: str
    ship_to: GeoPoint | None
    warehouses: Sequence[WarehouseProfile]  # a WarehouseSet saves preparing them per decision
    stock: Mapping[tuple[int, str], int]
    now: datetime  # aware
    skus: Mapping[str, SkuProfile] = field(default_factory=dict)
    rule_set: RuleSet | None = None
    rule_set_label: str = "default"
    node_budget: int = 20_000
    # Warehouses the caller rules out (id -> reason for the trace), e.g. after a WMS rejection.
    excluded_warehouses: Mapping[int, str] = field(default_factory=dict)


def decide(req: RoutingRequest) -> RoutingResult:
    """Route one order: the plan (fewest shipments from the best-ranked warehouses) and why."""
    if not req.order.lines:
        raise ValueError("an order without lines cannot be routed")
    evaluation = evaluate(req.rule_set or DEFAULT_RULES, req.facts, req.now)
    outcome = evaluation.outcome
    sites = sites_of(req.warehouses)
    ships = ship_days(req.warehouses, sites, req.now)  # once per calendar, not per warehouse
    eligible, removed = _eligibility(req, outcome.warehouses, sites, ships)
    skus = tuple(dict.fromkeys(line.sku for line in req.order.lines))  # first-appearance order
    rows, blocked = _stock_rows(req, eligible, skus)
    scores = _scores(req, eligible, rows, dict(outcome.priority_boost), ships)
    order = _rank_order(outcome.ranking, eligible, scores)
    ranked = [eligible[n] for n in order]
    search = min_split_rows(
        req.order.lines,
        [s.warehouse_id for s in ranked],
        [rows[n] for n in order],
        _limits(outcome, req.node_budget),
    )
    shipments, policy_block = _shipments(req, outcome, search, ranked)
    verdicts = Verdicts(
        eligible=eligible,
        scores=scores,
        blocked=blocked,
        order=order,
        removed=sorted(removed, key=lambda entry: (entry[0].code, entry[0].warehouse_id)),
        ships=ships,
        channel=(req.facts.channel, req.channel_name),
    )
    return build_result(
        req.order.lines,
        label=req.rule_set_label,
        now=req.now,
        ship_to=req.ship_to,
        evaluation=evaluation,
        search=search,
        shipments=shipments,
        policy_block=policy_block,
        verdicts=verdicts,
        stock=Stock(skus, rows),
    )


def _eligibility(
    req: RoutingRequest,
    sel: WarehouseSelector,
    sites: Sequence[Site],
    ships: Mapping[Shipping, ShipDay],
) -> tuple[list[Site], list[tuple[Site, str]]]:
    """The warehouses that pass every feasibility filter, and the others with the reason."""
    # Warehouses the caller excludes are rare: when there are some, no fast path.
    selective = bool(
        sel.include
        or sel.exclude
        or sel.require_tags
        or sel.exclude_tags
        or req.excluded_warehouses
    )
    served = (req.facts.channel, req.channel_name)
    urgent = req.facts.service_level in URGENT_LEVELS
    eligible: list[Site] = []
    removed: list[tuple[Site, str]] = []
    for s in sites:
        # Fast path: nothing can remove it; anything else is read by _removal in full.
        if (
            s.open
            and not selective
            and (not s.channels or not s.channels.isdisjoint(served))
            and not (urgent and s.limited)
        ) or (reason := _removal(req, sel, s.profile, ships[s.shipping])) is None:
            eligible.append(s)
        else:
            removed.append((s, reason))
    return eligible, removed


def _removal(
    req: RoutingRequest, sel: WarehouseSelector, w: WarehouseProfile, ship: ShipDay
) -> str | None:
    """The first feasibility filter that removes ``w``, in words; None when it passes them all.

    An urgent order (``URGENT_LEVELS``) needs a warehouse that ships today: one closed today
    by its calendar or past its cut-off is removed.
    """
    reason = None
    if not w.enabled:
        reason = "disabled"
    elif (excluded := req.excluded_warehouses.get(w.warehouse_id)) is not None:
        reason = excluded
    elif sel.include and w.code not in sel.include:
        reason = "not in the rule's warehouse list"
    elif w.code in sel.exclude:
        reason = "excluded by the rule"
    elif missing := [t for t in sel.require_tags if t not in w.tags]:
        reason = f"lacks required tag(s) {', '.join(missing)}"
    elif banned := [t for t in sel.exclude_tags if t in w.tags]:
        reason = f"has excluded tag(s) {', '.join(banned)}"
    elif w.channels and not ({req.facts.channel, req.channel_name} & w.channels):
        reason = f"does not serve channel {req.channel_name}"
    elif w.capacity_left is not None and w.capacity_left <= 0:
        reason = "no capacity left today"
    elif req.facts.service_level in URGENT_LEVELS and ship.late:
        reason = f"{ship.late} for a {req.facts.service_level} order"
    return reason


def _stock_rows(
    req: RoutingRequest, eligible: list[Site], skus: tuple[str, ...]
) -> tuple[list[tuple[int, ...]], dict[int, dict[str, str]]]:
    """Units of each of ``skus`` per eligible warehouse (0 where it may not ship it, less what
    it holds back from the order's channel), and the SKUs each one may not ship (by position
    in ``eligible``, SKUs sorted) with the reason."""
    m = len(skus)
    units = list(map(req.stock.get, product([s.warehouse_id for s in eligible], skus), repeat(0)))
    if units and min(units) < 0:
        units = [u if u > 0 else 0 for u in units]
    if buffered(req.warehouses, eligible):
        kind, name = req.facts.channel, req.channel_name
        for n, s in enumerate(eligible):
            if s.buffers and (held := held_back(s, kind, name)):
                units[n * m : n * m + m] = [max(u - held, 0) for u in units[n * m : n * m + m]]
    blocked: dict[int, dict[str, str]] = {}
    requirements = sorted(
        (sku, j, profile.requires)
        for j, sku in enumerate(skus)
        if (profile := req.skus.get(sku)) is not None and profile.requires
    )
    for n, s in enumerate(eligible if requirements else ()):
        tags = s.profile.tags
        for sku, j, need in requirements:
            if not need <= tags:
                blocked.setdefault(n, {})[sku] = f"needs {', '.join(sorted(need - tags))}"
                units[n * m + j] = 0
    return list(zip(*[iter(units)] * m, strict=True)), blocked


def _order_weight(req: RoutingRequest) -> float:
    total = 0.0
    for line in req.order.lines:
        profile = req.skus.get(line.sku)
        if profile is not None and profile.weight_kg:
            total += profile.weight_kg * line.quantity
    return total


def _scores(
    req: RoutingRequest,
    eligible: list[Site],
    rows: list[tuple[int, ...]],
    boosts: Mapping[str, int],
    ships: Mapping[Shipping, ShipDay],
) -> ScoreColumns:
    """Every eligible warehouse's value on each criterion, a column per criterion."""
    if boosts:
        priority = [float(s.profile.priority - boosts.get(s.code, 0)) for s in eligible]
    else:
        priority = [s.priority for s in eligible]
    if req.ship_to is None:
        km: list[float | None] = [None] * len(eligible)
    else:
        km = distances_km(prepare_point(req.ship_to), [s.point for s in eligible])
    weight = _order_weight(req)
    return ScoreColumns(
        priority,
        tenths(km),
        list(map(float, map(sum, rows))),
        [
            None if k is None or not s.bands else _cost(s.bands, k, weight)
            for s, k in zip(eligible, km, strict=True)
        ],
        [s.capacity for s in eligible],
        [next(iter(ships.values())).days] * len(eligible)
        if len(ships) == 1
        else [ships[s.shipping].days for s in eligible],
    )


def tenths(values: list[float | None]) -> list[float | None]:
    """``round(v, 1)`` of each value (None stays None): the very same floats, faster.

    CPython's ``round(v, 1)`` rounds the exact binary value half-even to one decimal through
    a decimal string (~0.3 us). ``round(10 * v) / 10`` rounds the product instead, whose
    error is far below 1e-6 here; so away from a tie (10v within 1e-6 of a half) both pick
    the same tenth, and the division is correctly rounded like the string's conversion.
    Near a tie, for zero (its sign), negative or huge values, the exact route is taken.
    """
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        scaled = v * 10.0
        tenth = round(scaled) if 0.0 < scaled < 1e9 else None
        if tenth is not None and abs(scaled - tenth) < 0.5 - 1e-6:  # exact: both below 2**53
            out.append(tenth / 10)
        else:
            out.append(round(v, 1))
    return out


def _cost(bands: tuple[RateBand, ...], km: float, weight: float) -> float | None:
    for band in bands:  # sorted by max_km
        if km <= band.max_km:
            return round(band.base + band.per_kg * weight, 2)
    return None  # beyond its furthest band: it does not ship that far


def _rank_order(chain: Sequence[str], eligible: list[Site], scores: ScoreColumns) -> list[int]:
    """Positions in ``eligible``, best first: the ranking chain, then code and id.

    One key column per criterion: a larger-is-better value is negated, and where some
    warehouse's value is unknown the column holds (0, value) or, for the unknown, (1, 0.0), so
    that it ranks after every known value (a column without unknowns orders the same bare).
    """
    columns: list[list[Any]] = []
    for criterion in chain:
        index = SCORE_INDEX.get(criterion)
        if index is None:
            continue  # fewest_shipments is the search's own objective
        column: list[Any] = scores[index]
        if criterion not in SMALLER_IS_BETTER:
            column = [None if v is None else -v for v in column]
        if criterion not in NEVER_UNKNOWN and None in column:
            column = [(1, 0.0) if v is None else (0, v) for v in column]
        columns.append(column)
    columns += ([s.code for s in eligible], [s.warehouse_id for s in eligible])
    keys = list(zip(*columns, strict=True))
    return sorted(range(len(keys)), key=keys.__getitem__)


def _limits(outcome: RuleOutcome, node_budget: int) -> SearchLimits:
    split = outcome.split
    max_shipments = 1 if split.mode == SplitMode.SHIP_COMPLETE else split.max_shipments
    return SearchLimits(
        max_shipments=max_shipments,
        allow_line_split=split.allow_line_split,
        ship_alone_skus=frozenset(split.ship_alone_skus),
        keep_together=tuple(frozenset(g) for g in split.keep_together),
        node_budget=node_budget,
    )


def _shipments(
    req: RoutingRequest, outcome: RuleOutcome, search: SearchResult, ranked: list[Site]
) -> tuple[tuple[Shipment, ...], str | None]:
    if not search.feasible:
        return (), None
    ids = [s.warehouse_id for s in ranked]
    shipments = tuple(
        Shipment(warehouse_id=wid, warehouse_code=ranked[ids.index(wid)].code, lines=lines)
        for wid, lines in search.shipments
    )
    minimum = outcome.split.min_value_per_extra_shipment
    value = req.facts.order_value
    if minimum is not None and len(shipments) > 1 and value is not None:
        needed = minimum * (len(shipments) - 1)
        if value < needed:
            return (), (
                f"{len(shipments)} shipments need an order value of at least {needed} "
                f"({minimum} per extra shipment); the order is worth {value}"
            )
    return shipments, None


def order_value(total: str | None) -> Decimal | None:
    """The canonical order's total as a Decimal, if it has one."""
    try:
        return None if total is None else Decimal(total)
    except ArithmeticError:
        return None
