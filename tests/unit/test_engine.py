"""The rules-driven router on the seed scenarios (pure: plain objects in, plan and trace out)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from omniroute.routing.allocate import LineDemand, OrderDemand, Outcome
from omniroute.routing.conditions import OrderFacts
from omniroute.routing.engine import (
    RateBand,
    RoutingRequest,
    SkuProfile,
    WarehouseProfile,
    decide,
    shipping_cost,
)
from omniroute.routing.geo import GeoLevel, GeoPoint
from omniroute.routing.rules import parse_rule_set

NYC = GeoPoint(40.75, -73.99, GeoLevel.POSTAL_CODE, "US 10001")
BOSTON = GeoPoint(42.36, -71.06, GeoLevel.POSTAL_CODE, "US 02108")
LA = GeoPoint(34.05, -118.24, GeoLevel.POSTAL_CODE, "US 90012")
SF = GeoPoint(37.77, -122.42, GeoLevel.POSTAL_CODE, "US 94103")
NOON_UTC = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # 12:00 in New York, 09:00 in LA


def facts(**over: Any) -> OrderFacts:
    base: dict[str, Any] = dict(
        channel="shopify",
        connector_id=1,
        order_type="normal",
        country="US",
        region="NY",
        postal_code="10001",
        skus=("A",),
        sku_tags=frozenset(),
        line_count=1,
        order_value=Decimal("100"),
        currency="USD",
        service_level="standard",
        customer_tags=frozenset(),
        order_tags=frozenset(),
    )
    base.update(over)
    return OrderFacts(**base)


def wh(wid: int, code: str, location: GeoPoint | None, **over: Any) -> WarehouseProfile:
    return WarehouseProfile(
        warehouse_id=wid, code=code, priority=over.pop("priority", 1), location=location, **over
    )


def request(
    lines: list[tuple[str, int]],
    warehouses: list[WarehouseProfile],
    stock: dict[tuple[int, str], int],
    rules: dict[str, Any] | None = None,
    **over: Any,
) -> RoutingRequest:
    order = OrderDemand(
        order_id=1,
        lines=tuple(
            LineDemand(line_id=i + 1, sku=sku, quantity=qty) for i, (sku, qty) in enumerate(lines)
        ),
    )
    values: dict[str, Any] = dict(
        order=order,
        facts=facts(skus=tuple(s for s, _ in lines), line_count=len(lines)),
        channel_name="shop",
        ship_to=over.pop("ship_to", NYC),
        warehouses=warehouses,
        stock=stock,
        now=NOON_UTC,
        rule_set=None if rules is None else parse_rule_set(rules),
        rule_set_label="test",
    )
    values.update(over)
    return RoutingRequest(**values)


def rules(default: dict[str, Any], *items: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "timezone": "America/New_York", "default": default, "rules": list(items)}


BY_DISTANCE = rules({"ranking": ["distance", "priority"]})


def test_nearest_warehouse_wins() -> None:
    houses = [wh(1, "LAX", LA), wh(2, "NYC", NYC)]
    stock = {(1, "A"): 5, (2, "A"): 5}
    east = decide(request([("A", 1)], houses, stock, BY_DISTANCE, ship_to=BOSTON))
    west = decide(request([("A", 1)], houses, stock, BY_DISTANCE, ship_to=SF))
    assert east.trace["chosen"] == ["NYC"]
    assert west.trace["chosen"] == ["LAX"]
    nyc = next(c for c in east.trace["candidates"] if c["code"] == "NYC")
    assert 250 < nyc["scores"]["distance"] < 350  # Boston to New York is about 300 km
    assert east.trace["ship_to"] == {"level": "postal_code", "label": "US 02108"}


def test_priority_override_beats_distance() -> None:
    houses = [wh(1, "LAX", LA, priority=1), wh(2, "NYC", NYC, priority=5)]
    stock = {(1, "A"): 5, (2, "A"): 5}
    by_priority = rules({"ranking": ["priority", "distance"]})
    assert decide(request([("A", 1)], houses, stock, by_priority)).trace["chosen"] == ["LAX"]
    boosted = rules(
        {"ranking": ["priority", "distance"]},
        {
            "id": "prefer-nyc",
            "when": {"field": "country", "op": "eq", "value": "US"},
            "then": {"priority_boost": {"NYC": 10}},
        },
    )
    result = decide(request([("A", 1)], houses, stock, boosted))
    assert result.trace["chosen"] == ["NYC"]
    assert result.trace["rules"]["matched"] == ["prefer-nyc"]


def test_cold_chain_sku_only_from_a_capable_warehouse() -> None:
    houses = [wh(1, "NEAR", NYC), wh(2, "COLD", LA, tags=frozenset({"cold-chain"}))]
    stock = {(1, "ICE"): 5, (2, "ICE"): 5}
    skus = {"ICE": SkuProfile(requires=frozenset({"cold-chain"}))}
    result = decide(request([("ICE", 1)], houses, stock, BY_DISTANCE, skus=skus))
    assert result.trace["chosen"] == ["COLD"]
    near = next(c for c in result.trace["candidates"] if c["code"] == "NEAR")
    assert near["cannot_ship"] == {"ICE": "needs cold-chain"}


def test_express_after_cutoff_goes_to_the_warehouse_still_open() -> None:
    houses = [
        wh(1, "NYC", NYC, cutoff_local_time="11:00", timezone="America/New_York"),
        wh(2, "LAX", LA, cutoff_local_time="15:00", timezone="America/Los_Angeles"),
    ]
    stock = {(1, "A"): 5, (2, "A"): 5}
    express = request(
        [("A", 1)], houses, stock, BY_DISTANCE, ship_to=BOSTON, facts=facts(service_level="express")
    )
    result = decide(express)
    assert result.trace["chosen"] == ["LAX"]
    nyc = next(c for c in result.trace["candidates"] if c["code"] == "NYC")
    assert nyc["removed_by"].startswith("missed today's 11:00 cut-off")
    standard = decide(request([("A", 1)], houses, stock, BY_DISTANCE, ship_to=BOSTON))
    assert standard.trace["chosen"] == ["NYC"]  # a standard order does not need today


def test_capacity_channel_and_rule_filters() -> None:
    houses = [
        wh(1, "FULL", NYC, capacity_left=0),
        wh(2, "B2B", NYC, channels=frozenset({"edi"})),
        wh(3, "SPARE", LA, tags=frozenset({"returns"})),
        wh(4, "OK", LA),
    ]
    stock = {(w, "A"): 5 for w in (1, 2, 3, 4)}
    doc = rules({"ranking": ["distance"], "warehouses": {"exclude_tags": ["returns"]}})
    result = decide(request([("A", 1)], houses, stock, doc))
    removed = {c["code"]: c["removed_by"] for c in result.trace["candidates"]}
    assert result.trace["chosen"] == ["OK"]
    assert removed["FULL"] == "no capacity left today"
    assert removed["B2B"] == "does not serve channel shop"
    assert removed["SPARE"] == "has excluded tag(s) returns"


def test_minimum_split_uses_fewer_shipments_than_greedy() -> None:
    # Greedy takes W1 (covers 4 of 6 units) and then needs two more; W2 + W3 cover all.
    houses = [wh(1, "W1", NYC), wh(2, "W2", NYC), wh(3, "W3", NYC)]
    stock = {(1, s): 1 for s in "ABCD"} | {(2, s): 1 for s in "ABE"} | {(3, s): 1 for s in "CDF"}
    lines = [(s, 1) for s in "ABCDEF"]
    result = decide(request(lines, houses, stock, rules({"ranking": ["priority"]})))
    assert result.outcome is Outcome.SPLIT
    assert sorted(result.trace["chosen"]) == ["W2", "W3"]
    assert result.trace["search"]["proven_minimal"] is True

    from omniroute.routing import RoutingPolicy, WarehouseCandidate, plan

    greedy = plan(
        OrderDemand(1, tuple(LineDemand(i, s, q) for i, (s, q) in enumerate(lines))),
        [WarehouseCandidate(w.warehouse_id, w.code, 1) for w in houses],
        stock,
        RoutingPolicy(),
        NOON_UTC,
    )
    assert len(greedy.shipments) == 3


def test_ship_complete_and_the_no_stock_actions() -> None:
    houses = [wh(1, "W1", NYC), wh(2, "W2", LA)]
    stock = {(1, "A"): 1, (2, "A"): 1}
    for action, outcome in [
        ("exception", Outcome.NO_STOCK),
        ("backorder", Outcome.BACKORDER),
        ("hold", Outcome.HOLD),
        ("reject", Outcome.REJECT),
    ]:
        doc = rules({"split": {"mode": "ship_complete"}, "on_no_stock": action})
        result = decide(request([("A", 2)], houses, stock, doc))
        assert result.outcome is outcome
        assert result.shipments == ()
    split = decide(request([("A", 2)], houses, stock, rules({})))
    assert split.outcome is Outcome.SPLIT


def test_minimum_value_per_extra_shipment() -> None:
    houses = [wh(1, "W1", NYC), wh(2, "W2", LA)]
    stock = {(1, "A"): 1, (2, "A"): 1}
    doc = rules({"split": {"mode": "split", "min_value_per_extra_shipment": "150"}})
    result = decide(request([("A", 2)], houses, stock, doc))
    assert result.outcome is Outcome.NO_STOCK
    assert "order value of at least 150" in result.trace["summary"]


def test_shipping_cost_ranking_uses_the_rate_table() -> None:
    cheap = (RateBand(max_km=5000, base=4.0, per_kg=0.5),)
    dear = (RateBand(max_km=5000, base=9.0, per_kg=0.5),)
    houses = [wh(1, "NEAR", NYC, rate_table=dear), wh(2, "FAR", LA, rate_table=cheap)]
    stock = {(1, "A"): 5, (2, "A"): 5}
    skus = {"A": SkuProfile(weight_kg=2.0)}
    result = decide(
        request(
            [("A", 1)], houses, stock, rules({"ranking": ["shipping_cost", "distance"]}), skus=skus
        )
    )
    assert result.trace["chosen"] == ["FAR"]
    far = next(c for c in result.trace["candidates"] if c["code"] == "FAR")
    assert far["scores"]["shipping_cost"] == 5.0
    # The backtest values a plan with the same figure the criterion ranks by.
    req = request(
        [("A", 1)], houses, stock, rules({"ranking": ["shipping_cost", "distance"]}), skus=skus
    )
    by_code = {c["code"]: c["scores"]["shipping_cost"] for c in result.trace["candidates"]}
    assert {w.code: shipping_cost(req, w) for w in houses} == by_code == {"NEAR": 10.0, "FAR": 5.0}
    assert shipping_cost(req, wh(3, "NOWHERE", None, rate_table=cheap)) is None
    assert shipping_cost(req, wh(4, "NO_RATES", LA)) is None


def test_trace_is_json_and_deterministic() -> None:
    houses = [wh(2, "B", LA), wh(1, "A", NYC)]
    stock = {(1, "A"): 1, (2, "A"): 1}
    req = request([("A", 2)], houses, stock, BY_DISTANCE)
    first, second = decide(req), decide(req)
    assert json.dumps(first.trace, sort_keys=True) == json.dumps(second.trace, sort_keys=True)
    assert first.trace["policy"] == "test"
    assert all("verdict" in c for c in first.trace["candidates"])


def test_an_order_without_lines_is_refused() -> None:
    with pytest.raises(ValueError):
        decide(request([], [wh(1, "A", NYC)], {}))
