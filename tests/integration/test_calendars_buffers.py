"""Warehouse calendars, channel stock buffers and decision-time stock snapshots, end to end
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.intake.processing import process_inbound
from omniroute.core.order_routing import route as routing_service
from omniroute.core.order_routing.backtest import backtest
from omniroute.core.order_routing.simulate import simulate
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    Connector,
    FulfilmentOrder,
    RoutingDecision,
    SalesOrder,
    StockLevel,
)
from omniroute.core.platform.security import Role
from omniroute.core.stock import inventory, warehouses
from omniroute.core.stock.levels import Allocation, ReservationLost, channel_available, reserve
from omniroute.core.stock.sync import sync_stock
from omniroute.worker.handlers import drain
from tests.fakes import REMOTES, FakeChannel, FakeRemote, remote
from tests.integration.builders import World, build_world, order_body, post, stock

PRIORITY = {
    "name": "priority",
    "timezone": "UTC",
    "default": {"ranking": ["priority"]},
    "rules": [],
}


def next_saturday() -> datetime:
    """15:00 UTC (10:00 in New York) next Saturday: later than any inbox row made now."""
    today = utcnow().date()
    day = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, 15, 0)


def headers(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def shopify_order(number: int, lines: list[tuple[str, int]], *, shipping: str = "Free") -> bytes:
    order: dict[str, Any] = json.loads(order_body(number, lines))
    order["shipping_lines"] = [{"code": shipping, "title": shipping, "price": "0.00"}]
    return json.dumps(order).encode()


def place(ctx: Context, world: World, body: bytes, now: datetime | None = None) -> int:
    """Take in and route one Shopify order as of ``now`` (default: when it is taken in)."""
    order_id = process_inbound(ctx, post(ctx, world, body).inbound_id, now=now)
    assert order_id is not None
    drain(ctx)
    return order_id


def decision(ctx: Context, order_id: int) -> RoutingDecision:
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(
            select(RoutingDecision)
            .where(RoutingDecision.order_id == order_id)
            .order_by(RoutingDecision.id.desc())
        ).first()  # type: ignore[return-value]


def shipped_from(ctx: Context, order_id: int) -> list[int]:
    with unit_of_work(ctx.sessions) as s:
        return list(
            s.scalars(
                select(FulfilmentOrder.warehouse_id)
                .where(FulfilmentOrder.order_id == order_id)
                .order_by(FulfilmentOrder.id)
            )
        )


def candidate(trace: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in trace["candidates"] if c["code"] == code)


def test_the_warehouse_api_keeps_calendars_and_buffers(ctx: Context, client: TestClient) -> None:
    ops = headers(ctx, Role.OPS)
    body = {
        "code": "EAST",
        "name": "East",
        "address": {"postal_code": "10001", "country": "US"},
        "calendar": {"closed_weekdays": [6, 5, 6], "holidays": ["2026-12-25", "2026-01-01"]},
        "channel_buffers": {"shopify": 2, "shop-eu": 0},
    }
    created = client.post("/api/v1/warehouses", json=body, headers=ops)
    assert created.status_code == 201, created.text
    wid = created.json()["id"]
    want = {"closed_weekdays": [5, 6], "holidays": ["2026-01-01", "2026-12-25"]}
    assert created.json()["calendar"] == want
    got = client.get(f"/api/v1/warehouses/{wid}", headers=ops).json()
    assert (got["calendar"], got["channel_buffers"]) == (want, {"shopify": 2, "shop-eu": 0})

    patched = client.patch(
        f"/api/v1/warehouses/{wid}",
        json={"calendar": {"closed_weekdays": [0]}, "channel_buffers": None},
        headers=ops,
    ).json()
    assert patched["calendar"] == {"closed_weekdays": [0], "holidays": []}
    assert patched["channel_buffers"] == {}
    plain = client.post(
        "/api/v1/warehouses", json={**body, "code": "WEST"} | {"calendar": {}}, headers=ops
    ).json()
    assert plain["calendar"] == {"closed_weekdays": [], "holidays": []}

    for bad in (
        {"calendar": {"closed_weekdays": [7]}},
        {"calendar": {"closed_weekdays": list(range(7))}},
        {"calendar": {"holidays": ["2026-02-30"]}},
        {"calendar": {"holidays": ["25/12/2026"]}},
        {"calendar": {"open": True}},
        {"channel_buffers": {"shopify": -1}},
        {"channel_buffers": {"": 1}},
    ):
        answer = client.patch(f"/api/v1/warehouses/{wid}", json=bad, headers=ops)
        assert answer.status_code == 422, bad
    assert client.get(f"/api/v1/warehouses/{wid}", headers=ops).json()["calendar"][
        "closed_weekdays"
    ] == [0]
    support = headers(ctx, Role.SUPPORT)
    denied = client.patch(f"/api/v1/warehouses/{wid}", json={"calendar": {}}, headers=support)
    assert denied.status_code == 403


def test_an_express_order_on_saturday_goes_to_the_warehouse_open_on_saturdays(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    weekdays = {"closed_weekdays": [5, 6], "holidays": []}
    warehouses.update_warehouse(
        ctx, east, {"calendar": weekdays, "timezone": "America/New_York"}, actor="ops"
    )
    stock(ctx, east, "A", 5)
    stock(ctx, west, "A", 5)
    saturday = next_saturday()

    express = place(ctx, world, shopify_order(901, [("A", 1)], shipping="Express"), saturday)
    assert shipped_from(ctx, express) == [west]  # although EAST ranks first on priority
    trace = decision(ctx, express).trace
    assert candidate(trace, "EAST")["removed_by"] == (
        "closed on Saturdays by its calendar for a express order"
    )
    assert candidate(trace, "EAST")["ship_date"] == (saturday + timedelta(2)).date().isoformat()
    assert candidate(trace, "WEST")["ship_date"] == saturday.date().isoformat()

    standard = place(ctx, world, shopify_order(902, [("A", 1)]), saturday)
    assert shipped_from(ctx, standard) == [east]  # a standard order can wait for Monday
    assert candidate(decision(ctx, standard).trace, "EAST")["scores"]["ship_date"] == 2.0

    monday = place(
        ctx, world, shopify_order(903, [("A", 1)], shipping="Express"), saturday + timedelta(2)
    )
    assert shipped_from(ctx, monday) == [east]


def test_a_channel_buffer_keeps_the_last_units_from_that_channel_only(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url, [("EAST", 1)])
    east = world.warehouse_ids["EAST"]
    stock(ctx, east, "A", 3)
    warehouses.update_warehouse(ctx, east, {"channel_buffers": {"shopify": 2}}, actor="ops")
    other = connector_admin.create_connector(
        ctx,
        kind="rest_wms",
        name="phone",
        config={"base_url": wms.base_url},
        secrets={},
        enabled=True,
        actor="test",
    )

    held_back = place(ctx, world, shopify_order(911, [("A", 2)]))
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(SalesOrder, held_back).status == "exception"
    trace = decision(ctx, held_back).trace
    east_entry = candidate(trace, "EAST")
    assert (east_entry["channel_buffer"], east_entry["scores"]["stock_depth"]) == (2, 1.0)
    assert [(d["sku"], d["missing"]) for d in trace["shortfall"]] == [("A", 1)]

    # Another channel may take every free unit.
    answer = simulate(ctx, order={"connector_id": other.id, "lines": [{"sku": "A", "quantity": 3}]})
    assert [s["warehouse_code"] for s in answer["shipments"]] == ["EAST"]
    assert candidate(answer["trace"], "EAST")["channel_buffer"] == 0

    fits = place(ctx, world, shopify_order(912, [("A", 1)]))
    assert shipped_from(ctx, fits) == [east]


@pytest.fixture
def channel(ctx: Context, wms: FakeWms) -> Iterator[tuple[World, int, FakeRemote]]:
    ctx.registry.add(FakeChannel)  # type: ignore[arg-type]
    world = build_world(ctx, wms.base_url)
    name = uuid.uuid4().hex
    row = connector_admin.create_connector(
        ctx,
        kind="fake_channel",
        name="fake",
        config={"remote": name},
        secrets={},
        enabled=True,
        actor="test",
    )
    yield world, row.id, remote(name)
    REMOTES.pop(name, None)


def test_stock_sync_shows_channels_the_buffered_quantity(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    world, cid, fake = channel
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    stock(ctx, east, "A", 10)
    inventory.set_stock(ctx, west, "A", on_hand=5, safety=1, actor="test")
    warehouses.update_warehouse(ctx, east, {"channel_buffers": {"fake_channel": 3}}, actor="ops")
    # The connector's name wins over its kind: WEST holds back 1 from it, not 100.
    warehouses.update_warehouse(
        ctx, west, {"channel_buffers": {"fake_channel": 100, "fake": 1}}, actor="ops"
    )
    listing = [{"sku": "A", "channel_ref": "item-a", "buffer": 1}]
    answer = client.put(
        f"/api/v1/connectors/{cid}/listings", json=listing, headers=headers(ctx, Role.OPS)
    )
    assert answer.status_code == 200, answer.text

    sync_stock(ctx, now=utcnow(), force=True)
    drain(ctx)
    # EAST 10 - 3 held back + WEST 5 - 1 safety - 1 held back, less the listing's buffer of 1.
    assert [(u.channel_ref, u.available) for u in fake.stock[-1][1]] == [("item-a", 9)]
    with unit_of_work(ctx.sessions) as s:
        shop = s.get_one(Connector, world.shopify_id)
        assert channel_available(s, shop, ["A"]) == {"A": 14}  # nothing held back from it


def test_backtest_replays_the_stock_each_decision_saw(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    stock(ctx, east, "A", 5)
    stock(ctx, west, "A", 5)
    first = place(ctx, world, shopify_order(921, [("A", 3)]))
    second = place(ctx, world, shopify_order(922, [("A", 3)]))
    assert (shipped_from(ctx, first), shipped_from(ctx, second)) == ([east], [west])
    assert decision(ctx, first).stock_snapshot == {str(east): {"A": 5}, str(west): {"A": 5}}
    assert decision(ctx, second).stock_snapshot == {str(east): {"A": 2}, str(west): {"A": 5}}

    report = backtest(ctx, PRIORITY, last=10)
    assert (report["orders"], report["changed_decisions"]) == (2, 0)
    assert report["stock_sources"] == {"decision_time": 2, "current": 0}
    assert {item["stock"] for item in report["stock_by_order"]} == {"decision_time"}

    # Stock changes after routing: EAST could now take the second order too; the replay
    # still sees what the decision saw, so nothing changes.
    inventory.adjust_stock(ctx, east, "A", delta=50, actor="test", reason="count")
    again = backtest(ctx, PRIORITY, last=10)
    assert {k: again[k] for k in ("orders", "changed_decisions", "before", "after")} == {
        k: report[k] for k in ("orders", "changed_decisions", "before", "after")
    }

    # A decision stored without a snapshot (before they were kept) replays on today's stock.
    with unit_of_work(ctx.sessions) as s:
        s.execute(
            update(RoutingDecision)
            .where(RoutingDecision.order_id == second)
            .values(stock_snapshot=None)
        )
    current = backtest(ctx, PRIORITY, last=10)
    assert current["stock_sources"] == {"decision_time": 1, "current": 1}
    assert current["changed_decisions"] == 1
    change = current["changes"][0]
    assert (change["order_id"], change["stock"]) == (second, "current")
    assert (change["before"]["warehouses"], change["after"]["warehouses"]) == (["WEST"], ["EAST"])


def test_a_reservation_never_takes_units_held_back_from_the_orders_channel(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url, [("EAST", 1)])
    east = world.warehouse_ids["EAST"]
    stock(ctx, east, "A", 3)
    # Routing planned on an older snapshot; by now 3 are free and 2 of them held back from
    # the channel: 2 more would eat into the buffer, so the reservation is lost.
    with pytest.raises(ReservationLost), unit_of_work(ctx.sessions) as s:
        reserve(s, [Allocation(east, "A", 2, held_back=2)], reference="order:1")
    with unit_of_work(ctx.sessions) as s:
        reserve(s, [Allocation(east, "A", 1, held_back=2)], reference="order:2")
        reserve(s, [Allocation(east, "A", 2)], reference="order:3")  # another channel's order
    with unit_of_work(ctx.sessions) as s:
        level = s.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.warehouse_id == east, StockLevel.sku == "A"
            )
        ).one()
        assert tuple(level) == (3, 3)


def test_routing_on_a_stale_snapshot_cannot_take_the_channels_buffer(
    ctx: Context, wms: FakeWms, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(ctx, wms.base_url, [("EAST", 1)])
    east = world.warehouse_ids["EAST"]
    stock(ctx, east, "A", 3)
    warehouses.update_warehouse(ctx, east, {"channel_buffers": {"shopify": 2}}, actor="ops")
    # The engine plans on a snapshot from before another order took 2 units: 5 free, less
    # the buffer 3, so 2 fit. Only 3 are free now, 1 past the buffer: every re-plan loses.
    monkeypatch.setattr(routing_service, "available_snapshot", lambda _s, _skus: {(east, "A"): 5})
    order_id = process_inbound(ctx, post(ctx, world, shopify_order(913, [("A", 2)])).inbound_id)
    assert order_id is not None
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(SalesOrder, order_id).status == "validated"  # left for the sweeper
        reserved = s.scalar(
            select(StockLevel.reserved).where(
                StockLevel.warehouse_id == east, StockLevel.sku == "A"
            )
        )
    assert reserved == 0
