"""Release policy end to end: Shopify webhooks built from the real sample order, the REST WMS
fake on 127.0.0.1, and the API for the connector's policy, the order view and releasing a
hold. Nothing held, voided, tested, fulfilled by the channel or digital reaches the WMS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import AuditLog, StockLevel
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, sample_order, signed_headers, stock

GREEN, RED = "IPOD2008GREEN", "IPOD2008RED"


@pytest.fixture
def world(ctx: Context, wms: FakeWms) -> World:
    built = build_world(ctx, wms.base_url)
    for sku in (GREEN, RED):
        stock(ctx, built.warehouse_ids["EAST"], sku, 10)
    return built


def auth(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def shopify_order(order_id: int, *, updated_at: str = "2026-11-02T10:00:00-05:00", **fields: Any):
    """The real sample reshaped: our id, two lines (green, red), the given top-level fields."""
    order = sample_order()
    template = order["line_items"][0]
    order.update(id=order_id, name=f"#{order_id}", updated_at=updated_at)
    order["line_items"] = [
        {**template, "id": order_id * 10 + 1, "sku": GREEN, "quantity": 1},
        {**template, "id": order_id * 10 + 2, "sku": RED, "quantity": 2},
    ]
    order.update(fields)
    return order


def send(ctx: Context, world: World, order: dict[str, Any], topic: str = "orders/create") -> None:
    body = json.dumps(order).encode()
    receive_webhook(ctx, world.shopify_id, signed_headers(body, topic=topic), body)
    drain(ctx)


def the_order(client: TestClient, headers: dict[str, str], external_id: int) -> dict[str, Any]:
    rows = client.get("/api/v1/orders", headers=headers, params={"limit": 1000}).json()
    (row,) = [r for r in rows if r["external_id"] == str(external_id)]
    detail: dict[str, Any] = client.get(f"/api/v1/orders/{row['id']}", headers=headers).json()
    return detail


def reserved(ctx: Context) -> int:
    with unit_of_work(ctx.sessions) as s:
        return sum(s.scalars(select(StockLevel.reserved)))


def test_unpaid_order_is_held_then_routed_when_the_channel_says_paid(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    ops = auth(ctx, Role.OPS)
    send(ctx, world, shopify_order(7001, financial_status="pending"))
    held = the_order(client, ops, 7001)
    assert held["status"] == "on_hold"
    assert held["hold"] == {
        "code": "payment_pending",
        "reason": "payment is pending; this channel's policy routes authorized orders",
        "waived": [],
        "until": None,  # only a hold after a missed cut-off ends at a time
    }
    assert held["exceptions"] == []  # an unpaid order is not support's work
    assert (wms.accepted_count, reserved(ctx)) == (0, 0)

    paid = shopify_order(7001, financial_status="paid", updated_at="2026-11-02T11:00:00-05:00")
    send(ctx, world, paid, topic="orders/paid")
    released = the_order(client, ops, 7001)
    assert (released["status"], released["hold"]) == ("released", None)
    assert [e["to"] for e in released["timeline"]][-4:] == [
        "received",
        "validated",
        "routed",
        "released",
    ]
    assert (wms.accepted_count, reserved(ctx)) == (1, 3)


def test_voided_and_refunded_orders_never_reach_the_warehouse(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    support = auth(ctx, Role.SUPPORT)
    send(ctx, world, shopify_order(7002, financial_status="voided"))
    send(ctx, world, shopify_order(7003, financial_status="refunded"))
    for external_id in (7002, 7003):
        order = the_order(client, support, external_id)
        assert (order["status"], order["hold"]["code"]) == ("on_hold", "payment_voided")
        r = client.post(
            f"/api/v1/orders/{order['id']}/release-hold", json={"note": "ship it"}, headers=support
        )
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "not_releasable"
    # Even a policy that routes any payment does not route a voided one.
    connector = f"/api/v1/connectors/{world.shopify_id}"
    admin = auth(ctx, Role.ADMIN)
    r = client.patch(connector, json={"release_policy": {"min_payment": "any"}}, headers=admin)
    assert r.status_code == 200, r.text
    send(ctx, world, shopify_order(7004, financial_status="voided"))
    assert the_order(client, support, 7004)["status"] == "on_hold"
    assert wms.accepted_count == 0


def test_test_orders_are_held_and_a_person_can_release_one(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    support = auth(ctx, Role.SUPPORT)
    send(ctx, world, shopify_order(7005, test=True))
    held = the_order(client, support, 7005)
    assert (held["status"], held["hold"]["code"]) == ("on_hold", "test_order")
    assert wms.accepted_count == 0
    # A redelivery of the same version changes nothing.
    send(ctx, world, shopify_order(7005, test=True), topic="orders/updated")
    assert the_order(client, support, 7005)["status"] == "on_hold"

    # Ops cannot force a warehouse on an order nobody has checked yet.
    r = client.post(f"/api/v1/orders/{held['id']}/reroute", headers=auth(ctx, Role.OPS), json={})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "held"

    r = client.post(
        f"/api/v1/orders/{held['id']}/release-hold",
        json={"note": "QA order, ship to the office"},
        headers=support,
    )
    assert r.status_code == 202, r.text
    assert r.json()["hold_code"] == "test_order"
    drain(ctx)
    released = the_order(client, support, 7005)
    assert (released["status"], released["hold"]) == ("released", None)
    assert wms.accepted_count == 1
    with unit_of_work(ctx.sessions) as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "order.release_hold")).one()
        assert audit.detail["hold_code"] == "test_order"
    # A later version from the channel is not held for the waived reason again.
    r = client.post(
        f"/api/v1/orders/{held['id']}/release-hold", json={"note": "again"}, headers=support
    )
    assert r.status_code == 409 and r.json()["code"] == "not_held"


def test_connector_policy_routes_test_orders_and_requires_payment(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    admin = auth(ctx, Role.ADMIN)
    url = f"/api/v1/connectors/{world.shopify_id}"
    assert client.get(url, headers=admin).json()["release_policy"] == {
        "min_payment": "authorized",
        "route_test_orders": False,
        "hold_risk_levels": ["high"],
    }
    strict = {"min_payment": "paid", "route_test_orders": True, "hold_risk_levels": []}
    r = client.patch(url, json={"release_policy": strict}, headers=admin)
    assert (r.status_code, r.json()["release_policy"]) == (200, strict)
    bad = client.patch(url, json={"release_policy": {"min_payment": "soon"}}, headers=admin)
    assert bad.status_code == 422

    send(ctx, world, shopify_order(7006, test=True, financial_status="paid"))
    send(ctx, world, shopify_order(7007))  # the sample's "authorized"
    ops = auth(ctx, Role.OPS)
    assert the_order(client, ops, 7006)["status"] == "released"
    held = the_order(client, ops, 7007)
    assert (held["status"], held["hold"]["code"]) == ("on_hold", "payment_pending")

    # null puts the defaults back; other fields of the connector are untouched.
    r = client.patch(url, json={"release_policy": None}, headers=admin)
    assert r.json()["release_policy"]["min_payment"] == "authorized"
    assert r.json()["enabled"] is True


def test_a_high_risk_order_waits_for_review_in_the_exception_queue(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    ops = auth(ctx, Role.OPS)
    generic = client.post(
        "/api/v1/connectors",
        json={"kind": "generic_webhook", "name": "phone", "config": {}, "secrets": {}},
        headers=auth(ctx, Role.ADMIN),
    ).json()["id"]
    order = {
        "external_id": "PH-9",
        "channel": "phone",
        "currency": "USD",
        "cancelled": False,
        "financial_status": "paid",
        "risk_level": "high",
        "ship_to": {"address1": "1 Main St", "postal_code": "10001", "country": "US"},
        "lines": [{"external_line_id": "1", "channel_sku": GREEN, "quantity": 1}],
    }
    r = client.post(
        "/api/v1/orders/import",
        params={"connector_id": generic},
        content=json.dumps([order]).encode(),
        headers={**ops, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    drain(ctx)
    held = the_order(client, ops, "PH-9")  # type: ignore[arg-type]
    assert (held["status"], held["hold"]["code"]) == ("on_hold", "risk")
    (review,) = held["exceptions"]
    assert (review["reason"], review["status"]) == ("held_for_review", "open")
    assert review["detail"]["hold"] == "risk"
    assert "release-hold" in review["detail"]["message"]
    queue = client.get("/api/v1/exceptions", params={"reason": "held_for_review"}, headers=ops)
    assert [x["id"] for x in queue.json()] == [review["id"]]

    r = client.post(
        f"/api/v1/orders/{held['id']}/release-hold",
        json={"note": "called the customer"},
        headers=ops,
    )
    assert r.status_code == 202, r.text
    drain(ctx)
    released = the_order(client, ops, "PH-9")  # type: ignore[arg-type]
    assert released["status"] == "released"
    assert [x["status"] for x in released["exceptions"]] == ["resolved"]
    assert wms.accepted_count == 1


def test_orders_the_channel_fulfilled_are_recorded_not_routed(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    ops = auth(ctx, Role.OPS)
    send(ctx, world, shopify_order(7008, fulfillment_status="fulfilled"))
    done = the_order(client, ops, 7008)
    assert done["status"] == "shipped"
    assert "fulfilled by the channel" in done["timeline"][-1]["note"]
    send(ctx, world, shopify_order(7009, fulfillment_status="partial"))
    partial = the_order(client, ops, 7009)
    assert (partial["status"], partial["hold"]["code"]) == (
        "on_hold",
        "partially_fulfilled_by_channel",
    )
    assert [x["reason"] for x in partial["exceptions"]] == ["held_for_review"]
    assert (wms.accepted_count, reserved(ctx)) == (0, 0)


def test_digital_lines_never_go_to_the_warehouse(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    ops = auth(ctx, Role.OPS)
    gift_cards = shopify_order(7010)
    for item in gift_cards["line_items"]:
        item.update(requires_shipping=False, gift_card=True, sku="GIFT-CARD-50")
    send(ctx, world, gift_cards)
    digital = the_order(client, ops, 7010)
    assert (digital["status"], digital["lines"], digital["exceptions"]) == ("shipped", [], [])
    assert "needs no shipping" in digital["timeline"][-1]["note"]

    mixed = shopify_order(7011)
    mixed["line_items"][1].update(requires_shipping=False, gift_card=True, sku="GIFT-CARD-50")
    send(ctx, world, mixed)
    order = the_order(client, ops, 7011)
    assert order["status"] == "released"
    assert [(ln["line_no"], ln["sku"]) for ln in order["lines"]] == [(1, GREEN)]
    (payload,) = wms.accepted.values()
    assert [(ln["sku"], ln["quantity"]) for ln in payload["lines"]] == [(GREEN, 1)]
    (fo,) = order["fulfilment_orders"]
    r = client.post(
        f"/api/v1/fulfilment-orders/{fo['id']}/shipments",
        json={"external_ref": "S-1", "lines": [{"sku": GREEN, "quantity": 1}]},
        headers=ops,
    )
    assert r.status_code in (200, 201), r.text
    assert the_order(client, ops, 7011)["status"] == "shipped"


def test_an_order_cancelled_before_it_came_in_is_recorded_cancelled(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    cancelled = shopify_order(7012, cancelled_at="2026-11-02T09:00:00-05:00")
    send(ctx, world, cancelled, topic="orders/cancelled")
    order = the_order(client, auth(ctx, Role.OPS), 7012)
    assert order["status"] == "cancelled"
    assert (wms.accepted_count, reserved(ctx)) == (0, 0)
