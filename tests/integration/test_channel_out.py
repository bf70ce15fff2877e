"""Shipments back to the channel and available stock out to it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.base import PermanentError, TransientError
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.intake.polling import poll_connector
from omniroute.core.orders import cancellation
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import (
    ChannelListing,
    FulfilmentOrder,
    OrderException,
    OutboxMessage,
    SalesOrder,
    StockLedger,
    StockLevel,
)
from omniroute.core.platform.security import Role
from omniroute.core.stock import inventory, warehouses
from omniroute.core.stock.sync import sync_stock
from omniroute.worker.handlers import drain
from tests.fakes import REMOTES, FakeChannel, FakeRemote, remote
from tests.integration.builders import World, build_world, order_body, post, stock

T0 = datetime(2026, 11, 27, 12, 0, 0)


@pytest.fixture
def channel(ctx: Context, wms: FakeWms) -> Iterator[tuple[World, int, FakeRemote]]:
    ctx.registry.add(FakeChannel)  # type: ignore[arg-type]
    world = build_world(ctx, wms.base_url)
    for sku in ("A", "B"):
        stock(ctx, world.warehouse_ids["EAST"], sku, 10)
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


def headers(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def place(ctx: Context, cid: int, fake: FakeRemote, lines: list[tuple[str, int]]) -> SalesOrder:
    data: dict[str, Any] = json.loads(order_body(700, lines))
    data["updated_at"] = T0.replace(tzinfo=UTC).isoformat()
    fake.put(data, T0.replace(tzinfo=UTC))
    poll_connector(ctx, cid, now=T0 + timedelta(minutes=1))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(select(SalesOrder)).one()


def fulfilment_order_id(ctx: Context, order_id: int) -> int:
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(
            select(FulfilmentOrder.id).where(FulfilmentOrder.order_id == order_id)
        ).one()


def levels(ctx: Context, warehouse_id: int) -> dict[str, tuple[int, int]]:
    with unit_of_work(ctx.sessions) as s:
        rows = s.execute(
            select(StockLevel.sku, StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.warehouse_id == warehouse_id
            )
        )
        return {sku: (on_hand, reserved) for sku, on_hand, reserved in rows}


def test_shipments_move_stock_and_the_order_and_reach_the_channel_once(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    world, cid, fake = channel
    east = world.warehouse_ids["EAST"]
    order = place(ctx, cid, fake, [("A", 2), ("B", 1)])
    assert order.status == "released"
    fo = fulfilment_order_id(ctx, order.id)
    wms = headers(ctx, Role.WAREHOUSE)
    url = f"/api/v1/fulfilment-orders/{fo}/shipments"

    first = {
        "external_ref": "PKG-1",
        "lines": [{"sku": "A", "quantity": 1}],
        "carrier": "UPS",
        "tracking_number": "1Z999",
        "tracking_url": "https://track.example/1Z999",
    }
    answer = client.post(url, json=first, headers=wms)
    assert answer.status_code == 201, answer.text
    assert answer.json()["order_status"] == "partially_shipped"
    again = client.post(url, json=first, headers=wms)  # the WMS confirms twice
    assert again.status_code == 200 and again.json()["created"] is False
    drain(ctx)

    assert levels(ctx, east)["A"] == (9, 1)
    (notice,) = fake.fulfilments
    assert notice.external_order_id == "700"
    assert [(ln.sku, ln.quantity, ln.external_line_id) for ln in notice.lines] == [
        ("A", 1, "70000")
    ]
    assert (notice.carrier, notice.tracking_number) == ("UPS", "1Z999")
    assert notice.order_complete is False

    rest = client.post(url, json={"external_ref": "PKG-2", "tracking_number": "1Z998"}, headers=wms)
    assert rest.status_code == 201 and rest.json()["order_status"] == "shipped"
    drain(ctx)
    assert levels(ctx, east) == {"A": (8, 0), "B": (9, 0)}
    assert [n.order_complete for n in fake.fulfilments] == [False, True]
    assert [(ln.sku, ln.quantity) for ln in fake.fulfilments[1].lines] == [("A", 1), ("B", 1)]
    with unit_of_work(ctx.sessions) as s:
        shipped = list(
            s.scalars(select(StockLedger.reference).where(StockLedger.reason == "shipped"))
        )
        assert s.get_one(FulfilmentOrder, fo).status == "shipped"
    assert len(shipped) == 3  # A, then A and B
    detail = client.get(f"/api/v1/orders/{order.id}", headers=headers(ctx, Role.SUPPORT)).json()
    assert [(s["external_ref"], s["tracking_number"]) for s in detail["shipments"]] == [
        ("PKG-1", "1Z999"),
        ("PKG-2", "1Z998"),
    ]
    assert [
        (ln["sku"], ln["shipped_quantity"]) for ln in detail["fulfilment_orders"][0]["lines"]
    ] == [
        ("A", 2),
        ("B", 1),
    ]


def test_a_shipment_that_does_not_match_is_refused(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    _, cid, fake = channel
    order = place(ctx, cid, fake, [("A", 1)])
    url = f"/api/v1/fulfilment-orders/{fulfilment_order_id(ctx, order.id)}/shipments"
    wms = headers(ctx, Role.WAREHOUSE)
    too_many = {"external_ref": "X", "lines": [{"sku": "A", "quantity": 2}]}
    answer = client.post(url, json=too_many, headers=wms)
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["sku"] == "A"
    wrong_sku = {"external_ref": "X", "lines": [{"sku": "B", "quantity": 1}]}
    assert client.post(url, json=wrong_sku, headers=wms).status_code == 422
    for role in (Role.SUPPORT, Role.INTEGRATION, Role.INTEGRATOR):
        refused = client.post(url, json={"external_ref": "X"}, headers=headers(ctx, role))
        assert refused.status_code == 403, role
    assert (
        client.post(
            "/api/v1/fulfilment-orders/999/shipments", json={"external_ref": "X"}, headers=wms
        ).status_code
        == 404
    )
    assert client.post(url, json={"external_ref": "X"}, headers=wms).status_code == 201
    done = client.post(url, json={"external_ref": "Y"}, headers=wms)
    assert done.status_code == 409 and done.json()["code"] == "not_shippable"


def test_channel_push_retries_then_dead_letters_and_redrives(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    _, cid, fake = channel
    order = place(ctx, cid, fake, [("A", 1)])
    fake.push_failures = [TransientError("503"), PermanentError("422 order is archived")]
    fo = fulfilment_order_id(ctx, order.id)
    url = f"/api/v1/fulfilment-orders/{fo}/shipments"
    client.post(url, json={"external_ref": "P"}, headers=headers(ctx, Role.WAREHOUSE))
    drain(ctx)  # first try: transient, retried later
    with unit_of_work(ctx.sessions) as s:
        msg = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "channel.fulfilment")
        ).one()
        assert msg.status == "pending" and "503" in (msg.last_error or "")
        msg.next_attempt_at = utcnow()
        outbox_id = msg.id
    ctx.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    drain(ctx)  # second try: permanent
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(OutboxMessage, outbox_id).status == "dead"
        exc = s.scalars(select(OrderException)).one()
        assert exc.reason == "channel_push_failed" and exc.order_id == order.id
        assert s.get_one(SalesOrder, order.id).status == "shipped"  # the goods did ship
        assert s.get_one(FulfilmentOrder, fo).status == "shipped"
    assert fake.fulfilments == []

    exception_queue.retry_exception(ctx, exc.id, actor="ops")
    drain(ctx)
    assert len(fake.fulfilments) == 1
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(OutboxMessage, outbox_id).status == "sent"
        assert s.get_one(FulfilmentOrder, fo).status == "shipped"


def test_stock_sync_pushes_available_to_sell_per_listing_when_it_changes(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    world, cid, fake = channel
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    inventory.set_stock(ctx, east, "A", on_hand=10, safety=2, actor="test")
    stock(ctx, west, "A", 5)
    stock(ctx, west, "B", 7)
    ops = headers(ctx, Role.OPS)
    body = [
        {"sku": "A", "channel_ref": "item-a", "buffer": 1},
        {"sku": "B", "channel_ref": "item-b"},
    ]
    answer = client.put(f"/api/v1/connectors/{cid}/listings", json=body, headers=ops)
    assert answer.status_code == 200, answer.text

    now = utcnow()
    sync_stock(ctx, now=now, force=True)
    drain(ctx)
    (key, updates) = fake.stock[-1]
    assert key.startswith(f"stock-{cid}-")
    # A: EAST 10 - 2 safety + WEST 5, minus the listing's buffer of 1. B: EAST 10 + WEST 7.
    assert [(u.channel_ref, u.available) for u in updates] == [("item-a", 12), ("item-b", 17)]

    # Nothing changed: nothing pushed. Within the interval: not even looked at.
    assert sync_stock(ctx, now=now + timedelta(seconds=1)) == 0
    inventory.adjust_stock(ctx, west, "B", delta=-3, actor="test", reason="count")
    assert sync_stock(ctx, now=now + timedelta(seconds=1)) == 0
    assert sync_stock(ctx, now=now + timedelta(seconds=60)) == 1
    drain(ctx)
    assert [(u.sku, u.available) for u in fake.stock[-1][1]] == [("B", 14)]

    # WEST stops serving this channel: its stock no longer counts.
    warehouses.update_warehouse(ctx, west, {"channels": ["shopify"]}, actor="ops")
    inventory.adjust_stock(ctx, east, "A", delta=1, actor="test", reason="count")
    inventory.adjust_stock(ctx, east, "B", delta=1, actor="test", reason="count")
    sync_stock(ctx, now=now + timedelta(seconds=120))
    drain(ctx)
    assert sorted((u.sku, u.available) for u in fake.stock[-1][1]) == [("A", 8), ("B", 11)]

    listed = client.get(f"/api/v1/connectors/{cid}/listings", headers=ops).json()
    assert [(item["sku"], item["pushed_available"]) for item in listed] == [("A", 8), ("B", 11)]
    assert client.post(f"/api/v1/connectors/{cid}/stock-sync", headers=ops).json() == {
        "connector_id": cid,
        "queued_pushes": 1,
    }
    drain(ctx)
    assert [(u.sku, u.available) for u in fake.stock[-1][1]] == [("A", 8), ("B", 11)]


def test_listings_are_checked(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    world, cid, _ = channel
    ops = headers(ctx, Role.OPS)
    unknown = client.put(
        f"/api/v1/connectors/{cid}/listings",
        json=[{"sku": "NOPE", "channel_ref": "x"}],
        headers=ops,
    )
    assert unknown.status_code == 422 and unknown.json()["skus"] == ["NOPE"]
    wms_only = client.put(
        f"/api/v1/connectors/{world.wms_id}/listings",
        json=[{"sku": "A", "channel_ref": "x"}],
        headers=ops,
    )
    assert wms_only.status_code == 409 and wms_only.json()["code"] == "not_stock_push"
    negative = client.put(
        f"/api/v1/connectors/{cid}/listings",
        json=[{"sku": "A", "channel_ref": "x", "buffer": -1}],
        headers=ops,
    )
    assert negative.status_code == 422
    assert (
        client.get(
            f"/api/v1/connectors/{cid}/listings", headers=headers(ctx, Role.INTEGRATION)
        ).status_code
        == 403
    )


def take_in(
    ctx: Context, cid: int, fake: FakeRemote, order_id: int, lines: list[tuple[str, int]]
) -> int:
    """Let the channel's poll bring in one more order; its id in omniroute."""
    stamp = datetime.now(UTC) - timedelta(seconds=1)
    data: dict[str, Any] = json.loads(order_body(order_id, lines))
    data["updated_at"] = stamp.isoformat()
    fake.put(data, stamp)
    poll_connector(ctx, cid)
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(
            select(SalesOrder.id).where(
                SalesOrder.connector_id == cid, SalesOrder.external_id == str(order_id)
            )
        ).one()


