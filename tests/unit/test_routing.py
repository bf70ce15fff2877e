"""Examples of the default routing policy, built from plain objects."""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from omniroute.routing import (
    POLICY_NAME,
    LineAllocation,
    LineDemand,
    NoStockPolicy,
    OrderDemand,
    Outcome,
    RoutingPolicy,
    RoutingResult,
    Shipment,
    WarehouseCandidate,
    plan,
)

NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
EAST = WarehouseCandidate(1, "EAST", priority=1)
WEST = WarehouseCandidate(2, "WEST", priority=5)
NORTH = WarehouseCandidate(3, "NORTH", priority=1)


def order(*lines: tuple[str, int]) -> OrderDemand:
    """An order whose line ids are 1, 2, ... in the given order."""
    return OrderDemand(100, tuple(LineDemand(n, sku, qty) for n, (sku, qty) in enumerate(lines, 1)))


def run(
    demand: OrderDemand,
    warehouses: Sequence[WarehouseCandidate],
    stock: Mapping[tuple[int, str], int],
    **policy: Any,
) -> RoutingResult:
    return plan(demand, warehouses, stock, RoutingPolicy(**policy), NOW)


def candidate(result: RoutingResult, code: str) -> dict[str, Any]:
    return next(c for c in result.trace["candidates"] if c["code"] == code)


def codes(result: RoutingResult) -> list[str]:
    return [s.warehouse_code for s in result.shipments]


def test_single_warehouse_wins_on_priority() -> None:
    result = run(order(("A", 2)), [WEST, EAST], {(1, "A"): 2, (2, "A"): 50})
    assert result.outcome is Outcome.SINGLE
    assert result.shipments == (Shipment(1, "EAST", (LineAllocation(1, "A", 2),)),)
    assert result.shortfall == ()
    assert candidate(result, "EAST")["verdict"].startswith("chosen")
    assert candidate(result, "WEST")["verdict"].startswith("lost: lower priority than EAST")
    assert result.trace["strategy"] == "single"
    assert result.trace["chosen"] == ["EAST"]


def test_priority_tie_goes_to_more_stock() -> None:
    result = run(
        order(("A", 2), ("B", 1)),
        [EAST, NORTH],
        {(1, "A"): 2, (1, "B"): 1, (3, "A"): 9, (3, "B"): 1},
    )
    assert codes(result) == ["NORTH"]
    verdict = candidate(result, "EAST")["verdict"]
    assert verdict.startswith("lost: less stock of the ordered items than NORTH (3 vs 10 units)")
    assert "same priority (1)" in verdict


def test_stock_counts_only_the_ordered_skus() -> None:
    stock = {(1, "A"): 5, (3, "A"): 4, (3, "OTHER"): 100}
    assert codes(run(order(("A", 2)), [EAST, NORTH], stock)) == ["EAST"]


def test_full_tie_goes_to_warehouse_code() -> None:
    stock = {(1, "A"): 3, (3, "A"): 3}
    result = run(order(("A", 1)), [NORTH, EAST], stock)
    assert codes(result) == ["EAST"]
    assert "EAST comes first by warehouse code" in candidate(result, "NORTH")["verdict"]


def test_warehouse_that_cannot_fill_loses_even_with_better_priority() -> None:
    first = WarehouseCandidate(7, "FIRST", priority=0)
    result = run(order(("A", 3)), [first, WEST], {(7, "A"): 2, (2, "A"): 3})
    assert codes(result) == ["WEST"]
    assert candidate(result, "FIRST")["verdict"] == (
        "lost: cannot fill whole order (can supply 2 of 3 units)"
    )
    assert candidate(result, "FIRST")["can_fill_order"] is False
    assert [c["rank"] for c in result.trace["candidates"]] == [1, 2]


def test_split_uses_fewest_warehouses_by_greedy_coverage() -> None:
    # Priority order alone (ONLY_C, ONLY_A, AB) would need three warehouses; coverage needs two.
    ab = WarehouseCandidate(10, "AB", priority=9)
    only_c = WarehouseCandidate(11, "ONLY_C", priority=1)
    only_a = WarehouseCandidate(12, "ONLY_A", priority=2)
    stock = {(10, "A"): 2, (10, "B"): 2, (11, "C"): 2, (12, "A"): 2}
    result = run(order(("A", 2), ("B", 2), ("C", 2)), [only_c, only_a, ab], stock)
    assert result.outcome is Outcome.SPLIT
    assert result.shipments == (
        Shipment(10, "AB", (LineAllocation(1, "A", 2), LineAllocation(2, "B", 2))),
        Shipment(11, "ONLY_C", (LineAllocation(3, "C", 2),)),
    )
    assert result.trace["strategy"] == "split"
    assert result.trace["chosen"] == ["AB", "ONLY_C"]
    assert candidate(result, "AB")["verdict"].startswith("chosen: pick 1 of 2")
    assert candidate(result, "ONLY_A")["verdict"].startswith(
        "lost: covers fewer of the units still needed than AB (2 vs 4) at pick 1"
    )


