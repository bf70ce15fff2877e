"""An exception's order changed from its page: a line's quantity (support within what the
channel sent, ops beyond), a warehouse forced and the order cancelled (ops), each through
its service, audited, and refused to the roles without the permission."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, Entity, list_entries
from omniroute.core.bootstrap import Context
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import FulfilmentOrder, OrderLine, SalesOrder
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, post, sample_order, stock
from tests.integration.console_kit import csrf_in, make_user, sign_in


@pytest.fixture
def world(cctx: Context, wms: FakeWms) -> World:
    built = build_world(cctx, wms.base_url)
    warehouses.upsert_sku(cctx, "WIDGET-1", "Widget", actor="test")
    stock(cctx, built.warehouse_ids["WEST"], "WIDGET-1", 10)
    return built


def _parked(ctx: Context, world: World, number: int, quantities: list[int], zip_code: str) -> int:
    """A Shopify order of WIDGET-1 lines, parked with an exception (the first one's id)."""
    order = sample_order()
    template = order["line_items"][0]
    order.update(id=number, name=f"#{number}")
    order["line_items"] = [
        {**template, "id": number * 100 + i, "sku": "WIDGET-1", "quantity": q}
        for i, q in enumerate(quantities)
    ]
    order["shipping_address"] = {**order["shipping_address"], "zip": zip_code}
    post(ctx, world, json.dumps(order).encode())
    drain(ctx)
    return min(x.id for x in exception_queue.list_exceptions(ctx))


def _order(ctx: Context) -> tuple[SalesOrder, list[OrderLine]]:
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        lines = list(s.scalars(select(OrderLine).order_by(OrderLine.line_no)))
        s.expunge_all()
        return order, lines


def test_support_takes_out_a_zero_line_but_may_not_add_units(
    cctx: Context, app_client: TestClient, world: World
) -> None:
    exception_id = _parked(cctx, world, 801, [2, 0], "40202")
    assert exception_queue.get_exception(cctx, exception_id).reason == "bad_quantity"
    _, (first, zero) = _order(cctx)
    make_user(cctx, "sue", Role.SUPPORT)
    sign_in(app_client, "sue")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    assert "Change a line's quantity" in page.text
    assert "Force this warehouse" not in page.text and "Cancel the order" not in page.text
    token = csrf_in(page.text)
    more = app_client.post(
        f"/console/exceptions/{exception_id}/quantity",
        data={"line_id": first.id, "quantity": 5, "csrf_token": token},
    )
    assert more.status_code == 422 and "more needs ops" in more.text
    negative = app_client.post(
        f"/console/exceptions/{exception_id}/quantity",
        data={"line_id": first.id, "quantity": -1, "csrf_token": token},
    )
    assert negative.status_code == 422
    out = app_client.post(
        f"/console/exceptions/{exception_id}/quantity",
        data={"line_id": zero.id, "quantity": 0, "csrf_token": token},
    )
    assert out.status_code == 200 and "Quantity saved" in out.text
    drain(cctx)
    order, lines = _order(cctx)
    assert order.status == "released"
    assert [(ln.sku, ln.quantity) for ln in lines] == [("WIDGET-1", 2)]
    assert exception_queue.get_exception(cctx, exception_id).status == "resolved"
    where = AuditFilter(actor="user:sue", entity=Entity.ORDER, entity_id=str(order.id))
    (entry,) = list_entries(cctx, where)
    assert entry["action"] == "order.quantity_change"
    assert entry["before"] == {"line_id": zero.id, "quantity": 0}
    assert entry["after"] == {"line_id": zero.id, "quantity": 0}
    refused = app_client.post(
        f"/console/exceptions/{exception_id}/quantity",
        data={"line_id": first.id, "quantity": 1, "csrf_token": token},
    )
    assert refused.status_code == 409 and "can no longer be changed" in refused.text


def test_ops_raises_a_quantity_on_the_order_page(
    cctx: Context, app_client: TestClient, world: World
) -> None:
    _parked(cctx, world, 802, [2], "4020")
    _, (line,) = _order(cctx)
    make_user(cctx, "otto", Role.OPS)
    sign_in(app_client, "otto")
    order_id = line.order_id
    page = app_client.get(f"/console/orders/{order_id}")
    raised = app_client.post(
        f"/console/orders/{order_id}/quantity",
        data={"line_id": line.id, "quantity": 3, "csrf_token": csrf_in(page.text)},
    )
    assert raised.status_code == 200 and "Saved; the order is checked" in raised.text
    drain(cctx)
    order, (after,) = _order(cctx)
    assert after.quantity == 3 and order.status == "exception"  # the address still fails
    assert order.fixes == {"quantities": {str(line.external_line_id): {"channel": 2, "fixed": 3}}}
    # The address fix replays the channel's payload again: both fixes are put on it.
    page = app_client.get(f"/console/orders/{order_id}")
    fixed = app_client.post(
        f"/console/orders/{order_id}/address",
        data={"postal_code": "40202", "country": "US", "csrf_token": csrf_in(page.text)},
    )
    assert fixed.status_code == 200
    drain(cctx)
    order, (after,) = _order(cctx)
    assert order.status == "released" and after.quantity == 3
    with unit_of_work(cctx.sessions) as s:
        (fo,) = s.scalars(select(FulfilmentOrder)).all()
        assert [fl.quantity for fl in fo.lines] == [3]


def test_ops_forces_a_warehouse_and_support_may_not(
    cctx: Context, app_client: TestClient, world: World
) -> None:
    exception_id = _parked(cctx, world, 803, [1], "4020")
    make_user(cctx, "sue", Role.SUPPORT)
    sign_in(app_client, "sue")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    denied = app_client.post(
        f"/console/exceptions/{exception_id}/force-warehouse",
        data={"warehouse_code": "WEST", "csrf_token": csrf_in(page.text)},
    )
    assert denied.status_code == 403
    app_client.cookies.clear()
    make_user(cctx, "otto", Role.OPS)
    sign_in(app_client, "otto")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    assert "Force this warehouse" in page.text
    token = csrf_in(page.text)
    empty = app_client.post(
        f"/console/exceptions/{exception_id}/force-warehouse",
        data={"warehouse_code": "EAST", "csrf_token": token},
    )
    assert empty.status_code == 409  # EAST holds no WIDGET-1: nothing is reserved
    forced = app_client.post(
        f"/console/exceptions/{exception_id}/force-warehouse",
        data={"warehouse_code": "WEST", "csrf_token": token},
    )
    assert forced.status_code == 200 and "Routed to the warehouse you chose" in forced.text
    drain(cctx)
    with unit_of_work(cctx.sessions) as s:
        (fo,) = s.scalars(select(FulfilmentOrder)).all()
        assert fo.warehouse_id == world.warehouse_ids["WEST"]
    assert exception_queue.get_exception(cctx, exception_id).status == "resolved"
    actions = {e["action"] for e in list_entries(cctx, AuditFilter(actor="user:otto"))}
    assert "order.route_override" in actions


def test_ops_cancels_the_order_and_support_may_not(
    cctx: Context, app_client: TestClient, world: World
) -> None:
    exception_id = _parked(cctx, world, 804, [1], "4020")
    make_user(cctx, "sue", Role.SUPPORT)
    sign_in(app_client, "sue")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    denied = app_client.post(
        f"/console/exceptions/{exception_id}/cancel",
        data={"reason": "fraud", "csrf_token": csrf_in(page.text)},
    )
    assert denied.status_code == 403
    app_client.cookies.clear()
    make_user(cctx, "otto", Role.OPS)
    sign_in(app_client, "otto")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    token = csrf_in(page.text)
    no_reason = app_client.post(
        f"/console/exceptions/{exception_id}/cancel", data={"reason": "", "csrf_token": token}
    )
    assert no_reason.status_code == 422
    done = app_client.post(
        f"/console/exceptions/{exception_id}/cancel",
        data={"reason": "customer asked", "csrf_token": token},
    )
    assert done.status_code == 200 and "Order cancelled" in done.text
    order, _ = _order(cctx)
    assert order.status == "cancelled"
    assert exception_queue.get_exception(cctx, exception_id).status == "resolved"
    assert "Cancel the order" not in done.text
    actions = {e["action"] for e in list_entries(cctx, AuditFilter(actor="user:otto"))}
    assert "order.cancel" in actions
