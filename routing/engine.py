"""The rules-driven router: rule evaluation, feasibility filters, ranking chain, minimum split.

Pure: everything it needs comes in a RoutingRequest (warehouse profiles with their
locations already geocoded, the stock snapshot, SKU requirements, the parsed rule set and
"now"); a RoutingResult with a full trace comes out. Applying it is the caller's business.

``warehouses`` may be a plain list of profiles or a :class:`~routing.warehouses.WarehouseSet`
prepared once for many decisions (same result, less work per decision). The eligible
warehouses are handled as columns (:class:`~routing.warehouses.Columns`); the scores and the
ranking are :mod:`routing.ranking`'s, the trace is assembled by :mod:`routing.tracing.trace`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from itertools import product, repeat
from typing import Any

from omniroute.routing.allocate import OrderDemand, Outcome, Promise, RoutingResult, Shipment
from omniroute.routing.conditions import OrderFacts
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
    settled_order,
    tenths,
)
from omniroute.routing.rules import (
    DEFAULT_OUTCOME,
    CutoffAction,
    Evaluation,
    RuleOutcome,
    RuleSet,
    SplitMode,
    SplitPolicy,
    WarehouseSelector,
    evaluate,
)
from omniroute.routing.search import SearchLimits, SearchResult
from omniroute.routing.tracing.explain import (
    Removal,
    Stock,
    Verdicts,
    late_candidates,
    missed_words,
)
from omniroute.routing.tracing.trace import build_result, permuter, promised
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
    day_begins,
    prepare_warehouses,
    ship_day,
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
    "shipping_cost",
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
    """Route one order: the plan (fewest shipments from the best-ranked warehouses) and why.

    An urgent order that no warehouse can ship today, though some could on a later day
    (past their cut-off, or closed today), follows the rules' ``on_cutoff_missed``
    (:func:`_after_cutoff`)."""
    if not req.order.lines:
        raise ValueError("an order without lines cannot be routed")
    evaluation = evaluate(req.rule_set or DEFAULT_RULES, req.facts, req.now)
    sites = sites_of(req.warehouses)
    ships = ship_days(req.warehouses, sites, req.now)  # once per calendar, not per warehouse
    every = columns_of(req.warehouses, sites)
    result = _decide(req, evaluation, sites, ships, every, urgent=_urgent(req))
    if result.shipments or not missed_today(req, result):
        return result
    later = _decide(
        req,
        replace(evaluation, outcome=soonest_first(evaluation.outcome)),
        sites,
        ships,
        every,
        urgent=False,
    )
    return _after_cutoff(req, evaluation.outcome, result, later, ships)


def _urgent(req: RoutingRequest) -> bool:
    return req.facts.service_level in URGENT_LEVELS


def _decide(
    req: RoutingRequest,
    evaluation: Evaluation,
    sites: Sequence[Site],
    ships: Mapping[Shipping, ShipDay],
    every: Columns,
    *,
    urgent: bool,
) -> RoutingResult:
    """The decision under ``evaluation``'s outcome; ``urgent``: only warehouses that ship
    today are eligible."""
    outcome = evaluation.outcome
    kept, removed = _eligibility(
        req, outcome.warehouses, sites, every, ships, matched=evaluation.matched, urgent=urgent
    )
    eligible = every if kept is None else columns([sites[n] for n in kept])
    skus = tuple(dict.fromkeys(line.sku for line in req.order.lines))  # first-appearance order
    units, blocked = _stock_rows(req, eligible, skus)
    rows = list(zip(*[iter(units)] * len(skus), strict=True))
    depths = list(map(float, map(sum, rows)))
    scores = _scores(req, eligible, depths, outcome.priority_boost, ships, kept=kept)
    order = _rank(req, outcome, scores, eligible, kept=kept)
    in_rank = permuter(order)
    ranked_ids: tuple[int, ...] = in_rank(eligible.ids)
    costs = None
    if not outcome.objective.shipments_only:
        costs = _costs(req, outcome, eligible, scores, in_rank, kept=kept)
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
    result = build_result(
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
    if not shipments:
        return result
    promise = promised(shipments, eligible, ships, req.facts.service_level)
    trace = result.trace
    trace["promise"] = promise.to_json()  # the trace is new: nobody has read it yet
    return RoutingResult(result.outcome, shipments, result.shortfall, trace, promise)


# Why-not reasons of a warehouse removed for not shipping an urgent order today.
LATE_REASONS = frozenset({"cutoff_missed", "calendar"})


def missed_today(req: RoutingRequest, result: RoutingResult) -> bool:
    """Whether an urgent order with no plan had warehouses removed for not shipping today."""
    return _urgent(req) and any(
        not c["eligible"] and c["why_not"]["reason"] in LATE_REASONS
        for c in result.trace["candidates"]
    )


def soonest_first(outcome: RuleOutcome) -> RuleOutcome:
    """``outcome`` ranking by ship date first: once today is missed, the soonest day wins."""
    rest = tuple(c for c in outcome.ranking if c != "ship_date")
    return replace(outcome, ranking=("ship_date", *rest))


def _after_cutoff(
    req: RoutingRequest,
    outcome: RuleOutcome,
    today: RoutingResult,
    later: RoutingResult,
    ships: Mapping[Shipping, ShipDay],
) -> RoutingResult:
    """An urgent order that found no plan among the warehouses shipping today (``today``)
    routed by the rules' ``on_cutoff_missed``, given the plan it would have on a later day
    (``later``: the same order with the cut-offs and closed days lifted, soonest first)."""
    if later.promise is None:
        return today  # not even on a later day: short of stock, the no-stock outcome stands
    action = outcome.on_cutoff_missed
    missed = late_candidates(today.trace["candidates"])
    level = req.facts.service_level
    earliest = later.promise.ship_by
    where = [s.warehouse_code for s in later.shipments]
    facts = {
        "action": action.value,
        "missed": missed,
        "earliest_ship_date": None if earliest is None else earliest.isoformat(),
        "earliest_from": where,
    }
    why = missed_words(level, missed)
    if action is CutoffAction.SHIP_NEXT_DAY:
        when = "on a day not yet known" if earliest is None else f"on {earliest.isoformat()}"
        summary = f"{later.trace['summary']} Ships {when}: {why}."
        return _noted(later, facts, summary)
    if action is CutoffAction.DOWNGRADE and outcome.downgrade_to not in URGENT_LEVELS:
        lower = decide(replace(req, facts=replace(req.facts, service_level=outcome.downgrade_to)))
        if lower.promise is not None:
            summary = f"{lower.trace['summary']} Routed as {outcome.downgrade_to}: {why}."
            used = {"ordered": level, "used": outcome.downgrade_to}
            return _noted(lower, facts | {"service_level": used}, summary)
    elif action is CutoffAction.HOLD and earliest is not None:
        keys = {s.warehouse_id: s.shipping for s in sites_of(req.warehouses)}
        until = max(day_begins(keys[s.warehouse_id], earliest) for s in later.shipments)
        again = [
            s.warehouse_code for s in later.shipments if _missed_at(keys[s.warehouse_id], until)
        ]
        if again:
            # A cut-off at the very start of the day (00:00) is missed again whenever the
            # hold ends: holding would never end, so it ships on its next day as if asked to.
            summary = (
                f"{later.trace['summary']} Ships on {earliest.isoformat()}: {why}; not held, "
                f"as {', '.join(again)} would miss its cut-off again when its day begins."
            )
            return _noted(later, facts | {"action": CutoffAction.SHIP_NEXT_DAY.value}, summary)
        promise = replace(later.promise, hold_until=until)
        summary = (
            f"{why}; held until {until:%Y-%m-%d %H:%M} UTC, when "
            f"{', '.join(where)} begins its next shipping day ({earliest.isoformat()}), "
            "then routed again."
        )
        held = facts | {"hold_until": until.isoformat()}
        return _parked(today, Outcome.HOLD, held, summary, promise)
    when = "" if earliest is None else f"; it could ship on {earliest} from {', '.join(where)}"
    summary = f"{why}{when}; exception ({Outcome.CUTOFF_MISSED.value})."
    return _parked(today, Outcome.CUTOFF_MISSED, facts, summary, None)


def _missed_at(key: Shipping, moment: datetime) -> bool:
    """Whether a warehouse with this calendar misses its cut-off for an order at ``moment``."""
    return ship_day(key, moment).cause == "cutoff_missed"


def _noted(result: RoutingResult, cutoff: dict[str, Any], summary: str) -> RoutingResult:
    """A plan made after the cut-off, with what was missed and why in its trace."""
    return replace(result, trace=result.trace | {"summary": summary, "cutoff": cutoff})


def _parked(
    today: RoutingResult,
    outcome: Outcome,
    cutoff: dict[str, Any],
    summary: str,
    promise: Promise | None,
) -> RoutingResult:
    """No plan today, parked by ``outcome`` (a hold or the cut-off exception), not short."""
    trace = today.trace | {
        "outcome": outcome.value,
        "shortfall": [],  # the stock is there, on a later day
        "summary": summary,
        "cutoff": cutoff,
        "promise": None if promise is None else promise.to_json(),
    }
    return RoutingResult(outcome=outcome, shipments=(), shortfall=(), trace=trace, promise=promise)


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
    urgent: bool,
) -> tuple[list[int] | None, list[tuple[Site, Removal]]]:
    """Positions in ``sites`` of the warehouses that pass every feasibility filter (None: all
    of them), and the others with the reason. ``urgent``: a warehouse must ship today."""
    # Warehouses the caller excludes are rare: when there are some, no fast path.
    selective = bool(
        sel.include
        or sel.exclude
        or sel.require_tags
        or sel.exclude_tags
        or req.excluded_warehouses
    )
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
        ) or (
            reason := _removal(req, sel, s.profile, ships[s.shipping], matched, urgent=urgent)
        ) is None:
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
    *,
    urgent: bool,
) -> Removal | None:
    """The first feasibility filter that removes ``w``, in words and as a filter name with
    what it found; None when it passes them all. ``matched``: the rules applied, to name the
    one whose warehouse list removed it.

    An urgent order (``URGENT_LEVELS``; ``urgent`` false once the cut-off was missed by
    every warehouse and the rules let it ship later) needs a warehouse that ships today: one
    closed today by its calendar or past its cut-off is removed.
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
    if urgent and ship.late:
        return _late(req.facts.service_level, w, ship)
    return None