def test_split_coverage_tie_goes_to_priority() -> None:
    stock = {(1, "A"): 1, (2, "A"): 1, (2, "B"): 1, (3, "B"): 1}
    result = run(order(("A", 1), ("B", 1)), [WEST, EAST, NORTH], stock)
    # WEST covers both lines, so it is a single-warehouse order; drop B from WEST to force a split.
    assert codes(result) == ["WEST"]
    result = run(order(("A", 1), ("B", 1)), [WEST, EAST, NORTH], {**stock, (2, "B"): 0})
    assert codes(result) == ["EAST", "NORTH"]
    assert "lower priority than EAST" in candidate(result, "WEST")["verdict"]


def test_line_quantity_is_split_across_warehouses_when_allowed() -> None:
    result = run(order(("A", 5)), [EAST, WEST], {(1, "A"): 3, (2, "A"): 4})
    assert result.outcome is Outcome.SPLIT
    assert result.shipments == (
        Shipment(2, "WEST", (LineAllocation(1, "A", 4),)),
        Shipment(1, "EAST", (LineAllocation(1, "A", 1),)),
    )


def test_line_split_refused_when_not_allowed() -> None:
    result = run(order(("A", 5)), [EAST, WEST], {(1, "A"): 3, (2, "A"): 4}, allow_line_split=False)
    assert result.outcome is Outcome.NO_STOCK
    assert result.shipments == ()
    assert result.shortfall == (LineDemand(1, "A", 5),)
    assert "without splitting lines" in result.trace["summary"]


def test_whole_lines_still_split_across_warehouses_without_line_split() -> None:
    stock = {(1, "A"): 2, (2, "B"): 3}
    result = run(order(("A", 2), ("B", 3)), [EAST, WEST], stock, allow_line_split=False)
    assert result.outcome is Outcome.SPLIT
    assert codes(result) == ["WEST", "EAST"]


def test_no_split_allowed_and_no_single_warehouse_is_no_stock() -> None:
    stock = {(1, "A"): 2, (2, "B"): 3}
    result = run(order(("A", 2), ("B", 3)), [EAST, WEST], stock, allow_split=False)
    assert result.outcome is Outcome.NO_STOCK
    assert result.shipments == ()
    # Shortfall is what the closest single warehouse (WEST: 3 of 5 units) lacks.
    assert result.shortfall == (LineDemand(1, "A", 2),)
    assert "splitting is not allowed" in result.trace["summary"]
    assert result.trace["strategy"] == "none"
    assert result.trace["chosen"] == []


def test_no_split_allowed_still_ships_from_a_single_warehouse() -> None:
    result = run(order(("A", 2)), [EAST], {(1, "A"): 2}, allow_split=False)
    assert result.outcome is Outcome.SINGLE


def test_no_stock_anywhere_reports_every_line_short() -> None:
    result = run(order(("A", 2), ("B", 1)), [EAST, WEST], {})
    assert result.outcome is Outcome.NO_STOCK
    assert result.shortfall == (LineDemand(1, "A", 2), LineDemand(2, "B", 1))
    assert result.trace["shortfall"] == [
        {"line_id": 1, "sku": "A", "missing": 2},
        {"line_id": 2, "sku": "B", "missing": 1},
    ]
    assert result.trace["summary"].startswith("Cannot route (exception): not enough stock")
    assert candidate(result, "EAST")["verdict"] == (
        "lost: cannot fill whole order (can supply 0 of 3 units)"
    )


def test_shortfall_counts_stock_of_all_enabled_warehouses() -> None:
    stock = {(1, "A"): 2, (2, "A"): 1, (1, "B"): 4}
    result = run(order(("A", 5), ("B", 4)), [EAST, WEST], stock)
    assert result.outcome is Outcome.NO_STOCK
    assert result.shortfall == (LineDemand(1, "A", 2),)
    assert "A (short 2)" in result.trace["summary"]


