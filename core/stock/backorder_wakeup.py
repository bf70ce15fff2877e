"""Backorders wake up when stock arrives: oldest first, each re-routed on fresh stock."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import func, select

from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import CLOSED
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import FulfilmentLine, FulfilmentOrder, OrderLine, SalesOrder
from omniroute.core.platform.ports import HasDispatcher, HasSessions


class Deps(HasSessions, HasDispatcher, Protocol):
    """What waking backordered orders uses."""


def _open_lines_of(sku: str) -> Any:
    """The orders with a line of ``sku`` that live fulfilment orders do not hold in full: a
    backorder released in part does not wait for the SKUs it has released."""
    held = (
        select(func.coalesce(func.sum(FulfilmentLine.quantity), 0))
        .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
        .where(
            FulfilmentLine.order_line_id == OrderLine.id,
            FulfilmentOrder.status.not_in(CLOSED),
        )
        .correlate(OrderLine)
        .scalar_subquery()
    )
    return select(OrderLine.order_id).where(OrderLine.sku == sku, OrderLine.quantity > held)


def wake_backorders(deps: Deps, sku: str, *, limit: int = 100) -> list[int]:
    """Move backordered orders waiting for ``sku`` back to routing; their ids, oldest first."""
    woken: list[int] = []
    with unit_of_work(deps.sessions) as session:
        waiting = session.scalars(
            select(SalesOrder)
            .where(
                SalesOrder.status == OrderStatus.BACKORDERED,
                SalesOrder.id.in_(_open_lines_of(sku)),
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
        deps.dispatcher.enqueue(Task.ROUTE_ORDER, order_id)
    return woken