def _late(level: str, w: WarehouseProfile, ship: ShipDay) -> Removal:
    """Why a warehouse that does not ship today is removed for an urgent order; a missed
    cut-off names its time and time zone."""
    detail: dict[str, str | None] = {"service_level": level, "ships": ship.iso}
    if ship.cause == "cutoff_missed":
        detail |= {"cutoff": w.cutoff_local_time, "timezone": w.timezone}
    return Removal(f"{ship.late} for a {level} order", ship.cause or "calendar", detail)


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


def _rank(
    req: RoutingRequest,
    outcome: RuleOutcome,
    scores: ScoreColumns,
    eligible: Columns,
    *,
    kept: list[int] | None,
) -> list[int]:
    """The eligible warehouses' positions best first (``ranking.rank_order``). With every
    warehouse of a prepared set eligible, a ranking that the per-order criteria cannot
    change (``ranking.settled_order``) is remembered by the set for the next orders."""
    houses = req.warehouses
    if kept is None and isinstance(houses, WarehouseSet):
        to = req.ship_to
        key = (None if to is None else (to.lat, to.lon), outcome.ranking, outcome.priority_boost)
        settled = houses.ranked(
            key, lambda: settled_order(outcome.ranking, scores, eligible.by_code)
        )
        if settled is not None:
            return list(settled)
    return rank_order(outcome.ranking, scores, eligible.by_code)


