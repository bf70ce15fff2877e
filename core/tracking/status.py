"""A shipment's tracking status from its events, and an order delivered by its shipments.

The fold is ``connectors.tracking.advances``: a status moves only up the ranks (within a
rank, to the later event), and never out of ``delivered`` or ``returned_to_sender``. Events
arrive in any order and any number of times; the status they leave is the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.tracking import TrackingStatus, advances
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import member_orders_of, of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.models import FulfilmentOrder, SalesOrder, Shipment

# (canonical status, when it happened: naive UTC)
Checkpoint = tuple[TrackingStatus, datetime]


def fold(shipment: Shipment, checkpoints: Iterable[Checkpoint]) -> bool:
    """Apply checkpoints to a (locked) shipment's status; whether its status changed."""
    current = TrackingStatus(shipment.status)
    current_at = shipment.status_at
    latest = shipment.last_event_at
    for status, at in checkpoints:
        if latest is None or at > latest:
            latest = at
        if advances(current, current_at, status, at):
            current, current_at = status, at
    shipment.last_event_at = latest
    if current == shipment.status and current_at == shipment.status_at:
        return False
    shipment.status = current.value
    shipment.status_at = current_at
    if current == TrackingStatus.DELIVERED:
        shipment.delivered_at = current_at
    return True


def deliver_orders(session: Session, shipment: Shipment) -> list[int]:
    """After ``shipment`` was delivered: each order with lines on it whose every shipment is
    delivered, and which has shipped in full, becomes ``delivered``. The ids moved."""
    moved = []
    for order_id in orders_of(session, shipment):
        order = order_state.lock_order(session, order_id)
        if order.status != OrderStatus.SHIPPED or not _all_delivered(session, order):
            continue
        order_state.transition(
            session,
            order,
            OrderStatus.DELIVERED,
            f"every shipment delivered (the last: shipment {shipment.id})",
        )
        moved.append(order.id)
    return moved


def orders_of(session: Session, shipment: Shipment) -> list[int]:
    """The orders with lines in a shipment, ascending: its order, or every member of a
    consolidated fulfilment order."""
    fo = session.get_one(FulfilmentOrder, shipment.fulfilment_order_id)
    if fo.consolidation_id is None:
        return [shipment.order_id]
    return member_orders_of(session, fo.id) or [shipment.order_id]


def _all_delivered(session: Session, order: SalesOrder) -> bool:
    statuses = session.scalars(
        select(Shipment.status).where(
            Shipment.fulfilment_order_id.in_(select(FulfilmentOrder.id).where(of_order(order.id)))
        )
    ).all()
    return bool(statuses) and all(s == TrackingStatus.DELIVERED for s in statuses)
