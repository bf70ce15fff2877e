"""Returns (RMAs) through the HTTP API with a fixed clock: an order shipped from the fake WMS
on 127.0.0.1, a return authorised and sent to the WMS with its idempotency key, receipts
restocking and writing off (a repeat is a no-op), the order partially returned then returned,
the ledger adding up after every step, the state rules, and scoped tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    AuditLog,
    OutboxMessage,
    SalesOrder,
    StockLedger,
    StockLevel,
)
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, order_body, post, stock
from tests.integration.console_kit import make_user, sign_in
from tests.invariants.checks import assert_invariants

GREEN, RED = "IPOD2008GREEN", "IPOD2008RED"


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass
class Shop:
    ctx: Context
    clock: FixedClock
    client: TestClient
    wms: FakeWms
    world: World
    order_id: int
    lines: dict[str, int]  # sku -> order line id
    support: dict[str, str]
    warehouse: dict[str, str]
    viewer: dict[str, str]

    def bearer(self, role: Role, **scope: Any) -> dict[str, str]:
        token = create_token(self.ctx, role=role, name=f"t-{role.value}-{len(scope)}", **scope)
        return {"Authorization": f"Bearer {token}"}

    def order(self) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/orders/{self.order_id}", headers=self.support)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def create(self, lines: list[tuple[str, int]], **extra: Any) -> Any:
        body = {
            "lines": [{"order_line_id": self.lines[s], "quantity": q} for s, q in lines],
            "reason": "damaged",
            **extra,
        }
        return self.client.post(
            f"/api/v1/orders/{self.order_id}/returns", json=body, headers=self.support
        )

    def receive(self, return_id: int, ref: str, lines: list[tuple[str, int, str]]) -> Any:
        body = {
            "external_ref": ref,
            "lines": [{"sku": s, "quantity": q, "disposition": d} for s, q, d in lines],
        }
        return self.client.post(
            f"/api/v1/returns/{return_id}/receipts", json=body, headers=self.warehouse
        )

    def on_hand(self, sku: str) -> int:
        with unit_of_work(self.ctx.sessions) as s:
            level = s.scalars(
                select(StockLevel).where(
                    StockLevel.warehouse_id == self.world.warehouse_ids["EAST"],
                    StockLevel.sku == sku,
                )
            ).one()
            return level.on_hand


@pytest.fixture
def shop(db_url: str, wms: FakeWms) -> Iterator[Shop]:
    # Fixed for the whole test, a little after now: rows stamped at insert by the wall clock
    # (the inbox row's due time) are due by it, on any date.
    clock = FixedClock(utcnow().replace(microsecond=0) + timedelta(minutes=10))
    # Plain http in tests: the console's session cookie without Secure.
    ctx = bootstrap(make_settings(db_url, console_cookie_secure=False), clock=clock)
    try:
        world = build_world(ctx, wms.base_url)
        stock(ctx, world.warehouse_ids["EAST"], GREEN, 5)
        stock(ctx, world.warehouse_ids["EAST"], RED, 5)
        post(ctx, world, order_body(450789469, [(GREEN, 1), (RED, 2)]))
        drain(ctx)
        with TestClient(create_app(ctx)) as client:
            support = {"Authorization": f"Bearer {create_token(ctx, role=Role.SUPPORT, name='s')}"}
            warehouse = {
                "Authorization": f"Bearer {create_token(ctx, role=Role.WAREHOUSE, name='w')}"
            }
            viewer = {"Authorization": f"Bearer {create_token(ctx, role=Role.VIEWER, name='v')}"}
            with unit_of_work(ctx.sessions) as s:
                order_id = s.scalars(select(SalesOrder.id)).one()
            detail = client.get(f"/api/v1/orders/{order_id}", headers=support).json()
            (fo,) = detail["fulfilment_orders"]
            shipped = client.post(
                f"/api/v1/fulfilment-orders/{fo['id']}/shipments",
                json={"external_ref": "PKG-1"},
                headers=warehouse,
            )
            assert shipped.status_code == 201, shipped.text
            assert shipped.json()["order_status"] == "shipped"
            drain(ctx)
            yield Shop(
                ctx=ctx,
                clock=clock,
                client=client,
                wms=wms,
                world=world,
                order_id=order_id,
                lines={ln["sku"]: ln["id"] for ln in detail["lines"]},
                support=support,
                warehouse=warehouse,
                viewer=viewer,
            )
    finally:
        ctx.close()


def test_a_return_is_authorised_told_to_the_wms_received_restocked_and_written_off(
    shop: Shop,
) -> None:
    assert (shop.on_hand(GREEN), shop.on_hand(RED)) == (4, 3)
    created = shop.create([(RED, 2)], note="box crushed")
    assert created.status_code == 201, created.text
    rma = created.json()
    assert rma["status"] == "authorised"
    assert rma["rma_number"] == f"RMA-{rma['id']:06d}-450789469"
    assert rma["warehouse_id"] == shop.world.warehouse_ids["EAST"]  # the one that shipped it
    assert rma["created_at"].startswith(shop.clock.at.isoformat())
    assert [(ln["sku"], ln["quantity"]) for ln in rma["lines"]] == [(RED, 2)]
    drain(shop.ctx)

    # The WMS was told once, under the return's key.
    (notice,) = [r for r in shop.wms.requests if r.path == "/returns"]
    assert notice.headers["idempotency-key"] == f"return-{rma['id']}-expect"
    assert notice.body["rma_number"] == rma["rma_number"]
    assert notice.body["warehouse_code"] == "EAST"
    assert notice.body["cancelled"] is False
    assert [(ln["sku"], ln["quantity"]) for ln in notice.body["lines"]] == [(RED, 2)]

    # Both red units are held by the return: no third one.
    more = shop.create([(RED, 1)])
    assert more.status_code == 422, more.text
    assert "1 asked back, 0 may be" in more.text

    receipt = shop.receive(rma["id"], "RCV-1", [(RED, 1, "restock"), (RED, 1, "write_off")])
    assert receipt.status_code == 201, receipt.text
    assert receipt.json()["return_status"] == "received"
    assert receipt.json()["order_status"] == "partially_returned"  # 2 of 3 units back
    assert (shop.on_hand(GREEN), shop.on_hand(RED)) == (4, 4)  # one restocked, one written off
    assert_invariants(shop.ctx, shop.wms)

    again = shop.receive(rma["id"], "RCV-1", [(RED, 1, "restock"), (RED, 1, "write_off")])
    assert again.status_code == 200, again.text
    assert again.json() == {**receipt.json(), "created": False}
    assert shop.on_hand(RED) == 4  # the repeat changed nothing
    assert_invariants(shop.ctx, shop.wms)

    # A new receipt reference on a received return: nothing more is expected.
    late = shop.receive(rma["id"], "RCV-2", [(RED, 1, "restock")])
    assert late.status_code == 409 and late.json()["code"] == "not_receivable"

    green = shop.create([(GREEN, 1)]).json()
    assert shop.receive(green["id"], "RCV-3", [(GREEN, 1, "restock")]).status_code == 201
    assert shop.on_hand(GREEN) == 5
    order = shop.order()
    assert order["status"] == "returned"
    moves = [(e["from"], e["to"]) for e in order["timeline"] if e["from"] != e["to"]]
    assert moves[-2:] == [("shipped", "partially_returned"), ("partially_returned", "returned")]
    assert_invariants(shop.ctx, shop.wms)

    with unit_of_work(shop.ctx.sessions) as s:
        ledger = s.execute(
            select(StockLedger.sku, StockLedger.delta_on_hand, StockLedger.reference)
            .where(StockLedger.reason == "returned")
            .order_by(StockLedger.id)
        ).all()
        actions = s.scalars(
            select(AuditLog.action).where(AuditLog.entity == "return").order_by(AuditLog.id)
        ).all()
        kinds = s.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert [(sku, d) for sku, d, _ in ledger] == [(RED, 1), (GREEN, 1)]
    assert ledger[0][2] == f"return:{rma['id']}:{receipt.json()['receipt_id']}"
    assert actions == ["return.create", "return.receive", "return.create", "return.receive"]
    # Shopify takes no return push here: the returns are recorded, the channel not told.
    assert "channel.return" not in kinds and kinds.count("wms.return") == 2

    listed = shop.client.get(
        "/api/v1/returns", params={"order_id": shop.order_id}, headers=shop.viewer
    )
    assert listed.status_code == 200
    assert [(r["rma_number"], r["status"]) for r in listed.json()] == [
        (rma["rma_number"], "received"),
        (green["rma_number"], "received"),
    ]
    one = shop.client.get(f"/api/v1/returns/{rma['id']}", headers=shop.viewer).json()
    assert [(r["external_ref"], len(r["lines"])) for r in one["receipts"]] == [("RCV-1", 2)]
    assert [(ln["restocked_quantity"], ln["written_off_quantity"]) for ln in one["lines"]] == [
        (1, 1)
    ]


def test_requested_authorised_cancelled_closed_follow_the_rules(shop: Shop) -> None:
    rma = shop.create([(RED, 1)], authorise=False).json()
    assert rma["status"] == "requested"
    drain(shop.ctx)
    assert not [r for r in shop.wms.requests if r.path == "/returns"]  # not yet authorised
    early = shop.receive(rma["id"], "R-1", [(RED, 1, "restock")])
    assert early.status_code == 409 and early.json()["code"] == "not_receivable"

    path = f"/api/v1/returns/{rma['id']}"
    assert shop.client.post(f"{path}/authorise", headers=shop.support).json()["status"] == (
        "authorised"
    )
    assert shop.client.post(f"{path}/authorise", headers=shop.support).status_code == 409
    cancelled = shop.client.post(f"{path}/cancel", json={"note": "kept it"}, headers=shop.support)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    drain(shop.ctx)
    sent = [r for r in shop.wms.requests if r.path == "/returns"]
    assert [(r.headers["idempotency-key"], r.body["cancelled"]) for r in sent] == [
        (f"return-{rma['id']}-expect", False),
        (f"return-{rma['id']}-cancel", True),
    ]
    closed = shop.client.post(f"{path}/close", json={}, headers=shop.support)
    assert closed.status_code == 409 and closed.json()["code"] == "return_state"

    # A cancelled return holds nothing: both red units may be returned again.
    both = shop.create([(RED, 2)], reason="size_or_fit").json()
    part = shop.receive(both["id"], "R-2", [(RED, 1, "restock")])
    assert part.json()["return_status"] == "partially_received"
    wrong = shop.receive(both["id"], "R-3", [(RED, 2, "restock")])
    assert wrong.status_code == 422 and "1 more than the return expects" in wrong.text
    assert (
        shop.client.post(
            f"/api/v1/returns/{both['id']}/close", json={}, headers=shop.support
        ).json()["status"]
        == "closed"
    )
    # Closed with one unit back: the other may be returned again, but not two.
    assert shop.create([(RED, 2)]).status_code == 422
    assert shop.create([(RED, 1)]).status_code == 201
    assert shop.order()["status"] == "partially_returned"
    assert_invariants(shop.ctx, shop.wms)


def test_a_return_marked_in_transit_keeps_its_parcel_then_is_received(shop: Shop) -> None:
    rma = shop.create([(GREEN, 1)]).json()
    path = f"/api/v1/returns/{rma['id']}/in-transit"
    parcel = {"tracking_number": "1ZRETURN01", "carrier": "UPS"}
    assert shop.client.post(path, json=parcel, headers=shop.viewer).status_code == 403
    moved = shop.client.post(path, json=parcel, headers=shop.warehouse)
    assert moved.status_code == 200, moved.text
    assert [moved.json()[k] for k in ("status", "tracking_number", "carrier")] == [
        "in_transit",
        "1ZRETURN01",
        "UPS",
    ]
    # Told again without tracking: nothing changes, nothing is recorded twice.
    again = shop.client.post(path, json={}, headers=shop.warehouse).json()
    assert (again["status"], again["tracking_number"]) == ("in_transit", "1ZRETURN01")
    # A return nobody authorised is not on its way.
    asked = shop.create([(RED, 1)], authorise=False).json()
    early = shop.client.post(
        f"/api/v1/returns/{asked['id']}/in-transit", json={}, headers=shop.warehouse
    )
    assert early.status_code == 409 and early.json()["code"] == "return_state"

    got = shop.receive(rma["id"], "R-1", [(GREEN, 1, "restock")])
    assert got.json()["return_status"] == "received"
    late = shop.client.post(path, json=parcel, headers=shop.warehouse)
    assert late.status_code == 409
    with unit_of_work(shop.ctx.sessions) as s:
        moves = s.execute(
            select(AuditLog.action, AuditLog.detail)
            .where(AuditLog.entity == "return", AuditLog.action == "return.in_transit")
            .order_by(AuditLog.id)
        ).all()
    assert [(a, d) for a, d in moves] == [
        ("return.in_transit", {"tracking_number": "1ZRETURN01", "carrier": "UPS"})
    ]
    assert_invariants(shop.ctx, shop.wms)


def test_bad_requests_are_clear(shop: Shop) -> None:
    unknown_reason = shop.client.post(
        f"/api/v1/orders/{shop.order_id}/returns",
        json={"lines": [{"order_line_id": shop.lines[RED], "quantity": 1}], "reason": "meh"},
        headers=shop.support,
    )
    assert unknown_reason.status_code == 422
    other_line = shop.client.post(
        f"/api/v1/orders/{shop.order_id}/returns",
        json={"lines": [{"order_line_id": 999999, "quantity": 1}], "reason": "other"},
        headers=shop.support,
    )
    assert other_line.status_code == 422 and "not a line of this order" in other_line.text
    assert shop.create([(RED, 1)], warehouse_id=999999).status_code == 422
    assert shop.client.get("/api/v1/returns/999999", headers=shop.viewer).status_code == 404
    refused = shop.client.post(
        f"/api/v1/orders/{shop.order_id}/returns",
        json={"lines": [{"order_line_id": shop.lines[RED], "quantity": 1}], "reason": "other"},
        headers=shop.viewer,
    )
    assert refused.status_code == 403


def test_scoped_tokens_see_only_their_returns(shop: Shop) -> None:
    rma = shop.create([(GREEN, 1)]).json()
    other_channel = shop.bearer(Role.VIEWER, connector_ids=[shop.world.wms_id])
    own_channel = shop.bearer(Role.VIEWER, connector_ids=[shop.world.shopify_id])
    path = f"/api/v1/returns/{rma['id']}"
    assert shop.client.get(path, headers=other_channel).status_code == 404
    assert shop.client.get("/api/v1/returns", headers=other_channel).json() == []
    assert shop.client.get(path, headers=own_channel).status_code == 200
    assert len(shop.client.get("/api/v1/returns", headers=own_channel).json()) == 1

    west = shop.bearer(Role.WAREHOUSE, warehouse_ids=[shop.world.warehouse_ids["WEST"]])
    east = shop.bearer(Role.WAREHOUSE, warehouse_ids=[shop.world.warehouse_ids["EAST"]])
    body = {
        "external_ref": "R-1",
        "lines": [{"sku": GREEN, "quantity": 1, "disposition": "restock"}],
    }
    assert shop.client.post(f"{path}/receipts", json=body, headers=west).status_code == 404
    assert shop.client.post(f"{path}/receipts", json=body, headers=east).status_code == 201


def test_listing_filters_by_status_and_creation_time(shop: Shop) -> None:
    first = shop.create([(GREEN, 1)]).json()
    shop.clock.at += timedelta(hours=1)
    second = shop.create([(RED, 1)], authorise=False).json()

    def ids(**params: Any) -> list[int]:
        answer = shop.client.get("/api/v1/returns", params=params, headers=shop.viewer)
        assert answer.status_code == 200, answer.text
        return [r["id"] for r in answer.json()]

    assert ids() == [first["id"], second["id"]]
    assert ids(status="requested") == [second["id"]]
    assert ids(created_from=(shop.clock.at - timedelta(minutes=1)).isoformat()) == [second["id"]]
    assert ids(after_id=first["id"]) == [second["id"]]
    assert ids(limit=1) == [first["id"]]


def test_the_console_order_page_shows_the_returns(shop: Shop) -> None:
    rma = shop.create([(RED, 2)]).json()
    shop.receive(rma["id"], "RCV-1", [(RED, 1, "restock"), (RED, 1, "write_off")])
    make_user(shop.ctx, "vera", Role.VIEWER)
    make_user(shop.ctx, "ian", Role.INTEGRATOR)
    with TestClient(create_app(shop.ctx)) as browser:
        assert sign_in(browser, "vera") == 303
        page = browser.get(f"/console/orders/{shop.order_id}")
        assert page.status_code == 200
        assert '<table id="returns">' in page.text
        assert rma["rma_number"] in page.text
        assert f"{RED} \u00d7 2 (1 restocked) (1 written off)" in page.text
    with TestClient(create_app(shop.ctx)) as browser:
        assert sign_in(browser, "ian") == 303  # orders:read without returns:read
        page = browser.get(f"/console/orders/{shop.order_id}")
        assert page.status_code == 200 and "<h3>Returns</h3>" not in page.text


def test_a_notice_the_wms_refuses_is_a_dead_letter_with_an_exception_that_can_be_redriven(
    shop: Shop,
) -> None:
    shop.wms.fail_next(1, status=400)
    rma = shop.create([(GREEN, 1)]).json()
    drain(shop.ctx)
    (exc,) = shop.client.get(
        "/api/v1/exceptions", params={"reason": "return_notice_failed"}, headers=shop.support
    ).json()
    assert exc["order_id"] == shop.order_id
    assert exc["detail"]["return_id"] == rma["id"] and exc["detail"]["error"] == "http_400"
    assert "return notice" in str(shop.order()["timeline"])
    # The return itself goes on: a warehouse may confirm a receipt it was never told of.
    assert (
        shop.client.get(f"/api/v1/returns/{rma['id']}", headers=shop.viewer).json()["status"]
        == "authorised"
    )

    retried = shop.client.post(f"/api/v1/exceptions/{exc['id']}/retry", headers=shop.support)
    assert retried.status_code == 202, retried.text
    drain(shop.ctx)
    sent = [r for r in shop.wms.requests if r.path == "/returns"]
    assert [r.headers["idempotency-key"] for r in sent] == [f"return-{rma['id']}-expect"] * 2
    assert len(shop.wms.returns) == 1  # the refused attempt was not taken
    with unit_of_work(shop.ctx.sessions) as s:
        status = s.scalar(select(OutboxMessage.status).where(OutboxMessage.kind == "wms.return"))
    assert status == "sent"
