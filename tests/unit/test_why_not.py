"""The default ranking and the trace's answer to "why not this warehouse?" (pure router)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from omniroute.routing.engine import SkuProfile, decide
from omniroute.routing.geo import GeoLevel, GeoPoint
from omniroute.routing.tracing.render import render_trace
from tests.unit.test_engine import facts, request, rules, wh

NYC_10001 = GeoPoint(40.7506, -73.9972, GeoLevel.POSTAL_CODE, "US 10001")
LA_90001 = GeoPoint(33.9731, -118.2479, GeoLevel.POSTAL_CODE, "US 90001")
CHI_60601 = GeoPoint(41.8858, -87.6181, GeoLevel.POSTAL_CODE, "US 60601")
TO_10003 = GeoPoint(40.7316, -73.9892, GeoLevel.POSTAL_CODE, "US 10003")


def entry(result: Any, code: str) -> dict[str, Any]:
    """A candidate of the trace as it is read (the losers' words are made then)."""
    return next(c for c in render_trace(result.trace)["candidates"] if c["code"] == code)


def why(result: Any, code: str) -> dict[str, Any]:
    found = entry(result, code)["why_not"]
    assert found is not None, f"{code} was chosen"
    assert entry(result, code)["verdict"].endswith(found["text"])
    return dict(found)


def coasts(**over: Any) -> list[Any]:
    return [wh(1, "NYC", NYC_10001, **over), wh(2, "LA", LA_90001, **over)]


def test_without_rules_the_nearest_warehouse_with_stock_wins() -> None:
    stock = {(1, "A"): 5, (2, "A"): 5}
    result = decide(request([("A", 1)], coasts(), stock, ship_to=TO_10003))
    assert result.trace["chosen"] == ["NYC"]
    assert result.trace["ranking"] == ["distance", "priority", "stock_depth"]
    la = why(result, "LA")
    assert (la["reason"], la["criterion"], la["unit"], la["winner"]) == (
        "ranked_below",
        "distance",
        "km",
        "NYC",
    )
    assert 3900 < la["value"] < 4000
    assert la["winner_value"] < 5
    assert la["difference"] == round(la["value"] - la["winner_value"], 2)
    assert render_trace(result.trace)["headline"].startswith(
        "Shipped from NYC: nearest with stock (2."
    )
    assert "LA 3,9" in render_trace(result.trace)["headline"]
    assert result.trace["tie_breaks"] == ["code", "warehouse_id"]
    assert result.trace["warnings"] == []


def test_without_a_place_the_default_falls_back_to_priority_then_stock() -> None:
    houses = [wh(1, "NYC", NYC_10001, priority=2), wh(2, "LA", LA_90001, priority=1)]
    stock = {(1, "A"): 5, (2, "A"): 5}
    result = decide(request([("A", 1)], houses, stock, ship_to=None))
    assert result.trace["chosen"] == ["LA"]
    nyc = why(result, "NYC")
    assert (nyc["criterion"], nyc["value"], nyc["winner_value"], nyc["unit"]) == (
        "priority",
        2.0,
        1.0,
        None,
    )
    assert nyc["tied_on"] == []  # distance is unknown for both: left out, not a tie

    equal = decide(request([("A", 1)], coasts(), {(1, "A"): 3, (2, "A"): 9}, ship_to=None))
    assert equal.trace["chosen"] == ["LA"]
    assert why(equal, "NYC")["criterion"] == "stock_depth"
    assert why(equal, "NYC")["tied_on"] == ["priority"]
    assert why(equal, "NYC")["text"] == (
        "less stock of the ordered items than LA: 3 units vs 9 units (6 units apart); "
        "tied on priority"
    )


def test_a_full_tie_names_the_code_tie_break() -> None:
    houses = [wh(1, "EAST", NYC_10001), wh(2, "ALSO", NYC_10001)]
    result = decide(request([("A", 1)], houses, {(1, "A"): 4, (2, "A"): 4}, ship_to=TO_10003))
    assert result.trace["chosen"] == ["ALSO"]
    east = why(result, "EAST")
    assert east["criterion"] == "code"
    assert east["tied_on"] == ["distance", "priority", "stock_depth"]
    assert "ALSO comes first by code" in east["text"]
    assert "tied with EAST, first by code" in render_trace(result.trace)["headline"]


def test_a_warehouse_short_of_stock_says_which_skus_and_by_how_much() -> None:
    stock = {(1, "A"): 1, (1, "B"): 1, (2, "A"): 5, (2, "B"): 5}
    result = decide(request([("A", 2), ("B", 1)], coasts(), stock, ship_to=TO_10003))
    assert result.trace["chosen"] == ["LA"]
    nyc = why(result, "NYC")
    assert nyc["reason"] == "no_stock"
    assert nyc["short"] == {"A": 1}  # has 1 of the 2 ordered
    assert nyc["text"] == "short of A"
    assert render_trace(result.trace)["headline"] == (
        "Shipped from LA: the only warehouse with all of it in stock (3,941 km); NYC short of A"
    )
    none = decide(request([("A", 1), ("B", 1)], coasts(), {(2, "A"): 1, (2, "B"): 1}))
    assert why(none, "NYC")["short"] == {"A": 1, "B": 1}
    assert why(none, "NYC")["text"] == "short of A, B"


def test_a_capability_a_sku_needs_is_named() -> None:
    houses = [wh(1, "NYC", NYC_10001), wh(2, "CHI", CHI_60601, tags=frozenset({"cold-chain"}))]
    stock = {(1, "ICE"): 5, (2, "ICE"): 5}
    skus = {"ICE": SkuProfile(requires=frozenset({"cold-chain"}))}
    result = decide(request([("ICE", 1)], houses, stock, skus=skus, ship_to=TO_10003))
    assert result.trace["chosen"] == ["CHI"]
    nyc = why(result, "NYC")
    assert nyc["reason"] == "capability"
    assert nyc["cannot_ship"] == {"ICE": "needs cold-chain"}
    assert nyc["short"] == {}
    assert nyc["text"] == "cannot ship ICE (needs cold-chain)"
    assert "NYC cannot ship ICE" in render_trace(result.trace)["headline"]


def test_filters_name_what_removed_the_warehouse() -> None:
    doc = rules(
        {"ranking": ["distance"]},
        {
            "id": "us-cold",
            "when": {"field": "country", "op": "eq", "value": "US"},
            "then": {"warehouses": {"require_tags": ["cold-chain"], "exclude": ["LA"]}},
            "continue": True,
        },
    )
    houses = [
        wh(1, "NYC", NYC_10001, tags=frozenset({"cold-chain"})),
        wh(2, "LA", LA_90001, tags=frozenset({"cold-chain"})),
        wh(3, "CHI", CHI_60601),
    ]
    stock = {(n, "A"): 5 for n in (1, 2, 3)}
    result = decide(request([("A", 1)], houses, stock, doc, ship_to=TO_10003))
    assert result.trace["chosen"] == ["NYC"]
    assert why(result, "LA") == {
        "reason": "rule_exclude",
        "rule": "us-cold",
        "text": "excluded by the rule",
    }
    chi = why(result, "CHI")
    assert (chi["reason"], chi["missing"], chi["rule"]) == ("capability", ["cold-chain"], "us-cold")
    assert render_trace(result.trace)["headline"] == (
        "Shipped from NYC: the only warehouse with all of it in stock (2.2 km); "
        "CHI lacks cold-chain; LA excluded by the rule"
    )
    only = rules({"warehouses": {"include": ["LA"]}})
    listed = decide(request([("A", 1)], houses, stock, only, ship_to=TO_10003))
    assert why(listed, "NYC")["reason"] == "rule_include"
    assert why(listed, "NYC")["rule"] == "default"


def test_channel_capacity_cut_off_and_calendar_filters() -> None:
    late = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # a Friday, 18:00 in New York
    houses = [
        wh(1, "SHOP", NYC_10001, channels=frozenset({"amazon"})),
        wh(2, "FULL", NYC_10001, capacity_left=0),
        wh(3, "LATE", NYC_10001, cutoff_local_time="15:00", timezone="America/New_York"),
        wh(4, "SHUT", NYC_10001, closed_weekdays=frozenset({4})),
        wh(5, "OPEN", LA_90001),
    ]
    stock = {(n, "A"): 5 for n in range(1, 6)}
    req = request([("A", 1)], houses, stock, ship_to=TO_10003, now=late)
    result = decide(replace(req, facts=facts(service_level="express")))
    assert result.trace["chosen"] == ["OPEN"]
    assert {code: why(result, code)["reason"] for code in ("SHOP", "FULL", "LATE", "SHUT")} == {
        "SHOP": "channel",
        "FULL": "capacity",
        "LATE": "cutoff_missed",
        "SHUT": "calendar",
    }
    assert why(result, "SHOP")["channel"] == "shop"
    assert why(result, "LATE")["ships"] == "2026-11-28"  # the next day it ships
    assert (why(result, "LATE")["cutoff"], why(result, "LATE")["timezone"]) == (
        "15:00",
        "America/New_York",
    )


def test_an_address_that_cannot_be_placed_is_a_warning() -> None:
    stock = {(1, "A"): 5, (2, "A"): 5}
    zz = request([("A", 1)], coasts(), stock, ship_to=None)
    zz = replace(zz, facts=facts(country="ZZ", postal_code="12345"))
    warnings = decide(zz).trace["warnings"]
    assert [w["code"] for w in warnings] == ["ship_to_not_located"]
    assert "country ZZ, postal code 12345" in warnings[0]["message"]

    state = GeoPoint(42.9, -75.5, GeoLevel.REGION, "NY, US")
    rough = request([("A", 1)], coasts(), stock, ship_to=state)
    rough = replace(rough, facts=facts(postal_code="00000"))
    assert [w["code"] for w in decide(rough).trace["warnings"]] == ["postal_code_unknown"]

    unplaced = [wh(1, "NYC", NYC_10001), wh(2, "NOWHERE", None)]
    result = decide(request([("A", 1)], unplaced, stock, ship_to=TO_10003))
    assert result.trace["warnings"][0]["warehouses"] == ["NOWHERE"]
    assert why(result, "NOWHERE")["text"] == "distance unknown, NYC's 2.2 km"


def test_a_split_says_why_each_warehouse_left_out_lost() -> None:
    houses = [*coasts(), wh(3, "CHI", CHI_60601)]
    stock = {(1, "A"): 1, (2, "B"): 1, (3, "B"): 1}
    result = decide(request([("A", 1), ("B", 1)], houses, stock, ship_to=TO_10003))
    assert result.trace["chosen"] == ["NYC", "CHI"]
    la = why(result, "LA")
    assert la["reason"] == "no_stock"
    assert la["short"] == {"A": 1}
    assert la["text"] == "short of A; the order ships in 2 shipments"
    assert render_trace(result.trace)["headline"].startswith(
        "Shipped in 2 shipments from NYC, CHI: no one warehouse had it all; LA short of A"
    )


def test_a_warehouse_lacking_a_capability_and_stock_names_both() -> None:
    houses = [wh(1, "NYC", NYC_10001), wh(2, "CHI", CHI_60601, tags=frozenset({"cold-chain"}))]
    stock = {(1, "ICE"): 5, (2, "ICE"): 5, (2, "CONE"): 4, (1, "CONE"): 1}
    skus = {"ICE": SkuProfile(requires=frozenset({"cold-chain"}))}
    result = decide(request([("ICE", 1), ("CONE", 3)], houses, stock, skus=skus))
    assert result.trace["chosen"] == ["CHI"]
    nyc = why(result, "NYC")
    assert nyc["cannot_ship"] == {"ICE": "needs cold-chain"}
    assert nyc["short"] == {"CONE": 2}
    assert nyc["text"] == "cannot ship ICE (needs cold-chain); short of CONE"


def test_nothing_routable_says_so_for_warehouses_with_the_stock() -> None:
    doc = rules({"split": {"min_value_per_extra_shipment": "500"}})
    stock = {(1, "A"): 1, (2, "B"): 1}
    result = decide(request([("A", 1), ("B", 1)], coasts(), stock, doc, ship_to=TO_10003))
    assert result.trace["shipments"] == 0
    assert why(result, "NYC")["reason"] == "no_stock"
    assert render_trace(result.trace)["headline"] == result.trace["summary"]
