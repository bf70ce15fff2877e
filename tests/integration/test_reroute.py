"""Re-routing after a WMS rejection or a stock discrepancy, and ops overrides of routing,
through the services, the outbox relay and the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.orders import views as orders
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import (
    AuditLog,
    FulfilmentOrder,
    OutboxMessage,
    RoutingDecision,
    SalesOrder,
    StockLedger,
    StockLevel,
    Warehouse,
)
from omniroute.core.platform.security import Role
from omniroute.core.stock import inventory
from omniroute.worker.handlers import drain, run_task
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, order_body, post, stock

THREE = [("EAST", 1), ("WEST", 2), ("NORTH", 3)]


@pytest.fixture
def make_ctx(db_url: str) -> Iterator[Any]:
    made: list[Context] = []

    def make(**settings: object) -> Context:
        made.append(bootstrap(make_settings(db_url, **settings)))
        return made[-1]

    yield make
    for c in made:
        c.close()


def token(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def the_order(ctx: Context) -> dict[str, Any]:
    with unit_of_work(ctx.sessions) as s:
        order_id = s.scalars(select(SalesOrder.id)).one()
    return orders.order_detail(ctx, order_id)


def levels(ctx: Context, sku: str) -> dict[str, tuple[int, int]]:
    """(on hand, reserved) of ``sku`` per warehouse code."""
    with unit_of_work(ctx.sessions) as s:
        rows = s.execute(
            select(Warehouse.code, StockLevel.on_hand, StockLevel.reserved)
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .where(StockLevel.sku == sku)
        ).all()
    return {code: (on_hand, reserved) for code, on_hand, reserved in rows}


def ledger(ctx: Context, sku: str) -> list[tuple[str, int, int, str]]:
    with unit_of_work(ctx.sessions) as s:
        rows = s.execute(
            select(Warehouse.code, StockLedger.delta_on_hand, StockLedger.delta_reserved)
            .add_columns(StockLedger.reason)
            .join(Warehouse, Warehouse.id == StockLedger.warehouse_id)
            .where(StockLedger.sku == sku)
            .order_by(StockLedger.id)
        ).all()
    return [(c, oh, r, why) for c, oh, r, why in rows]


def accepted_at(wms: FakeWms) -> list[str]:
    return sorted(body["warehouse_code"] for body in wms.accepted.values())


def routed_world(ctx: Context, wms: FakeWms, spec: list[tuple[str, int]] | None = None) -> World:
    world = build_world(ctx, wms.base_url, spec)
    for wid in world.warehouse_ids.values():
        stock(ctx, wid, "A", 5)
    return world


def test_wms_rejection_reroutes_the_lines_to_the_next_warehouse(ctx: Context, wms: FakeWms) -> None:
    world = routed_world(ctx, wms)
    wms.fail_next(1, status=422)  # EAST's release: the first request the WMS sees
    post(ctx, world, order_body(501, [("A", 2)]))
    drain(ctx)

    detail = the_order(ctx)
    assert detail["status"] == "released"
    fos = {fo["warehouse_code"]: fo for fo in detail["fulfilment_orders"]}
    assert {code: fo["status"] for code, fo in fos.items()} == {
        "EAST": "rejected",
        "WEST": "released",
    }
    first, second = detail["routing_decisions"]
    assert first["trace"]["chosen"] == ["EAST"]
    assert second["attempt"] == 2
    assert second["trace"]["chosen"] == ["WEST"]
    assert second["trace"]["reason"] == f"reroute after rejection of FO {fos['EAST']['id']}"
    assert second["trace"]["reroute"]["warehouse"] == "EAST"
    east = next(c for c in second["trace"]["candidates"] if c["code"] == "EAST")
    assert east["removed_by"] == f"rejected fulfilment order {fos['EAST']['id']} (rejected)"
    assert levels(ctx, "A") == {"EAST": (5, 0), "WEST": (5, 2)}
    assert ledger(ctx, "A")[-3:] == [
        ("EAST", 0, 2, "reserve"),
        ("EAST", 0, -2, "unreserved"),
        ("WEST", 0, 2, "reserve"),
    ]
    assert accepted_at(wms) == ["WEST"]
    assert [e["to"] for e in detail["timeline"]] == [
        "received",
        "validated",
        "routed",
        "routed",  # the note: EAST rejected it
        "routed",  # the note: the re-route's summary
        "released",
    ]
    assert detail["exceptions"] == []
    with unit_of_work(ctx.sessions) as s:
        rows = s.execute(select(OutboxMessage.fulfilment_order_id, OutboxMessage.status))
        statuses = {fo_id: status for fo_id, status in rows}
    assert statuses == {fos["EAST"]["id"]: "rejected", fos["WEST"]["id"]: "sent"}
    # Each decision keeps the stock it saw, the re-route's too (for backtests): EAST's 2
    # were still reserved by the rejected fulfilment order when the re-route looked.
    assert snapshots(ctx, detail["id"], world) == [
        {"EAST": {"A": 5}, "WEST": {"A": 5}},
        {"EAST": {"A": 3}, "WEST": {"A": 5}},
    ]


def snapshots(ctx: Context, order_id: int, world: Any) -> list[dict[str, dict[str, int]] | None]:
    """The stock snapshot of each of the order's routing decisions, by warehouse code."""
    codes = {str(wid): code for code, wid in world.warehouse_ids.items()}
    with unit_of_work(ctx.sessions) as s:
        kept = s.scalars(
            select(RoutingDecision.stock_snapshot)
            .where(RoutingDecision.order_id == order_id)
            .order_by(RoutingDecision.id)
        ).all()
    return [
        None if snap is None else {codes[wid]: units for wid, units in snap.items()}
        for snap in kept
    ]


