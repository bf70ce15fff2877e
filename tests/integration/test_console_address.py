"""Fixing an order's shipping address (core/orders/address_fix.py) from the console's
exception and order pages and through ``POST /api/v1/orders/{id}/address``: checked as
intake checks it, audited with before and after, the order routed, refused once a
warehouse has it."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, Entity, list_entries
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.orders.fixes import address
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import OrderException, SalesOrder
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, post, sample_order, stock
from tests.integration.console_kit import csrf_in, make_user, sign_in


@pytest.fixture
def world(cctx: Context, wms: FakeWms) -> World:
    built = build_world(cctx, wms.base_url)
    warehouses.upsert_sku(cctx, "WIDGET-1", "Widget", actor="test")
    stock(cctx, built.warehouse_ids["EAST"], "WIDGET-1", 10)
    return built


def _bad_address_order(ctx: Context, world: World, number: int, zip_code: str = "4020") -> int:
    """A Shopify order to the US with a four-digit ZIP: parked with a bad_address exception."""
    order = sample_order()
    template = order["line_items"][0]
    order.update(id=number, name=f"#{number}")
    order["line_items"] = [{**template, "id": number * 100, "sku": "WIDGET-1", "quantity": 1}]
    order["shipping_address"] = {**order["shipping_address"], "zip": zip_code}
    post(ctx, world, json.dumps(order).encode())
    drain(ctx)
    (exc,) = [x for x in exception_queue.list_exceptions(ctx) if x.reason == "bad_address"]
    return exc.id


def _order(ctx: Context) -> SalesOrder:
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        s.expunge(order)
        return order


def test_support_fixes_the_address_on_the_exception_and_the_order_routes(
    cctx: Context, app_client: TestClient, world: World
) -> None:
    exception_id = _bad_address_order(cctx, world, 701)
    assert _order(cctx).status == "exception"
    make_user(cctx, "sue", Role.SUPPORT)
    sign_in(app_client, "sue")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    assert "Fix the shipping address" in page.text
    # Support may not see the street: it is offered empty, and empty keeps it.
    assert "Chestnut Street" not in page.text and 'value="4020"' in page.text
    token = csrf_in(page.text)
    refused = app_client.post(
        f"/console/exceptions/{exception_id}/address",
        data={"country": "US", "postal_code": "ABCDE", "csrf_token": token},
    )
    assert refused.status_code == 422
    assert "&#39;ABCDE&#39; is not a valid postal code for US" in refused.text
    assert _order(cctx).ship_to["postal_code"] == "4020"  # type: ignore[index]
    no_csrf = app_client.post(
        f"/console/exceptions/{exception_id}/address",
        data={"country": "US", "postal_code": "40202"},
    )
    assert no_csrf.status_code == 403
    fixed = app_client.post(
        f"/console/exceptions/{exception_id}/address",
        data={"country": "US", "postal_code": "40202", "address1": "", "csrf_token": token},
    )
    assert fixed.status_code == 200 and "Shipping address saved" in fixed.text
    drain(cctx)
    order = _order(cctx)
    assert order.status == "released"
    assert order.ship_to is not None
    assert order.ship_to["postal_code"] == "40202"
    assert order.ship_to["address1"] == "Chestnut Street 92"  # kept: support could not see it
    assert exception_queue.get_exception(cctx, exception_id).status == "resolved"
    where = AuditFilter(actor="user:sue", entity=Entity.ORDER, entity_id=str(order.id))
    (entry,) = list_entries(cctx, where)
    assert entry["action"] == "order.address_fix"
    assert entry["before"]["ship_to"]["postal_code"] == "4020"
    assert entry["after"]["ship_to"]["postal_code"] == "40202"
    # Released: the form is gone and a post is refused.
    page = app_client.get(f"/console/orders/{order.id}")
    assert "Fix the shipping address" not in page.text
    late = app_client.post(
        f"/console/orders/{order.id}/address",
        data={"postal_code": "40203", "csrf_token": token},
    )
    assert late.status_code == 409 and "can no longer be changed" in late.text


def test_ops_sees_and_sets_every_field_on_the_order_page(
    cctx: Context, app_client: TestClient, world: World
) -> None:
    exception_id = _bad_address_order(cctx, world, 702)
    make_user(cctx, "otto", Role.OPS)
    sign_in(app_client, "otto")
    order_id = _order(cctx).id
    page = app_client.get(f"/console/orders/{order_id}")
    assert "Fix the shipping address" in page.text and "Chestnut Street 92" in page.text
    saved = app_client.post(
        f"/console/orders/{order_id}/address",
        data={
            "name": "Bob Norman",
            "address1": "Chestnut Street 92",
            "city": "Louisville",
            "region": "KY",
            "postal_code": "40202",
            "country": "us",
            "phone": "",
            "note": "called the customer",
            "csrf_token": csrf_in(page.text),
        },
    )
    assert saved.status_code == 200 and "Saved; the order is checked" in saved.text
    drain(cctx)
    order = _order(cctx)
    assert order.status == "released" and order.ship_to is not None
    assert order.ship_to["country"] == "US" and order.ship_to["phone"] is None
    assert order.fixes is not None
    assert order.fixes["ship_to"]["channel"]["postal_code"] == "4020"
    assert exception_queue.get_exception(cctx, exception_id).status == "resolved"


def test_a_viewer_may_not_fix_and_unchanged_is_refused(
    cctx: Context, app_client: TestClient, world: World
) -> None:
    exception_id = _bad_address_order(cctx, world, 703)
    make_user(cctx, "vic", Role.VIEWER)
    sign_in(app_client, "vic")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    assert "Fix the shipping address" not in page.text
    refused = app_client.post(
        f"/console/exceptions/{exception_id}/address",
        data={"postal_code": "40202", "csrf_token": csrf_in(page.text)},
    )
    assert refused.status_code == 403
    app_client.cookies.clear()
    make_user(cctx, "sam", Role.SUPPORT)
    sign_in(app_client, "sam")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    same = app_client.post(
        f"/console/exceptions/{exception_id}/address",
        data={"postal_code": "4020", "country": "US", "csrf_token": csrf_in(page.text)},
    )
    assert same.status_code == 422 and "unchanged" in same.text


def test_the_api_fixes_an_address_and_refuses_a_bad_one(
    cctx: Context, app_client: TestClient, world: World
) -> None:
    exception_id = _bad_address_order(cctx, world, 704)
    order_id = _order(cctx).id
    support = create_token(cctx, role=Role.SUPPORT, name="desk")
    viewer = create_token(cctx, role=Role.VIEWER, name="look")
    url = f"/api/v1/orders/{order_id}/address"
    denied = app_client.post(
        url, json={"postal_code": "40202"}, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert denied.status_code == 403
    auth = {"Authorization": f"Bearer {support}"}
    bad = app_client.post(url, json={"postal_code": "402"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["code"] == "bad_address"
    unknown = app_client.post(url, json={"street": "x"}, headers=auth)
    assert unknown.status_code == 422
    ok = app_client.post(url, json={"postal_code": "40202-1234", "note": "typo"}, headers=auth)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["ship_to"]["postal_code"] == "40202-1234" and body["inbound_message_id"]
    drain(cctx)
    assert _order(cctx).status == "released"
    assert exception_queue.get_exception(cctx, exception_id).status == "resolved"
    again = app_client.post(url, json={"postal_code": "40203"}, headers=auth)
    assert again.status_code == 409 and again.json()["code"] == "released"
    missing = app_client.post("/api/v1/orders/999999/address", json={}, headers=auth)
    assert missing.status_code == 404


def test_a_replay_keeps_the_fix_and_a_new_address_from_the_channel_replaces_it(
    cctx: Context, world: World
) -> None:
    order = sample_order()
    template = order["line_items"][0]
    order.update(id=705, name="#705", updated_at="2026-01-01T10:00:00-05:00")
    order["line_items"] = [
        {**template, "id": 70500, "sku": "WIDGET-1", "quantity": 1},
        {**template, "id": 70501, "sku": "NOT-A-SKU", "quantity": 1},
    ]
    order["shipping_address"] = {**order["shipping_address"], "zip": "4020"}
    post(cctx, world, json.dumps(order).encode())
    drain(cctx)
    order_id = _order(cctx).id
    address.fix_address(cctx, order_id, {"postal_code": "40202"}, actor="user:sue")
    drain(cctx)
    parked = _order(cctx)
    assert parked.status == "exception"  # still the unknown SKU
    assert parked.ship_to is not None and parked.ship_to["postal_code"] == "40202"
    with unit_of_work(cctx.sessions) as s:
        reasons = set(s.execute(select(OrderException.reason, OrderException.status)).all())
    # Retried, as a retry that got past its check but not every check leaves it.
    assert reasons == {("bad_address", "retried"), ("unknown_sku", "open")}
    # The channel sends the same version again (a redelivery): the fix is kept.
    post(cctx, world, json.dumps(order).encode())
    drain(cctx)
    assert _order(cctx).ship_to["postal_code"] == "40202"  # type: ignore[index]
    # A newer version with another address: the channel's wins, and is checked.
    order.update(updated_at="2026-01-01T11:00:00-05:00")
    order["shipping_address"] = {**order["shipping_address"], "zip": "40299"}
    post(cctx, world, json.dumps(order).encode())
    drain(cctx)
    assert _order(cctx).ship_to["postal_code"] == "40299"  # type: ignore[index]
