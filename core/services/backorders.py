"""Backorders wake up when stock arrives: oldest first, each re-routed on fresh stock."""

from __future__ import annotations

from sqlalchemy import select

from core.bootstrap import Context
from core.db import unit_of_work
from core.dispatch import Task
from core.models import OrderLine, SalesOrder
from core.services import order_state
from core.states import OrderStatus


def wake_backorders(ctx: Context, sku: str, *, limit: int = 100) -> list[int]:
    """Move backordered orders waiting for ``sku`` back to routing; their ids, oldest first."""
    woken: list[int] = []
    with unit_of_work(ctx.sessions) as session:
        waiting = session.scalars(
            select(SalesOrder)
            .where(
                SalesOrder.status == OrderStatus.BACKORDERED,
                SalesOrder.id.in_(select(OrderLine.order_id).where(OrderLine.sku == sku)),
            )
            .order_by(SalesOrder.created_at, SalesOrder.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        for order in waiting:
            order_state.transition(
                session, order, OrderStatus.VALIDATED, f"stock of {sku} increased; routing again"
            )
            woken.append(order.id)
    for order_id in woken:
        ctx.dispatcher.enqueue(Task.ROUTE_ORDER, order_id)
    return woken
