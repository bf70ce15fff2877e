"""Properties of the default routing policy over small random orders and stock snapshots."""

import json
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as hs

from omniroute.routing import (
    LineDemand,
    NoStockPolicy,
    OrderDemand,
    Outcome,
    RoutingPolicy,
    RoutingResult,
    WarehouseCandidate,
    plan,
)

NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
SKUS = ("A", "B", "C")
Stock = dict[tuple[int, str], int]
Scenario = tuple[OrderDemand, list[WarehouseCandidate], Stock, RoutingPolicy]


@hs.composite
def orders(draw: hs.DrawFn, max_qty: int = 6) -> OrderDemand:
    line = hs.tuples(hs.sampled_from(SKUS), hs.integers(1, max_qty))
    lines = draw(hs.lists(line, min_size=1, max_size=4))
    return OrderDemand(1, tuple(LineDemand(n, sku, qty) for n, (sku, qty) in enumerate(lines, 1)))


@hs.composite
def warehouse_sets(draw: hs.DrawFn) -> list[WarehouseCandidate]:
    count = draw(hs.integers(0, 5))
    return [
        WarehouseCandidate(
            warehouse_id=wid,
            code=draw(hs.sampled_from(("EAST", "WEST", "HUB"))),  # duplicates on purpose
            priority=draw(hs.integers(1, 3)),
            enabled=draw(hs.sampled_from((True, True, True, False))),
        )
        for wid in range(1, count + 1)
    ]


@hs.composite
def scenarios(draw: hs.DrawFn) -> Scenario:
    demand = draw(orders())
    warehouses = draw(warehouse_sets())
    stock: Stock = {}
    for key in [(w.warehouse_id, sku) for w in warehouses for sku in SKUS]:
        qty = draw(hs.one_of(hs.none(), hs.integers(-2, 8)))  # None leaves the key out
        if qty is not None:
            stock[key] = qty
    policy = RoutingPolicy(
        allow_split=draw(hs.booleans()),
        allow_line_split=draw(hs.booleans()),
        on_no_stock=draw(hs.sampled_from(NoStockPolicy)),
    )
    return demand, warehouses, stock, policy


@hs.composite
def split_prone(draw: hs.DrawFn) -> Scenario:
    """Several enabled warehouses, each holding a little of everything: splits are common."""
    demand = draw(orders(max_qty=4))
    count = draw(hs.integers(2, 5))
    warehouses = [
        WarehouseCandidate(wid, f"W{draw(hs.integers(1, 3))}", draw(hs.integers(1, 3)))
        for wid in range(1, count + 1)
    ]
    stock = {(w.warehouse_id, sku): draw(hs.integers(0, 5)) for w in warehouses for sku in SKUS}
    policy = RoutingPolicy(allow_line_split=draw(hs.booleans()))
    return demand, warehouses, stock, policy


CASES = hs.one_of(scenarios(), split_prone())
PROPERTY = settings(max_examples=200, deadline=None)


def available(stock: Stock, wid: int, sku: str) -> int:
    return max(0, stock.get((wid, sku), 0))


def needs(demand: OrderDemand) -> Counter[str]:
    total: Counter[str] = Counter()
    for line in demand.lines:
        total[line.sku] += line.quantity
    return total


def can_fill(demand: OrderDemand, w: WarehouseCandidate, stock: Stock) -> bool:
    return all(available(stock, w.warehouse_id, sku) >= n for sku, n in needs(demand).items())


def pooled_short(demand: OrderDemand, warehouses: list[WarehouseCandidate], stock: Stock) -> bool:
    enabled = [w for w in warehouses if w.enabled]
    return any(
        sum(available(stock, w.warehouse_id, sku) for w in enabled) < n
        for sku, n in needs(demand).items()
    )


def run(case: Scenario) -> RoutingResult:
    demand, warehouses, stock, policy = case
    return plan(demand, warehouses, stock, policy, NOW)


@PROPERTY
@given(CASES)
def test_never_allocates_more_than_available(case: Scenario) -> None:
    _, warehouses, stock, _ = case
    result = run(case)
    taken: Counter[tuple[int, str]] = Counter()
    for shipment in result.shipments:
        for alloc in shipment.lines:
            assert alloc.quantity > 0
            taken[(shipment.warehouse_id, alloc.sku)] += alloc.quantity
    for (wid, sku), qty in taken.items():
        assert qty <= available(stock, wid, sku)
    enabled = {w.warehouse_id for w in warehouses if w.enabled}
    ids = [s.warehouse_id for s in result.shipments]
    assert set(ids) <= enabled
    assert len(ids) == len(set(ids))
    assert all(s.lines for s in result.shipments)


