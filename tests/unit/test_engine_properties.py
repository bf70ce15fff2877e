"""Properties of the rules-driven router (routing.engine.decide) over small random requests.

Requests are drawn from a small space: up to 6 lines over a few SKUs (so lines share SKUs),
up to 8 warehouses with random enabled flags, tags, channels, capacity, cut-offs and
locations, SKU tag requirements, and rule-set documents (parsed with ``parse_rule_set``)
whose default and optional rules vary the ranking chain, split policy, no-stock action and
warehouse filters. The effective outcome of the rules is read with ``routing.rules.evaluate``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, time
from decimal import Decimal
from itertools import combinations, product
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as hs

from omniroute.routing import RoutingPolicy, WarehouseCandidate, plan
from omniroute.routing.allocate import LineDemand, OrderDemand, Outcome, RoutingResult
from omniroute.routing.conditions import OrderFacts
from omniroute.routing.engine import (
    URGENT_LEVELS,
    RateBand,
    RoutingRequest,
    SkuProfile,
    WarehouseProfile,
    decide,
)
from omniroute.routing.geo import GeoLevel, GeoPoint
from omniroute.routing.rules import NoStockAction, RuleOutcome, SplitMode, evaluate, parse_rule_set

SKUS = ("A", "B", "C", "D")
TAGS = ("cold", "hazmat", "returns")
CHANNELS = ("shopify", "shop", "edi", "amazon")
CRITERIA = ("priority", "distance", "stock_depth", "shipping_cost", "capacity_headroom")
ZONES = ("UTC", "America/New_York", "America/Los_Angeles", "Europe/Berlin")
POINTS = (
    GeoPoint(40.75, -73.99, GeoLevel.POSTAL_CODE, "US 10001"),
    GeoPoint(42.36, -71.06, GeoLevel.POSTAL_CODE, "US 02108"),
    GeoPoint(34.05, -118.24, GeoLevel.CITY, "Los Angeles, US"),
    GeoPoint(37.77, -122.42, GeoLevel.REGION, "CA, US"),
)
NOWS = (
    datetime(2026, 11, 27, 3, 15, tzinfo=UTC),
    datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
    datetime(2026, 11, 27, 22, 45, tzinfo=UTC),
)
NO_STOCK = {
    NoStockAction.EXCEPTION: Outcome.NO_STOCK,
    NoStockAction.BACKORDER: Outcome.BACKORDER,
    NoStockAction.HOLD: Outcome.HOLD,
    NoStockAction.REJECT: Outcome.REJECT,
}
PROPERTY = settings(max_examples=150, deadline=None)

Stock = dict[tuple[int, str], int]


# --- strategies


def _subset(draw: hs.DrawFn, pool: tuple[str, ...] | list[str], max_size: int = 3) -> list[str]:
    return draw(hs.lists(hs.sampled_from(pool), max_size=max_size, unique=True)) if pool else []


def channels(draw: hs.DrawFn) -> frozenset[str]:
    return frozenset(_subset(draw, CHANNELS, 2))


@hs.composite
def warehouse_list(
    draw: hs.DrawFn, *, plain: bool = False, roomy: bool = False
) -> list[WarehouseProfile]:
    """1-8 warehouses with distinct ids; codes are occasionally shared.

    ``plain``: enabled, no channel, capacity or cut-off filter; ``roomy``: enabled, open.
    """
    open_only = plain or roomy
    count = draw(hs.integers(1, 8))
    ids = draw(hs.lists(hs.integers(1, 40), min_size=count, max_size=count, unique=True))
    houses = []
    for n, wid in enumerate(ids):
        code = draw(hs.sampled_from((f"W{n}", f"W{n}", f"W{n}", "DUP")))
        location = draw(hs.one_of(hs.none(), hs.sampled_from(POINTS)))
        rate_table: tuple[RateBand, ...] = ()
        if draw(hs.booleans()):
            rate_table = (
                RateBand(draw(hs.sampled_from((500.0, 5000.0))), draw(hs.integers(1, 9)), 0.5),
            )
        houses.append(
            WarehouseProfile(
                warehouse_id=wid,
                code=code,
                priority=draw(hs.integers(1, 4)),
                enabled=True if open_only else draw(hs.sampled_from((True,) * 5 + (False,))),
                tags=frozenset(_subset(draw, TAGS)),
                channels=frozenset() if open_only or draw(hs.integers(0, 3)) else channels(draw),
                location=location,
                capacity_left=draw(
                    hs.sampled_from((None, 5) if open_only else (None, None, 0, 5, 5, 5))
                ),
                cutoff_local_time=None
                if plain
                else draw(hs.sampled_from((None, None, "00:30", "12:00", "18:00"))),
                timezone=draw(hs.sampled_from(ZONES)),
                rate_table=rate_table,
            )
        )
    return houses


@hs.composite
def split_doc(draw: hs.DrawFn, skus: tuple[str, ...]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(hs.booleans()):
        doc["mode"] = draw(hs.sampled_from(("ship_complete", "split", "split")))
    if draw(hs.booleans()):
        doc["max_shipments"] = draw(hs.sampled_from((None, 1, 2, 3)))
    if draw(hs.booleans()):
        doc["allow_line_split"] = draw(hs.booleans())
    alone = _subset(draw, skus, 2)
    if alone:
        doc["ship_alone_skus"] = alone
    rest = [s for s in skus if s not in alone]
    group = hs.lists(hs.sampled_from(rest), min_size=2, max_size=3, unique=True)
    groups = draw(hs.lists(group, max_size=2)) if len(rest) >= 2 else []
    if groups:
        doc["keep_together"] = groups
    if draw(hs.integers(0, 5)) == 0:
        doc["min_value_per_extra_shipment"] = draw(hs.sampled_from(("0", "40", "150")))
    return doc


@hs.composite
def outcome_doc(draw: hs.DrawFn, codes: list[str], *, plain: bool, roomy: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(hs.booleans()):
        doc["ranking"] = draw(hs.lists(hs.sampled_from(CRITERIA), min_size=1, unique=True))
    if plain:
        return doc
    if draw(hs.booleans()):
        doc["split"] = draw(split_doc(SKUS))
    if draw(hs.booleans()):
        doc["on_no_stock"] = draw(hs.sampled_from([a.value for a in NoStockAction]))
    if not roomy and draw(hs.integers(0, 2)) == 0:
        include = _subset(draw, codes)
        exclude = _subset(draw, [c for c in codes if c not in include], 2)
        require = _subset(draw, TAGS, 1) if draw(hs.booleans()) else []
        banned = _subset(draw, [t for t in TAGS if t not in require], 1)
        selector = {
            key: value
            for key, value in (
                ("include", include),
                ("exclude", exclude),
                ("require_tags", require),
                ("exclude_tags", banned),
            )
            if value
        }
        doc["warehouses"] = selector
    if draw(hs.integers(0, 3)) == 0:
        doc["priority_boost"] = {code: draw(hs.integers(-5, 5)) for code in _subset(draw, codes)}
    return doc


CONDITIONS = (
    {"field": "service_level", "op": "eq", "value": "express"},
    {"field": "line_count", "op": "gte", "value": 3},
    {"field": "country", "op": "eq", "value": "US"},
    {"not": {"field": "sku", "op": "contains_any", "value": ["A"]}},
)


@hs.composite
def rule_doc(draw: hs.DrawFn, codes: list[str], *, plain: bool, roomy: bool) -> dict[str, Any]:
    rules = []
    for n in range(draw(hs.integers(0, 0 if plain else 2))):
        rules.append(
            {
                "id": f"r{n}",
                "when": draw(hs.sampled_from(CONDITIONS)),
                "then": draw(outcome_doc(codes, plain=plain, roomy=roomy)),
                "continue": draw(hs.booleans()),
            }
        )
    return {
        "name": "prop",
        "timezone": draw(hs.sampled_from(ZONES)),
        "default": draw(outcome_doc(codes, plain=plain, roomy=roomy)),
        "rules": rules,
    }


@hs.composite
def requests(draw: hs.DrawFn, *, plain: bool = False, roomy: bool = False) -> RoutingRequest:
    lines = draw(
        hs.lists(hs.tuples(hs.sampled_from(SKUS), hs.integers(1, 4)), min_size=1, max_size=6)
    )
    order = OrderDemand(7, tuple(LineDemand(n, s, q) for n, (s, q) in enumerate(lines, 1)))
    houses = draw(warehouse_list(plain=plain, roomy=roomy))
    stock: Stock = {}
    level = (
        hs.integers(1, 6)
        if roomy or draw(hs.booleans())
        else hs.one_of(hs.none(), hs.integers(0, 6))
    )
    for w in houses:
        for sku in SKUS:
            units = draw(level)  # None leaves the key out
            if units is not None:
                stock[(w.warehouse_id, sku)] = units
    skus = {}
    if not plain:
        for sku in _subset(draw, SKUS, 2):
            skus[sku] = SkuProfile(requires=frozenset(_subset(draw, TAGS, 2)), weight_kg=1.5)
    level = "standard" if plain else draw(hs.sampled_from(("standard", "express")))
    facts = OrderFacts(
        channel="shopify",
        connector_id=1,
        order_type="normal",
        country=draw(hs.sampled_from(("US", "CA"))),
        region=None,
        postal_code="10001",
        skus=tuple(s for s, _ in lines),
        sku_tags=frozenset(),
        line_count=len(lines),
        order_value=draw(hs.sampled_from((None, Decimal("30"), Decimal("100")))),
        currency="USD",
        service_level=level,
        customer_tags=frozenset(),
        order_tags=frozenset(),
    )
    doc = draw(rule_doc(sorted({w.code for w in houses}), plain=plain, roomy=roomy))
    return RoutingRequest(
        order=order,
        facts=facts,
        channel_name="shop",
        ship_to=draw(hs.one_of(hs.none(), hs.sampled_from(POINTS))),
        warehouses=houses,
        stock=stock,
        now=draw(hs.sampled_from(NOWS)),
        skus=skus,
        rule_set=parse_rule_set(doc),
        rule_set_label="prop",
    )


CASES = hs.one_of(requests(), requests(roomy=True))  # roomy: plans are common


# --- oracles


def effective(req: RoutingRequest) -> RuleOutcome:
    assert req.rule_set is not None
    return evaluate(req.rule_set, req.facts, req.now).outcome


def expected_eligible(req: RoutingRequest, w: WarehouseProfile, rules: RuleOutcome) -> bool:
    """Independent reading of the feasibility filters."""
    sel = rules.warehouses
    if not w.enabled or (sel.include and w.code not in sel.include) or w.code in sel.exclude:
        return False
    if not set(sel.require_tags) <= w.tags or set(sel.exclude_tags) & w.tags:
        return False
    if w.channels and not w.channels & {req.facts.channel, req.channel_name}:
        return False
    if w.capacity_left is not None and w.capacity_left <= 0:
        return False
    if req.facts.service_level in URGENT_LEVELS and w.cutoff_local_time:
        hours, minutes = map(int, w.cutoff_local_time.split(":"))
        if req.now.astimezone(ZoneInfo(w.timezone)).time() >= time(hours, minutes):
            return False
    return True


def may_ship(req: RoutingRequest, w: WarehouseProfile, sku: str) -> bool:
    profile = req.skus.get(sku)
    return profile is None or profile.requires <= w.tags


def usable_stock(req: RoutingRequest, rules: RuleOutcome) -> Stock:
    """Stock of the eligible warehouses, zero where a SKU's requirements are not met."""
    return {
        (w.warehouse_id, sku): max(0, req.stock.get((w.warehouse_id, sku), 0))
        for w in req.warehouses
        if expected_eligible(req, w, rules)
        for sku in SKUS
        if may_ship(req, w, sku)
    }