def test_a_second_rejection_with_nowhere_left_stays_a_dead_letter_that_redrives(
    ctx: Context, wms: FakeWms
) -> None:
    world = routed_world(ctx, wms)
    wms.fail_next(2, status=422)  # EAST, then WEST
    post(ctx, world, order_body(502, [("A", 1)]))
    drain(ctx)

    detail = the_order(ctx)
    assert detail["status"] == "exception"
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "wms_rejected"
    assert exc.detail["error"] == "http_422"
    assert exc.detail["reroute"]["shortfall"] == [
        {"line_id": detail["lines"][0]["id"], "sku": "A", "missing": 1}
    ]
    assert "No warehouse is eligible" in exc.detail["reroute"]["summary"]
    # Nothing was re-routed the second time: WEST keeps its reservation for a redrive.
    assert [d["trace"]["chosen"] for d in detail["routing_decisions"]] == [["EAST"], ["WEST"]]
    assert levels(ctx, "A") == {"EAST": (5, 0), "WEST": (5, 1)}

    exception_queue.retry_exception(ctx, exc.id, actor="ops")  # fixed at the WMS: send again
    drain(ctx)
    assert the_order(ctx)["status"] == "released"
    assert accepted_at(wms) == ["WEST"]


def test_a_second_rejection_backorders_the_lines_under_the_backorder_policy(
    make_ctx: Any, wms: FakeWms
) -> None:
    ctx = make_ctx(no_stock_policy="backorder")
    world = routed_world(ctx, wms)
    wms.fail_next(2, status=422)
    post(ctx, world, order_body(503, [("A", 1)]))
    drain(ctx)

    detail = the_order(ctx)
    assert detail["status"] == "backordered"
    assert [fo["status"] for fo in detail["fulfilment_orders"]] == ["rejected", "rejected"]
    assert [d["outcome"] for d in detail["routing_decisions"]] == ["single", "single", "backorder"]
    removed = {
        c["code"]: c["removed_by"] for c in detail["routing_decisions"][2]["trace"]["candidates"]
    }
    assert removed["EAST"].startswith("rejected fulfilment order")
    assert removed["WEST"].startswith("rejected fulfilment order")
    assert levels(ctx, "A") == {"EAST": (5, 0), "WEST": (5, 0)}
    assert exception_queue.list_exceptions(ctx) == []

    # Stock arrives: the backorder routes the open line once, on the rules, and releases it.
    inventory.adjust_stock(
        ctx, world.warehouse_ids["WEST"], "A", delta=3, actor="t", reason="receipt"
    )
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    live = [fo for fo in detail["fulfilment_orders"] if fo["status"] == "released"]
    assert [(fo["warehouse_code"], fo["lines"][0]["quantity"]) for fo in live] == [("EAST", 1)]
    assert accepted_at(wms) == ["EAST"]


