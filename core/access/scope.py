"""What a token limited to some connectors or warehouses may see: orders, exceptions and
fulfilment orders of those only. Outside its scope a thing reads as not there (404)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, false, func, select

from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    Consolidation,
    FulfilmentOrder,
    InboundMessage,
    OrderException,
    SalesOrder,
    Shipment,
)
from omniroute.core.platform.ports import HasSessions


def exception_connector() -> Any:
    """The connector an exception belongs to: its order's, else its inbound message's
    (NULL for neither: such an exception is outside every connector scope)."""
    return func.coalesce(
        select(SalesOrder.connector_id)
        .where(SalesOrder.id == OrderException.order_id)
        .scalar_subquery(),
        select(InboundMessage.connector_id)
        .where(InboundMessage.id == OrderException.inbound_message_id)
        .scalar_subquery(),
    )


def orders_of(connector_ids: Collection[int]) -> ColumnElement[bool]:
    return SalesOrder.connector_id.in_(sorted(connector_ids)) if connector_ids else false()


def exceptions_of(connector_ids: Collection[int]) -> ColumnElement[bool]:
    if not connector_ids:
        return false()
    result: ColumnElement[bool] = exception_connector().in_(sorted(connector_ids))
    return result


def order_visible(deps: HasSessions, order_id: int, connector_ids: Collection[int]) -> bool:
    with unit_of_work(deps.sessions) as session:
        found = session.scalar(
            select(SalesOrder.id).where(SalesOrder.id == order_id, orders_of(connector_ids))
        )
        return found is not None


def exception_visible(deps: HasSessions, exception_id: int, connector_ids: Collection[int]) -> bool:
    with unit_of_work(deps.sessions) as session:
        found = session.scalar(
            select(OrderException.id).where(
                OrderException.id == exception_id, exceptions_of(connector_ids)
            )
        )
        return found is not None


def fulfilment_order_visible(
    deps: HasSessions,
    fulfilment_order_id: int,
    *,
    connector_ids: Collection[int] | None,
    warehouse_ids: Collection[int] | None,
) -> bool:
    """Within both limits given: its warehouse, and the connector of the order it names."""
    q = select(FulfilmentOrder.id).where(FulfilmentOrder.id == fulfilment_order_id)
    if warehouse_ids is not None:
        q = q.where(
            FulfilmentOrder.warehouse_id.in_(sorted(warehouse_ids)) if warehouse_ids else false()
        )
    if connector_ids is not None:
        q = q.join(SalesOrder, SalesOrder.id == FulfilmentOrder.order_id).where(
            orders_of(connector_ids)
        )
    with unit_of_work(deps.sessions) as session:
        return session.scalar(q) is not None


def shipment_visible(
    deps: HasSessions,
    shipment_id: int,
    *,
    connector_ids: Collection[int] | None,
    warehouse_ids: Collection[int] | None,
) -> bool:
    """Within both limits given: its fulfilment order's warehouse, its order's connector."""
    q = select(Shipment.id).where(Shipment.id == shipment_id)
    if warehouse_ids is not None:
        q = q.join(FulfilmentOrder, FulfilmentOrder.id == Shipment.fulfilment_order_id).where(
            FulfilmentOrder.warehouse_id.in_(sorted(warehouse_ids)) if warehouse_ids else false()
        )
    if connector_ids is not None:
        q = q.join(SalesOrder, SalesOrder.id == Shipment.order_id).where(orders_of(connector_ids))
    with unit_of_work(deps.sessions) as session:
        return session.scalar(q) is not None


def consolidation_visible(deps: HasSessions, group_id: int, connector_ids: Collection[int]) -> bool:
    """A group may hold orders of several channels: visible when none is outside the scope."""
    with unit_of_work(deps.sessions) as session:
        if session.get(Consolidation, group_id) is None:
            return False
        outside = session.scalar(
            select(SalesOrder.id)
            .where(SalesOrder.consolidation_id == group_id, ~orders_of(connector_ids))
            .limit(1)
        )
        return outside is None
