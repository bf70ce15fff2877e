"""Backorders with partial release: what stock covers ships now, only the rest waits."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.order_routing import rule_sets
from omniroute.core.orders import cancellation
from omniroute.core.orders import views as orders
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import StockLevel
from omniroute.core.platform.security import Role
from omniroute.core.stock import inventory
from omniroute.worker.handlers import drain
from tests.integration.builders import (
    World,
    build_world,
    order_body,
    post,
    signed_headers,
    stock,
)
from tests.integration.test_consolidation import (  # the group fixtures and helpers
    WINDOW,
    Shop,
    auth,
    fulfilment_orders,
    group_of,
    place,
    status,
    window_ends,
)
from tests.integration.test_consolidation import shop as group_shop

shop = group_shop  # the consolidation tests' fixture (a shop whose channel can merge orders)


def publish(ctx: Context, **outcome: Any) -> None:
    doc = {
        "name": "backorders",
        "timezone": "UTC",
        "default": {"on_no_stock": "backorder", **outcome},
        "rules": [],
    }
    draft = rule_sets.create_draft(ctx, doc, notes=None, actor="test")
    rule_sets.publish(ctx, draft.id, effective_from=utcnow() - timedelta(minutes=1), actor="test")


def world_with(ctx: Context, wms: FakeWms, units: dict[tuple[str, str], int]) -> World:
    world = build_world(ctx, wms.base_url)
    for (code, sku), on_hand in units.items():
        stock(ctx, world.warehouse_ids[code], sku, on_hand)
    return world


def the_order(ctx: Context) -> dict[str, Any]:
    (row,) = orders.list_orders(ctx, limit=2)
    return orders.order_detail(ctx, row["id"])


def live(detail: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, int]]]]:
    """Each fulfilment order: warehouse, status and (sku, quantity) lines."""
    return [
        (
            fo["warehouse_code"],
            fo["status"],
            [(ln["sku"], ln["quantity"]) for ln in fo["lines"]],
        )
        for fo in detail["fulfilment_orders"]
    ]


def reserved(ctx: Context) -> dict[str, int]:
    with unit_of_work(ctx.sessions) as s:
        totals: dict[str, int] = {}
        for sku, qty in s.execute(select(StockLevel.sku, StockLevel.reserved)):
            totals[sku] = totals.get(sku, 0) + qty
        return totals


def receive(ctx: Context, world: World, code: str, sku: str, units: int) -> None:
    inventory.adjust_stock(
        ctx, world.warehouse_ids[code], sku, delta=units, actor="t", reason="receipt"
    )
    drain(ctx)


def ship(ctx: Context, detail: dict[str, Any], n: int, ref: str) -> str:
    fo_id = detail["fulfilment_orders"][n]["id"]
    return confirm_shipment(ctx, fo_id, ShipmentInput(ref, None), actor="wms").order_status


def timeline_notes(detail: dict[str, Any]) -> list[str]:
    return [e["note"] or "" for e in detail["timeline"]]


def notes(ctx: Context, oid: int) -> list[str]:
    return timeline_notes(orders.order_detail(ctx, oid))


def test_the_covered_line_ships_now_and_the_rest_when_stock_arrives(
    ctx: Context, wms: FakeWms
) -> None:
    world = world_with(ctx, wms, {("EAST", "A"): 5, ("EAST", "B"): 0})
    publish(ctx, partial_release=True)
    post(ctx, world, order_body(601, [("A", 2), ("B", 3)]))
    drain(ctx)

    detail = the_order(ctx)
    assert detail["status"] == "backordered"
    assert live(detail) == [("EAST", "released", [("A", 2)])]
    assert reserved(ctx) == {"A": 2, "B": 0}
    assert [
        sorted((ln["sku"], ln["quantity"]) for ln in p["lines"]) for p in wms.accepted.values()
    ] == [[("A", 2)]]
    (decision,) = detail["routing_decisions"]
    assert decision["outcome"] == "partial_release"
    trace = decision["trace"]
    assert trace["partial_release"]["first"]["outcome"] == "backorder"
    assert [(d["sku"], d["missing"]) for d in trace["shortfall"]] == [("B", 3)]
    assert trace["chosen"] == ["EAST"]
    assert "released 1 of 2 lines; waiting for stock of B (3 units)" in timeline_notes(detail)
    assert any("accepted by its warehouse; the rest" in n for n in timeline_notes(detail))

    # More A does not wake it: it waits for B only.
    receive(ctx, world, "EAST", "A", 1)
    assert len(the_order(ctx)["routing_decisions"]) == 1

    # The warehouse ships the first part while the rest waits: still backordered.
    assert ship(ctx, detail, 0, "ship-1") == "backordered"
    detail = the_order(ctx)
    assert detail["status"] == "backordered"
    assert any("the rest of the order waits to be routed" in n for n in timeline_notes(detail))
    assert reserved(ctx) == {"A": 0, "B": 0}

    # Stock of B arrives: the wake-up finds the order, routes the rest and releases it.
    receive(ctx, world, "EAST", "B", 4)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    assert live(detail) == [("EAST", "shipped", [("A", 2)]), ("EAST", "released", [("B", 3)])]
    assert [d["outcome"] for d in detail["routing_decisions"]] == ["partial_release", "single"]
    assert [e["to"] for e in detail["timeline"] if e["from"] != e["to"]][-4:] == [
        "backordered",
        "validated",
        "routed",
        "released",
    ]
    assert wms.accepted_count == 2

    # The second part ships: every line has shipped.
    assert ship(ctx, detail, 1, "ship-2") == "shipped"


def test_part_of_a_line_ships_and_the_rest_of_it_waits(ctx: Context, wms: FakeWms) -> None:
    world = world_with(ctx, wms, {("EAST", "A"): 3})
    publish(ctx, partial_release=True)
    post(ctx, world, order_body(602, [("A", 5)]))
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "backordered"
    assert live(detail) == [("EAST", "released", [("A", 3)])]
    assert "released 1 of 1 lines; waiting for stock of A (2 units)" in timeline_notes(detail)

    # One unit comes in: still short, so that unit is released too and 1 waits.
    receive(ctx, world, "EAST", "A", 1)
    detail = the_order(ctx)
    assert detail["status"] == "backordered"
    assert [fo[2] for fo in live(detail)] == [[("A", 3)], [("A", 1)]]

    receive(ctx, world, "EAST", "A", 1)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    assert [fo[2] for fo in live(detail)] == [[("A", 3)], [("A", 1)], [("A", 1)]]
    assert reserved(ctx) == {"A": 5}


def test_without_partial_release_the_whole_order_waits(ctx: Context, wms: FakeWms) -> None:
    world = world_with(ctx, wms, {("EAST", "A"): 5, ("EAST", "B"): 0})
    publish(ctx, partial_release=False)
    post(ctx, world, order_body(603, [("A", 2), ("B", 3)]))
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "backordered"
    assert live(detail) == []
    assert reserved(ctx) == {"A": 0, "B": 0}
    assert [d["outcome"] for d in detail["routing_decisions"]] == ["backorder"]
    assert wms.accepted_count == 0

    receive(ctx, world, "EAST", "B", 3)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    assert live(detail) == [("EAST", "released", [("A", 2), ("B", 3)])]


@pytest.mark.parametrize(
    ("units", "released"),
    [
        # A and C both in WEST: the covered part is one shipment, released.
        ({("WEST", "A"): 1, ("WEST", "C"): 1}, [("WEST", "released", [("A", 1), ("C", 1)])]),
        # A in EAST, C in WEST: two shipments, which ship_complete forbids; all of it waits.
        ({("EAST", "A"): 1, ("WEST", "C"): 1}, []),
    ],
)
def test_ship_complete_also_binds_the_released_part(
    ctx: Context,
    wms: FakeWms,
    units: dict[tuple[str, str], int],
    released: list[Any],
) -> None:
    world = world_with(ctx, wms, units | {("EAST", "B"): 0})
    publish(ctx, partial_release=True, split={"mode": "ship_complete"})
    post(ctx, world, order_body(604, [("A", 1), ("B", 1), ("C", 1)]))
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "backordered"
    assert live(detail) == released
    outcomes = [d["outcome"] for d in detail["routing_decisions"]]
    assert outcomes == (["partial_release"] if released else ["backorder"])


def test_a_partly_released_backorder_cancels_the_waiting_rest_at_once_and_asks_the_warehouse(
    ctx: Context, wms: FakeWms, client: TestClient
) -> None:
    world = world_with(ctx, wms, {("EAST", "A"): 5, ("EAST", "B"): 0})
    publish(ctx, partial_release=True)
    post(ctx, world, order_body(605, [("A", 2), ("B", 3)]))
    drain(ctx)
    detail = the_order(ctx)
    fo_id = detail["fulfilment_orders"][0]["id"]
    r = client.post(
        f"/api/v1/orders/{detail['id']}/cancel",
        json={"reason": "customer"},
        headers=auth(ctx, Role.OPS),
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["units_released"] == 3  # the waiting B units, dropped at once
    assert body["cancellation"]["units_requested"] == 2  # A, asked of the warehouse
    assert body["status"] == "released"  # nothing waits any more; the warehouse has the rest
    drain(ctx)

    detail = the_order(ctx)
    assert detail["status"] == "cancelled"
    assert [k.split("-")[2] for k in wms.cancelled] == [str(fo_id)]
    assert reserved(ctx) == {"A": 0, "B": 0}
    assert any("3 unit(s) waiting for stock cancelled" in n for n in timeline_notes(detail))

    receive(ctx, world, "EAST", "B", 3)  # the stock it waited for arrives: nothing routes
    assert len(wms.accepted) == 1
    assert the_order(ctx)["status"] == "cancelled"


def test_ops_cancel_the_waiting_units_only_and_the_order_is_released(
    ctx: Context, wms: FakeWms
) -> None:
    world = world_with(ctx, wms, {("EAST", "A"): 5, ("EAST", "B"): 0})
    publish(ctx, partial_release=True)
    post(ctx, world, order_body(607, [("A", 2), ("B", 3)]))
    drain(ctx)
    detail = the_order(ctx)
    b_line = next(ln["id"] for ln in detail["lines"] if ln["sku"] == "B")
    result = cancellation.cancel_order(
        ctx, detail["id"], reason="out of stock", actor="ops", lines={b_line: 2}
    )
    assert (result.status, result.units_released) == ("backordered", 2)
    assert result.requested is not None and result.requested.cancellation_ids == ()
    assert wms.cancelled == {}

    receive(ctx, world, "EAST", "B", 5)  # one unit of B still waits: it is routed alone
    detail = the_order(ctx)
    assert sorted(
        (fo["status"], fo["lines"][0]["sku"], fo["lines"][0]["quantity"])
        for fo in detail["fulfilment_orders"]
    ) == [
        ("released", "A", 2),
        ("released", "B", 1),
    ]
    assert detail["status"] == "released"


def test_a_channel_edit_removing_the_waiting_line_releases_the_order(
    ctx: Context, wms: FakeWms
) -> None:
    world = world_with(ctx, wms, {("EAST", "A"): 5, ("EAST", "B"): 0})
    publish(ctx, partial_release=True)
    created = json.loads(order_body(608, [("A", 2), ("B", 3)]))
    post(ctx, world, json.dumps(created).encode())
    drain(ctx)
    edited = {
        **created,
        "updated_at": "2030-01-01T00:00:00-05:00",
        "line_items": created["line_items"][:1],
    }
    receive_webhook(
        ctx,
        world.shopify_id,
        signed_headers(json.dumps(edited).encode(), topic="orders/updated"),
        json.dumps(edited).encode(),
    )
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    assert wms.cancelled == {}
    assert [x["reason"] for x in detail["exceptions"] if x["status"] == "open"] == []
    receive(ctx, world, "EAST", "B", 3)
    assert len(wms.accepted) == 1


def test_a_backorder_with_nothing_released_still_cancels(ctx: Context, wms: FakeWms) -> None:
    world = world_with(ctx, wms, {("EAST", "B"): 0})
    publish(ctx, partial_release=True)
    post(ctx, world, order_body(606, [("B", 3)]))
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "backordered"
    result = cancellation.cancel_order(ctx, detail["id"], reason="customer", actor="ops")
    assert result.status == "cancelled"


# --- a consolidation group: the members' covered lines leave together, the rest waits


def test_a_group_releases_what_is_covered_and_the_short_member_waits(
    ctx: Context, shop: Shop, wms: FakeWms
) -> None:
    stock(ctx, shop.world.warehouse_ids["EAST"], "C", 0)
    publish(ctx, partial_release=True, consolidate={"window_minutes": WINDOW})
    short = place(ctx, shop, 951, [("A", 2), ("C", 1)])
    full = place(ctx, shop, 952, [("A", 1)])
    assert (status(ctx, short), status(ctx, full)) == ("on_hold", "on_hold")

    assert window_ends(ctx) == 1
    assert (status(ctx, short), status(ctx, full)) == ("backordered", "released")
    (fo,) = fulfilment_orders(ctx)
    assert fo.consolidation_id == group_of(ctx, short)
    (payload,) = wms.accepted.values()
    assert sorted(
        (ln["order_reference"], ln["sku"], ln["quantity"]) for ln in payload["lines"]
    ) == [
        ("#951", "A", 2),
        ("#952", "A", 1),
    ]
    assert any(
        "released 1 of 2 lines; waiting for stock of C (1 unit)" in n for n in notes(ctx, short)
    )
    assert [d["outcome"] for d in orders.order_detail(ctx, full)["routing_decisions"]] == [
        "partial_release"
    ]
    assert not any("waiting for stock" in n for n in notes(ctx, full))

    # C arrives: the short member routes on its own (not held again) and is released.
    receive(ctx, shop.world, "EAST", "C", 1)
    assert (status(ctx, short), status(ctx, full)) == ("released", "released")
    assert wms.accepted_count == 2
