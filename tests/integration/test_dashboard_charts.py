"""The dashboard's charts: the figures core/orders/dashboard.charts computes over windowed
queries (as of a given time), and the console drawing them as inline SVG with their
figures also as text."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from omniroute.api.app import create_app
from omniroute.api.console.charts import Bar, bar_chart
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.orders import dashboard
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    ConnectorHealth,
    OrderEvent,
    OrderException,
    SalesOrder,
)
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, post, sample_order, stock
from tests.integration.console_kit import make_user, sign_in

NOW = datetime(2026, 3, 10, 12, 30)


@pytest.fixture
def world(cctx: Context, wms: FakeWms) -> World:
    built = build_world(cctx, wms.base_url)
    warehouses.upsert_sku(cctx, "WIDGET-1", "Widget", actor="test")
    stock(cctx, built.warehouse_ids["WEST"], "WIDGET-1", 10)
    return built


def _order(ctx: Context, world: World, number: int, zip_code: str = "40202") -> int:
    order = sample_order()
    template = order["line_items"][0]
    order.update(id=number, name=f"#{number}")
    order["line_items"] = [{**template, "id": number * 100, "sku": "WIDGET-1", "quantity": 1}]
    order["shipping_address"] = {**order["shipping_address"], "zip": zip_code}
    post(ctx, world, json.dumps(order).encode())
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        found = s.scalar(select(SalesOrder.id).where(SalesOrder.external_id == str(number)))
        assert found is not None
        return found


def _created(ctx: Context, order_id: int, at: datetime) -> None:
    with unit_of_work(ctx.sessions) as s:
        s.execute(update(SalesOrder).where(SalesOrder.id == order_id).values(created_at=at))


def test_the_charts_figures_as_of_a_given_time(cctx: Context, world: World) -> None:
    shipped = _order(cctx, world, 901)
    backordered = _order(cctx, world, 902)
    old = _order(cctx, world, 903)
    parked = _order(cctx, world, 904, zip_code="4020")
    _created(cctx, shipped, NOW - timedelta(hours=10))
    _created(cctx, backordered, NOW - timedelta(hours=1))
    _created(cctx, old, NOW - timedelta(days=40))
    _created(cctx, parked, NOW - timedelta(hours=2))
    with unit_of_work(cctx.sessions) as s:
        s.add(
            OrderEvent(order_id=shipped, to_status="shipped", created_at=NOW - timedelta(hours=4))
        )
        s.add(OrderEvent(order_id=backordered, to_status="backordered", created_at=NOW))
        s.execute(
            update(OrderException)
            .where(OrderException.order_id == parked)
            .values(first_seen_at=NOW - timedelta(hours=5))
        )
    c = dashboard.charts(cctx, now=NOW)
    per_hour = {h["hour"].hour: h["count"] for h in c["per_hour"]}
    assert len(c["per_hour"]) == 24 and c["per_hour"][-1]["hour"] == datetime(2026, 3, 10, 12)
    assert (per_hour[2], per_hour[10], per_hour[11], per_hour[12]) == (1, 1, 1, 0)
    assert sum(per_hour.values()) == 3  # the 40-day-old order is outside
    ages = {a["label"]: (a["count"], a["late"]) for a in c["exception_ages"]}
    assert ages["4 to 24 h"] == (1, 1)  # bad_address is due in 4 hours
    assert sum(n for n, _ in ages.values()) == 1
    rates = c["rates"]
    assert rates["orders"] == 3 and rates["units_ordered"] == 3 and rates["units_placed"] == 2
    assert rates["fill"] == pytest.approx(2 / 3)
    assert (rates["routed"], rates["split_orders"], rates["split"]) == (2, 0, 0.0)
    assert rates["backorder"] == pytest.approx(1 / 3)
    assert c["cycle"] == {"count": 1, "p50": 6.0, "p90": 6.0, "sampled": False}


def test_on_time_time_to_resolve_and_connector_health(cctx: Context, world: World) -> None:
    early, late = _order(cctx, world, 911), _order(cctx, world, 912)
    parked = _order(cctx, world, 913, zip_code="4020")
    for order_id, promised, shipped in (
        (early, NOW.date(), NOW - timedelta(hours=3)),
        (late, (NOW - timedelta(days=2)).date(), NOW - timedelta(hours=3)),
    ):
        _created(cctx, order_id, NOW - timedelta(days=3))
        with unit_of_work(cctx.sessions) as s:
            s.execute(
                update(SalesOrder)
                .where(SalesOrder.id == order_id)
                .values(promised_ship_by=promised)
            )
            s.add(OrderEvent(order_id=order_id, to_status="shipped", created_at=shipped))
    with unit_of_work(cctx.sessions) as s:
        s.execute(
            update(OrderException)
            .where(OrderException.order_id == parked)
            .values(
                status="resolved",
                first_seen_at=NOW - timedelta(hours=9),
                resolved_at=NOW - timedelta(hours=1),
            )
        )
        health_row = s.get(ConnectorHealth, world.wms_id)  # the WMS's, written on release
        if health_row is None:
            s.add(ConnectorHealth(connector_id=world.wms_id, consecutive_failures=3))
        else:
            health_row.consecutive_failures = 3
    c = dashboard.charts(cctx, now=NOW)
    assert c["on_time"] == {"rate": 0.5, "on_time": 1, "promised": 2}
    assert c["resolve"] == {"count": 1, "p50": 8.0, "p90": 8.0, "sampled": False}
    health = {k["name"]: (k["healthy"], k["failures"]) for k in c["connectors"]}
    assert health == {"shop": (True, 0), "wms": (False, 3)}


def test_percentiles_are_nearest_rank() -> None:
    assert dashboard.percentile([], 50) is None
    values = [float(v) for v in range(1, 11)]
    assert dashboard.percentile(values, 50) == 5.0
    assert dashboard.percentile(values, 90) == 9.0
    assert dashboard.percentile([3.0, 1.0], 90) == 3.0


def test_a_bar_chart_is_labelled_and_escaped() -> None:
    svg = str(bar_chart("c1", "Orders <per> hour", "a & b", [Bar("x<", 2, "2 <orders>")]))
    assert svg.startswith('<svg class="chart" id="c1" role="img"')
    assert 'aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">Orders &lt;per&gt; hour</title>' in svg
    assert '<desc id="c1-desc">a &amp; b</desc>' in svg
    assert "<title>2 &lt;orders&gt;</title>" in svg and ">x&lt;</text>" in svg


def test_the_dashboard_draws_the_charts_with_their_figures(cctx: Context, world: World) -> None:
    _order(cctx, world, 905)
    _order(cctx, world, 906, zip_code="4020")
    make_user(cctx, "otto", Role.OPS)
    make_user(cctx, "int", Role.VIEWER)
    with TestClient(create_app(cctx)) as client:
        sign_in(client, "otto")
        page = client.get("/console/").text
        for chart in ("chart-per-hour", "chart-rates", "chart-cycle", "chart-exception-ages"):
            assert f'id="{chart}" role="img"' in page
        assert "2 orders in the last 24 hours." in page
        assert "Fill rate: 50.0% (1 of 2 units placed with a warehouse)" in page
        assert "Split rate: 0.0% (0 of 1 routed orders" in page
        assert "Backorder rate: 0.0% (0 of 2 orders)" in page
        assert "under 1 h: 1 open (0 past due)" in page
        assert "<script" not in page.split("<main", 1)[1]
        assert 'id="connector-health"' in page and 'id="on-time-figures"' in page
