"""What a prepared WarehouseSet and a compiled rule remember between decisions gives the very
same answers as working them out afresh: distances by ship-to, the ship dates of a minute,
rankings settled before any per-order criterion, and a condition's answer per value read."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as hs

from omniroute.routing.conditions import OrderFacts
from omniroute.routing.engine import WarehouseProfile, prepare_warehouses
from omniroute.routing.geo import GeoLevel, GeoPoint, distances_km, prepare_point
from omniroute.routing.ranking import (
    ScoreColumns,
    distances_in_tenths,
    rank_order,
    settled_order,
)
from omniroute.routing.rules import evaluate, parse_rule_set
from omniroute.routing.warehouses import ship_days
from tests.unit import reference_engine as reference

PROPERTY = settings(max_examples=200, deadline=None)
CHAINS = ("priority", "distance", "stock_depth", "shipping_cost", "capacity_headroom", "ship_date")


def houses(count: int) -> list[WarehouseProfile]:
    return [
        WarehouseProfile(
            warehouse_id=i,
            code=f"W{i}",
            priority=1 + i % 3,
            location=None
            if i % 7 == 0
            else GeoPoint(30 + i * 0.7, -120 + i * 1.3, GeoLevel.POSTAL_CODE, f"W{i}"),
            timezone=("UTC", "America/New_York", "Asia/Kolkata")[i % 3],
            cutoff_local_time="14:00" if i % 4 == 0 else None,
        )
        for i in range(1, count + 1)
    ]


@PROPERTY
@given(hs.lists(hs.tuples(hs.floats(-90, 90), hs.floats(-180, 180)), min_size=1, max_size=6))
def test_remembered_distances_are_those_worked_out_afresh(
    places: list[tuple[float, float]],
) -> None:
    prepared = prepare_warehouses(houses(15))
    points = prepared.columns.points
    for _ in range(2):  # the second time from memory
        for lat, lon in places:
            to = GeoPoint(lat, lon, GeoLevel.CITY, "x")
            assert prepared.distances_in_tenths(to) == distances_in_tenths(
                prepare_point(to), points
            )
            assert prepared.distances_km(to) == distances_km(prepare_point(to), points)


def test_distances_are_forgotten_past_the_bound() -> None:
    prepared = prepare_warehouses(houses(3))
    for n in range(prepared.MAX_PLACES + 5):
        prepared.distances_in_tenths(GeoPoint(n / 100, 0.0, GeoLevel.CITY, "x"))
    assert len(prepared._tenths) <= prepared.MAX_PLACES


@PROPERTY
@given(
    hs.lists(hs.integers(0, 4 * 24 * 3600 * 10), min_size=1, max_size=12),
    hs.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), ZoneInfo("Europe/Berlin")]),
)
def test_ship_dates_of_a_minute_are_those_worked_out_afresh(
    tenths_of_seconds: list[int], zone: timezone | ZoneInfo
) -> None:
    """Decisions in the same minute, in the next one or days apart, in UTC, a fixed offset
    or a zone with daylight saving: always the dates a plain list gets."""
    profiles = houses(9)
    prepared = prepare_warehouses(profiles)
    start = datetime(2026, 10, 23, 23, 58, tzinfo=UTC)  # Berlin's clocks go back on the 25th
    for t in sorted(tenths_of_seconds):
        now = (start + timedelta(seconds=t / 10)).astimezone(zone)
        assert ship_days(prepared, prepared.sites, now) == ship_days(profiles, prepared.sites, now)


@hs.composite
def score_columns(draw: hs.DrawFn) -> tuple[list[str], ScoreColumns]:
    n = draw(hs.integers(1, 8))
    few = hs.sampled_from([0.0, 1.0, 2.5, -0.0, math.inf, math.nan])

    def column(values: hs.SearchStrategy[float], *, unknown: bool) -> list[float | None]:
        item = hs.one_of(hs.none(), values) if unknown else values
        return draw(hs.lists(item, min_size=n, max_size=n))

    spread = hs.one_of(few, hs.floats(0, 1e4))
    scores = ScoreColumns(
        column(spread, unknown=False),  # type: ignore[arg-type]
        column(spread, unknown=True),
        column(spread, unknown=False),  # type: ignore[arg-type]
        column(spread, unknown=True),
        column(spread, unknown=True),
        column(few, unknown=True),
        frozenset(draw(hs.lists(hs.sampled_from(["distance", "capacity_headroom"])))),
    )
    chain = draw(hs.lists(hs.sampled_from(CHAINS), min_size=1, max_size=4, unique=True))
    return chain, scores


@PROPERTY
@given(score_columns(), hs.data())
def test_a_settled_ranking_is_the_whole_chains_whatever_the_order(
    drawn: tuple[list[str], ScoreColumns], data: hs.DataObject
) -> None:
    """When the criteria before the first per-order one settle the ranking, the whole chain
    ranks the same with any per-order values (stock, cost, ship date)."""
    chain, scores = drawn
    n = len(scores.priority)
    by_code = data.draw(hs.permutations(range(n)))
    settled = settled_order(chain, scores, by_code)
    if settled is None:
        return
    other = hs.lists(hs.one_of(hs.none(), hs.floats(-5, 5)), min_size=n, max_size=n)
    per_order = scores._replace(
        stock_depth=data.draw(hs.lists(hs.floats(0, 9), min_size=n, max_size=n)),
        shipping_cost=data.draw(other),
        ship_date=data.draw(other),
    )
    assert settled == rank_order(chain, scores, by_code) == rank_order(chain, per_order, by_code)


def test_a_tie_before_the_per_order_criteria_settles_nothing() -> None:
    scores = ScoreColumns([1.0, 1.0], [5.0, 5.0], [3.0, 9.0], [None, None], [None, None], [0, 0])
    assert settled_order(["priority", "distance", "stock_depth"], scores, [0, 1]) is None
    assert settled_order(["stock_depth", "priority"], scores, [0, 1]) is None
    apart = scores._replace(distance=[5.0, 4.0])
    assert settled_order(["priority", "distance", "stock_depth"], apart, [0, 1]) == [1, 0]


RULES = parse_rule_set(
    {
        "name": "memo",
        "timezone": "America/New_York",
        "default": {"ranking": ["priority"]},
        "rules": [
            {
                "id": "big",
                "when": {"field": "order_value", "op": "gte", "value": "100", "currency": "USD"},
                "then": {"split": {"mode": "ship_complete"}},
                "continue": True,
            },
            {
                "id": "any-value",
                "when": {"field": "order_value", "op": "gte", "value": "1"},
                "then": {"split": {"max_shipments": 2}},
                "continue": True,
            },
            {
                "id": "west",
                "when": {
                    "any": [
                        {"field": "country", "op": "in", "value": ["US", "CA"]},
                        {"field": "sku", "op": "contains_any", "value": ["A"]},
                    ]
                },
                "then": {"split": {"max_shipments": 3}},
            },
        ],
    }
)


@PROPERTY
@given(
    hs.lists(
        hs.tuples(
            hs.sampled_from(["US", "us ", "CA", "DE", None]),
            hs.sampled_from([Decimal("100"), Decimal("100.00"), Decimal("0.5"), None]),
            hs.sampled_from(["USD", "usd", "EUR", ""]),
            hs.sampled_from([("A",), ("B", "A"), ("C",)]),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_a_condition_answers_from_memory_as_afresh(
    orders: list[tuple[str | None, Decimal | None, str, tuple[str, ...]]],
) -> None:
    """Equal amounts written apart (100 and 100.00) and currencies keep their own words."""
    now = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    base = OrderFacts(
        channel="shopify",
        connector_id=1,
        order_type="normal",
        country=None,
        region=None,
        postal_code=None,
        skus=(),
        sku_tags=frozenset(),
        line_count=1,
        order_value=None,
        currency="",
        service_level="standard",
        customer_tags=frozenset(),
        order_tags=frozenset(),
    )
    for country, value, currency, skus in orders * 2:
        facts = replace(base, country=country, order_value=value, currency=currency, skus=skus)
        assert evaluate(RULES, facts, now) == reference.evaluate(RULES, facts, now)
