"""A shipment's tracking status from its events, and an order delivered by its shipments.

The fold is ``connectors.tracking.advances``: a status moves only up the ranks (within a
rank, to the later event), and never out of ``delivered`` or ``returned_to_sender``. Events
arrive in any order and any number of times; the status they leave is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.tracking import TrackingStatus, advances
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import member_orders_of, of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.models import FulfilmentOrder, SalesOrder, Shipment

# (canonical status, when it happened: naive UTC)
Checkpoint = tuple[TrackingStatus, datetime]


class Standing(NamedTuple):
    """Where a shipment's tracking stands: its status, when the event that set it happened,
    and the newest event's time (naive UTC)."""

    status: TrackingStatus
    status_at: datetime | None
    last_event_at: datetime | None


def advance(standing: Standing, checkpoints: Iterable[Checkpoint]) -> Standing:
    """Where a shipment stands after ``checkpoints`` (pure)."""
    current, current_at, latest = standing
    for status, at in checkpoints:
        if latest is None or at > latest:
            latest = at
        if advances(current, current_at, status, at):
            current, current_at = status, at
    return Standing(current, current_at, latest)


def fold(shipment: Shipment, checkpoints: Iterable[Checkpoint]) -> bool:
    """Apply checkpoints to a (locked) shipment's status; whether its status changed."""
    before = Standing(TrackingStatus(shipment.status), shipment.status_at, shipment.last_event_at)
    after = advance(before, checkpoints)
    shipment.last_event_at = after.last_event_at
    if (after.status, after.status_at) == (before.status, before.status_at):
        return False
    shipment.status = after.status.value
    shipment.status_at = after.status_at
    if after.status == TrackingStatus.DELIVERED:
        shipment.delivered_at = after.status_at
    return True


def deliver_orders(session: Session, shipment_id: int, order_ids: Sequence[int]) -> list[int]:
    """After a shipment was delivered: each of the orders with lines on it (``order_ids``,
    ascending) whose every shipment is delivered, and which has shipped in full, becomes
    ``delivered``. The ids moved."""
    moved = []
    for order_id in order_ids:
        order = order_state.lock_order(session, order_id)
        if order.status != OrderStatus.SHIPPED or not _all_delivered(session, order):
            continue
        order_state.transition(
            session,
            order,
            OrderStatus.DELIVERED,
            f"every shipment delivered (the last: shipment {shipment_id})",
        )
        moved.append(order.id)
    return moved


def deliver_orders_of_many(
    session: Session, delivered: Sequence[tuple[int, Sequence[int]]]
) -> list[list[int]]:
    """``deliver_orders`` for several delivered shipments (shipment id, its orders) at once:
    every order locked in one statement, in id order. The ids moved, for each shipment."""
    wanted = sorted({order_id for _, order_ids in delivered for order_id in order_ids})
    locked = {
        order.id: order
        for order in session.scalars(
            select(SalesOrder)
            .where(SalesOrder.id.in_(wanted))
            .order_by(SalesOrder.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    moved: list[list[int]] = []
    for shipment_id, order_ids in delivered:
        done = []
        for order_id in order_ids:
            order = locked.get(order_id)
            if order is None:
                order = order_state.lock_order(session, order_id)  # NotFound, as one by one
            if order.status != OrderStatus.SHIPPED or not _all_delivered(session, order):
                continue
            order_state.transition(
                session,
                order,
                OrderStatus.DELIVERED,
                f"every shipment delivered (the last: shipment {shipment_id})",
            )
            done.append(order.id)
        moved.append(done)
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