def test_with_rerouting_off_a_rejection_is_a_dead_letter_as_before(
    make_ctx: Any, wms: FakeWms
) -> None:
    ctx = make_ctx(reroute_on_rejection=False)
    world = routed_world(ctx, wms)
    wms.fail_next(1, status=422)
    post(ctx, world, order_body(510, [("A", 1)]))
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "exception"
    assert [fo["status"] for fo in detail["fulfilment_orders"]] == ["failed"]
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "wms_rejected" and "reroute" not in exc.detail
    assert levels(ctx, "A") == {"EAST": (5, 1), "WEST": (5, 0)}

    # Ops re-run routing for the parked order: the failed hand-off is withdrawn first.
    r = TestClient(create_app(ctx)).post(
        f"/api/v1/orders/{detail['id']}/reroute", headers=token(ctx, Role.OPS)
    )
    assert r.status_code == 200, r.text
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    assert [fo["status"] for fo in detail["fulfilment_orders"]] == ["cancelled", "released"]
    assert levels(ctx, "A") == {"EAST": (5, 1), "WEST": (5, 0)}  # EAST again, by the rules
    assert exception_queue.list_exceptions(ctx) == []


def test_the_number_of_reroutes_is_bounded(make_ctx: Any, wms: FakeWms) -> None:
    ctx = make_ctx(max_reroutes=1)
    world = routed_world(ctx, wms, THREE)
    wms.fail_next(2, status=422)  # EAST (re-routed to WEST), then WEST: the bound
    post(ctx, world, order_body(504, [("A", 2)]))
    drain(ctx)

    detail = the_order(ctx)
    assert detail["status"] == "exception"
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "reroute_exhausted"
    assert exc.detail["reroutes"] == 1
    assert len(detail["routing_decisions"]) == 2  # NORTH was never tried
    assert levels(ctx, "A") == {"EAST": (5, 0), "WEST": (5, 0), "NORTH": (5, 0)}
    assert wms.accepted_count == 0

    # Ops route the parked lines by hand to the warehouse left.
    r = TestClient(create_app(ctx)).post(
        f"/api/v1/orders/{detail['id']}/route",
        headers=token(ctx, Role.OPS),
        json={"warehouse_code": "NORTH"},
    )
    assert r.status_code == 200, r.text
    drain(ctx)
    assert the_order(ctx)["status"] == "released"
    assert accepted_at(wms) == ["NORTH"]
    assert exception_queue.list_exceptions(ctx) == []


