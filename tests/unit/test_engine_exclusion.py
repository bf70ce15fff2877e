"""Warehouses the caller excludes (a WMS rejected the order there): removed, with the reason."""

from __future__ import annotations

from dataclasses import replace

from omniroute.routing.allocate import Outcome
from omniroute.routing.engine import decide, prepare_warehouses
from tests.unit.test_engine import BOSTON, BY_DISTANCE, LA, NYC, request, rules, wh


def test_an_excluded_warehouse_is_removed_with_the_callers_reason() -> None:
    houses = [wh(1, "NYC", NYC), wh(2, "LAX", LA)]
    stock = {(1, "A"): 5, (2, "A"): 5}
    base = request([("A", 2)], houses, stock, BY_DISTANCE, ship_to=BOSTON)
    assert decide(base).trace["chosen"] == ["NYC"]

    result = decide(replace(base, excluded_warehouses={1: "rejected fulfilment order 7"}))
    assert result.trace["chosen"] == ["LAX"]
    nyc = next(c for c in result.trace["candidates"] if c["code"] == "NYC")
    assert nyc["eligible"] is False
    assert nyc["removed_by"] == "rejected fulfilment order 7"
    assert nyc["verdict"] == "removed: rejected fulfilment order 7"


def test_excluding_every_stocked_warehouse_follows_the_no_stock_policy() -> None:
    houses = [wh(1, "NYC", NYC), wh(2, "LAX", LA)]
    stock = {(1, "A"): 5}
    excluded = {1: "rejected fulfilment order 3"}
    doc = rules({"ranking": ["distance"], "on_no_stock": "backorder"})
    result = decide(request([("A", 1)], houses, stock, doc, excluded_warehouses=excluded))
    assert result.outcome == Outcome.BACKORDER
    assert result.shipments == ()
    assert result.trace["shortfall"] == [{"line_id": 1, "sku": "A", "missing": 1}]


def test_exclusion_applies_with_rule_filters_and_prepared_warehouses() -> None:
    houses = prepare_warehouses(
        [wh(1, "NYC", NYC), wh(2, "LAX", LA, tags=frozenset({"returns"})), wh(3, "SFO", LA)]
    )
    stock = {(w, "A"): 5 for w in (1, 2, 3)}
    doc = rules({"ranking": ["distance"], "warehouses": {"exclude_tags": ["returns"]}})
    excluded = {1: "rejected fulfilment order 9 (stock_discrepancy)"}
    result = decide(request([("A", 1)], list(houses), stock, doc, excluded_warehouses=excluded))
    prepared = decide(request([("A", 1)], houses, stock, doc, excluded_warehouses=excluded))
    assert result.trace == prepared.trace
    removed = {c["code"]: c["removed_by"] for c in result.trace["candidates"]}
    assert removed == {
        "NYC": "rejected fulfilment order 9 (stock_discrepancy)",
        "LAX": "has excluded tag(s) returns",
        "SFO": None,
    }
    assert result.trace["chosen"] == ["SFO"]


def test_a_disabled_warehouse_keeps_its_own_reason_and_no_exclusion_changes_nothing() -> None:
    houses = [wh(1, "NYC", NYC, enabled=False), wh(2, "LAX", LA)]
    stock = {(1, "A"): 5, (2, "A"): 5}
    base = request([("A", 1)], houses, stock, BY_DISTANCE)
    excluded = decide(replace(base, excluded_warehouses={1: "rejected fulfilment order 1"}))
    removed = {c["code"]: c["removed_by"] for c in excluded.trace["candidates"]}
    assert removed["NYC"] == "disabled"
    assert decide(replace(base, excluded_warehouses={})).trace == decide(base).trace