def allocated(result: RoutingResult) -> Counter[tuple[int, str]]:
    taken: Counter[tuple[int, str]] = Counter()
    for shipment in result.shipments:
        for alloc in shipment.lines:
            taken[(shipment.warehouse_id, alloc.sku)] += alloc.quantity
    return taken


def needs(order: OrderDemand) -> Counter[str]:
    total: Counter[str] = Counter()
    for line in order.lines:
        total[line.sku] += line.quantity
    return total


def candidates(result: RoutingResult) -> dict[int, dict[str, Any]]:
    return {c["warehouse_id"]: c for c in result.trace["candidates"]}


# --- properties


@PROPERTY
@given(CASES)
def test_never_allocates_more_than_available(req: RoutingRequest) -> None:
    result = decide(req)
    houses = {w.warehouse_id: w for w in req.warehouses}
    for shipment in result.shipments:
        assert shipment.warehouse_id in houses
        assert all(alloc.quantity > 0 for alloc in shipment.lines)
    for (wid, sku), units in allocated(result).items():
        assert units <= req.stock.get((wid, sku), 0)
        if not may_ship(req, houses[wid], sku):
            assert units <= 0, f"{sku} shipped from {wid} which lacks its required tags"


@PROPERTY
@given(CASES)
def test_a_plan_covers_every_line_within_the_split_policy(req: RoutingRequest) -> None:
    result = decide(req)
    if result.outcome not in (Outcome.SINGLE, Outcome.SPLIT):
        return
    rules = effective(req)
    split = rules.split
    lines = {line.line_id: line for line in req.order.lines}
    covered: Counter[int] = Counter()
    shipments_of: defaultdict[int, list[int]] = defaultdict(list)
    for n, shipment in enumerate(result.shipments):
        for alloc in shipment.lines:
            assert alloc.sku == lines[alloc.line_id].sku
            covered[alloc.line_id] += alloc.quantity
            shipments_of[alloc.line_id].append(n)
    assert covered == Counter({i: line.quantity for i, line in lines.items()})
    assert result.shortfall == ()
    assert (result.outcome is Outcome.SINGLE) == (len(result.shipments) == 1)

    trace = candidates(result)
    houses = {w.warehouse_id: w for w in req.warehouses}
    for shipment in result.shipments:
        assert trace[shipment.warehouse_id]["eligible"] is True
        assert houses[shipment.warehouse_id].enabled

    top = 1 if split.mode is SplitMode.SHIP_COMPLETE else split.max_shipments
    assert top is None or len(result.shipments) <= top

    for shipment in result.shipments:
        if any(alloc.sku in split.ship_alone_skus for alloc in shipment.lines):
            assert len(shipment.lines) == 1, f"ship-alone line shares {shipment}"
    for group in split.keep_together:
        where = {s.warehouse_id for s in result.shipments for a in s.lines if a.sku in set(group)}
        assert len(where) <= 1, f"keep-together {group} ships from {where}"
    if not split.allow_line_split:
        assert all(len(ns) == 1 for ns in shipments_of.values())
    if split.min_value_per_extra_shipment is not None and req.facts.order_value is not None:
        extra = split.min_value_per_extra_shipment * (len(result.shipments) - 1)
        assert req.facts.order_value >= extra


