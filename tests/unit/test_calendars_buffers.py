"""Warehouse calendars (ship dates, same-day removal, the ship_date criterion) and channel
buffers in the pure router."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from omniroute.routing.engine import RoutingRequest, WarehouseProfile, decide, prepare_warehouses
from omniroute.routing.rules import parse_rule_set, validate_rule_set
from omniroute.routing.warehouses import Shipping, channel_buffer, ship_day, site
from tests.unit.test_engine import LA, NYC, facts, request, rules, wh

FRIDAY_EVENING = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # 18:30 New York, Sat 08:30 Tokyo
SATURDAY_NOON = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)  # 12:00 in New York
WEEKEND = frozenset({5, 6})


def key(
    zone: str = "UTC",
    cutoff: str | None = None,
    closed: frozenset[int] = frozenset(),
    holidays: frozenset[date] = frozenset(),
) -> Shipping:
    return (zone, cutoff, closed, holidays)


def by_code(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in trace["candidates"]}


# --- ship dates


def test_open_before_its_cutoff_it_ships_today() -> None:
    day = ship_day(
        key("America/New_York", "17:00", WEEKEND), datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    )
    assert (day.date, day.days, day.late) == (date(2026, 11, 27), 0.0, None)


def test_time_zones_decide_which_day_it_is() -> None:
    tokyo = ship_day(key("Asia/Tokyo", None, WEEKEND), FRIDAY_EVENING)  # already Saturday there
    assert (tokyo.date, tokyo.days) == (date(2026, 11, 30), 2.0)
    assert tokyo.late == "closed on Saturdays by its calendar"
    utc = ship_day(key("UTC", None, WEEKEND), FRIDAY_EVENING)  # still Friday, no cut-off
    assert (utc.date, utc.days, utc.late) == (date(2026, 11, 27), 0.0, None)


def test_a_missed_cutoff_before_a_weekend_ships_on_monday() -> None:
    day = ship_day(key("America/New_York", "17:00", WEEKEND), FRIDAY_EVENING)
    assert (day.date, day.days, day.iso) == (date(2026, 11, 30), 3.0, "2026-11-30")
    assert day.late == "missed today's 17:00 cut-off (America/New_York)"


def test_holidays_are_skipped_like_closed_days() -> None:
    christmas = frozenset({date(2026, 12, 25), date(2026, 12, 28)})
    eve = datetime(2026, 12, 24, 23, 0, tzinfo=UTC)  # Thursday 18:00 in New York
    day = ship_day(key("America/New_York", "16:00", WEEKEND, christmas), eve)
    assert (day.date, day.days) == (date(2026, 12, 29), 5.0)  # Fri holiday, weekend, Mon holiday
    today = ship_day(
        key("UTC", None, frozenset(), christmas), datetime(2026, 12, 25, 9, tzinfo=UTC)
    )
    assert today.late == "closed today (2026-12-25, a holiday in its calendar)"
    assert today.date == date(2026, 12, 26)


def test_closed_every_day_it_never_ships() -> None:
    day = ship_day(key(closed=frozenset(range(7))), FRIDAY_EVENING)
    assert (day.date, day.days, day.iso) == (None, None, None)
    assert day.late == "closed every day by its calendar"


def naive_ship_date(w: WarehouseProfile, now: datetime) -> date | None:
    """An independent reading: walk the local days from today until one it ships on."""
    local = now.astimezone(ZoneInfo(w.timezone))
    for offset in range(400):
        day = local.date() + timedelta(days=offset)
        if day.weekday() in w.closed_weekdays or day in w.holidays:
            continue
        if offset == 0 and w.cutoff_local_time:
            hours, minutes = map(int, w.cutoff_local_time.split(":"))
            if local.time() >= time(hours, minutes):
                continue
        return day
    return None


ZONES = ("UTC", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati")
START = datetime(2026, 12, 20, tzinfo=UTC)


@hs.composite
def calendared(draw: hs.DrawFn) -> list[WarehouseProfile]:
    houses = []
    for n in range(draw(hs.integers(1, 6))):
        houses.append(
            wh(
                n + 1,
                f"W{n}",
                draw(hs.sampled_from((NYC, LA, None))),
                priority=draw(hs.integers(1, 3)),
                timezone=draw(hs.sampled_from(ZONES)),
                cutoff_local_time=draw(hs.sampled_from((None, "00:30", "12:00", "17:00"))),
                closed_weekdays=frozenset(draw(hs.lists(hs.integers(0, 6), max_size=7))),
                holidays=frozenset(
                    START.date() + timedelta(days=d)
                    for d in draw(hs.lists(hs.integers(0, 20), max_size=6))
                ),
            )
        )
    return houses


@settings(max_examples=200, deadline=None)
@given(
    calendared(),
    hs.integers(0, 14 * 24 * 4).map(lambda q: START + timedelta(minutes=15 * q)),
    hs.sampled_from(("standard", "express", "same_day")),
)
def test_ship_dates_urgent_removal_and_ranking_match_a_day_by_day_reading(
    houses: list[WarehouseProfile], now: datetime, level: str
) -> None:
    stock = {(w.warehouse_id, "A"): 5 for w in houses}
    doc = rules({"ranking": ["ship_date", "priority"]})
    req = request([("A", 1)], houses, stock, doc, now=now, facts=facts(service_level=level))
    for warehouses in (houses, prepare_warehouses(houses)):
        trace = decide(replace(req, warehouses=warehouses)).trace
        entries = by_code(trace)
        for w in houses:
            entry = entries[w.code]
            want = naive_ship_date(w, now)
            assert entry["ship_date"] == (None if want is None else want.isoformat())
            today = now.astimezone(ZoneInfo(w.timezone)).date()
            ships_today = want == today
            assert entry["eligible"] == (ships_today or level == "standard")
            if entry["eligible"]:
                days = None if want is None else float((want - today).days)
                assert entry["scores"]["ship_date"] == days
        eligible = [e for e in trace["candidates"] if e["eligible"]]
        keys = [(e["scores"]["ship_date"] is None, e["scores"]["ship_date"] or 0) for e in eligible]
        assert keys == sorted(keys)  # ranked by ship date first, unknown (never) last


# --- same-day removal and the ship_date criterion


def test_an_express_order_on_saturday_skips_the_warehouse_closed_on_saturdays() -> None:
    houses = [
        wh(1, "WEEKDAYS", NYC, priority=1, timezone="America/New_York", closed_weekdays=WEEKEND),
        wh(2, "SEVEN", LA, priority=2, timezone="America/Los_Angeles"),
    ]
    stock = {(1, "A"): 5, (2, "A"): 5}
    express = decide(
        request([("A", 1)], houses, stock, now=SATURDAY_NOON, facts=facts(service_level="express"))
    )
    assert [s.warehouse_code for s in express.shipments] == ["SEVEN"]
    removed = by_code(express.trace)["WEEKDAYS"]
    assert removed["removed_by"] == "closed on Saturdays by its calendar for a express order"
    assert removed["ship_date"] == "2026-11-30"
    standard = decide(request([("A", 1)], houses, stock, now=SATURDAY_NOON))
    assert [s.warehouse_code for s in standard.shipments] == ["WEEKDAYS"]  # it can wait
    assert by_code(standard.trace)["WEEKDAYS"]["scores"]["ship_date"] == 2.0


def test_a_missed_cutoff_keeps_its_wording_for_urgent_orders() -> None:
    houses = [wh(1, "EAST", NYC, cutoff_local_time="11:00", timezone="America/New_York")]
    result = decide(
        request([("A", 1)], houses, {(1, "A"): 5}, facts=facts(service_level="same_day"))
    )
    assert by_code(result.trace)["EAST"]["removed_by"] == (
        "missed today's 11:00 cut-off (America/New_York) for a same_day order"
    )


def test_ship_date_ranks_a_warehouse_that_ships_today_first() -> None:
    houses = [
        wh(1, "NEAR", NYC, priority=1, timezone="America/New_York", cutoff_local_time="11:00"),
        wh(2, "FAR", LA, priority=2, timezone="America/Los_Angeles", cutoff_local_time="15:00"),
    ]
    stock = {(1, "A"): 5, (2, "A"): 5}
    by_priority = decide(request([("A", 1)], houses, stock))
    assert [s.warehouse_code for s in by_priority.shipments] == ["NEAR"]
    dated = decide(
        request([("A", 1)], houses, stock, rules({"ranking": ["ship_date", "priority"]}))
    )
    assert [s.warehouse_code for s in dated.shipments] == ["FAR"]
    entries = by_code(dated.trace)
    assert (entries["FAR"]["scores"]["ship_date"], entries["NEAR"]["scores"]["ship_date"]) == (
        0.0,
        1.0,
    )
    assert (entries["FAR"]["ship_date"], entries["NEAR"]["ship_date"]) == (
        "2026-11-27",
        "2026-11-28",
    )


def test_ship_date_is_a_criterion_of_the_rule_schema_and_parser() -> None:
    doc = rules({"ranking": ["ship_date", "distance"]})
    assert validate_rule_set(doc) == []
    assert parse_rule_set(doc).default.ranking == ("ship_date", "distance")
    bad = validate_rule_set(rules({"ranking": ["ship_day"]}))
    assert [e.path for e in bad] == ["default.ranking[0]"]
    assert "ship_date" in bad[0].message


def test_a_set_prepares_each_calendar_once() -> None:
    houses = [wh(n, f"W{n}", None, timezone="UTC" if n % 2 else "Asia/Tokyo") for n in range(6)]
    assert len(prepare_warehouses(houses).calendars) == 2


# --- channel buffers


def buffered(**buffers: int) -> WarehouseProfile:
    return wh(1, "EAST", NYC, channel_buffers=tuple(sorted(buffers.items())))


def test_a_channel_buffer_keeps_the_last_units_from_that_channel_only() -> None:
    houses = [buffered(shopify=2)]
    stock = {(1, "A"): 3}
    shop = decide(request([("A", 2)], houses, stock))  # facts: shopify, connector name "shop"
    assert shop.shipments == () and shop.shortfall[0].quantity == 1
    entry = by_code(shop.trace)["EAST"]
    assert (entry["channel_buffer"], entry["scores"]["stock_depth"]) == (2, 1.0)
    one = decide(request([("A", 1)], houses, stock))
    assert [s.warehouse_code for s in one.shipments] == ["EAST"]
    other = decide(
        request([("A", 2)], houses, stock, facts=facts(channel="amazon"), channel_name="amz")
    )
    assert [s.warehouse_code for s in other.shipments] == ["EAST"]
    entry = by_code(other.trace)["EAST"]
    assert (entry["channel_buffer"], entry["scores"]["stock_depth"]) == (0, 3.0)


def test_the_connector_name_entry_wins_over_its_kind() -> None:
    assert channel_buffer({"shopify": 5, "shop": 0}, "shopify", "shop") == 0
    assert channel_buffer({"shopify": 5}, "shopify", "shop") == 5
    assert channel_buffer({"amazon": 5}, "shopify", "shop") == 0
    result = decide(request([("A", 3)], [buffered(shopify=5, shop=1)], {(1, "A"): 4}))
    assert by_code(result.trace)["EAST"]["channel_buffer"] == 1
    assert [s.warehouse_code for s in result.shipments] == ["EAST"]


def test_buffers_never_make_stock_negative_and_split_to_another_warehouse() -> None:
    houses = [buffered(shop=10), wh(2, "WEST", LA, priority=5)]
    stock = {(1, "A"): 3, (2, "A"): -1}
    result = decide(request([("A", 1)], houses, stock))
    assert result.shipments == ()
    assert by_code(result.trace)["EAST"]["scores"]["stock_depth"] == 0.0
    stock[(2, "A")] = 1
    moved = decide(request([("A", 1)], houses, stock))
    assert [s.warehouse_code for s in moved.shipments] == ["WEST"]


@pytest.mark.parametrize("prepared", [False, True])
def test_removed_warehouses_show_their_ship_date_and_buffer(prepared: bool) -> None:
    houses = [buffered(shop=2), wh(2, "OFF", LA, enabled=False, closed_weekdays=WEEKEND)]
    warehouses: Any = prepare_warehouses(houses) if prepared else houses
    req: RoutingRequest = request([("A", 1)], warehouses, {(1, "A"): 5}, now=SATURDAY_NOON)
    entries = by_code(decide(req).trace)
    assert entries["OFF"]["removed_by"] == "disabled"
    assert (entries["OFF"]["ship_date"], entries["OFF"]["channel_buffer"]) == ("2026-11-30", 0)
    assert (entries["EAST"]["ship_date"], entries["EAST"]["channel_buffer"]) == ("2026-11-28", 2)
    assert site(houses[0]).buffers == (("shop", 2),)