def test_stock_discrepancy_reported_through_the_api_sets_the_count_and_reroutes(
    ctx: Context, client: TestClient, wms: FakeWms
) -> None:
    world = routed_world(ctx, wms)
    stock(ctx, world.warehouse_ids["EAST"], "B", 4)
    stock(ctx, world.warehouse_ids["WEST"], "B", 4)
    post(ctx, world, order_body(505, [("A", 2), ("B", 1)]))
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    (fo,) = detail["fulfilment_orders"]
    assert fo["warehouse_code"] == "EAST"

    r = client.post(
        f"/api/v1/fulfilment-orders/{fo['id']}/reject",
        headers=token(ctx, Role.WAREHOUSE),
        json={
            "reason": "stock_discrepancy",
            "counted": [{"sku": "A", "on_hand": 1}],
            "detail": "cycle count",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["order_status"] == "routed"
    assert body["rejected_fulfilment_order_id"] == fo["id"]
    assert body["outcome"] == "single"
    (new,) = body["fulfilment_orders"]
    assert new["warehouse_code"] == "WEST"
    assert sorted((ln["sku"], ln["quantity"]) for ln in new["lines"]) == [("A", 2), ("B", 1)]
    assert levels(ctx, "A") == {"EAST": (1, 0), "WEST": (5, 2)}
    assert levels(ctx, "B") == {"EAST": (4, 0), "WEST": (4, 1)}
    assert ("EAST", -4, 0, "count") in ledger(ctx, "A")

    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    # a note while released, back to routed for WEST's acceptance, then released again
    assert [e["to"] for e in detail["timeline"]][-3:] == ["released", "routed", "released"]
    assert accepted_at(wms) == ["EAST", "WEST"]  # EAST had it before its count
    with unit_of_work(ctx.sessions) as s:
        audit = s.scalars(
            select(AuditLog).where(AuditLog.action == "fulfilment_order.reject")
        ).one()
    assert audit.detail["counted"] == [{"sku": "A", "on_hand": 1}]

    again = client.post(
        f"/api/v1/fulfilment-orders/{fo['id']}/reject",
        headers=token(ctx, Role.OPS),
        json={"reason": "rejected"},
    )
    assert again.status_code == 409 and again.json()["code"] == "not_reroutable"


def parked_order(ctx: Context, wms: FakeWms, lines: list[tuple[str, int]]) -> tuple[World, int]:
    """An order that found no stock (no_stock exception); then stock everywhere."""
    world = build_world(ctx, wms.base_url)
    for wid in world.warehouse_ids.values():
        for sku, _ in lines:
            stock(ctx, wid, sku, 0)
    post(ctx, world, order_body(506, lines))
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "exception"
    assert [x["reason"] for x in detail["exceptions"]] == ["no_stock"]
    for wid in world.warehouse_ids.values():
        for sku, _ in lines:
            stock(ctx, wid, sku, 5)
    return world, detail["id"]


def test_override_forces_a_warehouse_that_does_not_rank_first(
    ctx: Context, client: TestClient, wms: FakeWms
) -> None:
    _, order_id = parked_order(ctx, wms, [("A", 2)])
    ops = token(ctx, Role.OPS)
    r = client.post(
        f"/api/v1/orders/{order_id}/route", headers=ops, json={"warehouse_code": "WEST"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "override"
    assert [fo["warehouse_code"] for fo in r.json()["fulfilment_orders"]] == ["WEST"]
    assert levels(ctx, "A") == {"EAST": (5, 0), "WEST": (5, 2)}
    drain(ctx)

    detail = the_order(ctx)
    assert detail["status"] == "released"
    decision = detail["routing_decisions"][-1]
    assert (decision["policy"], decision["outcome"]) == ("override", "override")
    assert decision["trace"]["override"]["by"].endswith(":ops")
    assert decision["trace"]["override"]["forced"] == [
        {"line_id": detail["lines"][0]["id"], "sku": "A", "quantity": 2, "warehouse": "WEST"}
    ]
    assert accepted_at(wms) == ["WEST"]
    assert detail["exceptions"][0]["status"] == "resolved"
    with unit_of_work(ctx.sessions) as s:
        (audit,) = s.scalars(select(AuditLog).where(AuditLog.action == "order.route_override"))
    assert audit.entity_id == str(order_id)
    assert audit.detail["decision_id"] == decision["id"]


def test_override_of_some_lines_routes_the_others_by_the_rules(
    ctx: Context, client: TestClient, wms: FakeWms
) -> None:
    _, order_id = parked_order(ctx, wms, [("A", 1), ("B", 1)])
    line_a = the_order(ctx)["lines"][0]["id"]
    r = client.post(
        f"/api/v1/orders/{order_id}/route",
        headers=token(ctx, Role.OPS),
        json={"lines": [{"line_id": line_a, "warehouse_code": "WEST"}]},
    )
    assert r.status_code == 200, r.text
    placed = {fo["warehouse_code"]: fo["lines"] for fo in r.json()["fulfilment_orders"]}
    assert {code: [ln["sku"] for ln in lines] for code, lines in placed.items()} == {
        "WEST": ["A"],
        "EAST": ["B"],  # by the rules: EAST ranks first
    }
    assert levels(ctx, "A") == {"EAST": (5, 0), "WEST": (5, 1)}
    assert levels(ctx, "B") == {"EAST": (5, 1), "WEST": (5, 0)}
    drain(ctx)
    assert the_order(ctx)["status"] == "released"
    assert accepted_at(wms) == ["EAST", "WEST"]


def test_override_to_a_warehouse_without_the_stock_is_refused_and_reserves_nothing(
    ctx: Context, client: TestClient, wms: FakeWms
) -> None:
    world, order_id = parked_order(ctx, wms, [("A", 2)])
    stock(ctx, world.warehouse_ids["WEST"], "A", 1)
    r = client.post(
        f"/api/v1/orders/{order_id}/route",
        headers=token(ctx, Role.OPS),
        json={"warehouse_code": "WEST"},
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "insufficient_stock"
    assert r.json()["shortfall"] == [
        {"warehouse_code": "WEST", "sku": "A", "requested": 2, "available": 1}
    ]
    assert levels(ctx, "A") == {"EAST": (5, 0), "WEST": (1, 0)}
    detail = the_order(ctx)
    assert detail["status"] == "exception"
    assert len(detail["routing_decisions"]) == 1
    assert detail["exceptions"][0]["status"] == "open"

    for body, code in [
        ({"warehouse_code": "MARS"}, "unknown_warehouse"),
        ({"lines": [{"line_id": 999_999, "warehouse_code": "WEST"}]}, "unknown_line"),
        ({"warehouse_code": "WEST", "lines": []}, "invalid_request"),
    ]:
        bad = client.post(
            f"/api/v1/orders/{order_id}/route", headers=token(ctx, Role.OPS), json=body
        )
        assert (bad.status_code, bad.json()["code"]) == (422, code), bad.text


WEST_ONLY = {
    "name": "west-only",
    "timezone": "UTC",
    "default": {"ranking": ["priority"]},
    "rules": [
        {
            "id": "west",
            "when": {"field": "country", "op": "eq", "value": "US"},
            "then": {"warehouses": {"include": ["WEST"]}},
        }
    ],
}


def test_reroute_of_a_routed_order_not_yet_released_follows_new_rules(
    ctx: Context, client: TestClient, wms: FakeWms
) -> None:
    world = routed_world(ctx, wms)
    result = post(ctx, world, order_body(507, [("A", 3)]))
    assert result.inbound_id is not None
    ctx.dispatcher.drain()  # type: ignore[attr-defined]
    wms.set_down(True)  # the release is not taken yet: it waits for its retry
    run_task(ctx, Task.PROCESS_INBOUND, result.inbound_id)
    wms.set_down(False)
    ctx.dispatcher.drain()  # type: ignore[attr-defined]
    detail = the_order(ctx)
    assert detail["status"] == "routed"
    assert levels(ctx, "A") == {"EAST": (5, 3), "WEST": (5, 0)}

    ops = token(ctx, Role.OPS)
    draft = client.post("/api/v1/routing/rule-sets", headers=ops, json={"document": WEST_ONLY})
    published = client.post(
        f"/api/v1/routing/rule-sets/{draft.json()['id']}/publish", headers=ops, json={}
    )
    assert published.status_code == 200, published.text

    r = client.post(f"/api/v1/orders/{detail['id']}/reroute", headers=ops)
    assert r.status_code == 200, r.text
    assert [fo["warehouse_code"] for fo in r.json()["fulfilment_orders"]] == ["WEST"]
    assert levels(ctx, "A") == {"EAST": (5, 0), "WEST": (5, 3)}
    drain(ctx)
    detail = the_order(ctx)
    assert detail["status"] == "released"
    assert [fo["status"] for fo in detail["fulfilment_orders"]] == ["cancelled", "released"]
    assert detail["routing_decisions"][-1]["policy"].startswith("west-only")
    assert detail["routing_decisions"][-1]["trace"]["rules"]["matched"] == ["west"]
    # The re-run saw the order's own 3 in EAST as free again (it gave them back first).
    assert snapshots(ctx, detail["id"], world)[-1] == {"EAST": {"A": 5}, "WEST": {"A": 5}}
    assert accepted_at(wms) == ["WEST"]  # EAST never heard of it
    with unit_of_work(ctx.sessions) as s:
        east = s.scalars(
            select(OutboxMessage.status)
            .join(FulfilmentOrder, FulfilmentOrder.id == OutboxMessage.fulfilment_order_id)
            .where(FulfilmentOrder.warehouse_id == world.warehouse_ids["EAST"])
        ).one()
        assert east == "cancelled"
        assert s.scalars(select(AuditLog.action).where(AuditLog.action == "order.reroute")).one()

    again = client.post(f"/api/v1/orders/{detail['id']}/reroute", headers=ops)
    assert again.status_code == 409 and again.json()["code"] == "not_reroutable"


def test_roles(ctx: Context, client: TestClient, wms: FakeWms) -> None:
    world = routed_world(ctx, wms)
    post(ctx, world, order_body(508, [("A", 1)]))
    drain(ctx)
    detail = the_order(ctx)
    fo_id = detail["fulfilment_orders"][0]["id"]
    support, integration = token(ctx, Role.SUPPORT), token(ctx, Role.INTEGRATION)
    reject = {"reason": "rejected"}
    for headers, url, body in [
        (support, f"/api/v1/fulfilment-orders/{fo_id}/reject", reject),
        (support, f"/api/v1/orders/{detail['id']}/route", {"warehouse_code": "WEST"}),
        (integration, f"/api/v1/orders/{detail['id']}/route", {"warehouse_code": "WEST"}),
        (support, f"/api/v1/orders/{detail['id']}/reroute", None),
        (integration, f"/api/v1/orders/{detail['id']}/reroute", None),
    ]:
        r = client.post(url, headers=headers, json=body)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (url, r.text)
    assert client.post(f"/api/v1/orders/{detail['id']}/reroute").status_code == 401
    assert the_order(ctx)["status"] == "released"


def test_a_rerouted_order_ships_complete(ctx: Context, wms: FakeWms) -> None:
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment

    world = routed_world(ctx, wms)
    wms.fail_next(1, status=422)
    post(ctx, world, order_body(509, [("A", 1)]))
    drain(ctx)
    west = next(fo for fo in the_order(ctx)["fulfilment_orders"] if fo["status"] == "released")
    confirm_shipment(ctx, west["id"], ShipmentInput(external_ref="S-1", lines=None), actor="wms")
    assert the_order(ctx)["status"] == "shipped"


def test_a_count_below_other_orders_reservations_opens_a_stock_discrepancy(
    ctx: Context, wms: FakeWms
) -> None:
    from omniroute.core.order_routing.reroute import Count, reroute_fulfilment

    world = routed_world(ctx, wms)
    post(ctx, world, order_body(511, [("A", 2)]))
    post(ctx, world, order_body(512, [("A", 2)]))
    drain(ctx)
    assert levels(ctx, "A") == {"EAST": (5, 4), "WEST": (5, 0)}
    with unit_of_work(ctx.sessions) as s:
        first = s.scalars(select(FulfilmentOrder.id).order_by(FulfilmentOrder.id)).first()
    assert first is not None

    result = reroute_fulfilment(
        ctx, first, reason="stock_discrepancy", actor="ops", counted=[Count("A", 1)]
    )
    assert [fo.warehouse_code for fo in result.fulfilment_orders] == ["WEST"]
    # The other order still holds 2 at EAST: on hand cannot go below that; a person looks.
    assert levels(ctx, "A") == {"EAST": (2, 2), "WEST": (5, 2)}
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "stock_discrepancy"
    assert exc.detail == {
        "warehouse_id": world.warehouse_ids["EAST"],
        "sku": "A",
        "counted": 1,
        "reserved_by_other_orders": 2,
        "on_hand_set_to": 2,
    }
