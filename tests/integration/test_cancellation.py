"""Ops cancel orders no warehouse holds yet; stock goes back and the channel is told."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.intake.polling import poll_connector
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    AuditLog,
    FulfilmentOrder,
    OrderException,
    OutboxMessage,
    SalesOrder,
)
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.fakes import REMOTES, FakeChannel, FakeRemote, remote
from tests.integration.builders import World, build_world, order_body, stock

T0 = datetime(2026, 11, 27, 12, 0, 0)


@pytest.fixture
def channel(ctx: Context, wms: FakeWms) -> Iterator[tuple[World, int, FakeRemote]]:
    ctx.registry.add(FakeChannel)  # type: ignore[arg-type]
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "A", 5)
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


def place(ctx: Context, cid: int, fake: FakeRemote, order_id: int, sku: str) -> int:
    data: dict[str, Any] = json.loads(order_body(order_id, [(sku, 2)]))
    data["updated_at"] = T0.replace(tzinfo=UTC).isoformat()
    fake.put(data, T0.replace(tzinfo=UTC))
    poll_connector(ctx, cid, now=T0 + timedelta(minutes=order_id % 50))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(select(SalesOrder.id).where(SalesOrder.external_id == str(order_id))).one()


def auth(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def reserved(ctx: Context) -> int:
    from omniroute.core.platform.models import StockLevel

    with unit_of_work(ctx.sessions) as s:
        return sum(s.scalars(select(StockLevel.reserved)))


def test_a_routed_order_waiting_for_its_wms_is_cancelled_and_its_stock_returned(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient, wms: FakeWms
) -> None:
    _, cid, fake = channel
    wms.set_down(True)  # the release waits in the outbox for the WMS
    order_id = place(ctx, cid, fake, 801, "A")
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(SalesOrder, order_id).status == "routed"
    assert reserved(ctx) == 2

    answer = client.post(
        f"/api/v1/orders/{order_id}/cancel",
        json={"reason": "customer called"},
        headers=auth(ctx, Role.OPS),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "order_id": order_id,
        "status": "cancelled",
        "units_released": 2,
        "channel_notified": True,
        "cancellation": None,
    }
    drain(ctx)
    assert reserved(ctx) == 0
    assert [(n.external_order_id, n.reason) for n in fake.cancelled] == [("801", "customer called")]
    with unit_of_work(ctx.sessions) as s:
        fo = s.scalars(select(FulfilmentOrder)).one()
        kinds = {m.kind: m.status for m in s.scalars(select(OutboxMessage))}
        audit = s.scalars(select(AuditLog.action).where(AuditLog.action == "order.cancel")).all()
    assert fo.status == "cancelled"
    assert kinds == {"wms.release": "cancelled", "channel.cancel": "sent"}
    assert audit == ["order.cancel"]
    wms.set_down(False)
    drain(ctx)
    assert wms.accepted_count == 0  # the withdrawn release never reaches the WMS

    again = client.post(
        f"/api/v1/orders/{order_id}/cancel", json={"reason": "x"}, headers=auth(ctx, Role.OPS)
    )
    assert again.json()["units_released"] == 0 and again.json()["channel_notified"] is False
    drain(ctx)
    assert len(fake.cancelled) == 1


def test_a_parked_order_is_cancelled_and_its_exception_resolved(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    _, cid, fake = channel
    order_id = place(ctx, cid, fake, 802, "NO-SUCH-SKU")
    partial = client.post(
        f"/api/v1/orders/{order_id}/cancel",
        json={"reason": "one less", "lines": [{"line_id": 1, "quantity": 1}]},
        headers=auth(ctx, Role.OPS),
    )
    assert partial.status_code == 422 and partial.json()["code"] == "not_partially_cancellable"
    answer = client.post(
        f"/api/v1/orders/{order_id}/cancel",
        json={"reason": "duplicate order", "notify_channel": False},
        headers=auth(ctx, Role.OPS),
    )
    assert answer.status_code == 200 and answer.json()["channel_notified"] is False
    drain(ctx)
    assert fake.cancelled == []
    with unit_of_work(ctx.sessions) as s:
        statuses = set(s.scalars(select(OrderException.status)))
    assert statuses == {"resolved"}


def test_wrong_roles_bad_bodies_and_missing_orders_are_refused(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient, wms: FakeWms
) -> None:
    _, cid, fake = channel
    order_id = place(ctx, cid, fake, 803, "A")
    url = f"/api/v1/orders/{order_id}/cancel"
    for role in (Role.INTEGRATION, Role.SUPPORT, Role.WAREHOUSE):
        wrong = client.post(url, json={"reason": "late"}, headers=auth(ctx, role))
        assert wrong.status_code == 403, role
    assert client.post(url, json={}, headers=auth(ctx, Role.OPS)).status_code == 422
    for lines in ([], [{"line_id": 1, "quantity": 0}], [{"line_id": 0, "quantity": 1}]):
        bad = client.post(url, json={"reason": "x", "lines": lines}, headers=auth(ctx, Role.OPS))
        assert bad.status_code == 422, lines
    missing = client.post(
        "/api/v1/orders/9999/cancel", json={"reason": "x"}, headers=auth(ctx, Role.OPS)
    )
    assert missing.status_code == 404
    assert reserved(ctx) == 2
    assert wms.cancelled == {}


def test_a_released_order_is_cancelled_through_its_warehouse_and_the_channel_told_once(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient, wms: FakeWms
) -> None:
    _, cid, fake = channel
    order_id = place(ctx, cid, fake, 804, "A")
    url = f"/api/v1/orders/{order_id}/cancel"
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(SalesOrder, order_id).status == "released"

    answer = client.post(url, json={"reason": "customer called"}, headers=auth(ctx, Role.OPS))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["status"], body["units_released"], body["channel_notified"]) == (
        "released",
        0,
        False,
    )
    assert body["cancellation"]["units_requested"] == 2
    assert reserved(ctx) == 2 and fake.cancelled == []  # nothing before the WMS confirms

    drain(ctx)
    assert len(wms.cancelled) == 1
    assert reserved(ctx) == 0
    assert [(n.external_order_id, n.reason) for n in fake.cancelled] == [("804", "customer called")]
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(SalesOrder, order_id).status == "cancelled"
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "order.cancel")).one()
        assert audit.detail["units_requested"] == 2

    again = client.post(url, json={"reason": "again"}, headers=auth(ctx, Role.OPS))
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    drain(ctx)
    assert len(fake.cancelled) == 1 and len(wms.cancelled) == 1