@PROPERTY
@given(CASES)
def test_no_plan_follows_the_no_stock_action(req: RoutingRequest) -> None:
    result = decide(req)
    if result.outcome in (Outcome.SINGLE, Outcome.SPLIT):
        assert result.shipments
        return
    assert result.shipments == ()
    assert result.trace["chosen"] == []
    if result.outcome is Outcome.CUTOFF_MISSED:
        # Urgent, and it would have a plan if the warehouses shipped today.
        assert req.facts.service_level in URGENT_LEVELS
        assert decide(no_cutoffs(req)).shipments
        return
    assert result.outcome is NO_STOCK[effective(req).on_no_stock]
    assert not decide(no_cutoffs(req)).shipments


def no_cutoffs(req: RoutingRequest) -> RoutingRequest:
    """``req`` with every warehouse shipping today: no cut-off, closed day or holiday."""
    lifted = [
        replace(w, cutoff_local_time=None, closed_weekdays=frozenset(), holidays=frozenset())
        for w in req.warehouses
    ]
    return replace(req, warehouses=lifted)


@PROPERTY
@given(CASES, hs.randoms(use_true_random=False))
def test_deterministic_and_independent_of_input_order(req: RoutingRequest, rnd: Any) -> None:
    first, second = decide(req), decide(req)
    assert first.outcome is second.outcome
    assert first.shipments == second.shipments
    assert json.dumps(first.trace, sort_keys=True) == json.dumps(second.trace, sort_keys=True)

    houses = list(req.warehouses)
    rnd.shuffle(houses)
    keys = list(req.stock)
    rnd.shuffle(keys)
    shuffled = RoutingRequest(
        **{**vars(req), "warehouses": houses, "stock": {k: req.stock[k] for k in keys}}
    )
    other = decide(shuffled)
    assert other.outcome is first.outcome
    assert other.shipments == first.shipments
    assert other.trace["chosen"] == first.trace["chosen"]
    assert json.dumps(other.trace, sort_keys=True) == json.dumps(first.trace, sort_keys=True)


