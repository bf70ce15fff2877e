"""The ERP flow over HTTP from end to end: a signed webhook in, the fake WMS and a small fake
ERP on 127.0.0.1, the shipment confirmed and the report read through the API, the dead
letter redriven through the exception queue's API. In process (the API app under
TestClient, the worker's tasks drained), on SQLite, or PostgreSQL when configured; the
clock fixed.

order -> release -> sales order posted -> shipment -> invoice posted -> reconciliation
clean; then a failing ERP -> retries -> dead letter -> redrive -> clean again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.erp_rest.demo_server import FakeErp
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import FulfilmentOrder, SalesOrder
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.clocks import MovableClock
from tests.conftest import make_settings
from tests.integration.builders import SECRET, order_body, signed_headers
from tests.invariants.checks import assert_invariants

_TOMORROW = utcnow().date() + timedelta(days=1)
START = datetime(_TOMORROW.year, _TOMORROW.month, _TOMORROW.day, 9, 0)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(START)


@pytest.fixture
def ctx(db_url: str, clock: MovableClock) -> Iterator[Context]:
    context = bootstrap(make_settings(db_url, outbox_max_attempts=2), clock=clock)
    yield context
    context.close()


@pytest.fixture
def servers() -> Iterator[tuple[FakeWms, FakeErp]]:
    with FakeWms() as wms, FakeErp() as erp:
        yield wms, erp


def _create(client: TestClient, headers: dict[str, str], path: str, body: dict[str, Any]) -> int:
    answer = client.post(path, headers=headers, json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_order_to_invoice_and_a_failing_erp_redriven(
    ctx: Context, servers: tuple[FakeWms, FakeErp], clock: MovableClock
) -> None:
    wms, erp = servers
    admin = {"Authorization": f"Bearer {create_token(ctx, role=Role.ADMIN, name='admin')}"}
    ops = {"Authorization": f"Bearer {create_token(ctx, role=Role.OPS, name='ops')}"}
    with TestClient(create_app(ctx)) as client:
        wms_id = _create(
            client,
            admin,
            "/api/v1/connectors",
            {"kind": "rest_wms", "name": "wms", "config": {"base_url": wms.base_url}},
        )
        shop_id = _create(
            client,
            admin,
            "/api/v1/connectors",
            {
                "kind": "shopify",
                "name": "shop",
                "config": {},
                "secrets": {"webhook_secret": SECRET},
            },
        )
        _create(
            client,
            admin,
            "/api/v1/connectors",
            {
                "kind": "erp_rest",
                "name": "erp",
                "config": {"base_url": erp.base_url, "stock_path": "", "items_path": ""},
                "secrets": {"auth_header_value": "token k:s"},
            },
        )
        warehouse = _create(
            client,
            admin,
            "/api/v1/warehouses",
            {
                "code": "EAST",
                "name": "East",
                "address": {"postal_code": "10001", "country": "US"},
                "wms_connector_id": wms_id,
            },
        )
        put = client.put(
            "/api/v1/stock",
            headers=admin,
            json={"warehouse_id": warehouse, "sku": "A", "on_hand": 9},
        )
        assert put.status_code == 200, put.text
        day = clock.now().date().isoformat()
        report_url = f"/api/v1/reports/erp-reconciliation?date_from={day}&date_to={day}"

        def webhook(number: int) -> None:
            body = order_body(number, [("A", 2)])
            answer = client.post(f"/webhooks/{shop_id}", content=body, headers=signed_headers(body))
            assert answer.status_code == 200, answer.text
            drain(ctx)

        def ship(number: int) -> None:
            with unit_of_work(ctx.sessions) as s:
                fo = s.scalars(
                    select(FulfilmentOrder.id)
                    .join(SalesOrder, SalesOrder.id == FulfilmentOrder.order_id)
                    .where(SalesOrder.external_id == str(number))
                ).one()
            answer = client.post(
                f"/api/v1/fulfilment-orders/{fo}/shipments",
                headers=ops,
                json={"external_ref": f"box-{number}", "carrier": "UPS"},
            )
            assert answer.status_code in (200, 201), answer.text
            drain(ctx)

        webhook(61)
        assert len(erp.bodies("/sales-orders")) == 1
        ship(61)
        assert len(erp.bodies("/invoices")) == 1
        clean = client.get(report_url, headers=ops)
        assert clean.status_code == 200 and clean.json()["clean"] is True, clean.text

        erp.set_down(True)
        webhook(62)
        ship(62)
        for _ in range(10):  # the retries fall due as the clock moves; then dead letters
            clock.at += timedelta(minutes=1)
            sweep(ctx)
            drain(ctx)
        dirty = client.get(report_url, headers=ops).json()
        assert dirty["clean"] is False
        (not_invoiced,) = dirty["connectors"][0]["shipped_not_invoiced"]
        assert not_invoiced["problem"] == "dead"
        queue = client.get("/api/v1/exceptions?reason=erp_posting_failed", headers=ops)
        assert queue.status_code == 200, queue.text
        dead = [e for e in queue.json() if e["reason"] == "erp_posting_failed"]
        assert len(dead) == 2  # the sales order and its invoice

        erp.set_down(False)
        for exception in sorted(dead, key=lambda e: e["id"]):
            retried = client.post(f"/api/v1/exceptions/{exception['id']}/retry", headers=ops)
            assert retried.status_code == 202, retried.text
        drain(ctx)
        for _ in range(10):  # the invoice waits for its sales order, then goes
            if len(erp.bodies("/invoices")) == 2:
                break
            clock.at += timedelta(minutes=1)
            sweep(ctx)
            drain(ctx)
        assert len(erp.bodies("/invoices")) == 2
        assert client.get(report_url, headers=ops).json()["clean"] is True
    assert_invariants(ctx, wms)
