"""Cancels and edits after a warehouse holds the order, through its WMS (fake, on loopback).

Orders come in as signed Shopify webhooks shaped by the recorded sample order (its later
versions are the same order with ``cancelled_at`` set, or a line's quantity lowered, and a
newer ``updated_at``, as Shopify sends them on ``orders/cancelled`` and ``orders/updated``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.orders import views
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    OutboxMessage,
    SalesOrder,
    StockLedger,
    StockLevel,
)
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, sample_order, signed_headers, stock

GREEN, RED = "IPOD2008GREEN", "IPOD2008RED"
ORDER_ID = 450789469  # the recorded sample's id
CREATED = "2026-11-20T09:00:00-05:00"
EDITED = "2026-11-20T12:00:00-05:00"


def version(updated_at: str, lines: list[tuple[str, int]], **changes: Any) -> dict[str, Any]:
    """The sample order with our lines (stable line ids by position) and ``updated_at``."""
    order = sample_order()
    template = order["line_items"][0]
    order["updated_at"] = updated_at
    order["line_items"] = [
        {**template, "id": ORDER_ID * 10 + i, "sku": sku, "quantity": qty}
        for i, (sku, qty) in enumerate(lines)
    ]
    order.update(changes)
    return order


def send(ctx: Context, world: World, order: dict[str, Any], topic: str) -> None:
    body = json.dumps(order).encode()
    receive_webhook(ctx, world.shopify_id, signed_headers(body, topic=topic), body)
    drain(ctx)


def cancelled_version(updated_at: str = "2026-11-21T10:00:00-05:00") -> dict[str, Any]:
    return version(
        updated_at,
        [(GREEN, 1), (RED, 2)],
        cancelled_at=updated_at,
        cancel_reason="customer",
    )


def levels(ctx: Context) -> dict[str, tuple[int, int]]:
    """(on hand, reserved) per SKU at EAST."""
    with unit_of_work(ctx.sessions) as s:
        return {
            sku: (on_hand, reserved)
            for sku, on_hand, reserved in s.execute(
                select(StockLevel.sku, StockLevel.on_hand, StockLevel.reserved)
            )
        }


def the_order(ctx: Context) -> SalesOrder:
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(select(SalesOrder)).one()


def fo_of(ctx: Context) -> FulfilmentOrder:
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(select(FulfilmentOrder)).one()


def cancel_posts(wms: FakeWms) -> list[Any]:
    return [r for r in wms.requests if r.method == "POST" and r.path.endswith("/cancel")]


def reasons(ctx: Context) -> list[str]:
    return sorted(e.reason for e in exception_queue.list_exceptions(ctx))


def auth(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


@pytest.fixture
def world(ctx: Context, wms: FakeWms) -> World:
    built = build_world(ctx, wms.base_url)
    stock(ctx, built.warehouse_ids["EAST"], GREEN, 5)
    stock(ctx, built.warehouse_ids["EAST"], RED, 5)
    return built


def released(ctx: Context, world: World) -> SalesOrder:
    send(ctx, world, version(CREATED, [(GREEN, 1), (RED, 2)]), "orders/create")
    order = the_order(ctx)
    assert order.status == "released"
    assert levels(ctx) == {GREEN: (5, 1), RED: (5, 2)}
    return order


def test_a_channel_cancel_after_release_is_sent_to_the_wms_once_and_stock_goes_back(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    order = released(ctx, world)
    fo = fo_of(ctx)

    send(ctx, world, cancelled_version(), "orders/cancelled")

    (sent,) = cancel_posts(wms)
    assert sent.path == f"/fulfilment-orders/{fo.id}/cancel"
    assert sent.headers["idempotency-key"].startswith(f"cancel-fo-{fo.id}-")
    assert sent.body["entire"] is True and sent.body["external_ref"] == fo.external_ref
    assert sorted((ln["sku"], ln["quantity"]) for ln in sent.body["lines"]) == [
        (GREEN, 1),
        (RED, 2),
    ]
    assert levels(ctx) == {GREEN: (5, 0), RED: (5, 0)}
    assert the_order(ctx).status == "cancelled" and fo_of(ctx).status == "cancelled"
    detail = views.order_detail(ctx, order.id)
    assert [c["status"] for c in detail["cancellations"]] == ["cancelled"]
    assert detail["cancellations"][0]["source"] == "channel"
    assert {ln["cancelled_quantity"] for ln in detail["fulfilment_orders"][0]["lines"]} == {1, 2}
    notes = [e["note"] or "" for e in detail["timeline"]]
    assert any("asked of the warehouse" in n for n in notes)
    assert any("the warehouse cancelled 3 unit(s)" in n for n in notes)
    assert detail["timeline"][-1]["to"] == "cancelled"
    with unit_of_work(ctx.sessions) as s:
        kinds = sorted(s.scalars(select(OutboxMessage.kind)))
        ledger = sorted(
            (sku, delta)
            for sku, delta in s.execute(
                select(StockLedger.sku, StockLedger.delta_reserved).where(
                    StockLedger.reason == "cancelled"
                )
            )
        )
    assert kinds == ["wms.cancel", "wms.release"]  # the channel is not told its own cancel
    assert ledger == [(GREEN, -1), (RED, -2)]

    # The same cancel delivered again (another webhook id) and a later version: no new call.
    send(ctx, world, cancelled_version(), "orders/cancelled")
    send(ctx, world, cancelled_version("2026-11-22T10:00:00-05:00"), "orders/updated")
    assert len(cancel_posts(wms)) == 1
    assert levels(ctx) == {GREEN: (5, 0), RED: (5, 0)}

    # The warehouse ships the cancelled units anyway: refused, no stock moves.
    refused = client.post(
        f"/api/v1/fulfilment-orders/{fo.id}/shipments",
        json={"external_ref": "PKG-LATE"},
        headers=auth(ctx, Role.WAREHOUSE),
    )
    assert refused.status_code == 409 and refused.json()["code"] == "not_shippable"
    assert levels(ctx) == {GREEN: (5, 0), RED: (5, 0)}


def test_too_late_at_the_wms_opens_an_exception_and_gives_nothing_back(
    ctx: Context, world: World, wms: FakeWms
) -> None:
    order = released(ctx, world)
    wms.pick(fo_of(ctx).id)

    send(ctx, world, cancelled_version(), "orders/cancelled")

    assert len(cancel_posts(wms)) == 1
    assert levels(ctx) == {GREEN: (5, 1), RED: (5, 2)}
    assert the_order(ctx).status == "released"
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "cancel_too_late" and exc.detail["wms_status"] == "picked"
    assert "picked" in exc.detail["message"]
    (cancellation,) = views.order_detail(ctx, order.id)["cancellations"]
    assert (cancellation["status"], cancellation["pending"]) == ("too_late", False)
    assert cancellation["detail"] == "picked"


def test_a_cancel_after_shipment_is_a_return_and_never_reaches_the_wms(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    released(ctx, world)
    shipped = client.post(
        f"/api/v1/fulfilment-orders/{fo_of(ctx).id}/shipments",
        json={"external_ref": "PKG-1"},
        headers=auth(ctx, Role.WAREHOUSE),
    )
    assert shipped.status_code == 201, shipped.text
    assert the_order(ctx).status == "shipped"

    send(ctx, world, cancelled_version(), "orders/cancelled")

    assert cancel_posts(wms) == []
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "return_required"
    assert sorted((ln["sku"], ln["quantity"]) for ln in exc.detail["lines"]) == [
        (GREEN, 1),
        (RED, 2),
    ]
    assert the_order(ctx).status == "shipped"
    assert levels(ctx) == {GREEN: (4, 0), RED: (3, 0)}


def test_a_shopify_edit_lowering_a_quantity_cancels_those_units_and_an_address_change_is_flagged(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    order = released(ctx, world)
    edited = version("2026-11-21T10:00:00-05:00", [(GREEN, 1), (RED, 1)])

    send(ctx, world, edited, "orders/updated")

    (sent,) = cancel_posts(wms)
    assert sent.body["entire"] is False
    assert [(ln["sku"], ln["quantity"]) for ln in sent.body["lines"]] == [(RED, 1)]
    assert levels(ctx) == {GREEN: (5, 1), RED: (5, 1)}
    assert the_order(ctx).status == "released" and fo_of(ctx).status == "released"
    assert reasons(ctx) == []

    moved = version("2026-11-22T10:00:00-05:00", [(GREEN, 1), (RED, 1)])
    moved["shipping_address"] = {**moved["shipping_address"], "address1": "1 Infinite Loop"}
    send(ctx, world, moved, "orders/updated")
    assert len(cancel_posts(wms)) == 1
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "change_after_release"
    assert exc.detail["changes"] == ["ship-to address changed"]

    # What is left ships; the cancelled unit does not, and no stock moves twice.
    shipped = client.post(
        f"/api/v1/fulfilment-orders/{fo_of(ctx).id}/shipments",
        json={"external_ref": "PKG-1"},
        headers=auth(ctx, Role.WAREHOUSE),
    )
    assert shipped.status_code == 201, shipped.text
    assert levels(ctx) == {GREEN: (4, 0), RED: (4, 0)}
    assert the_order(ctx).status == "shipped"
    with unit_of_work(ctx.sessions) as s:
        lines = {
            fl.sku: (fl.quantity, fl.shipped_quantity, fl.cancelled_quantity)
            for fl in s.scalars(select(FulfilmentLine))
        }
    assert lines == {GREEN: (1, 1, 0), RED: (2, 1, 1)}
    assert views.order_detail(ctx, order.id)["cancellations"][0]["units_cancelled"] == 1


def test_a_real_shopify_edit_lowers_current_quantity_and_that_is_cancelled_at_the_wms(
    ctx: Context, world: World, wms: FakeWms
) -> None:
    """Shopify's order editing keeps each line's ``quantity`` and lowers its
    ``current_quantity`` (0 for a line edited away): the difference goes to the WMS."""
    released(ctx, world)
    edited = version("2026-11-21T10:00:00-05:00", [(GREEN, 1), (RED, 2)])
    green, red = edited["line_items"]
    green["current_quantity"] = 0  # removed
    red["current_quantity"] = 1

    send(ctx, world, edited, "orders/updated")  # orders/edited carries no order

    (sent,) = cancel_posts(wms)
    assert sent.body["entire"] is False
    assert sorted((ln["sku"], ln["quantity"]) for ln in sent.body["lines"]) == [
        (GREEN, 1),
        (RED, 1),
    ]
    assert levels(ctx) == {GREEN: (5, 0), RED: (5, 1)}
    assert reasons(ctx) == []


def test_ops_cancel_part_of_a_released_order(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    order = released(ctx, world)
    lines = views.order_detail(ctx, order.id)["lines"]
    red_line = next(ln["id"] for ln in lines if ln["sku"] == RED)
    url = f"/api/v1/orders/{order.id}/cancel"
    ops = auth(ctx, Role.OPS)

    for lines in ([{"line_id": 999_999, "quantity": 1}], [{"line_id": red_line, "quantity": 3}]):
        bad = client.post(url, json={"reason": "x", "lines": lines}, headers=ops)
        assert bad.status_code == 422, bad.text
    assert cancel_posts(wms) == []

    answer = client.post(
        url,
        json={"reason": "one is enough", "lines": [{"line_id": red_line, "quantity": 1}]},
        headers=ops,
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "released"
    assert body["cancellation"]["units_requested"] == 1
    assert body["cancellation"]["units_to_return"] == 0
    pending = views.order_detail(ctx, order.id)["cancellations"]
    assert [(c["status"], c["pending"], c["source"]) for c in pending] == [
        ("requested", True, "ops")
    ]

    drain(ctx)
    assert levels(ctx) == {GREEN: (5, 1), RED: (5, 1)}
    assert the_order(ctx).status == "released"
    assert [c["status"] for c in views.order_detail(ctx, order.id)["cancellations"]] == [
        "cancelled"
    ]
    # Two more than are left now: refused.
    again = client.post(
        url, json={"reason": "x", "lines": [{"line_id": red_line, "quantity": 2}]}, headers=ops
    )
    assert again.status_code == 422


def test_a_shipment_racing_a_pending_cancel_is_not_given_back_twice(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    released(ctx, world)
    fo = fo_of(ctx)
    wms.set_down(True)
    send(ctx, world, cancelled_version(), "orders/cancelled")
    assert the_order(ctx).status == "released"  # the cancel waits for the WMS

    shipped = client.post(
        f"/api/v1/fulfilment-orders/{fo.id}/shipments",
        json={"external_ref": "PKG-1", "lines": [{"sku": RED, "quantity": 2}]},
        headers=auth(ctx, Role.WAREHOUSE),
    )
    assert shipped.status_code == 201, shipped.text
    wms.set_down(False)
    sweep_until(ctx, lambda: the_order(ctx).status == "cancelled")

    # The WMS said cancelled to all; only the unshipped green unit was.
    assert levels(ctx) == {GREEN: (5, 0), RED: (3, 0)}
    assert reasons(ctx) == ["cancel_too_late"]
    with unit_of_work(ctx.sessions) as s:
        lines = {
            fl.sku: (fl.shipped_quantity, fl.cancelled_quantity)
            for fl in s.scalars(select(FulfilmentLine))
        }
    assert lines == {GREEN: (0, 1), RED: (2, 0)}
    assert fo_of(ctx).status == "shipped"


def sweep_until(ctx: Context, done: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        sweep(ctx)
        drain(ctx)
        time.sleep(0.02)
    raise AssertionError("condition not reached before the deadline")


@pytest.fixture
def budget_ctx(db_url: str) -> Iterator[Context]:
    context = bootstrap(make_settings(db_url, outbox_max_attempts=3))
    yield context
    context.close()


def test_a_wms_down_retries_the_cancel_then_dead_letters_it_and_a_redrive_delivers_it(
    budget_ctx: Context, wms: FakeWms
) -> None:
    ctx = budget_ctx
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], GREEN, 5)
    stock(ctx, world.warehouse_ids["EAST"], RED, 5)
    order = released(ctx, world)
    wms.set_down(True)

    send(ctx, world, cancelled_version(), "orders/cancelled")
    sweep_until(ctx, lambda: reasons(ctx) == ["cancel_failed"])

    posts = cancel_posts(wms)
    assert len(posts) == 3 and len({p.headers["idempotency-key"] for p in posts}) == 1
    assert levels(ctx) == {GREEN: (5, 1), RED: (5, 2)}
    assert the_order(ctx).status == "released"
    (exc,) = exception_queue.list_exceptions(ctx)
    assert "may still ship" in exc.detail["message"]
    assert views.order_detail(ctx, order.id)["cancellations"][0]["status"] == "failed"

    wms.set_down(False)
    exception_queue.retry_exception(ctx, exc.id, actor="ops")
    drain(ctx)
    assert len(cancel_posts(wms)) == 4
    assert the_order(ctx).status == "cancelled"
    assert levels(ctx) == {GREEN: (5, 0), RED: (5, 0)}


def test_ops_cancel_of_a_shipped_order_opens_a_return_and_calls_no_wms(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    order = released(ctx, world)
    client.post(
        f"/api/v1/fulfilment-orders/{fo_of(ctx).id}/shipments",
        json={"external_ref": "PKG-1", "lines": [{"sku": RED, "quantity": 2}]},
        headers=auth(ctx, Role.WAREHOUSE),
    )
    assert the_order(ctx).status == "partially_shipped"

    answer = client.post(
        f"/api/v1/orders/{order.id}/cancel",
        json={"reason": "customer called"},
        headers=auth(ctx, Role.OPS),
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["cancellation"] == {
        "cancellation_ids": [answer.json()["cancellation"]["cancellation_ids"][0]],
        "units_requested": 1,
        "units_to_return": 2,
    }
    drain(ctx)
    (sent,) = cancel_posts(wms)
    assert [(ln["sku"], ln["quantity"]) for ln in sent.body["lines"]] == [(GREEN, 1)]
    assert reasons(ctx) == ["return_required"]
    # Nothing left to ship: cancelled, the shipped units to come back as a return.
    assert the_order(ctx).status == "cancelled"
    assert levels(ctx) == {GREEN: (5, 0), RED: (3, 0)}


def test_a_channel_cancel_while_a_tried_release_waits_for_its_retry_goes_through_the_wms(
    ctx: Context, world: World, wms: FakeWms
) -> None:
    """A release tried once (here the WMS answered 503; a timeout would leave the same row)
    may have reached the warehouse: it is not withdrawn under it. The channel's cancel
    waits for the hand-off to settle, then goes through the WMS."""
    wms.set_down(True)
    send(ctx, world, version(CREATED, [(GREEN, 1), (RED, 2)]), "orders/create")
    assert the_order(ctx).status == "routed"

    send(ctx, world, cancelled_version(), "orders/cancelled")
    assert the_order(ctx).status == "routed"  # the cancel's inbox row waits for a retry
    assert fo_of(ctx).status == "pending"

    wms.set_down(False)
    sweep_until(ctx, lambda: the_order(ctx).status == "cancelled")  # the retries are due
    assert wms.accepted_count == 1
    (sent,) = cancel_posts(wms)
    assert sent.body["entire"] is True
    assert the_order(ctx).status == "cancelled"
    assert levels(ctx) == {GREEN: (5, 0), RED: (5, 0)}


def test_a_channel_cut_of_units_still_in_the_outbox_is_flagged_not_dropped(
    ctx: Context, world: World, wms: FakeWms
) -> None:
    wms.set_down(True)
    send(ctx, world, version(CREATED, [(GREEN, 1), (RED, 2)]), "orders/create")
    send(ctx, world, version(EDITED, [(GREEN, 1), (RED, 1)]), "orders/updated")

    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "change_after_release"
    assert "still being handed over" in " ".join(exc.detail["changes"])
    assert the_order(ctx).status == "routed"
    assert levels(ctx) == {GREEN: (5, 1), RED: (5, 2)}


def test_a_cut_of_what_was_left_after_a_partial_shipment_leaves_the_order_shipped(
    ctx: Context, world: World, wms: FakeWms, client: TestClient
) -> None:
    released(ctx, world)
    client.post(
        f"/api/v1/fulfilment-orders/{fo_of(ctx).id}/shipments",
        json={"external_ref": "PKG-1", "lines": [{"sku": RED, "quantity": 2}]},
        headers=auth(ctx, Role.WAREHOUSE),
    )
    assert the_order(ctx).status == "partially_shipped"

    send(ctx, world, version("2026-11-21T10:00:00-05:00", [(GREEN, 0), (RED, 2)]), "orders/updated")

    (sent,) = cancel_posts(wms)
    assert [(ln["sku"], ln["quantity"]) for ln in sent.body["lines"]] == [(GREEN, 1)]
    assert the_order(ctx).status == "shipped"  # what shipped stays with the customer
    assert reasons(ctx) == []
    assert levels(ctx) == {GREEN: (5, 0), RED: (3, 0)}
