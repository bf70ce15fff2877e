"""One order end to end through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.orders import views as orders
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OrderException, SalesOrder, StockLevel
from omniroute.worker.handlers import drain
from tests.integration.builders import build_world, order_body, post, signed_headers, stock


def test_sample_order_is_routed_reserved_and_released(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        stock(ctx, world.warehouse_ids["EAST"], sku, 5)
    body = order_body(450789469, [("IPOD2008GREEN", 1), ("IPOD2008RED", 2)])
    result = post(ctx, world, body)
    assert not result.duplicate
    drain(ctx)

    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        reserved = {k: v for k, v in s.execute(select(StockLevel.sku, StockLevel.reserved))}
    detail = orders.order_detail(ctx, order.id)
    assert detail["status"] == "released"
    assert reserved == {"IPOD2008GREEN": 1, "IPOD2008RED": 2, "IPOD2008BLACK": 0}
    assert [fo["warehouse_code"] for fo in detail["fulfilment_orders"]] == ["EAST"]
    assert [e["to"] for e in detail["timeline"]] == ["received", "validated", "routed", "released"]
    trace = detail["routing_decisions"][0]["trace"]
    assert trace["chosen"] == ["EAST"]
    assert wms.accepted_count == 1
    (payload,) = wms.accepted.values()
    assert sorted((ln["sku"], ln["quantity"]) for ln in payload["lines"]) == [
        ("IPOD2008GREEN", 1),
        ("IPOD2008RED", 2),
    ]


def test_bad_signature_stores_nothing(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    body = order_body(1, [("A", 1)])
    headers = signed_headers(body)
    headers["X-Shopify-Hmac-Sha256"] = "AAAA" + headers["X-Shopify-Hmac-Sha256"][4:]
    from omniroute.core.platform.errors import Unauthorized

    with pytest.raises(Unauthorized):
        receive_webhook(ctx, world.shopify_id, headers, body)
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_unknown_sku_parks_then_alias_and_retry_releases(ctx: Context, wms: FakeWms) -> None:
    from omniroute.core.exceptions import queue as exception_queue
    from omniroute.core.stock import warehouses

    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["WEST"], "INTERNAL-1", 3)
    post(ctx, world, order_body(77, [("CHANNEL-SKU-1", 2)]))
    drain(ctx)
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "unknown_sku"
    with unit_of_work(ctx.sessions) as s:
        assert s.scalars(select(SalesOrder.status)).one() == "exception"

    warehouses.create_alias(ctx, world.shopify_id, "CHANNEL-SKU-1", "INTERNAL-1", actor="t")
    exception_queue.retry_exception(ctx, exc.id, actor="t")
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        assert order.status == "released"
        assert order.lines[0].sku == "INTERNAL-1"
        assert (
            s.scalar(
                select(func.count())
                .select_from(OrderException)
                .where(OrderException.status == "open")
            )
            == 0
        )
    assert wms.accepted_count == 1


def test_backorder_waits_for_stock_then_routes_oldest_first(db_url: str, wms: FakeWms) -> None:
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.stock import inventory
    from tests.conftest import make_settings

    ctx = bootstrap(make_settings(db_url, no_stock_policy="backorder"))
    try:
        world = build_world(ctx, wms.base_url)
        stock(ctx, world.warehouse_ids["EAST"], "LATE", 0)
        for n in range(3):
            post(ctx, world, order_body(900 + n, [("LATE", 2)]))
        drain(ctx)
        with unit_of_work(ctx.sessions) as s:
            assert [st for (st,) in s.execute(select(SalesOrder.status))] == ["backordered"] * 3

        inventory.adjust_stock(
            ctx, world.warehouse_ids["EAST"], "LATE", delta=5, actor="t", reason="receipt"
        )
        drain(ctx)
        with unit_of_work(ctx.sessions) as s:
            rows = s.execute(
                select(SalesOrder.external_id, SalesOrder.status).order_by(SalesOrder.id)
            ).all()
            reserved = s.scalar(select(StockLevel.reserved))
        # 5 units fill the two oldest orders (2 each); the third waits for the next receipt.
        assert [status for _, status in rows] == ["released", "released", "backordered"]
        assert reserved == 4
        assert wms.accepted_count == 2
    finally:
        ctx.close()
