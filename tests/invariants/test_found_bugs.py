"""Regressions for what the state machine of test_order_state_machine.py found, each as
the shortest story that shows it, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import FulfilmentOrder, OutboxMessage, SalesOrder
from omniroute.worker.handlers import drain
from tests.integration.builders import build_world, order_body, post, stock
from tests.invariants.checks import assert_invariants


def _sweep_until(ctx: Context, done: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        sweep(ctx)
        drain(ctx)
        time.sleep(0.02)


def _release_status(ctx: Context) -> str:
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(
            select(OutboxMessage.status).where(OutboxMessage.kind == "wms.release")
        ).one()


def test_a_release_answered_after_the_warehouse_shipped_it_leaves_it_shipped(
    ctx: Context, wms: FakeWms
) -> None:
    """The WMS took the order but its answer came after our timeout; the warehouse shipped
    it before our retry got the stored answer. The late "accepted" must not take the
    shipped fulfilment order back to released (it was, and the order could never finish)."""
    world = build_world(ctx, wms.base_url)
    connector_admin.update_connector(
        ctx,
        world.wms_id,
        config={"base_url": wms.base_url, "timeout_seconds": 0.2},
        secrets=None,
        enabled=None,
        actor="test",
    )
    stock(ctx, world.warehouse_ids["EAST"], "A", 5)
    wms.answer_late(0.6)
    post(ctx, world, order_body(9100, [("A", 2)]))
    drain(ctx)
    assert wms.accepted_count == 1 and _release_status(ctx) == "pending"  # to be retried

    with unit_of_work(ctx.sessions) as s:
        fo_id = s.scalars(select(FulfilmentOrder.id)).one()
    confirm_shipment(ctx, fo_id, ShipmentInput("PKG-1", None), actor="wms")
    wms.answer_late(None)
    _sweep_until(ctx, lambda: _release_status(ctx) == "sent")

    with unit_of_work(ctx.sessions) as s:
        fo = s.get_one(FulfilmentOrder, fo_id)
        order = s.scalars(select(SalesOrder)).one()
        assert (fo.status, order.status) == ("shipped", "shipped")
        assert fo.external_ref is not None  # the warehouse's reference is still recorded
    assert_invariants(ctx, wms)
