"""The rules-driven router: rule evaluation, feasibility filters, ranking chain, minimum split.

Pure: everything it needs comes in a RoutingRequest (warehouse profiles with their
locations already geocoded, the stock snapshot, SKU requirements, the parsed rule set and
"now"); a RoutingResult with a full trace comes out. Applying it is the caller's business.

``warehouses`` may be a plain list of profiles or a :class:`~routing.warehouses.WarehouseSet`
prepared once for many decisions (same result, less work per decision). The eligible
warehouses are handled as columns (:class:`~routing.warehouses.Columns`); the scores and the
ranking are :mod:`routing.ranking`'s, the trace is assembled by :mod:`routing.trace`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import product, repeat
from typing import Any

from omniroute.routing.allocate import OrderDemand, RoutingResult, Shipment
from omniroute.routing.conditions import OrderFacts
from omniroute.routing.explain import Removal, Stock, Verdicts
from omniroute.routing.geo import GeoPoint, distances_km, prepare_point
from omniroute.routing.optimise import (
    DEFAULT_TIME_LIMIT,
    EXACT_MAX_LINES,
    Costs,
    plan_split,
    shipment_costs,
)
from omniroute.routing.ranking import (
    SMALLER_IS_BETTER,
    ScoreColumns,
    distances_in_tenths,
    rank_order,
    tenths,
)
from omniroute.routing.rules import (
    DEFAULT_OUTCOME,
    RuleOutcome,
    RuleSet,
    SplitMode,
    SplitPolicy,
    WarehouseSelector,
    evaluate,
)
from omniroute.routing.search import SearchLimits, SearchResult
from omniroute.routing.trace import build_result, permuter
from omniroute.routing.warehouses import (
    Columns,
    RateBand,
    ShipDay,
    Shipping,
    Site,
    SkuProfile,
    WarehouseProfile,
    WarehouseSet,
    channel_buffer,
    columns,
    columns_of,
    prepare_warehouses,
    ship_days,
    sites_of,
)

# The profile types moved to routing.warehouses, tenths to routing.ranking; they stay
# importable from here.
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
    "tenths",
]

URGENT_LEVELS = frozenset({"express", "same_day"})
DEFAULT_RULES = RuleSet(name="default", timezone="UTC", rules=(), default=DEFAULT_OUTCOME)


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
    # Seconds HiGHS may spend on one decision (routing.optimise), when it runs at all.
    optimiser_time_limit: float = DEFAULT_TIME_LIMIT


def decide(req: RoutingRequest) -> RoutingResult:
    """Route one order: the plan (fewest shipments from the best-ranked warehouses) and why."""
    if not req.order.lines:
        raise ValueError("an order without lines cannot be routed")
    evaluation = evaluate(req.rule_set or DEFAULT_RULES, req.facts, req.now)
    outcome = evaluation.outcome
    sites = sites_of(req.warehouses)
    ships = ship_days(req.warehouses, sites, req.now)  # once per calendar, not per warehouse
    every = columns_of(req.warehouses, sites)
    kept, removed = _eligibility(
        req, outcome.warehouses, sites, every, ships, matched=evaluation.matched
    )
    eligible = every if kept is None else columns([sites[n] for n in kept])
    skus = tuple(dict.fromkeys(line.sku for line in req.order.lines))  # first-appearance order
    units, blocked = _stock_rows(req, eligible, skus)
    rows = list(zip(*[iter(units)] * len(skus), strict=True))
    scores = _scores(req, eligible, list(map(float, map(sum, rows))), outcome.priority_boost, ships)
    order = rank_order(outcome.ranking, scores, eligible.by_code)
    in_rank = permuter(order)
    ranked_ids: tuple[int, ...] = in_rank(eligible.ids)
    costs = None
    if not outcome.objective.shipments_only:
        costs = _costs(req, outcome, eligible, scores, in_rank)
    optimised = plan_split(
        req.order.lines,
        ranked_ids,
        in_rank(rows),
        _limits(outcome, req.node_budget),
        objective=outcome.objective,
        costs=costs,
        time_limit=req.optimiser_time_limit,
    )
    search = optimised.search
    shipments, policy_block = _shipments(req, outcome, search, eligible)
    verdicts = Verdicts(
        eligible=eligible,
        scores=scores,
        blocked=blocked,
        order=order,
        removed=sorted(removed, key=lambda entry: (entry[0].code, entry[0].warehouse_id))
        if len(removed) > 1
        else removed,
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
        order_value=_value_entry(req.facts),
        address=(req.facts.country, req.facts.postal_code),
        optimiser=optimised.report,
    )


def _value_entry(facts: OrderFacts) -> dict[str, str | None]:
    """The trace's order value: the figure, its currency, and whether the channel gave it,
    it was computed from the lines (``routing.valuation``) or it is missing."""
    value = facts.order_value
    return {
        "value": None if value is None else str(value),
        "currency": facts.currency,
        "source": "missing" if value is None else facts.order_value_source,
    }


def _eligibility(
    req: RoutingRequest,
    sel: WarehouseSelector,
    sites: Sequence[Site],
    every: Columns,
    ships: Mapping[Shipping, ShipDay],
    *,
    matched: tuple[str, ...],
) -> tuple[list[int] | None, list[tuple[Site, Removal]]]:
    """Positions in ``sites`` of the warehouses that pass every feasibility filter (None: all
    of them), and the others with the reason."""
    # Warehouses the caller excludes are rare: when there are some, no fast path.
    selective = bool(
        sel.include
        or sel.exclude
        or sel.require_tags
        or sel.exclude_tags
        or req.excluded_warehouses
    )
    urgent = req.facts.service_level in URGENT_LEVELS
    if (
        not selective
        and every.all_open
        and not every.any_channels
        and not (urgent and every.any_limited)
    ):
        return None, []  # nothing can remove any of them
    served = (req.facts.channel, req.channel_name)
    kept: list[int] = []
    removed: list[tuple[Site, Removal]] = []
    for n, s in enumerate(sites):
        # Fast path: nothing can remove it; anything else is read by _removal in full.
        if (
            s.open
            and not selective
            and (not s.channels or not s.channels.isdisjoint(served))
            and not (urgent and s.limited)
        ) or (reason := _removal(req, sel, s.profile, ships[s.shipping], matched)) is None:
            kept.append(n)
        else:
            removed.append((s, reason))
    return (None if not removed else kept), removed


def _removal(  # noqa: PLR0911 - one return per filter, in the order they are applied
    req: RoutingRequest,
    sel: WarehouseSelector,
    w: WarehouseProfile,
    ship: ShipDay,
    matched: tuple[str, ...],
) -> Removal | None:
    """The first feasibility filter that removes ``w``, in words and as a filter name with
    what it found; None when it passes them all. ``matched``: the rules applied, to name the
    one whose warehouse list removed it.

    An urgent order (``URGENT_LEVELS``) needs a warehouse that ships today: one closed today
    by its calendar or past its cut-off is removed.
    """
    if not w.enabled:
        return Removal("disabled", "disabled", {})
    if (excluded := req.excluded_warehouses.get(w.warehouse_id)) is not None:
        return Removal(excluded, "excluded", {})
    if sel.include and w.code not in sel.include:
        rule = _rule_of(req.rule_set, matched, lambda s: bool(s.include))
        return Removal("not in the rule's warehouse list", "rule_include", {"rule": rule})
    if w.code in sel.exclude:
        rule = _rule_of(req.rule_set, matched, lambda s: w.code in s.exclude)
        return Removal("excluded by the rule", "rule_exclude", {"rule": rule})
    if missing := [t for t in sel.require_tags if t not in w.tags]:
        rule = _rule_of(req.rule_set, matched, lambda s: bool(set(missing) & set(s.require_tags)))
        return Removal(
            f"lacks required tag(s) {', '.join(missing)}",
            "capability",
            {"missing": missing, "rule": rule},
        )
    if banned := [t for t in sel.exclude_tags if t in w.tags]:
        rule = _rule_of(req.rule_set, matched, lambda s: bool(set(banned) & set(s.exclude_tags)))
        return Removal(
            f"has excluded tag(s) {', '.join(banned)}",
            "rule_exclude_tags",
            {"tags": banned, "rule": rule},
        )
    if w.channels and not ({req.facts.channel, req.channel_name} & w.channels):
        return Removal(
            f"does not serve channel {req.channel_name}",
            "channel",
            {"channel": req.channel_name, "serves": sorted(w.channels)},
        )
    if w.capacity_left is not None and w.capacity_left <= 0:
        return Removal("no capacity left today", "capacity", {"capacity_left": w.capacity_left})
    if req.facts.service_level in URGENT_LEVELS and ship.late:
        return Removal(
            f"{ship.late} for a {req.facts.service_level} order",
            ship.cause or "calendar",
            {"service_level": req.facts.service_level, "ships": ship.iso},
        )
    return None


def _rule_of(
    rule_set: RuleSet | None,
    matched: tuple[str, ...],
    states: Callable[[WarehouseSelector], bool],
) -> str:
    """The last applied rule whose warehouse selector ``states`` it; else the rule set's
    ``default`` (where a selector stated there comes from)."""
    if rule_set is not None:
        selectors = {rule.id: rule.then.warehouses for rule in rule_set.rules}
        for rule_id in reversed(matched):
            sel = selectors.get(rule_id)
            if sel is not None and states(sel):
                return rule_id
    return "default"


def _stock_rows(
    req: RoutingRequest, eligible: Columns, skus: tuple[str, ...]
) -> tuple[list[int], dict[int, dict[str, str]]]:
    """Units of each of ``skus`` per eligible warehouse, flat (``len(skus)`` per warehouse; 0
    where it may not ship it, less what it holds back from the order's channel), and the SKUs
    each one may not ship (by position in ``eligible``, SKUs sorted) with the reason."""
    m = len(skus)
    units = list(map(req.stock.get, product(eligible.ids, skus), repeat(0)))
    if units and min(units) < 0:
        units = [u if u > 0 else 0 for u in units]
    if eligible.buffered:
        kind, name = req.facts.channel, req.channel_name
        for n, buffers in enumerate(eligible.buffers):
            if buffers and (held := channel_buffer(dict(buffers), kind, name)):
                units[n * m : n * m + m] = [max(u - held, 0) for u in units[n * m : n * m + m]]
    blocked: dict[int, dict[str, str]] = {}
    requirements = (
        sorted(
            (sku, j, profile.requires)
            for j, sku in enumerate(skus)
            if (profile := req.skus.get(sku)) is not None and profile.requires
        )
        if req.skus
        else ()
    )
    for n, house in enumerate(eligible.profiles if requirements else ()):
        tags = house.tags
        for sku, j, need in requirements:
            if not need <= tags:
                blocked.setdefault(n, {})[sku] = f"needs {', '.join(sorted(need - tags))}"
                units[n * m + j] = 0
    return units, blocked


def _order_weight(req: RoutingRequest) -> float:
    total = 0.0
    for line in req.order.lines:
        profile = req.skus.get(line.sku)
        if profile is not None and profile.weight_kg:
            total += profile.weight_kg * line.quantity
    return total


def _scores(
    req: RoutingRequest,
    eligible: Columns,
    depths: list[float],
    boosts: Sequence[tuple[str, int]],
    ships: Mapping[Shipping, ShipDay],
) -> ScoreColumns:
    """Every eligible warehouse's value on each criterion, a column per criterion."""
    n = len(depths)
    uniform: list[str] = []
    known: list[str] = []
    if boosts:
        boost = dict(boosts)
        priority: Sequence[float] = [
            float(p.priority - boost.get(code, 0))
            for p, code in zip(eligible.profiles, eligible.codes, strict=True)
        ]
    else:
        priority = eligible.priorities
    cost: Sequence[float | None]
    if req.ship_to is None:
        km: Sequence[float | None] = [None] * n
        distance, cost = km, km
        uniform += ("distance", "shipping_cost")
    else:
        origin = prepare_point(req.ship_to)
        distance = distances_in_tenths(origin, eligible.points)
        if eligible.located:
            known.append("distance")
        if eligible.priced:
            km = distances_km(origin, eligible.points)
            weight = _order_weight(req)
            cost = [
                None if k is None or not bands else _cost(bands, k, weight)
                for bands, k in zip(eligible.bands, km, strict=True)
            ]
        else:
            cost = [None] * n
            uniform.append("shipping_cost")
    if not eligible.capped:
        uniform.append("capacity_headroom")
    if len(ships) == 1:
        days: Sequence[float | None] = [next(iter(ships.values())).days] * n
        uniform.append("ship_date")
    else:
        days = [ships[key].days for key in eligible.shipping]
    return ScoreColumns(
        priority,
        distance,
        depths,
        cost,
        eligible.capacities,
        days,
        frozenset(uniform),
        frozenset(known),
        eligible.integral,
    )


def _cost(bands: tuple[RateBand, ...], km: float, weight: float) -> float | None:
    for band in bands:  # sorted by max_km
        if km <= band.max_km:
            return round(band.base + band.per_kg * weight, 2)
    return None  # beyond its furthest band: it does not ship that far


def _limits(outcome: RuleOutcome, node_budget: int) -> SearchLimits:
    return _search_limits(outcome.split, node_budget)


@functools.lru_cache(maxsize=256)
def _search_limits(split: SplitPolicy, node_budget: int) -> SearchLimits:
    """The search's limits under a split policy; few policies recur, so made once each."""
    max_shipments = 1 if split.mode == SplitMode.SHIP_COMPLETE else split.max_shipments
    return SearchLimits(
        max_shipments=max_shipments,
        allow_line_split=split.allow_line_split,
        ship_alone_skus=frozenset(split.ship_alone_skus),
        keep_together=tuple(frozenset(g) for g in split.keep_together),
        node_budget=node_budget,
        exact_max_lines=EXACT_MAX_LINES,
    )


def _costs(
    req: RoutingRequest,
    outcome: RuleOutcome,
    eligible: Columns,
    scores: ScoreColumns,
    in_rank: Callable[[Sequence[Any]], tuple[Any, ...]],
) -> Costs:
    """The objective's coefficients per eligible warehouse, in rank order."""
    km: Sequence[float | None] = scores.distance
    if req.ship_to is not None and outcome.objective.cost:
        km = distances_km(prepare_point(req.ship_to), eligible.points)  # the bands' own km
    kg = {sku: p.weight_kg or 0.0 for sku, p in req.skus.items()}
    return shipment_costs(
        outcome.objective,
        distance_km=in_rank(km),
        bands=in_rank(eligible.bands),
        capacity_left=in_rank(eligible.capacities),
        kg=kg,
    )


def _shipments(
    req: RoutingRequest,
    outcome: RuleOutcome,
    search: SearchResult,
    eligible: Columns,
) -> tuple[tuple[Shipment, ...], str | None]:
    if not search.feasible:
        return (), None
    ids, codes = eligible.ids, eligible.codes
    shipments = tuple(
        Shipment(warehouse_id=wid, warehouse_code=codes[ids.index(wid)], lines=lines)
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
