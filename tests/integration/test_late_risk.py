"""The late-risk sweeper turn with a fixed clock: an order not shipped by its ship-by date,
one shipped but not delivered by its deliver-by date, one whose parcel the carrier reports
as an exception; each opens one ``late_risk`` exception, once, and an order on time none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import bootstrap
from omniroute.core.carriers.late_risk import local_day, open_late_risks
from omniroute.core.fulfilment import shipments
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    FulfilmentOrder,
    OrderException,
    SalesOrder,
    Shipment,
    Sku,
    Warehouse,
)
from tests.clocks import MovableClock
from tests.conftest import make_settings
from tests.integration.builders import build_world, stock
from tests.integration.test_carrier_booking import (
    FEDEX,
    UPS,
    Shop,
    carriers,
    next_monday_morning,
    place_order,
)


@pytest.fixture
def shop(db_url: str, wms: FakeWms) -> Iterator[Shop]:
    clock = MovableClock(next_monday_morning())
    ctx = bootstrap(make_settings(db_url), clock=clock)
    try:
        world = build_world(ctx, wms.base_url, [("EAST", 1)])
        for sku in ("IPOD2008GREEN", "IPOD2008RED"):
            stock(ctx, world.warehouse_ids["EAST"], sku, 20)
            with unit_of_work(ctx.sessions) as s:
                s.execute(update(Sku).where(Sku.code == sku).values(weight_kg=0.3))
        shop = Shop(ctx, clock, world)
        carriers(ctx, ("ups-table", UPS), ("fedex-table", FEDEX))
        yield shop
    finally:
        ctx.close()


def risks(shop: Shop) -> dict[int, str]:
    with unit_of_work(shop.ctx.sessions) as s:
        rows = s.scalars(select(OrderException).where(OrderException.reason == "late_risk"))
        return {r.order_id: r.detail["risk"] for r in rows if r.order_id is not None}


def ship(shop: Shop, order_id: int, ref: str) -> int:
    with unit_of_work(shop.ctx.sessions) as s:
        fo = s.scalars(select(FulfilmentOrder).where(FulfilmentOrder.order_id == order_id)).one()
        fo_id = fo.id
    result = shipments.confirm_shipment(
        shop.ctx, fo_id, shipments.ShipmentInput(external_ref=ref, lines=None), actor="wms"
    )
    return result.shipment_id


def test_late_risks_open_once_each(shop: Shop) -> None:
    monday = shop.clock.at
    unshipped = place_order(shop, 9001)
    undelivered = place_order(shop, 9002)
    troubled = place_order(shop, 9003)
    on_time = place_order(shop, 9004)
    with unit_of_work(shop.ctx.sessions) as s:
        promise = s.get_one(SalesOrder, undelivered).promised_deliver_by
    assert promise == monday.date() + timedelta(days=4)  # UPS ground, 4 business days
    for order_id in (undelivered, troubled, on_time):
        ship(shop, order_id, f"S{order_id}")
    with unit_of_work(shop.ctx.sessions) as s:
        s.execute(update(Shipment).where(Shipment.order_id == troubled).values(status="exception"))

    # Monday itself: nothing is late yet but the carrier's exception.
    assert open_late_risks(shop.ctx, now=monday + timedelta(hours=8)) == 1
    assert risks(shop) == {troubled: "carrier_exception"}

    # Tuesday: the unshipped order missed Monday's ship-by.
    shop.clock.at = monday + timedelta(days=1)
    assert open_late_risks(shop.ctx, now=shop.clock.at) == 1
    assert risks(shop)[unshipped] == "not_shipped"

    # The on-time order is delivered on Thursday; the other is still in transit on Saturday.
    with unit_of_work(shop.ctx.sessions) as s:
        s.execute(update(Shipment).where(Shipment.order_id == on_time).values(status="delivered"))
    shop.clock.at = monday + timedelta(days=5)
    sweep(shop.ctx, now=shop.clock.at)  # the sweeper takes the turn
    assert risks(shop) == {
        troubled: "carrier_exception",
        unshipped: "not_shipped",
        undelivered: "not_delivered",
    }

    # Once per order: later turns open nothing more.
    shop.clock.at = monday + timedelta(days=9)
    assert open_late_risks(shop.ctx, now=shop.clock.at) == 0
    with unit_of_work(shop.ctx.sessions) as s:
        count = len(s.scalars(select(OrderException.id)).all())
        stamped = s.get_one(SalesOrder, unshipped).late_risk_at
    assert count == 3
    assert stamped == monday + timedelta(days=1)


@pytest.mark.parametrize(
    ("zone", "quiet_hours", "late_hours"),
    [
        # Los Angeles: Monday ends at 08:00 UTC Tuesday; at 06:00 UTC it is still Monday there.
        ("America/Los_Angeles", 21, 24 + 9),
        # Auckland (UTC+12/+13): Monday there is over before UTC's Monday lunchtime.
        ("Pacific/Auckland", 0, 4),
    ],
)
def test_ship_by_passes_when_the_warehouse_day_is_over(
    shop: Shop, zone: str, quiet_hours: int, late_hours: int
) -> None:
    with unit_of_work(shop.ctx.sessions) as s:
        s.execute(
            update(Warehouse)
            .where(Warehouse.id == shop.world.warehouse_ids["EAST"])
            .values(timezone=zone, cutoff_local_time=None)
        )
    monday = shop.clock.at
    order_id = place_order(shop, 9101)
    with unit_of_work(shop.ctx.sessions) as s:
        ship_by = s.get_one(SalesOrder, order_id).promised_ship_by
    assert ship_by == local_day(monday, zone)
    # Midnight after the ship-by date, in the warehouse's zone, as naive UTC.
    over = (
        datetime.combine(ship_by + timedelta(days=1), time(0), ZoneInfo(zone))
        .astimezone(UTC)
        .replace(tzinfo=None)
    )
    before, after = monday + timedelta(hours=quiet_hours), monday + timedelta(hours=late_hours)
    assert before < over <= after
    assert open_late_risks(shop.ctx, now=before) == 0
    assert open_late_risks(shop.ctx, now=over - timedelta(seconds=1)) == 0
    assert open_late_risks(shop.ctx, now=over) == 1
    assert risks(shop) == {order_id: "not_shipped"}