@PROPERTY
@given(CASES)
def test_trace_is_json_and_lists_every_warehouse_once(req: RoutingRequest) -> None:
    result = decide(req)
    assert json.loads(json.dumps(result.trace)) == result.trace
    listed = [c["warehouse_id"] for c in result.trace["candidates"]]
    assert sorted(listed) == sorted(w.warehouse_id for w in req.warehouses)
    assert result.trace["chosen"] == [s.warehouse_code for s in result.shipments]
    assert result.trace["shipments"] == len(result.shipments)
    assert result.trace["outcome"] == result.outcome.value


@PROPERTY
@given(CASES)
def test_eligibility_matches_the_filters(req: RoutingRequest) -> None:
    """The trace's eligible flags agree with an independent reading of the filters."""
    result = decide(req)
    rules = effective(req)
    trace = candidates(result)
    for w in req.warehouses:
        c = trace[w.warehouse_id]
        assert c["eligible"] is expected_eligible(req, w, rules), c
        assert (c["removed_by"] is None) is c["eligible"]
        assert (c["rank"] is None) is (not c["eligible"])
    ranks = sorted(c["rank"] for c in trace.values() if c["eligible"])
    assert ranks == list(range(1, len(ranks) + 1))


@PROPERTY
@given(CASES)
def test_a_single_warehouse_holding_everything_is_used(req: RoutingRequest) -> None:
    """No ship-alone lines and one eligible warehouse can fill the order: the best-ranked such
    warehouse ships everything."""
    rules = effective(req)
    if any(line.sku in rules.split.ship_alone_skus for line in req.order.lines):
        return
    stock = usable_stock(req, rules)
    want = needs(req.order)
    fillers = [
        w.warehouse_id
        for w in req.warehouses
        if expected_eligible(req, w, rules)
        and all(stock.get((w.warehouse_id, sku), 0) >= q for sku, q in want.items())
    ]
    result = decide(req)
    if not fillers:
        assert result.outcome is not Outcome.SINGLE
        return
    assert result.outcome is Outcome.SINGLE
    trace = candidates(result)
    best = min(fillers, key=lambda wid: trace[wid]["rank"])
    assert result.shipments[0].warehouse_id == best