@PROPERTY
@given(CASES)
def test_routed_orders_cover_every_line_exactly(case: Scenario) -> None:
    demand, warehouses, _, policy = case
    result = run(case)
    if result.outcome not in (Outcome.SINGLE, Outcome.SPLIT):
        return
    covered: Counter[int] = Counter()
    places: Counter[int] = Counter()
    for shipment in result.shipments:
        for alloc in shipment.lines:
            covered[alloc.line_id] += alloc.quantity
            places[alloc.line_id] += 1
    assert covered == Counter({line.line_id: line.quantity for line in demand.lines})
    assert result.shortfall == ()
    if result.outcome is Outcome.SINGLE:
        assert len(result.shipments) == 1
    else:
        assert policy.allow_split
        units = sum(line.quantity for line in demand.lines)
        assert 2 <= len(result.shipments) <= min(len(warehouses), units)
    if not policy.allow_line_split:
        assert all(n == 1 for n in places.values())
        assert len(result.shipments) <= len(demand.lines)


@PROPERTY
@given(CASES)
def test_unrouted_orders_have_no_shipments_and_a_real_shortfall(case: Scenario) -> None:
    demand, warehouses, stock, policy = case
    result = run(case)
    if result.outcome in (Outcome.SINGLE, Outcome.SPLIT):
        return
    expected = (
        Outcome.BACKORDER if policy.on_no_stock is NoStockPolicy.BACKORDER else (Outcome.NO_STOCK)
    )
    assert result.outcome is expected
    assert result.shipments == ()
    assert sum(d.quantity for d in result.shortfall) > 0
    by_id = {line.line_id: line for line in demand.lines}
    for missing in result.shortfall:
        assert 0 < missing.quantity <= by_id[missing.line_id].quantity
        assert missing.sku == by_id[missing.line_id].sku
    assert (
        pooled_short(demand, warehouses, stock)
        or not policy.allow_split
        or not policy.allow_line_split
    )


@PROPERTY
@given(CASES)
def test_with_full_splitting_only_a_real_pooled_shortage_stops_routing(case: Scenario) -> None:
    demand, warehouses, stock, policy = case
    if not (policy.allow_split and policy.allow_line_split):
        return
    result = run(case)
    short = pooled_short(demand, warehouses, stock)
    assert (result.outcome in (Outcome.NO_STOCK, Outcome.BACKORDER)) == short
    if short:
        left = {
            sku: sum(available(stock, w.warehouse_id, sku) for w in warehouses if w.enabled)
            for sku in SKUS
        }
        expected = []
        for line in demand.lines:
            got = min(left[line.sku], line.quantity)
            left[line.sku] -= got
            if got < line.quantity:
                expected.append(LineDemand(line.line_id, line.sku, line.quantity - got))
        assert result.shortfall == tuple(expected)


@PROPERTY
@given(CASES)
def test_single_exactly_when_some_enabled_warehouse_fills_the_order(case: Scenario) -> None:
    demand, warehouses, stock, _ = case
    result = run(case)
    fillers = [w for w in warehouses if w.enabled and can_fill(demand, w, stock)]
    assert (result.outcome is Outcome.SINGLE) == bool(fillers)
    if fillers:
        best = min(
            fillers,
            key=lambda w: (
                w.priority,
                -sum(available(stock, w.warehouse_id, sku) for sku in needs(demand)),
                w.code,
                w.warehouse_id,
            ),
        )
        assert result.shipments[0].warehouse_id == best.warehouse_id


@PROPERTY
@given(CASES)
def test_deterministic_and_independent_of_input_order(case: Scenario) -> None:
    demand, warehouses, stock, policy = case
    first = run(case)
    again = run(case)
    shuffled = plan(demand, warehouses[::-1], dict(reversed(list(stock.items()))), policy, NOW)
    assert first == again == shuffled
    assert json.loads(json.dumps(first.trace)) == first.trace
    assert first.trace["chosen"] == [s.warehouse_code for s in first.shipments]
    assert len(first.trace["candidates"]) == len(warehouses)
