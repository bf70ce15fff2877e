"""Which fulfilment orders hold an order's lines.

A fulfilment order of a consolidation group carries lines of several orders but names only
the oldest in ``order_id``; asking through its lines finds it for every member.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.core.platform.models import FulfilmentLine, FulfilmentOrder, OrderLine

# Fulfilment orders that no longer hold their lines: a WMS rejected them, or they were withdrawn.
CLOSED = ("rejected", "cancelled")


def fulfilment_ids_of(order_id: Any) -> Any:
    """A subquery of the ids of fulfilment orders with a line of ``order_id`` (a value or
    a column, e.g. ``SalesOrder.id`` inside a correlated EXISTS)."""
    return (
        select(FulfilmentLine.fulfilment_order_id)
        .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
        .where(OrderLine.order_id == order_id)
    )


def of_order(order_id: Any) -> Any:
    """A condition on FulfilmentOrder: it holds a line of ``order_id``."""
    return FulfilmentOrder.id.in_(fulfilment_ids_of(order_id))


def member_orders_of(session: Session, fulfilment_order_id: int) -> list[int]:
    """The ids of the orders whose lines a fulfilment order holds, ascending."""
    return list(
        session.scalars(
            select(OrderLine.order_id)
            .join(FulfilmentLine, FulfilmentLine.order_line_id == OrderLine.id)
            .where(FulfilmentLine.fulfilment_order_id == fulfilment_order_id)
            .distinct()
            .order_by(OrderLine.order_id)
        )
    )


def overshipped(session: Session, order_line_ids: list[int]) -> list[dict[str, int]]:
    """The order lines among these that show more shipped than ordered less cancelled, over
    every fulfilment line holding them (empty when the invariant holds): checked before a
    shipment is told to another system."""
    if not order_line_ids:
        return []
    totals = session.execute(
        select(
            OrderLine.id,
            OrderLine.quantity,
            func.coalesce(func.sum(FulfilmentLine.shipped_quantity), 0),
            func.coalesce(func.sum(FulfilmentLine.cancelled_quantity), 0),
        )
        .outerjoin(FulfilmentLine, FulfilmentLine.order_line_id == OrderLine.id)
        .where(OrderLine.id.in_(sorted(set(order_line_ids))))
        .group_by(OrderLine.id, OrderLine.quantity)
    )
    return [
        {"order_line_id": int(i), "ordered": int(q), "shipped": int(s), "cancelled": int(c)}
        for i, q, s, c in totals
        if int(s) > int(q) - int(c)
    ]