@PROPERTY
@given(CASES)
def test_short_pooled_stock_means_no_plan_and_a_shortfall(req: RoutingRequest) -> None:
    rules = effective(req)
    stock = usable_stock(req, rules)
    pooled: Counter[str] = Counter()
    for (_, sku), units in stock.items():
        pooled[sku] += units
    short = {sku: q - pooled[sku] for sku, q in needs(req.order).items() if pooled[sku] < q}
    result = decide(req)
    if not short:
        return
    if result.outcome is Outcome.CUTOFF_MISSED:  # the stock is there, on a later day
        assert decide(no_cutoffs(req)).shipments
        return
    assert result.outcome is NO_STOCK[rules.on_no_stock]
    missing: Counter[str] = Counter()
    for d in result.shortfall:
        missing[d.sku] += d.quantity
    assert dict(missing) == short


@PROPERTY
@given(requests(plain=True))
def test_proven_minimal_split_never_beats_greedy_on_shipments(req: RoutingRequest) -> None:
    result = decide(req)
    rules = effective(req)
    assert rules.split.mode is SplitMode.SPLIT and rules.split.max_shipments is None
    stock = usable_stock(req, rules)
    eligible = [w for w in req.warehouses if expected_eligible(req, w, rules)]
    greedy = plan(
        req.order,
        [WarehouseCandidate(w.warehouse_id, w.code, w.priority) for w in eligible],
        stock,
        RoutingPolicy(),
        req.now,
    )
    if greedy.outcome not in (Outcome.SINGLE, Outcome.SPLIT):
        assert result.outcome not in (Outcome.SINGLE, Outcome.SPLIT)
        return
    if not result.trace["search"]["proven_minimal"]:
        return
    assert result.outcome in (Outcome.SINGLE, Outcome.SPLIT)
    assert len(result.shipments) <= len(greedy.shipments)


# --- exhaustive oracle: the fewest shipments any plan under the split policy needs


