"""The invariant checks hold on a healthy world and name each thing broken behind its back."""

from __future__ import annotations

from sqlalchemy import select, update

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    OutboxMessage,
    SalesOrder,
    StockLevel,
)
from omniroute.worker.handlers import drain
from tests.integration.builders import build_world, order_body, post, stock
from tests.invariants.checks import violations


def _released_order(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "A", 5)
    post(ctx, world, order_body(9200, [("A", 2)]))
    drain(ctx)
    assert violations(ctx, wms) == []


def test_a_reservation_without_a_ledger_row_or_an_allocation_is_named(
    ctx: Context, wms: FakeWms
) -> None:
    _released_order(ctx, wms)
    with unit_of_work(ctx.sessions) as s:
        s.execute(update(StockLevel).values(reserved=StockLevel.reserved + 1))
    found = violations(ctx, wms)
    assert any("reserved 3 but open allocations hold 2" in f for f in found), found
    assert any("the ledger adds up to (5, 2, 0)" in f for f in found), found


def test_a_line_shipped_beyond_its_quantity_and_a_cancelled_order_holding_stock_are_named(
    ctx: Context, wms: FakeWms
) -> None:
    _released_order(ctx, wms)
    with unit_of_work(ctx.sessions) as s:
        s.execute(update(SalesOrder).values(status="cancelled"))
    assert any("is cancelled but fulfilment line" in f for f in violations(ctx, wms))
    with unit_of_work(ctx.sessions) as s:
        s.execute(update(FulfilmentLine).values(cancelled_quantity=3))
    assert any("cancelled 3 of 2" in f for f in violations(ctx, wms))


def test_a_fulfilment_order_at_a_warehouse_without_its_release_is_named(
    ctx: Context, wms: FakeWms
) -> None:
    _released_order(ctx, wms)
    with unit_of_work(ctx.sessions) as s:
        s.execute(update(OutboxMessage).values(status="cancelled"))
        fo_id = s.scalars(select(FulfilmentOrder.id)).one()
    found = violations(ctx, wms)
    assert f"fulfilment order {fo_id} is released without a sent release" in found
    assert any(f"sent fulfilment order {fo_id}, which no longer holds" in f for f in found)


def test_a_return_holding_more_than_shipped_is_named(ctx: Context, wms: FakeWms) -> None:
    from omniroute.core.platform.models import ReturnAuthorisation, ReturnLine

    _released_order(ctx, wms)
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        fo = s.scalars(select(FulfilmentOrder)).one()
        line = s.scalars(select(FulfilmentLine)).one()
        line.shipped_quantity = 1  # written behind the services' back: only the return matters
        rma = ReturnAuthorisation(
            rma_number="RMA-X", order_id=order.id, connector_id=order.connector_id,
            warehouse_id=fo.warehouse_id, status="authorised", reason="other", created_by="t",
        )  # fmt: skip
        rma.lines.append(ReturnLine(order_line_id=line.order_line_id, sku="A", quantity=2))
        s.add(rma)
    found = violations(ctx)
    assert any("returns hold 2 units, 1 shipped" in f for f in found), found
