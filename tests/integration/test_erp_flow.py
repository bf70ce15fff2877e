"""ERP posting end to end through the services, against a real fake ERP HTTP server and the
fake WMS on 127.0.0.1, with a fixed clock: order -> release -> sales order posted ->
shipments -> invoices posted -> reconciliation clean; a failing ERP -> retries -> dead
letter -> redrive; stock and item master read in; the report through the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.erp_rest.demo_server import FakeErp
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.erp.reconciliation import erp_reconciliation
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    CarrierBooking,
    ErpPosting,
    FulfilmentOrder,
    OrderException,
    OutboxMessage,
    SalesOrder,
    Sku,
    SkuAlias,
    StockLedger,
    StockLevel,
)
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.clocks import MovableClock
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, order_body, post, stock
from tests.invariants.checks import assert_invariants

# 09:00 UTC tomorrow, counted from the wall clock so that it is later than any row written
# now (insert-time defaults) and the suite passes on any date; fixed from then on.
_TOMORROW = utcnow().date() + timedelta(days=1)
START = datetime(_TOMORROW.year, _TOMORROW.month, _TOMORROW.day, 9, 0)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(START)


@pytest.fixture
def ctx(db_url: str, clock: MovableClock) -> Iterator[Context]:
    context = bootstrap(make_settings(db_url, outbox_max_attempts=3), clock=clock)
    yield context
    context.close()


@pytest.fixture
def erp() -> Iterator[FakeErp]:
    with FakeErp() as server:
        yield server


def _setup(ctx: Context, wms: FakeWms, erp: FakeErp, **config: Any) -> tuple[World, int]:
    world = build_world(ctx, wms.base_url)
    connector = connector_admin.create_connector(
        ctx,
        kind="erp_rest",
        name="erp",
        config={"base_url": erp.base_url, **config},
        secrets={"auth_header_value": "token k:s"},
        enabled=True,
        actor="test",
    )
    for sku in ("A", "B"):
        stock(ctx, world.warehouse_ids["EAST"], sku, 50)
    return world, connector.id


def _order(ctx: Context, external_id: str) -> SalesOrder:
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder).where(SalesOrder.external_id == external_id)).one()
        s.expunge(order)
        return order


def _fo_id(ctx: Context, order_id: int) -> int:
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(
            select(FulfilmentOrder.id).where(FulfilmentOrder.order_id == order_id)
        ).one()


def _day_range(clock: MovableClock) -> dict[str, Any]:
    day = clock.now().date()
    return {"date_from": day, "date_to": day}


def _sweep_until(ctx: Context, clock: MovableClock, done: Any, rounds: int = 30) -> None:
    for _ in range(rounds):
        if done():
            return
        clock.at += timedelta(seconds=30)
        sweep(ctx)
        drain(ctx)
    raise AssertionError("not reached")


def test_order_to_invoices_and_a_clean_reconciliation(
    ctx: Context, wms: FakeWms, erp: FakeErp, clock: MovableClock
) -> None:
    world, erp_id = _setup(ctx, wms, erp)
    post(ctx, world, order_body(5001, [("A", 3), ("B", 1)]))
    drain(ctx)
    order = _order(ctx, "5001")
    assert order.status == "released"

    (sales_order,) = erp.bodies("/sales-orders")
    assert sales_order["reference"] == f"order-{order.id}"
    assert [(i["item_code"], i["qty"]) for i in sales_order["items"]] == [("A", 3), ("B", 1)]
    canonical = order.canonical
    for field in ("subtotal", "discount_total", "shipping_total", "tax_total"):
        assert sales_order[field] == canonical.get(field)
    assert sales_order["grand_total"] == canonical.get("total")
    (key,) = {k for path, k, _ in erp.posts if path == "/sales-orders"}
    assert key == f"erp-so-{erp_id}-{order.id}"
    assert all(h["authorization"] == "token k:s" for _, _, h in erp.posts)

    fo = _fo_id(ctx, order.id)
    confirm_shipment(ctx, fo, ShipmentInput("box-1", [("A", 1)]), actor="wms")
    clock.at += timedelta(hours=2)
    confirm_shipment(ctx, fo, ShipmentInput("box-2", None), actor="wms")
    drain(ctx)
    assert _order(ctx, "5001").status == "shipped"

    first, second = erp.bodies("/invoices")
    assert [(i["item_code"], i["qty"]) for i in first["items"]] == [("A", 1)]
    assert sorted((i["item_code"], i["qty"]) for i in second["items"]) == [("A", 2), ("B", 1)]
    shipping = Decimal(str(canonical.get("shipping_total") or "0"))
    assert Decimal(first["freight"]) == shipping and Decimal(second["freight"]) == 0
    # Each line's tax and discount, split pro rata over the invoices, add up exactly.
    for no, sku in ((0, "A"), (1, "B")):
        line = canonical["lines"][no]
        taxes = sum(
            Decimal(i["tax_amount"]) for doc in (first, second) for i in doc["items"]
            if i["item_code"] == sku
        )  # fmt: skip
        assert taxes == Decimal(str(line.get("tax_total") or "0"))

    with unit_of_work(ctx.sessions) as s:
        refs = s.scalars(
            select(ErpPosting.erp_reference).where(ErpPosting.kind == "erp.invoice")
        ).all()
    assert sorted(refs) == ["SINV-00001", "SINV-00002"]  # what the ERP answered, kept

    report = erp_reconciliation(ctx, **_day_range(clock))
    assert report["clean"], report
    (per_erp,) = report["connectors"]
    assert per_erp["erp_invoices_read"] == 2

    # One the ERP made by itself is listed as an invoice without a shipment here.
    erp.add_invoice("SINV-MANUAL", clock.now().date().isoformat(), grand_total="5.00")
    report = erp_reconciliation(ctx, **_day_range(clock))
    assert not report["clean"]
    assert [i["number"] for i in report["connectors"][0]["invoices_without_shipment"]] == [
        "SINV-MANUAL"
    ]
    assert_invariants(ctx, wms)


def test_a_failing_erp_is_retried_dead_lettered_and_redriven(
    ctx: Context, wms: FakeWms, erp: FakeErp, clock: MovableClock
) -> None:
    world, _ = _setup(ctx, wms, erp)
    erp.set_down(True)
    post(ctx, world, order_body(5002, [("A", 2)]))
    drain(ctx)
    order = _order(ctx, "5002")
    assert order.status == "released"  # the warehouse's side does not wait for the ERP
    confirm_shipment(ctx, _fo_id(ctx, order.id), ShipmentInput("box-1", None), actor="wms")
    drain(ctx)

    def all_dead() -> bool:
        with unit_of_work(ctx.sessions) as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("erp.%"))).all()
            return len(rows) == 2 and all(r.status == "dead" for r in rows)

    _sweep_until(ctx, clock, all_dead)
    report = erp_reconciliation(ctx, **_day_range(clock))
    (per_erp,) = report["connectors"]
    assert [r["problem"] for r in per_erp["shipped_not_invoiced"]] == ["dead"]
    assert per_erp["erp_invoice_list_error"] is not None  # the ERP is down: not clean either
    exceptions = [
        e for e in exception_queue.list_exceptions(ctx) if e.reason == "erp_posting_failed"
    ]
    assert len(exceptions) == 2
    assert erp.bodies("/invoices") == []

    erp.set_down(False)
    for exc in sorted(exceptions, key=lambda e: e.id):
        exception_queue.retry_exception(ctx, exc.id, actor="ops")
    drain(ctx)
    _sweep_until(ctx, clock, lambda: len(erp.bodies("/invoices")) == 1)
    assert len(erp.bodies("/sales-orders")) == 1
    assert erp_reconciliation(ctx, **_day_range(clock))["clean"]
    assert _order(ctx, "5002").status == "shipped"
    assert_invariants(ctx, wms)


def test_an_invoice_breaking_the_invariant_is_not_sent(
    ctx: Context, wms: FakeWms, erp: FakeErp
) -> None:
    world, _ = _setup(ctx, wms, erp)
    erp.set_down(True)
    post(ctx, world, order_body(5003, [("A", 2)]))
    drain(ctx)
    order = _order(ctx, "5003")
    confirm_shipment(ctx, _fo_id(ctx, order.id), ShipmentInput("box-1", None), actor="wms")
    with unit_of_work(ctx.sessions) as s:  # a record made wrong behind the services' back
        s.execute(
            SalesOrder.__table__.update()  # type: ignore[attr-defined]
            .where(SalesOrder.id == order.id)
            .values(status="shipped")
        )
        from omniroute.core.platform.models import OrderLine

        line = s.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).one()
        line.quantity = 1
    erp.set_down(False)
    with unit_of_work(ctx.sessions) as s:
        invoice_row = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "erp.invoice")
        ).one()
        invoice_id = invoice_row.id
        invoice_row.status, invoice_row.next_attempt_at = "pending", START
    from omniroute.core.fulfilment.release import deliver_outbox

    deliver_outbox(ctx, invoice_id)
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(OutboxMessage, invoice_id).status == "dead"
        exc = s.scalars(
            select(OrderException).where(OrderException.outbox_message_id == invoice_id)
        ).one()
        assert exc.detail["error"] == "erp_invariant"
    assert erp.bodies("/invoices") == []


def test_stock_and_items_come_in_from_the_erp(
    ctx: Context, wms: FakeWms, erp: FakeErp, clock: MovableClock
) -> None:
    world, _ = _setup(ctx, wms, erp, barcode_alias_connectors=["shop"])
    post(ctx, world, order_body(5004, [("A", 4)]))  # 4 of A reserved at EAST
    post(ctx, world, order_body(5008, [("333", 1)]))  # a barcode the catalogue lacks yet
    drain(ctx)
    assert _order(ctx, "5008").status == "exception"
    erp.set_items(
        [
            {"item_code": "A", "item_name": "Apple", "weight_per_unit": 0.2, "barcodes": ["111"]},
            {"item_code": "N", "item_name": "New", "barcodes": [{"barcode": "222"}]},
            {"item_code": "B", "barcodes": ["333"]},
            {"name": "no code"},
        ]
    )
    erp.set_stock(
        [
            {"warehouse": "EAST", "item_code": "A", "actual_qty": 2},  # below the 4 reserved
            {"warehouse": "EAST", "item_code": "B", "actual_qty": 7},
            {"warehouse": "WEST", "item_code": "N", "actual_qty": 9},
            {"warehouse": "NOWHERE", "item_code": "A", "actual_qty": 1},
        ]
    )
    sweep(ctx)
    with unit_of_work(ctx.sessions) as s:
        levels = {
            (w, k): (h, r)
            for w, k, h, r in s.execute(
                select(
                    StockLevel.warehouse_id, StockLevel.sku, StockLevel.on_hand, StockLevel.reserved
                )
            )
        }
        east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
        assert levels[(east, "A")] == (4, 4)  # never below reserved ...
        assert levels[(east, "B")] == (7, 0)
        assert levels[(west, "N")] == (9, 0)
        discrepancy = s.scalars(
            select(OrderException).where(OrderException.reason == "stock_discrepancy")
        ).one()  # ... an exception instead
        assert discrepancy.detail["counted"] == 2
        assert s.scalars(select(StockLedger).where(StockLedger.reason == "count")).all()
        apple, new = s.get_one(Sku, "A"), s.get_one(Sku, "N")
        assert (apple.name, apple.weight_kg, new.name) == ("Apple", 0.2, "New")
        aliases = dict(s.execute(select(SkuAlias.alias, SkuAlias.sku)).all())
        assert aliases == {"111": "A", "222": "N", "333": "B"}
    from omniroute.core.platform.models import ErpFeed

    with unit_of_work(ctx.sessions) as s:
        feeds = {f.feed: f.last_result for f in s.scalars(select(ErpFeed))}
    assert feeds["stock"]["unknown_warehouses"] == ["NOWHERE"]
    assert len(feeds["items"]["rejected"]) == 1
    assert feeds["items"]["exceptions_retried"] == 1
    drain(ctx)  # the order that waited for barcode 333 goes again, now as B
    assert _order(ctx, "5008").status == "released"

    # Not read again before poll_every_minutes.
    erp.set_stock([{"warehouse": "EAST", "item_code": "B", "actual_qty": 1}])
    clock.at += timedelta(minutes=5)
    sweep(ctx)
    with unit_of_work(ctx.sessions) as s:
        assert (
            s.scalars(
                select(StockLevel.on_hand).where(
                    StockLevel.sku == "B", StockLevel.warehouse_id == east
                )
            ).one()
            == 7
        )
    clock.at += timedelta(hours=1)
    sweep(ctx)
    with unit_of_work(ctx.sessions) as s:
        assert (
            s.scalars(
                select(StockLevel.on_hand).where(
                    StockLevel.sku == "B", StockLevel.warehouse_id == east
                )
            ).one()
            == 1
        )
    assert_invariants(ctx, wms)


def test_the_report_through_the_api(
    ctx: Context, wms: FakeWms, erp: FakeErp, clock: MovableClock
) -> None:
    world, _ = _setup(ctx, wms, erp)
    post(ctx, world, order_body(5005, [("B", 1)]))
    drain(ctx)
    order = _order(ctx, "5005")
    confirm_shipment(ctx, _fo_id(ctx, order.id), ShipmentInput("box-1", None), actor="wms")
    drain(ctx)
    day = clock.now().date().isoformat()
    ops = create_token(ctx, role=Role.OPS, name="ops")
    # A channel's machine role has no reports:read (viewers and up have it).
    channel = create_token(ctx, role=Role.INTEGRATOR, name="channel")
    with TestClient(create_app(ctx)) as client:
        url = f"/api/v1/reports/erp-reconciliation?date_from={day}&date_to={day}"
        answer = client.get(url, headers={"Authorization": f"Bearer {ops}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["clean"] is True
        refused = client.get(url, headers={"Authorization": f"Bearer {channel}"})
        assert refused.status_code == 403
        backwards = client.get(
            f"/api/v1/reports/erp-reconciliation?date_from={day}&date_to=2000-01-01",
            headers={"Authorization": f"Bearer {ops}"},
        )
        assert backwards.status_code == 422
        assert backwards.headers["content-type"].startswith("application/problem+json")
    assert_invariants(ctx, wms)


def test_the_report_from_the_cli(  # noqa: PLR0917 - pytest fixtures
    ctx: Context,
    db_url: str,
    wms: FakeWms,
    erp: FakeErp,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from omniroute.cli.main import app as cli
    from tests.conftest import SECRET_KEY

    world, _ = _setup(ctx, wms, erp)
    erp.set_down(True)
    post(ctx, world, order_body(5006, [("A", 1)]))
    drain(ctx)
    order = _order(ctx, "5006")
    confirm_shipment(ctx, _fo_id(ctx, order.id), ShipmentInput("box-1", None), actor="wms")
    drain(ctx)
    erp.set_down(False)
    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("OMNIROUTE_ALLOW_PRIVATE_URLS", "true")
    day = clock.now().date().isoformat()
    done = CliRunner().invoke(cli, ["report", "erp-reconciliation", "--from", day, "--to", day])
    assert done.exit_code == 1, done.output  # not clean: the invoice is still to be sent
    report = json.loads(done.output)
    (row,) = report["connectors"][0]["shipped_not_invoiced"]
    assert (row["order_id"], row["problem"]) == (order.id, "pending")
    bad = CliRunner().invoke(cli, ["report", "erp-reconciliation", "--from", day, "--to", "x"])
    assert bad.exit_code == 2
    assert_invariants(ctx, wms)


def test_a_purchase_request_goes_through_the_outbox(
    ctx: Context, wms: FakeWms, erp: FakeErp
) -> None:
    from omniroute.connectors.erp import PurchaseRequest
    from omniroute.core.erp.posting import queue_purchase_request
    from omniroute.core.fulfilment.release import deliver_outbox

    _, erp_id = _setup(ctx, wms, erp)
    request = PurchaseRequest("A", "EAST", 40, START.date() + timedelta(days=14), "reorder-A")
    with unit_of_work(ctx.sessions) as s:
        outbox_id = queue_purchase_request(s, erp_id, request, key="po-EAST-A-1")
    assert deliver_outbox(ctx, outbox_id) == "sent"
    (body,) = erp.bodies("/purchase-requests")
    assert body == request.to_payload()
    with unit_of_work(ctx.sessions) as s:
        posting = s.scalars(
            select(ErpPosting).where(ErpPosting.outbox_message_id == outbox_id)
        ).one()
        assert posting.erp_reference == "MR-00001"
    assert_invariants(ctx, wms)


def test_a_booked_carriers_freight_goes_on_the_first_invoice_of_its_fulfilment_order(
    ctx: Context, wms: FakeWms, erp: FakeErp, clock: MovableClock
) -> None:
    world, _ = _setup(ctx, wms, erp)
    post(ctx, world, order_body(5009, [("A", 2)]))
    drain(ctx)
    order = _order(ctx, "5009")
    fo = _fo_id(ctx, order.id)
    with unit_of_work(ctx.sessions) as s:  # as core/carriers/booking records one
        s.add(
            CarrierBooking(
                fulfilment_order_id=fo,
                order_id=order.id,
                warehouse_id=world.warehouse_ids["EAST"],
                connector_id=world.wms_id,
                carrier="UPS",
                service="ground",
                service_level="standard",
                tracking_number="1Z999",
                amount="12.34",
                currency="USD",
                transit_days=3,
                deliver_by=clock.now().date() + timedelta(days=3),
                booked_at=clock.now(),
            )
        )
    confirm_shipment(ctx, fo, ShipmentInput("box-1", [("A", 1)]), actor="wms")
    confirm_shipment(ctx, fo, ShipmentInput("box-2", None), actor="wms")
    drain(ctx)
    first, second = erp.bodies("/invoices")
    assert (Decimal(first["freight"]), Decimal(second["freight"])) == (Decimal("12.34"), 0)
    assert_invariants(ctx, wms)