def _order_weight(req: RoutingRequest) -> float:
    total = 0.0
    for line in req.order.lines:
        profile = req.skus.get(line.sku)
        if profile is not None and profile.weight_kg:
            total += profile.weight_kg * line.quantity
    return total


def _distances(
    req: RoutingRequest, eligible: Columns, kept: list[int] | None, *, tenths: bool
) -> list[float | None]:
    """The distances (in km, or rounded to tenths) from the ship-to to each eligible
    warehouse: a prepared set's remembered ones (``kept``: the eligible positions in it;
    None: all of them), else worked out now."""
    assert req.ship_to is not None  # noqa: S101 - the callers check
    houses = req.warehouses
    if isinstance(houses, WarehouseSet):
        every = (
            houses.distances_in_tenths(req.ship_to) if tenths else houses.distances_km(req.ship_to)
        )
        if kept is None:
            return every
        return [every[n] for n in kept]
    origin = prepare_point(req.ship_to)
    if tenths:
        return distances_in_tenths(origin, eligible.points)
    return distances_km(origin, eligible.points)


def _scores(
    req: RoutingRequest,
    eligible: Columns,
    depths: list[float],
    boosts: Sequence[tuple[str, int]],
    ships: Mapping[Shipping, ShipDay],
    *,
    kept: list[int] | None,
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
        distance = _distances(req, eligible, kept, tenths=True)
        if eligible.located:
            known.append("distance")
        if eligible.priced:
            km = _distances(req, eligible, kept, tenths=False)
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


def shipping_cost(req: RoutingRequest, warehouse: WarehouseProfile) -> float | None:
    """What the ``shipping_cost`` criterion scores for shipping ``req``'s whole order from
    ``warehouse``: its rate-table band for the distance, base + per kg x the order's weight
    (SKU weights). None when the ship-to or the warehouse is not placed, the warehouse has no
    rate table, or it does not ship that far."""
    if req.ship_to is None or warehouse.location is None or not warehouse.rate_table:
        return None
    origin = prepare_point(req.ship_to)
    (km,) = distances_km(origin, [prepare_point(warehouse.location)])
    if km is None:
        return None
    bands = tuple(sorted(warehouse.rate_table, key=lambda band: band.max_km))
    return _cost(bands, km, _order_weight(req))


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
    *,
    kept: list[int] | None,
) -> Costs:
    """The objective's coefficients per eligible warehouse, in rank order."""
    km: Sequence[float | None] = scores.distance
    if req.ship_to is not None and outcome.objective.cost:
        km = _distances(req, eligible, kept, tenths=False)  # the bands' own km
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
