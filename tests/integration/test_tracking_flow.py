"""Carrier tracking through the webhook endpoint, the inbox and the worker, with the real
EasyPost and AfterShip samples: status applied, duplicates absorbed, late events do not
regress, delivered sticks, the order is delivered when every shipment is, and an event for a
tracking number no shipment has yet is kept and applied when the shipment is recorded."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors import tracking as carrier
from omniroute.connectors.generic import webhooks as generic_webhooks
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.fulfilment import shipments
from omniroute.core.orders import views as orders
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    FulfilmentOrder,
    InboundMessage,
    SalesOrder,
    Shipment,
    TrackingEvent,
)
from omniroute.core.platform.security import Role
from omniroute.core.tracking.events import record_update
from omniroute.worker.handlers import drain
from tests.carrier_samples import (
    AFTERSHIP_SECRET,
    EASYPOST_SECRET,
    aftership_delivery,
    aftership_event,
    easypost_delivery,
    easypost_event,
)
from tests.integration.builders import build_world, order_body, post, stock

GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Shop:
    order_id: int
    fulfilment_order_id: int
    easypost_id: int
    aftership_id: int
    generic_id: int
    headers: dict[str, str]


@pytest.fixture
def shop(ctx: Context, wms: FakeWms) -> Shop:
    """An order of two SKUs released to one warehouse, and the three carrier connectors."""
    world = build_world(ctx, wms.base_url)
    for sku in ("IPOD2008GREEN", "IPOD2008RED"):
        stock(ctx, world.warehouse_ids["EAST"], sku, 5)
    post(ctx, world, order_body(450789469, [("IPOD2008GREEN", 1), ("IPOD2008RED", 2)]))
    drain(ctx)
    ids = {}
    for kind, secret in (
        ("easypost", EASYPOST_SECRET),
        ("aftership", AFTERSHIP_SECRET),
        ("generic_webhook", GENERIC_SECRET),
    ):
        row = connector_admin.create_connector(
            ctx,
            kind=kind,
            name=kind,
            config={},
            secrets={"webhook_secret": secret},
            enabled=True,
            actor="test",
        )
        ids[kind] = row.id
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        fo = s.scalars(select(FulfilmentOrder)).one()
        assert order.status == "released"
        order_id, fo_id = order.id, fo.id
    token = create_token(ctx, role=Role.SUPPORT, name="support")
    return Shop(
        order_id,
        fo_id,
        ids["easypost"],
        ids["aftership"],
        ids["generic_webhook"],
        {"Authorization": f"Bearer {token}"},
    )


def ship(ctx: Context, shop: Shop, ref: str, number: str, lines: Any = None) -> int:
    result = shipments.confirm_shipment(
        ctx,
        shop.fulfilment_order_id,
        shipments.ShipmentInput(
            external_ref=ref, lines=lines, carrier="FedEx", tracking_number=number
        ),
        actor="wms",
    )
    return result.shipment_id


def send(client: TestClient, connector_id: int, delivery: tuple[dict[str, str], bytes]) -> str:
    headers, body = delivery
    r = client.post(f"/webhooks/{connector_id}", content=body, headers=headers)
    assert r.status_code == 200, r.text
    status: str = r.json()["status"]
    return status


def easypost_with(
    event_id: str, number: str, details: list[tuple[str, str, str]], status: str | None = None
) -> dict[str, Any]:
    """The recorded event with our own id, tracking number and details
    (status, status_detail, datetime)."""
    event = copy.deepcopy(easypost_event())
    event["id"] = event_id
    tracker = event["result"]
    template = tracker["tracking_details"][1]
    tracker["tracking_code"] = number
    tracker["tracking_details"] = [
        {**template, "status": st, "status_detail": detail, "datetime": at, "message": st}
        for st, detail, at in details
    ]
    tracker["status"] = status or details[-1][0]
    tracker["status_detail"] = details[-1][1]
    tracker["updated_at"] = details[-1][2]
    return event


def shipment_of(ctx: Context, shipment_id: int) -> Shipment:
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Shipment, shipment_id)
        s.expunge(row)
        return row


def event_count(ctx: Context, **where: Any) -> int:
    with unit_of_work(ctx.sessions) as s:
        q = select(func.count()).select_from(TrackingEvent)
        for column, value in where.items():
            q = q.where(getattr(TrackingEvent, column) == value)
        return int(s.scalar(q) or 0)


def order_status(ctx: Context, order_id: int) -> str:
    return str(orders.order_detail(ctx, order_id)["status"])


def test_the_easypost_sample_sets_the_status_and_duplicates_are_absorbed(
    ctx: Context, client: TestClient, shop: Shop
) -> None:
    first = ship(ctx, shop, "pkg-1", "1", [("IPOD2008GREEN", 1)])  # the sample's tracking_code
    delivery = easypost_delivery(easypost_event())
    assert send(client, shop.easypost_id, delivery) == "accepted"
    drain(ctx)
    row = shipment_of(ctx, first)
    assert row.status == "in_transit"
    assert row.status_at is not None and row.status_at.isoformat() == "2024-08-02T18:50:00"
    assert row.last_event_at == row.status_at
    page = easypost_event()["result"]["public_url"]
    assert page and row.tracking_url == page
    assert event_count(ctx, shipment_id=first) == 7

    assert send(client, shop.easypost_id, delivery) == "duplicate"  # the same event id
    again = {**easypost_event(), "id": "evt_resent"}  # the same history under a new id
    again["result"] = {**again["result"], "public_url": "https://elsewhere.example/1"}
    assert send(client, shop.easypost_id, easypost_delivery(again)) == "accepted"
    drain(ctx)
    assert event_count(ctx, shipment_id=first) == 7
    assert shipment_of(ctx, first).tracking_url == page  # the first page shown is kept

    detail = client.get(f"/api/v1/shipments/{first}", headers=shop.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["status"] == "in_transit"
    assert body["status_at"].startswith("2024-08-02T18:50:00")
    assert [e["status"] for e in body["events"]] == ["label_created"] + ["in_transit"] * 6
    assert body["events"][0]["raw_status"] == "pre_transit/label_created"
    assert body["events"][1]["location"] == "ORLANDO, FL, 32809, US"
    assert client.get(f"/api/v1/shipments/{first}").status_code == 401
    assert client.get("/api/v1/shipments/999999", headers=shop.headers).status_code == 404
    shown = orders.order_detail(ctx, shop.order_id)["shipments"]
    assert [(s["id"], s["status"]) for s in shown] == [(first, "in_transit")]


def test_late_events_do_not_regress_and_delivered_sticks(
    ctx: Context, client: TestClient, shop: Shop
) -> None:
    first = ship(ctx, shop, "pkg-1", "EZ1")
    out = [("out_for_delivery", "out_for_delivery", "2026-11-28T08:00:00Z")]
    send(client, shop.easypost_id, easypost_delivery(easypost_with("evt_a", "EZ1", out)))
    older = [("in_transit", "arrived_at_facility", "2026-11-27T20:00:00Z")]
    send(client, shop.easypost_id, easypost_delivery(easypost_with("evt_b", "EZ1", older)))
    drain(ctx)
    row = shipment_of(ctx, first)
    assert row.status == "out_for_delivery"  # the older scan is recorded, not applied
    assert event_count(ctx, shipment_id=first) == 2

    done = [("delivered", "arrived_at_destination", "2026-11-28T12:30:00Z")]
    send(client, shop.easypost_id, easypost_delivery(easypost_with("evt_c", "EZ1", done)))
    after = [("in_transit", "unknown", "2026-11-29T09:00:00Z")]  # a stray scan after delivery
    send(client, shop.easypost_id, easypost_delivery(easypost_with("evt_d", "EZ1", after)))
    drain(ctx)
    row = shipment_of(ctx, first)
    assert row.status == "delivered"
    assert row.delivered_at is not None and row.delivered_at.isoformat() == "2026-11-28T12:30:00"
    assert row.last_event_at is not None and row.last_event_at.isoformat() == "2026-11-29T09:00:00"
    # The whole order shipped in this one parcel: it is delivered, on its timeline.
    detail = orders.order_detail(ctx, shop.order_id)
    assert detail["status"] == "delivered"
    assert detail["timeline"][-1]["to"] == "delivered"


def test_the_order_is_delivered_when_every_shipment_is(
    ctx: Context, client: TestClient, shop: Shop
) -> None:
    first = ship(ctx, shop, "pkg-1", "EZ1", [("IPOD2008GREEN", 1)])
    assert order_status(ctx, shop.order_id) == "partially_shipped"
    done = [("delivered", "arrived_at_destination", "2026-11-28T12:30:00Z")]
    send(client, shop.easypost_id, easypost_delivery(easypost_with("evt_1", "EZ1", done)))
    drain(ctx)
    assert shipment_of(ctx, first).status == "delivered"
    assert order_status(ctx, shop.order_id) == "partially_shipped"  # the rest has not shipped

    second = ship(ctx, shop, "pkg-2", "111111111111")  # the AfterShip sample's number
    assert order_status(ctx, shop.order_id) == "shipped"
    assert send(client, shop.aftership_id, aftership_delivery(aftership_event())) == "accepted"
    drain(ctx)
    row = shipment_of(ctx, second)
    assert row.status == "delivered"
    assert row.delivered_at is not None and row.delivered_at.isoformat() == "2018-07-25T01:10:00"
    assert order_status(ctx, shop.order_id) == "delivered"


def test_an_unknown_tracking_number_is_kept_and_applied_when_the_shipment_comes(
    ctx: Context, client: TestClient, shop: Shop
) -> None:
    send(client, shop.aftership_id, aftership_delivery(aftership_event()))
    drain(ctx)
    assert event_count(ctx) == 14
    with unit_of_work(ctx.sessions) as s:
        msg = s.scalars(
            select(InboundMessage).where(InboundMessage.connector_id == shop.aftership_id)
        ).one()
        assert msg.status == "done"
        assert msg.last_error == "parked: no shipment has tracking number 111111111111"
    integration = {"Authorization": f"Bearer {create_token(ctx, role=Role.INTEGRATION, name='i')}"}
    assert client.get("/api/v1/tracking-events/unmatched", headers=integration).status_code == 403
    parked = client.get("/api/v1/tracking-events/unmatched", headers=shop.headers)
    assert parked.status_code == 200
    assert len(parked.json()) == 14
    assert parked.json()[0]["unmatched_reason"] == "no shipment has tracking number 111111111111"

    # The warehouse confirms the parcel later, its number typed with spaces.
    only = ship(ctx, shop, "pkg-1", "1111 1111 1111")
    row = shipment_of(ctx, only)
    assert row.status == "delivered"
    assert event_count(ctx, shipment_id=only) == 14
    assert client.get("/api/v1/tracking-events/unmatched", headers=shop.headers).json() == []
    assert order_status(ctx, shop.order_id) == "delivered"


def test_a_bad_signature_is_refused_and_nothing_is_kept(
    ctx: Context, client: TestClient, shop: Shop
) -> None:
    headers, body = easypost_delivery(easypost_event())
    headers["X-Hmac-Signature"] = "hmac-sha256-hex=" + "0" * 64
    r = client.post(f"/webhooks/{shop.easypost_id}", content=body, headers=headers)
    assert r.status_code == 401
    with unit_of_work(ctx.sessions) as s:
        rows = s.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.connector_id == shop.easypost_id)
        )
    assert rows == 0


def test_an_unreadable_tracking_payload_is_kept_as_invalid_payload(
    ctx: Context, client: TestClient, shop: Shop
) -> None:
    event = easypost_event()
    del event["result"]["tracking_code"]
    send(client, shop.easypost_id, easypost_delivery(event))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        msg = s.scalars(
            select(InboundMessage).where(InboundMessage.connector_id == shop.easypost_id)
        ).one()
    assert msg.status == "failed"
    assert "result.tracking_code" in (msg.last_error or "")


def test_tracking_on_the_generic_webhook(ctx: Context, client: TestClient, shop: Shop) -> None:
    only = ship(ctx, shop, "pkg-1", "AB123456789GB")
    data = {
        "carrier": "FedEx",
        "tracking_number": "ab123456789gb",
        "events": [
            {"status": "failed_attempt", "occurred_at": "2026-11-28T10:00:00Z", "raw_status": "NH"},
            {"status": "out_for_delivery", "occurred_at": "2026-11-29T08:00:00Z"},
        ],
    }
    body = json.dumps({"type": "tracking.updated", "data": data}).encode()
    key = generic_webhooks.decode_secret(GENERIC_SECRET)
    msg_id = f"msg_{uuid.uuid4().hex}"
    stamp = int(ctx.clock.now().timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": generic_webhooks.sign(key, msg_id, stamp, body),
    }
    assert send(client, shop.generic_id, (headers, body)) == "accepted"
    drain(ctx)
    row = shipment_of(ctx, only)
    assert row.status == "out_for_delivery"  # same rank as the failed attempt, and later
    assert order_status(ctx, shop.order_id) == "shipped"


def test_the_sweeper_applies_events_parked_while_their_shipment_was_recorded(
    ctx: Context, shop: Shop
) -> None:
    from datetime import datetime

    from omniroute.core.housekeeping.sweeper import sweep

    only = ship(ctx, shop, "pkg-1", "1Z999")
    # A carrier update written at the same moment, which did not see the shipment yet.
    with unit_of_work(ctx.sessions) as s:
        s.add(
            TrackingEvent(
                event_key="trk:race",
                shipment_id=None,
                connector_id=shop.aftership_id,
                carrier="ups",
                tracking_number="1Z999",
                status="delivered",
                raw_status="Delivered/Delivered_001",
                occurred_at=datetime(2026, 11, 28, 12, 0),
                unmatched_reason="no shipment has tracking number 1Z999",
            )
        )
    assert shipment_of(ctx, only).status == "unknown"
    sweep(ctx)
    assert shipment_of(ctx, only).status == "delivered"
    assert event_count(ctx, shipment_id=only) == 1
    assert order_status(ctx, shop.order_id) == "delivered"


def test_a_shipment_the_session_holds_shows_what_an_update_wrote(ctx: Context, shop: Shop) -> None:
    first = ship(ctx, shop, "pkg-1", "EZ7")
    at = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    moving = carrier.TrackingEvent(carrier.TrackingStatus.IN_TRANSIT, "in_transit", at)
    with unit_of_work(ctx.sessions) as s:
        held = s.get_one(Shipment, first)
        assert held.status == "unknown"
        recorded = record_update(
            ctx,
            s,
            carrier.TrackingUpdate("FedEx", "ez7", (moving,), tracking_url="https://t.example/7"),
            connector_id=shop.easypost_id,
            inbound_message_id=None,
        )
        assert (recorded.shipment_id, recorded.status, recorded.changed) == (
            first,
            "in_transit",
            True,
        )
        assert (held.status, held.tracking_url) == ("in_transit", "https://t.example/7")
        assert held.status_at == held.last_event_at == at.replace(tzinfo=None)
