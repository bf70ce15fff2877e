"""Missed cut-offs and the promised ship date in the pure router (issue 17 item 4)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from omniroute.routing.allocate import Outcome
from omniroute.routing.engine import RoutingRequest, WarehouseProfile, decide, prepare_warehouses
from omniroute.routing.rules import CutoffAction, parse_rule_set, validate_rule_set
from omniroute.routing.tracing.render import render_trace
from omniroute.routing.warehouses import day_begins
from tests.unit.test_engine import LA, NYC, facts, request, rules, wh

# Friday 2026-11-27 21:00 UTC: 16:00 in New York, 13:00 in Los Angeles.
FRIDAY_LATE = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
WEEKEND = frozenset({5, 6})
STOCK = {(1, "A"): 5, (2, "A"): 5}


def houses(**over: Any) -> list[WarehouseProfile]:
    """NYC past its 14:00 cut-off, LA past its 12:00 one; both closed at weekends."""
    return [
        wh(
            1,
            "NYC",
            NYC,
            cutoff_local_time="14:00",
            timezone="America/New_York",
            closed_weekdays=WEEKEND,
            **over,
        ),
        wh(
            2,
            "LAX",
            LA,
            cutoff_local_time="12:00",
            timezone="America/Los_Angeles",
            closed_weekdays=WEEKEND,
            **over,
        ),
    ]


def express(
    outcome: dict[str, Any] | None = None,
    *,
    stock: dict[tuple[int, str], int] | None = None,
    now: datetime = FRIDAY_LATE,
    level: str = "express",
    warehouses: list[WarehouseProfile] | None = None,
) -> RoutingRequest:
    req = request(
        [("A", 2)],
        houses() if warehouses is None else warehouses,
        STOCK if stock is None else stock,
        None if outcome is None else rules(outcome),
        now=now,
    )
    return replace(req, facts=facts(service_level=level))


def by_code(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in trace["candidates"]}


def test_every_warehouse_past_its_cutoff_is_cutoff_missed_not_no_stock() -> None:
    result = decide(express())
    assert result.outcome is Outcome.CUTOFF_MISSED
    assert result.shipments == () and result.shortfall == () and result.promise is None
    trace = result.trace
    assert (trace["outcome"], trace["shortfall"]) == ("cutoff_missed", [])
    assert "Not enough stock" not in trace["summary"]
    assert trace["summary"] == (
        "No warehouse ships this express order today: "
        "LAX missed its 12:00 cut-off (America/Los_Angeles), "
        "NYC missed its 14:00 cut-off (America/New_York); "
        "it could ship on 2026-11-30 from NYC; exception (cutoff_missed)."
    )
    nyc = by_code(trace)["NYC"]["why_not"]
    assert nyc["reason"] == "cutoff_missed"
    assert (nyc["cutoff"], nyc["timezone"], nyc["ships"]) == (
        "14:00",
        "America/New_York",
        "2026-11-30",
    )
    assert nyc["text"] == "missed today's 14:00 cut-off (America/New_York) for a express order"
    cutoff = trace["cutoff"]
    assert cutoff["action"] == "exception"
    assert [m["code"] for m in cutoff["missed"]] == ["LAX", "NYC"]
    assert (cutoff["earliest_ship_date"], cutoff["earliest_from"]) == ("2026-11-30", ["NYC"])
    assert render_trace(trace)["headline"] == trace["summary"]
    json.dumps(trace)


def test_without_the_stock_on_any_day_it_stays_no_stock() -> None:
    result = decide(express(stock={(1, "A"): 1, (2, "A"): 0}))
    assert result.outcome is Outcome.NO_STOCK
    assert "cutoff" not in result.trace
    assert result.trace["summary"].startswith("No warehouse is eligible")


def test_one_warehouse_still_open_ships_today_with_no_fallback() -> None:
    open_late = [*houses()[:1], wh(2, "LAX", LA, timezone="America/Los_Angeles")]
    result = decide(express({"on_cutoff_missed": "hold"}, warehouses=open_late))
    assert result.outcome is Outcome.SINGLE
    assert result.trace["chosen"] == ["LAX"]
    assert "cutoff" not in result.trace
    assert result.promise is not None
    assert (result.promise.ship_by, result.promise.service_level) == (date(2026, 11, 27), "express")


def test_downgrade_routes_it_as_standard_with_the_promise() -> None:
    result = decide(express({"on_cutoff_missed": "downgrade"}))
    assert result.outcome is Outcome.SINGLE
    assert result.trace["chosen"] == ["NYC"]  # as a standard order: the nearest
    assert result.promise is not None
    assert result.promise.service_level == "standard"
    assert result.promise.ship_by == date(2026, 11, 30)  # Friday's cut-off missed: Monday
    trace = result.trace
    assert trace["promise"] == {
        "ship_by": "2026-11-30",
        "service_level": "standard",
        "hold_until": None,
    }
    assert trace["cutoff"]["action"] == "downgrade"
    assert trace["cutoff"]["service_level"] == {"ordered": "express", "used": "standard"}
    assert trace["summary"].startswith("Ship the whole order from NYC. Routed as standard: ")
    assert "NYC missed its 14:00 cut-off (America/New_York)" in trace["summary"]
    assert by_code(trace)["NYC"]["why_not"] is None


def test_a_downgrade_to_another_urgent_level_changes_nothing() -> None:
    same_day = express(
        {"on_cutoff_missed": "downgrade", "downgrade_to": "express"}, level="same_day"
    )
    assert decide(same_day).outcome is Outcome.CUTOFF_MISSED


def test_ship_next_day_keeps_the_level_and_ships_on_the_next_working_day() -> None:
    result = decide(express({"on_cutoff_missed": "ship_next_day"}))
    assert result.outcome is Outcome.SINGLE
    assert result.promise is not None
    assert (result.promise.ship_by, result.promise.service_level) == (date(2026, 11, 30), "express")
    trace = result.trace
    assert trace["ranking"][0] == "ship_date"  # the soonest day first, then the rule's chain
    assert trace["chosen"] == ["NYC"]
    assert trace["summary"].startswith("Ship the whole order from NYC. Ships on 2026-11-30: ")
    assert trace["cutoff"]["action"] == "ship_next_day"


def test_ship_next_day_prefers_the_warehouse_that_ships_sooner() -> None:
    # NYC is nearer but shut on Monday for a holiday; LAX ships on Monday.
    monday = date(2026, 11, 30)
    warehouses = houses()
    warehouses[0] = replace(warehouses[0], holidays=frozenset({monday}))
    result = decide(express({"on_cutoff_missed": "ship_next_day"}, warehouses=warehouses))
    assert result.trace["chosen"] == ["LAX"]
    assert result.promise is not None and result.promise.ship_by == monday
    assert by_code(result.trace)["NYC"]["scores"]["ship_date"] == 4.0  # Tuesday


def test_hold_waits_for_the_next_shipping_day_to_begin() -> None:
    result = decide(express({"on_cutoff_missed": "hold"}))
    assert result.outcome is Outcome.HOLD
    assert result.shipments == ()
    promise = result.promise
    assert promise is not None
    # Monday 00:00 in New York, after the weekend.
    assert promise.hold_until == datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    assert (promise.ship_by, promise.service_level) == (date(2026, 11, 30), "express")
    trace = result.trace
    assert trace["outcome"] == "hold"
    assert trace["cutoff"]["hold_until"] == "2026-11-30T05:00:00+00:00"
    assert (
        "held until 2026-11-30 05:00 UTC, when NYC begins its next shipping day" in trace["summary"]
    )
    # Routed again when the hold ends, it ships that day before the cut-off.
    again = decide(express({"on_cutoff_missed": "hold"}, now=promise.hold_until))
    assert again.outcome is Outcome.SINGLE
    assert again.promise is not None and again.promise.ship_by == date(2026, 11, 30)


def test_a_closed_day_counts_as_not_shipping_today() -> None:
    saturday = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # before both cut-offs, but closed
    result = decide(express(now=saturday))
    assert result.outcome is Outcome.CUTOFF_MISSED
    assert by_code(result.trace)["NYC"]["why_not"]["reason"] == "calendar"
    assert "NYC closed on Saturdays by its calendar" in result.trace["summary"]


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # 23:30 UTC Friday is already Saturday 08:30 in Tokyo: closed for the weekend.
        ("Asia/Tokyo", datetime(2026, 11, 27, 23, 30, tzinfo=UTC), date(2026, 11, 30)),
        # 14:30 UTC Friday is 14:30 in London (GMT in November): past 14:00, Monday.
        ("Europe/London", datetime(2026, 11, 27, 14, 30, tzinfo=UTC), date(2026, 11, 30)),
        # 13:30 UTC on a summer Friday is 14:30 in London (BST): past 14:00, Monday.
        ("Europe/London", datetime(2026, 7, 3, 13, 30, tzinfo=UTC), date(2026, 7, 6)),
        # 13:30 UTC Wednesday is 08:30 in New York: before its cut-off, today.
        ("America/New_York", datetime(2026, 11, 25, 13, 30, tzinfo=UTC), date(2026, 11, 25)),
    ],
)
def test_the_promise_is_read_in_the_warehouse_time_zone(
    zone: str, now: datetime, expected: date
) -> None:
    house = wh(1, "W", NYC, cutoff_local_time="14:00", timezone=zone, closed_weekdays=WEEKEND)
    result = decide(request([("A", 1)], [house], {(1, "A"): 3}, now=now))
    assert result.promise is not None and result.promise.ship_by == expected
    assert result.trace["promise"]["ship_by"] == expected.isoformat()


def test_a_year_ahead_works_the_same() -> None:
    later = FRIDAY_LATE + timedelta(days=364)  # Friday 2027-11-26, same local times
    result = decide(express({"on_cutoff_missed": "hold"}, now=later))
    assert result.promise is not None
    assert result.promise.hold_until == datetime(2027, 11, 29, 5, 0, tzinfo=UTC)
    assert result.promise.ship_by == date(2027, 11, 29)
    prepared = replace(express(now=later), warehouses=prepare_warehouses(houses()))
    assert decide(prepared).trace["cutoff"]["earliest_ship_date"] == "2027-11-29"


def test_a_split_promises_the_last_of_its_ship_dates() -> None:
    split_houses = [
        wh(1, "NYC", NYC, cutoff_local_time="14:00", timezone="America/New_York"),
        wh(2, "LAX", LA, timezone="America/Los_Angeles"),
    ]
    stock = {(1, "A"): 1, (2, "A"): 1}
    result = decide(request([("A", 2)], split_houses, stock, now=FRIDAY_LATE))
    assert len(result.shipments) == 2
    assert result.promise is not None
    assert result.promise.ship_by == date(2026, 11, 28)  # NYC ships Saturday, LAX today


def test_day_begins_at_local_midnight() -> None:
    assert day_begins("Asia/Tokyo", date(2026, 11, 30)) == datetime(2026, 11, 29, 15, tzinfo=UTC)
    assert day_begins(("UTC", "12:00", WEEKEND, frozenset()), date(2026, 11, 30)) == datetime(
        2026, 11, 30, tzinfo=UTC
    )


def test_the_rule_keys_parse_and_are_in_the_schema() -> None:
    doc = rules({"on_cutoff_missed": "downgrade", "downgrade_to": "standard"})
    assert validate_rule_set(doc) == []
    parsed = parse_rule_set(doc).default
    assert (parsed.on_cutoff_missed, parsed.downgrade_to) == (CutoffAction.DOWNGRADE, "standard")
    assert parsed.to_json()["on_cutoff_missed"] == "downgrade"
    assert validate_rule_set(rules(parsed.to_json())) == []
    bad = validate_rule_set(rules({"on_cutoff_missed": "later", "downgrade_to": "same_day"}))
    assert sorted(e.path for e in bad) == ["default.downgrade_to", "default.on_cutoff_missed"]


def test_a_rule_sets_the_action_for_its_orders_only() -> None:
    doc = rules(
        {},
        {
            "id": "express-late",
            "when": {"field": "service_level", "op": "eq", "value": "express"},
            "then": {"on_cutoff_missed": "ship_next_day"},
        },
    )
    req = replace(express(), rule_set=parse_rule_set(doc))
    assert decide(req).trace["cutoff"]["action"] == "ship_next_day"
    same_day = replace(req, facts=facts(service_level="same_day"))
    assert decide(same_day).outcome is Outcome.CUTOFF_MISSED


def test_a_midnight_cutoff_is_not_held_forever_but_ships_next_day() -> None:
    """A 00:00 cut-off is missed at every moment, also when a hold would end: the order ships
    on its next day instead of being held again and again."""
    midnight = [wh(1, "NYC", NYC, cutoff_local_time="00:00", timezone="America/New_York")]
    result = decide(express({"on_cutoff_missed": "hold"}, warehouses=midnight))
    assert result.outcome is Outcome.SINGLE
    assert result.promise is not None
    assert (result.promise.ship_by, result.promise.hold_until) == (date(2026, 11, 28), None)
    cutoff = result.trace["cutoff"]
    assert (cutoff["action"], cutoff["earliest_ship_date"]) == ("ship_next_day", "2026-11-28")
    assert "not held, as NYC would miss its cut-off again" in result.trace["summary"]
