"""X12 850s, read by the pure layer, go through the order path as canonical orders: their
lines find SKUs through aliases of their identifiers, and the orders route and release.

Here the generic connector's JSON upload carries the canonical orders in; the partner
intake (POST /edi/{id}, the CLI, inbox folders) is tested in test_edi_x12_partner.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.edi_x12.inbound import OrderRead, read_inbound
from omniroute.connectors.edi_x12.serializer import (
    GroupOut,
    InterchangeOut,
    Party,
    TransactionOut,
    seg,
    write_interchange,
)
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.orders import views as orders
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.integration.builders import build_world, stock

SAMPLES = Path(__file__).parents[1] / "fixtures" / "third_party" / "x12"


def _our_850() -> bytes:
    body = [
        seg("BEG", "00", "SA", "PO-77", None, "20261207"),
        seg("N1", "ST", "Store 12", "92", "0012"),
        seg("N3", "1 Main St"),
        seg("N4", "New York", "NY", "10001", "US"),
        seg("PO1", "1", "2", "EA", "4.00", None, "UP", "012345678905", "BP", "TEA-BUYER"),
        seg("PO1", "2", "1", "EA", "12.50", None, "BP", "MUG-BUYER"),
        seg("CTT", "2"),
    ]
    out = InterchangeOut(
        Party("ZZ", "RETAILER"),
        Party("ZZ", "OMNIROUTE"),
        1,
        dt.datetime(2026, 12, 7, 9, 0),
        groups=[GroupOut("RETAILER", "OMNI", 1, [TransactionOut("850", 1, body)])],
    )
    return write_interchange(out)


def test_850_orders_resolve_skus_by_identifiers_and_release(
    client: TestClient, ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    for sku in ("MUG", "TEA"):
        stock(ctx, world.warehouse_ids["EAST"], sku, 10)
    partner = connector_admin.create_connector(
        ctx,
        kind="generic_webhook",
        name="retailer edi",
        config={"default_channel": "edi"},
        secrets={},
        enabled=True,
        actor="test",
    )
    # aliases by identifier: a GTIN, a buyer part number, the vendor part of the sample
    for alias, sku in (
        ("gtin:012345678905", "TEA"),
        ("buyer_part:MUG-BUYER", "MUG"),
        ("vendor_part:0054321", "MUG"),
    ):
        warehouses.create_alias(ctx, partner.id, alias, sku, actor="test")

    raw = (SAMPLES / "edinet_x12.850.edi").read_bytes() + _our_850()
    canonical = [
        event.purchase_order.order
        for event in read_inbound(raw, channel="edi")
        if isinstance(event, OrderRead)
    ]
    assert [o["external_id"] for o in canonical] == ["1000012", "PO-77"]
    token = create_token(ctx, role=Role.INTEGRATOR, name="edi")
    r = client.post(
        "/api/v1/orders/import",
        params={"connector_id": partner.id},
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        content=json.dumps(canonical).encode(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2

    drain(ctx)

    with unit_of_work(ctx.sessions) as s:
        rows = s.scalars(select(SalesOrder).order_by(SalesOrder.external_id)).all()
        ids = {o.external_id: o.id for o in rows}
    sample = orders.order_detail(ctx, ids["1000012"])
    assert sample["status"] == "released", sample
    assert [(ln["sku"], ln["quantity"]) for ln in sample["lines"]] == [("MUG", 1)]
    ours = orders.order_detail(ctx, ids["PO-77"])
    assert ours["status"] == "released", ours
    assert sorted((ln["sku"], ln["quantity"]) for ln in ours["lines"]) == [("MUG", 1), ("TEA", 2)]
    assert wms.accepted_count == 2