def blocks_and_fluid(
    lines: list[LineDemand], rules: RuleOutcome
) -> tuple[list[Counter[str]], Counter[str]]:
    """Units that ship whole from one warehouse (keep-together groups, unsplittable lines),
    and the per-SKU units of the lines that may be split."""
    parts: list[set[int]] = []
    for group in rules.split.keep_together:
        part = {n for n, line in enumerate(lines) if line.sku in group}
        for other in [p for p in parts if p & part]:
            parts.remove(other)
            part |= other
        parts += [part] if part else []
    grouped = {n for part in parts for n in part}
    fluid: Counter[str] = Counter()
    for n, line in enumerate(lines):
        if n in grouped:
            continue
        if rules.split.allow_line_split:
            fluid[line.sku] += line.quantity
        else:
            parts.append({n})
    blocks: list[Counter[str]] = []
    for part in parts:
        blocks.append(Counter())
        for n in part:
            blocks[-1][lines[n].sku] += lines[n].quantity
    return blocks, fluid


def take(left: Stock, wid: int, units: Counter[str]) -> bool:
    if any(left.get((wid, sku), 0) < q for sku, q in units.items()):
        return False
    for sku, q in units.items():
        left[(wid, sku)] -= q
    return True


def feasible(
    stock: Stock,
    alone: list[tuple[int, Counter[str]]],
    combined: tuple[int, ...],
    blocks: list[tuple[int, Counter[str]]],
    fluid: Counter[str],
) -> bool:
    left = dict(stock)
    if not all(take(left, wid, units) for wid, units in [*alone, *blocks]):
        return False
    return all(sum(left.get((w, sku), 0) for w in combined) >= q for sku, q in fluid.items())


def fewest_shipments(req: RoutingRequest, rules: RuleOutcome) -> int | None:
    """Exhaustively: ship-alone lines one shipment each (any warehouse), the other lines in
    combined shipments from a set R of warehouses; None when no plan exists, -1 when there
    are too many to try."""
    alone_skus = set(rules.split.ship_alone_skus)
    alone = [Counter({ln.sku: ln.quantity}) for ln in req.order.lines if ln.sku in alone_skus]
    rest = [ln for ln in req.order.lines if ln.sku not in alone_skus]
    blocks, fluid = blocks_and_fluid(rest, rules)
    stock = usable_stock(req, rules)
    wids = sorted({wid for (wid, _), units in stock.items() if units > 0})
    if 2 ** len(wids) * len(wids) ** (len(alone) + len(blocks)) > 50_000:
        return -1  # too many plans to enumerate quickly
    for size in range(1 if rest else 0, len(wids) + 1):
        for combined in combinations(wids, size):
            for spots in product(wids, repeat=len(alone)):
                for homes in product(combined, repeat=len(blocks)):
                    if feasible(
                        stock,
                        list(zip(spots, alone, strict=True)),
                        combined,
                        list(zip(homes, blocks, strict=True)),
                        fluid,
                    ):
                        return size + len(alone)
    return None


@PROPERTY
@given(CASES)
def test_plans_exactly_when_one_exists_with_the_fewest_shipments(req: RoutingRequest) -> None:
    """Complete and minimal against exhaustive enumeration (small cases only)."""
    rules = effective(req)
    split = rules.split
    if any(set(group) & set(split.ship_alone_skus) for group in split.keep_together):
        return  # layered rules made a SKU both ship-alone and kept together: not modelled
    best = fewest_shipments(req, rules)
    if best == -1:
        return
    top = 1 if split.mode is SplitMode.SHIP_COMPLETE else split.max_shipments
    minimum, value = split.min_value_per_extra_shipment, req.facts.order_value
    if best is not None and top is not None and best > top:
        best = None
    if best is not None and minimum is not None and value is not None:
        best = None if value < minimum * (best - 1) else best
    result = decide(req)
    if best is None:
        if result.outcome is Outcome.CUTOFF_MISSED:  # a plan on a later day
            assert decide(no_cutoffs(req)).shipments
            return
        assert result.outcome is NO_STOCK[rules.on_no_stock]
        return
    assert result.outcome in (Outcome.SINGLE, Outcome.SPLIT), result.trace["summary"]
    if result.trace["search"]["proven_minimal"]:
        assert len(result.shipments) == best
