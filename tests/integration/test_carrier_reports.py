"""The freight cost report and the carrier on-time report, through the API (JSON and CSV,
role checks) and the CLI, over bookings made by the real booking path with a fixed clock."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from omniroute.api.app import create_app
from omniroute.cli.main import app as cli_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.fulfilment import shipments
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import FulfilmentOrder, Shipment
from omniroute.core.platform.security import Role
from tests.conftest import SECRET_KEY
from tests.integration.test_carrier_booking import (
    FEDEX,
    UPS,
    Shop,
    carriers,
    open_shop,
    place_order,
)


@pytest.fixture
def shop(db_url: str, wms: FakeWms) -> Iterator[Shop]:
    yield from open_shop(db_url, wms)


def _ship(shop: Shop, order_id: int, delivered_days_after: int) -> None:
    with unit_of_work(shop.ctx.sessions) as s:
        fo_id = s.scalars(
            select(FulfilmentOrder.id).where(FulfilmentOrder.order_id == order_id)
        ).one()
    made = shipments.confirm_shipment(
        shop.ctx, fo_id, shipments.ShipmentInput(external_ref=f"S{order_id}", lines=None), actor="w"
    )
    with unit_of_work(shop.ctx.sessions) as s:
        s.execute(
            update(Shipment)
            .where(Shipment.id == made.shipment_id)
            .values(
                status="delivered",
                delivered_at=shop.clock.at + timedelta(days=delivered_days_after, hours=3),
            )
        )


def test_freight_and_on_time_reports(
    shop: Shop,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    carriers(shop.ctx, ("ups-table", UPS), ("fedex-table", FEDEX))
    first, second = place_order(shop, 7001), place_order(shop, 7002)
    _ship(shop, first, 3)  # Thursday: by Friday's promise
    _ship(shop, second, 6)  # next Sunday: two days late
    monday = shop.clock.at.date()
    span = {"since": monday.isoformat(), "until": (monday + timedelta(days=10)).isoformat()}
    viewer = create_token(shop.ctx, role=Role.VIEWER, name="viewer")
    shipper = create_token(shop.ctx, role=Role.WAREHOUSE, name="wms")
    with TestClient(create_app(shop.ctx)) as client:
        auth = {"Authorization": f"Bearer {viewer}"}
        freight = client.get("/api/v1/reports/freight", params=span, headers=auth)
        assert freight.status_code == 200, freight.text
        assert freight.json() == [
            {
                "carrier": "UPS",
                "warehouse": "EAST",
                "channel": "shopify",
                "currency": "USD",
                "bookings": 2,
                "total": "19.80",
                "average": "9.90",
            }
        ]
        as_csv = client.get(
            "/api/v1/reports/freight", params={**span, "format": "csv"}, headers=auth
        )
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert next(csv.DictReader(io.StringIO(as_csv.text)))["total"] == "19.80"

        on_time = client.get("/api/v1/reports/carrier-on-time", params=span, headers=auth)
        assert on_time.status_code == 200, on_time.text
        (row,) = on_time.json()
        assert (row["carrier"], row["lane"], row["delivered"], row["on_time"]) == (
            "UPS",
            "EAST → US-KY",
            2,
            1,
        )
        assert row["on_time_rate"] == 0.5
        assert row["max_days_late"] == 2

        empty = client.get(
            "/api/v1/reports/freight",
            params={"since": span["until"], "until": span["since"]},
            headers=auth,
        )
        assert empty.status_code == 422
        assert empty.json()["code"] == "bad_range"
        refused = client.get(
            "/api/v1/reports/freight", params=span, headers={"Authorization": f"Bearer {shipper}"}
        )
        assert refused.status_code == 403

    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", SECRET_KEY)
    runner = CliRunner()
    args = ["report", "freight", "--since", span["since"], "--until", span["until"]]
    lines = runner.invoke(cli_app, args)
    assert lines.exit_code == 0, lines.output
    assert json.loads(lines.output.splitlines()[0])["total"] == "19.80"
    table = runner.invoke(cli_app, [*args, "--format", "csv"])
    assert (
        table.output.splitlines()[0] == "carrier,warehouse,channel,currency,bookings,total,average"
    )
    late = runner.invoke(
        cli_app, ["report", "on-time", "--since", "2020-01-01", "--until", "2019-01-01"]
    )
    assert late.exit_code == 2
