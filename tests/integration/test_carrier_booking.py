"""Carrier booking through the outbox after the WMS accepts a fulfilment order: quotes from
the rate-table carriers of its warehouse, the cheapest booked (hand-calculated), the
deliver-by date on the order, the booked tracking number on a shipment confirmed without
one, and a booking nothing qualifies for as an exception that keeps the order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.carriers import booking
from omniroute.core.channels import connector_admin
from omniroute.core.fulfilment import shipments
from omniroute.core.order_routing import rule_sets
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import (
    CarrierBooking,
    FulfilmentOrder,
    OrderException,
    OutboxMessage,
    SalesOrder,
    Shipment,
    Sku,
)
from omniroute.worker.handlers import drain
from tests.clocks import MovableClock
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, order_body, post, stock


def next_monday_morning() -> datetime:
    """09:00 UTC on the next Monday after today (any date: from the wall clock, once)."""
    today = utcnow().date()
    day = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, 9, 0)


def rate_table(carrier: str, days: int, breaks: list[dict[str, Any]], fuel: str) -> dict[str, Any]:
    return {
        "carrier": carrier,
        "currency": "USD",
        "warehouses": ["EAST"],
        "zones": [{"name": "near", "max_km": 500}, {"name": "far", "max_km": 3000}],
        "services": [
            {
                "code": "ground",
                "service_level": "standard",
                "zones": {
                    "near": {"transit_days": 1, "breaks": [{"max_kg": 30, "price": "5.00"}]},
                    "far": {"transit_days": days, "breaks": breaks},
                },
            }
        ],
        "surcharges": {"fuel_percent": fuel},
    }


UPS = rate_table("UPS", 4, [{"max_kg": 2, "price": "9.00"}, {"max_kg": 10, "price": "14.00"}], "10")
FEDEX = rate_table("FedEx", 2, [{"max_kg": 10, "price": "16.00"}], "0")


@dataclass
class Shop:
    ctx: Context
    clock: MovableClock
    world: World


@pytest.fixture
def shop(db_url: str, wms: FakeWms) -> Iterator[Shop]:
    yield from open_shop(db_url, wms)


def open_shop(db_url: str, wms: FakeWms) -> Iterator[Shop]:
    """A context at 09:00 next Monday, the warehouse EAST with both SKUs weighed."""
    clock = MovableClock(next_monday_morning())
    ctx = bootstrap(make_settings(db_url), clock=clock)
    try:
        world = build_world(ctx, wms.base_url, [("EAST", 1)])
        for sku, weight in (("IPOD2008GREEN", 0.2), ("IPOD2008RED", 0.4)):
            stock(ctx, world.warehouse_ids["EAST"], sku, 5)
            with unit_of_work(ctx.sessions) as s:
                s.execute(update(Sku).where(Sku.code == sku).values(weight_kg=weight))
        yield Shop(ctx, clock, world)
    finally:
        ctx.close()


def carriers(ctx: Context, *configs: tuple[str, dict[str, Any]]) -> None:
    for name, config in configs:
        connector_admin.create_connector(
            ctx,
            kind="carrier_rates",
            name=name,
            config=config,
            secrets={},
            enabled=True,
            actor="test",
        )


def place_order(shop: Shop, number: int) -> int:
    post(shop.ctx, shop.world, order_body(number, [("IPOD2008GREEN", 1), ("IPOD2008RED", 2)]))
    drain(shop.ctx)
    with unit_of_work(shop.ctx.sessions) as s:
        return s.scalars(select(SalesOrder.id).where(SalesOrder.external_id == str(number))).one()


def test_cheapest_carrier_booked_after_acceptance(shop: Shop) -> None:
    carriers(shop.ctx, ("ups-table", UPS), ("fedex-table", FEDEX))
    order_id = place_order(shop, 8001)
    monday = shop.clock.at.date()
    with unit_of_work(shop.ctx.sessions) as s:
        order = s.get_one(SalesOrder, order_id)
        fo = s.scalars(select(FulfilmentOrder).where(FulfilmentOrder.order_id == order_id)).one()
        booking = s.scalars(select(CarrierBooking)).one()
        assert order.status == "released"
        assert order.promised_ship_by == monday
        # One parcel of 0.2 + 2 x 0.4 = 1.0 kg, NYC to Louisville (about 1,000 km: "far"):
        # UPS 9.00 + 10 % fuel = 9.90, 4 days; FedEx 16.00, 2 days: UPS is cheapest.
        assert (booking.carrier, booking.service, booking.amount, booking.currency) == (
            "UPS",
            "ground",
            "9.90",
            "USD",
        )
        assert booking.fulfilment_order_id == fo.id
        assert booking.deliver_by == monday + timedelta(days=4)  # Friday
        assert order.promised_deliver_by == booking.deliver_by
        assert booking.tracking_number.startswith("RT-")
        quotes = {(q["carrier"], q["lost"]) for q in booking.choice["quotes"]}
        assert quotes == {("UPS", None), ("FedEx", "dearer")}
        assert booking.choice["quotes"][0]["zone"] == "far"
        tracking = booking.tracking_number
        fo_id = fo.id
    # The warehouse confirms without a tracking number: the booked one is taken.
    result = shipments.confirm_shipment(
        shop.ctx, fo_id, shipments.ShipmentInput(external_ref="S1", lines=None), actor="wms"
    )
    with unit_of_work(shop.ctx.sessions) as s:
        shipment = s.get_one(Shipment, result.shipment_id)
        assert (shipment.carrier, shipment.tracking_number) == ("UPS", tracking)
        assert shipment.tracking_key == tracking


def test_a_deliver_by_date_on_the_order_picks_the_faster_carrier(shop: Shop) -> None:
    carriers(shop.ctx, ("ups-table", UPS), ("fedex-table", FEDEX))
    monday = shop.clock.at.date()
    order_id = _order_with_deliver_by(shop, 8002, monday + timedelta(days=2))
    with unit_of_work(shop.ctx.sessions) as s:
        booking = s.scalars(select(CarrierBooking).where(CarrierBooking.order_id == order_id)).one()
        assert (booking.carrier, Decimal(booking.amount)) == ("FedEx", Decimal("16.00"))
        assert booking.deliver_by == monday + timedelta(days=2)
        lost = {q["carrier"]: q["lost"] for q in booking.choice["quotes"]}
        assert lost == {"UPS": "too_slow", "FedEx": None}


def _order_with_deliver_by(shop: Shop, number: int, by: date) -> int:
    """An order that asks for delivery by ``by`` in a note attribute ``deliver_by``."""
    body = json.loads(order_body(number, [("IPOD2008GREEN", 1), ("IPOD2008RED", 2)]))
    body["note_attributes"] = [{"name": "deliver_by", "value": by.isoformat()}]
    post(shop.ctx, shop.world, json.dumps(body).encode())
    drain(shop.ctx)
    with unit_of_work(shop.ctx.sessions) as s:
        return s.scalars(select(SalesOrder.id).where(SalesOrder.external_id == str(number))).one()


def test_no_qualifying_quote_opens_an_exception_and_keeps_the_order(shop: Shop) -> None:
    zones = [{"name": name, "countries": ["CA"]} for name in ("near", "far")]
    canada_only = {**UPS, "zones": zones}
    carriers(shop.ctx, ("ups-canada", canada_only))
    order_id = place_order(shop, 8003)
    with unit_of_work(shop.ctx.sessions) as s:
        order = s.get_one(SalesOrder, order_id)
        assert order.status == "released"  # still at its warehouse
        assert order.promised_deliver_by is None
        assert s.scalars(select(CarrierBooking)).first() is None
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "carrier.booking")).one()
        assert row.status == "dead"
        exc = s.scalars(
            select(OrderException).where(OrderException.reason == "carrier_booking_failed")
        ).one()
        assert exc.order_id == order_id
        assert exc.outbox_message_id == row.id
        assert exc.detail["carrier_reason"] == "no_carrier_quote"
        assert "ups-canada: no_service" in exc.detail["message"]
        assert exc.detail["choice"]["carriers_without_quote"][0]["lost"] == "no_service"


def test_a_warehouse_no_carrier_serves_books_nothing(shop: Shop) -> None:
    carriers(shop.ctx, ("ups-west", {**UPS, "warehouses": ["WEST"]}))
    order_id = place_order(shop, 8004)
    with unit_of_work(shop.ctx.sessions) as s:
        assert s.get_one(SalesOrder, order_id).status == "released"
        kinds = s.scalars(select(OutboxMessage.kind)).all()
        assert "carrier.booking" not in kinds
        assert s.scalars(select(OrderException)).first() is None


def test_no_label_is_bought_for_an_order_shipped_with_its_own_tracking(shop: Shop) -> None:
    order_id = place_order(shop, 8005)  # no carrier yet: no booking queued
    carriers(shop.ctx, ("ups-table", UPS))
    with unit_of_work(shop.ctx.sessions) as s:
        fo_id = s.scalars(
            select(FulfilmentOrder.id).where(FulfilmentOrder.order_id == order_id)
        ).one()
        outbox_id = booking.queue_booking(s, fo_id, "EAST")
        assert booking.queue_booking(s, fo_id, "EAST") is None  # once per fulfilment order
    assert outbox_id is not None
    shipments.confirm_shipment(
        shop.ctx,
        fo_id,
        shipments.ShipmentInput(external_ref="OWN", lines=None, tracking_number="1ZOWN"),
        actor="wms",
    )
    shop.ctx.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    drain(shop.ctx)
    with unit_of_work(shop.ctx.sessions) as s:
        assert s.scalars(select(CarrierBooking)).first() is None
        assert s.get_one(OutboxMessage, outbox_id).status == "sent"
        assert s.scalars(select(Shipment.tracking_number)).one() == "1ZOWN"


def test_a_rule_sets_the_carrier_strategy(shop: Shop) -> None:
    carriers(shop.ctx, ("ups-table", UPS), ("fedex-table", FEDEX))
    doc = {
        "name": "fastest to the US",
        "timezone": "UTC",
        "rules": [
            {
                "id": "us-fast",
                "when": {"field": "country", "op": "eq", "value": "US"},
                "then": {"carrier": {"strategy": "fastest", "cost_cap": 20}},
            }
        ],
    }
    draft = rule_sets.create_draft(shop.ctx, doc, notes=None, actor="t")
    rule_sets.publish(shop.ctx, draft.id, effective_from=None, actor="t")
    order_id = place_order(shop, 8006)
    with unit_of_work(shop.ctx.sessions) as s:
        row = s.scalars(select(CarrierBooking).where(CarrierBooking.order_id == order_id)).one()
        # FedEx 16.00 in 2 days beats UPS 9.90 in 4 under "fastest" (both within the cap).
        assert (row.carrier, row.amount) == ("FedEx", "16.00")
        assert row.choice["policy"] == {
            "strategy": "fastest",
            "cost_cap": "20",
            "service_levels": [],
        }
        assert {q["carrier"]: q["lost"] for q in row.choice["quotes"]} == {
            "UPS": "slower",
            "FedEx": None,
        }


def test_a_carrier_quoting_in_euros_is_compared_at_the_configured_rate(
    db_url: str, wms: FakeWms
) -> None:
    clock = MovableClock(next_monday_morning())
    settings = make_settings(db_url, exchange_rates="USD=1,EUR=1.10")
    ctx = bootstrap(settings, clock=clock)
    try:
        world = build_world(ctx, wms.base_url, [("EAST", 1)])
        for sku in ("IPOD2008GREEN", "IPOD2008RED"):
            stock(ctx, world.warehouse_ids["EAST"], sku, 5)
            with unit_of_work(ctx.sessions) as s:
                s.execute(update(Sku).where(Sku.code == sku).values(weight_kg=0.3))
        dpd = rate_table("DPD", 3, [{"max_kg": 10, "price": "8.50"}], "0") | {"currency": "EUR"}
        carriers(ctx, ("ups-table", UPS), ("dpd-table", dpd))
        order_id = place_order(Shop(ctx, clock, world), 8101)
        with unit_of_work(ctx.sessions) as s:
            currency = s.get_one(SalesOrder, order_id).currency
            booking = s.scalars(select(CarrierBooking)).one()
        assert currency == "USD"
        # DPD 8.50 EUR = 9.35 USD beats UPS 9.90 USD; the booking keeps the euros quoted.
        assert (booking.carrier, booking.amount, booking.currency) == ("DPD", "8.50", "EUR")
        assert booking.choice["compared_in"] == "USD"
        assert booking.choice["chosen"]["compared_amount"] == "9.35"
        lost = {q["carrier"]: q["lost"] for q in booking.choice["quotes"]}
        assert lost == {"UPS": "dearer", "DPD": None}
    finally:
        ctx.close()


def test_unreadable_exchange_rates_stop_the_start() -> None:
    with pytest.raises(ValueError, match="EUR=abc"):
        make_settings("sqlite://", exchange_rates="USD=1,EUR=abc")
