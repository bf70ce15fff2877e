"""An express order after every warehouse's cut-off, end to end (issue 17 item 4): the
exception cutoff_missed (not no_stock), a downgrade to standard, or a hold that the sweeper
ends at the next shipping day; the promised ship-by date on the order and in its view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.intake.processing import process_inbound
from omniroute.core.order_routing import rule_sets
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import FulfilmentOrder, SalesOrder
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.clocks import MovableClock
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, order_body, post, stock

NEW_YORK = ZoneInfo("America/New_York")
WEEKEND = {"closed_weekdays": [5, 6], "holidays": []}


def next_friday_evening() -> datetime:
    """21:00 UTC next Friday: 16:00 or 17:00 in New York, 13:00 or 14:00 in Los Angeles,
    past both warehouses' cut-offs; counted from the wall clock, so the suite passes on any
    date (and later than any row written now)."""
    today = utcnow().date()
    day = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, 21, 0)


@dataclass
class Shop:
    ctx: Context
    clock: MovableClock
    world: World
    client: TestClient
    headers: dict[str, str]
    monday: date  # the next shipping day of both warehouses

    def publish(self, default: dict[str, Any]) -> None:
        doc = {"name": "cutoffs", "timezone": "UTC", "default": default, "rules": []}
        draft = rule_sets.create_draft(self.ctx, doc, notes=None, actor="test")
        effective = self.clock.at - timedelta(minutes=1)
        rule_sets.publish(self.ctx, draft.id, effective_from=effective, actor="test")

    def express(self, number: int) -> int:
        order: dict[str, Any] = json.loads(order_body(number, [("A", 2)]))
        order["shipping_lines"] = [{"code": "Express", "title": "Express", "price": "9.00"}]
        inbound = post(self.ctx, self.world, json.dumps(order).encode()).inbound_id
        order_id = process_inbound(self.ctx, inbound)  # at the clock's time
        assert order_id is not None
        drain(self.ctx)
        return order_id

    def view(self, order_id: int) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/orders/{order_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
def shop(db_url: str, wms: FakeWms) -> Iterator[Shop]:
    clock = MovableClock(next_friday_evening())
    ctx = bootstrap(make_settings(db_url), clock=clock)
    try:
        world = build_world(ctx, wms.base_url)
        east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
        warehouses.update_warehouse(
            ctx,
            east,
            {"timezone": "America/New_York", "cutoff_local_time": "14:00", "calendar": WEEKEND},
            actor="ops",
        )
        warehouses.update_warehouse(
            ctx,
            west,
            {"timezone": "America/Los_Angeles", "cutoff_local_time": "12:00", "calendar": WEEKEND},
            actor="ops",
        )
        stock(ctx, east, "A", 5)
        stock(ctx, west, "A", 5)
        token = create_token(ctx, role=Role.OPS, name="ops")
        with TestClient(create_app(ctx)) as client:
            monday = (clock.at + timedelta(days=3)).date()
            yield Shop(ctx, clock, world, client, {"Authorization": f"Bearer {token}"}, monday)
    finally:
        ctx.close()


def fulfilment_warehouses(ctx: Context, order_id: int) -> list[int]:
    with unit_of_work(ctx.sessions) as s:
        return list(
            s.scalars(
                select(FulfilmentOrder.warehouse_id).where(FulfilmentOrder.order_id == order_id)
            )
        )


def latest_trace(view: dict[str, Any]) -> dict[str, Any]:
    trace: dict[str, Any] = view["routing_decisions"][-1]["trace"]
    return trace


def test_with_no_rule_it_is_cutoff_missed_not_no_stock(shop: Shop) -> None:
    order_id = shop.express(7001)
    view = shop.view(order_id)
    assert view["status"] == "exception"
    assert [e["reason"] for e in view["exceptions"]] == ["cutoff_missed"]
    detail = view["exceptions"][0]["detail"]
    assert detail["earliest_ship_date"] == shop.monday.isoformat()
    assert {m["code"]: (m["cutoff"], m["timezone"]) for m in detail["missed"]} == {
        "EAST": ("14:00", "America/New_York"),
        "WEST": ("12:00", "America/Los_Angeles"),
    }
    trace = latest_trace(view)
    assert trace["outcome"] == "cutoff_missed"
    assert "Not enough stock" not in trace["headline"]
    assert "EAST missed its 14:00 cut-off (America/New_York)" in trace["headline"]
    east = next(c for c in trace["candidates"] if c["code"] == "EAST")
    assert east["why_not"]["reason"] == "cutoff_missed"
    assert view["promised_ship_by"] is None
    assert fulfilment_warehouses(shop.ctx, order_id) == []


def test_with_downgrade_it_is_routed_as_standard_with_the_promise(shop: Shop) -> None:
    shop.publish({"on_cutoff_missed": "downgrade", "ranking": ["priority"]})
    order_id = shop.express(7002)
    view = shop.view(order_id)
    assert view["status"] == "released"
    assert view["service_level"] == "express"  # as ordered
    assert view["promised_service_level"] == "standard"
    assert view["promised_ship_by"] == shop.monday.isoformat()
    assert fulfilment_warehouses(shop.ctx, order_id) == [shop.world.warehouse_ids["EAST"]]
    trace = latest_trace(view)
    assert trace["cutoff"]["service_level"] == {"ordered": "express", "used": "standard"}
    assert trace["promise"]["ship_by"] == shop.monday.isoformat()
    with unit_of_work(shop.ctx.sessions) as s:
        order = s.get_one(SalesOrder, order_id)
        assert (order.promised_ship_by, order.promised_service_level) == (shop.monday, "standard")


def test_with_hold_the_sweeper_routes_it_when_the_next_shipping_day_begins(shop: Shop) -> None:
    shop.publish({"on_cutoff_missed": "hold", "ranking": ["priority"]})
    order_id = shop.express(7003)
    view = shop.view(order_id)
    assert view["status"] == "on_hold"
    midnight = datetime.combine(shop.monday, time(0), NEW_YORK).astimezone(UTC)
    assert view["hold"]["code"] == "cutoff_missed"
    assert datetime.fromisoformat(view["hold"]["until"]) == midnight
    assert view["promised_ship_by"] == shop.monday.isoformat()
    assert latest_trace(view)["outcome"] == "hold"

    shop.clock.at = midnight.replace(tzinfo=None) - timedelta(minutes=1)
    sweep(shop.ctx)
    assert shop.view(order_id)["status"] == "on_hold"  # not yet

    shop.clock.at = midnight.replace(tzinfo=None) + timedelta(minutes=1)
    sweep(shop.ctx)
    drain(shop.ctx)
    view = shop.view(order_id)
    assert view["status"] == "released"
    assert view["hold"] is None
    assert fulfilment_warehouses(shop.ctx, order_id) == [shop.world.warehouse_ids["EAST"]]
    assert (view["promised_ship_by"], view["promised_service_level"]) == (
        shop.monday.isoformat(),
        "express",
    )
    trace = latest_trace(view)
    assert trace["outcome"] == "single"
    assert trace["promise"]["ship_by"] == shop.monday.isoformat()
    with unit_of_work(shop.ctx.sessions) as s:
        assert s.get_one(SalesOrder, order_id).hold_until is None


def test_ops_can_route_a_cutoff_hold_now_by_hand(shop: Shop) -> None:
    """An order held for its next shipping day is not a release-policy hold: forcing it to a
    warehouse, or re-running its routing, clears the hold instead of asking to release it."""
    shop.publish({"on_cutoff_missed": "hold", "ranking": ["priority"]})
    forced_id = shop.express(7004)
    assert shop.view(forced_id)["status"] == "on_hold"
    forced = shop.client.post(
        f"/api/v1/orders/{forced_id}/route", headers=shop.headers, json={"warehouse_code": "WEST"}
    )
    assert forced.status_code == 200, forced.text
    drain(shop.ctx)
    view = shop.view(forced_id)
    assert (view["status"], view["hold"]) == ("released", None)
    assert fulfilment_warehouses(shop.ctx, forced_id) == [shop.world.warehouse_ids["WEST"]]

    rerun_id = shop.express(7005)
    assert shop.view(rerun_id)["status"] == "on_hold"
    shop.publish({"on_cutoff_missed": "ship_next_day", "ranking": ["priority"]})
    rerun = shop.client.post(f"/api/v1/orders/{rerun_id}/reroute", headers=shop.headers)
    assert rerun.status_code == 200, rerun.text
    view = shop.view(rerun_id)
    assert (view["status"], view["hold"]) == ("routed", None)
    # The new decision's promise replaces the hold's.
    assert (view["promised_ship_by"], view["promised_service_level"]) == (
        shop.monday.isoformat(),
        "express",
    )
    assert latest_trace(view)["cutoff"]["action"] == "ship_next_day"