def test_stock_push_carries_the_last_pushed_figure_and_the_channels_orders_since(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    world, cid, fake = channel  # A and B: 10 each in EAST
    body = [{"sku": "A", "channel_ref": "item-a"}, {"sku": "B", "channel_ref": "item-b"}]
    answer = client.put(
        f"/api/v1/connectors/{cid}/listings", json=body, headers=headers(ctx, Role.OPS)
    )
    assert answer.status_code == 200, answer.text
    take_in(ctx, cid, fake, 801, [("A", 1)])  # before the first push: already in its figure

    sync_stock(ctx, force=True)
    drain(ctx)
    first = fake.stock[-1][1]
    assert [(u.sku, u.available, u.previous, u.channel_units_since) for u in first] == [
        ("A", 9, None, 0),
        ("B", 10, None, 0),
    ]

    # After that push: an order of this channel (A 2, B 1); one of this channel cancelled
    # before it was routed (A 30 is more than there is: backordered); one of another channel.
    take_in(ctx, cid, fake, 802, [("A", 2), ("B", 1)])
    backordered = take_in(ctx, cid, fake, 803, [("A", 30)])
    cancellation.cancel_order(ctx, backordered, reason="customer", actor="ops")
    post(ctx, world, order_body(804, [("A", 4)]))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        rows = s.execute(select(SalesOrder.external_id, SalesOrder.status))
        statuses = {external_id: status for external_id, status in rows}
    assert statuses == {"801": "released", "802": "released", "803": "cancelled", "804": "released"}

    sync_stock(ctx, force=True)
    drain(ctx)
    second = fake.stock[-1][1]
    # A: 10 - 1 - 2 - 4 = 3; only order 802 is this channel's and counts (2 of A, 1 of B).
    assert [(u.sku, u.available, u.previous, u.channel_units_since) for u in second] == [
        ("A", 3, 9, 2),
        ("B", 9, 10, 1),
    ]
    # Recorded as pushed: the figures, and the time they were read (before the call).
    with unit_of_work(ctx.sessions) as s:
        listed = s.execute(
            select(ChannelListing.sku, ChannelListing.pushed_available, ChannelListing.pushed_at)
            .where(ChannelListing.connector_id == cid)
            .order_by(ChannelListing.sku)
        ).all()
        newest_order = s.scalar(select(func.max(SalesOrder.created_at)))
        sent_at = s.scalar(
            select(func.max(OutboxMessage.sent_at)).where(OutboxMessage.kind == "channel.stock")
        )
    assert [(sku, pushed) for sku, pushed, _ in listed] == [("A", 3), ("B", 9)]
    assert all(newest_order < pushed_at < sent_at for _, _, pushed_at in listed)

    # Nothing new since: the next push (ops asked for one) counts no order.
    resync = client.post(f"/api/v1/connectors/{cid}/stock-sync", headers=headers(ctx, Role.OPS))
    assert resync.status_code == 202
    drain(ctx)
    third = fake.stock[-1][1]
    assert [(u.sku, u.available, u.previous, u.channel_units_since) for u in third] == [
        ("A", 3, 3, 0),
        ("B", 9, 9, 0),
    ]

    # A channel that held a figure back (a sale of its own omniroute has not seen) says what
    # it holds now; that is what the next compare-and-set expects, not omniroute's figure.
    fake.stock_applied = {"item-a": 2}
    resync = client.post(f"/api/v1/connectors/{cid}/stock-sync", headers=headers(ctx, Role.OPS))
    assert resync.status_code == 202
    drain(ctx)
    fake.stock_applied = {}
    resync = client.post(f"/api/v1/connectors/{cid}/stock-sync", headers=headers(ctx, Role.OPS))
    assert resync.status_code == 202
    drain(ctx)
    fifth = fake.stock[-1][1]
    assert [(u.sku, u.available, u.previous) for u in fifth] == [("A", 3, 2), ("B", 9, 9)]