def test_backorder_policy() -> None:
    policy = {"on_no_stock": NoStockPolicy.BACKORDER}
    result = run(order(("A", 4)), [EAST], {(1, "A"): 1}, **policy)
    assert result.outcome is Outcome.BACKORDER
    assert result.shipments == ()
    assert result.shortfall == (LineDemand(1, "A", 3),)
    assert result.trace["outcome"] == "backorder"
    assert result.trace["summary"].startswith("Backordered:")


def test_disabled_warehouse_is_never_chosen() -> None:
    closed = WarehouseCandidate(9, "CLOSED", priority=0, enabled=False)
    result = run(order(("A", 1)), [closed, WEST], {(9, "A"): 100, (2, "A"): 1})
    assert codes(result) == ["WEST"]
    entry = candidate(result, "CLOSED")
    assert entry["eligible"] is False
    assert entry["removed_by"] == "disabled"
    assert entry["rank"] is None
    assert entry["verdict"] == "removed: warehouse is disabled"
    assert result.trace["candidates"][-1]["code"] == "CLOSED"


def test_only_disabled_stock_means_no_stock() -> None:
    closed = WarehouseCandidate(9, "CLOSED", priority=0, enabled=False)
    result = run(order(("A", 1)), [closed], {(9, "A"): 100})
    assert result.outcome is Outcome.NO_STOCK
    assert result.shortfall == (LineDemand(1, "A", 1),)
    assert "no enabled warehouse" in result.trace["summary"]


def test_no_warehouses_at_all() -> None:
    result = run(order(("A", 1)), [], {})
    assert result.outcome is Outcome.NO_STOCK
    assert result.trace["candidates"] == []


def test_lines_with_the_same_sku_share_stock() -> None:
    demand = order(("A", 3), ("A", 2))
    result = run(demand, [EAST, WEST], {(1, "A"): 4, (2, "A"): 5})
    assert codes(result) == ["WEST"]  # EAST has 4 of the 5 units the two lines need
    assert result.shipments[0].lines == (LineAllocation(1, "A", 3), LineAllocation(2, "A", 2))


def test_lines_with_the_same_sku_split_without_overselling() -> None:
    demand = order(("A", 3), ("A", 2))
    result = run(demand, [EAST, WEST], {(1, "A"): 3, (2, "A"): 2}, allow_line_split=False)
    assert result.outcome is Outcome.SPLIT
    taken = {s.warehouse_code: sum(a.quantity for a in s.lines) for s in result.shipments}
    assert taken == {"EAST": 3, "WEST": 2}


def test_negative_and_missing_stock_count_as_zero() -> None:
    result = run(order(("A", 2)), [EAST, WEST], {(1, "A"): -5, (2, "A"): 2})
    assert codes(result) == ["WEST"]
    assert candidate(result, "EAST")["units_available"] == 0


def test_trace_is_json_serialisable_and_deterministic() -> None:
    closed = WarehouseCandidate(9, "CLOSED", priority=0, enabled=False)
    warehouses = [WEST, closed, EAST, NORTH]
    stock = {(1, "A"): 1, (2, "A"): 2, (3, "B"): 1, (9, "A"): 5}
    demand = order(("A", 3), ("B", 1))
    first = run(demand, warehouses, stock)
    second = run(demand, list(reversed(warehouses)), dict(reversed(list(stock.items()))))
    assert first == second
    assert json.loads(json.dumps(first.trace)) == first.trace
    assert first.trace["policy"] == POLICY_NAME == "default.v1"
    assert first.trace["decided_at"] == NOW.isoformat()
    assert list(first.trace) == [
        "policy",
        "decided_at",
        "outcome",
        "strategy",
        "options",
        "candidates",
        "chosen",
        "shipments",
        "shortfall",
        "summary",
    ]
    assert set(first.trace["candidates"][0]) == {
        "warehouse_id",
        "code",
        "priority",
        "eligible",
        "removed_by",
        "can_fill_order",
        "units_available",
        "units_coverable",
        "units_needed",
        "rank",
        "result",
        "verdict",
    }
    assert all(c["verdict"].startswith(c["result"] + ": ") for c in first.trace["candidates"])


@pytest.mark.parametrize(
    "demand",
    [
        OrderDemand(1, ()),
        order(("A", 0)),
        order(("A", 1), ("B", -2)),
        OrderDemand(1, (LineDemand(1, "A", 1), LineDemand(1, "B", 1))),
    ],
)
def test_invalid_orders_are_rejected(demand: OrderDemand) -> None:
    with pytest.raises(ValueError, match=r"^order \d+"):
        run(demand, [EAST], {(1, "A"): 9})


def test_duplicate_warehouse_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate warehouse_id"):
        run(order(("A", 1)), [EAST, WarehouseCandidate(1, "COPY", priority=2)], {})
