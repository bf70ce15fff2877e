"""A shipment's tracking status from its events, and an order delivered by its shipments.

The fold is ``connectors.tracking.advances``: a status moves only up the ranks (within a
rank, to the later event), and never out of ``delivered`` or ``returned_to_sender``. Events
arrive in any order and any number of times; the status they leave is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from omniroute.connectors.tracking import TrackingStatus, advances
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import member_orders_of, of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.errors import NotFound
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    OrderLine,
    SalesOrder,
    Shipment,
)
from omniroute.core.platform.sql import table_of

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
        order_state.transition(session, order, OrderStatus.DELIVERED, _delivered_note(shipment_id))
        moved.append(order.id)
    return moved


def deliver_orders_of_many(
    session: Session, delivered: Sequence[tuple[int, Sequence[int]]]
) -> list[list[int]]:
    """``deliver_orders`` for several delivered shipments (shipment id, its orders) at once,
    in a few statements whatever their number: every order locked in one statement (in id
    order), the shipments of those still shipped read in one, and the moves written by
    ``order_state.timeline.transition_locked``. The shipments must be written first (the
    check reads them), and the lock comes before that read, so of two transactions
    delivering an order's last shipments the later one sees both. The ids moved, for each
    shipment."""
    wanted = sorted({order_id for _, order_ids in delivered for order_id in order_ids})
    if not wanted:
        return [[] for _ in delivered]
    statuses: dict[int, str] = {
        order_id: status
        for order_id, status in session.execute(_LOCK_ORDERS, {"order_ids": wanted})
    }
    missing = [order_id for order_id in wanted if order_id not in statuses]
    if missing:
        raise NotFound(f"order {missing[0]} does not exist")
    shipped = [order_id for order_id in wanted if statuses[order_id] == OrderStatus.SHIPPED]
    shipments: dict[int, list[str]] = {}
    if shipped:
        for order_id, status in session.execute(_SHIPMENT_STATUSES, {"order_ids": shipped}):
            shipments.setdefault(order_id, []).append(status)
    moved = orders_delivered(delivered, statuses, shipments)
    order_state.transition_locked(
        session,
        [
            (order_id, statuses[order_id], OrderStatus.DELIVERED, _delivered_note(shipment_id))
            for (shipment_id, _), ids in zip(delivered, moved, strict=True)
            for order_id in ids
        ],
        now=now_of(session),
    )
    return moved


def orders_delivered(
    delivered: Sequence[tuple[int, Sequence[int]]],
    statuses: Mapping[int, str],
    shipments: Mapping[int, Sequence[str]],
) -> list[list[int]]:
    """Which orders each delivered shipment (in turn) moves to delivered (pure): an order
    still ``shipped`` (``statuses``) whose every shipment (``shipments``: the statuses of
    each order's shipments) is delivered, once, by the first shipment of the batch naming
    it."""
    moved: set[int] = set()
    out: list[list[int]] = []
    for _, order_ids in delivered:
        done = []
        for order_id in order_ids:
            if order_id in moved or statuses[order_id] != OrderStatus.SHIPPED:
                continue
            if not _every_one_delivered(shipments.get(order_id, ())):
                continue
            moved.add(order_id)
            done.append(order_id)
        out.append(done)
    return out


def _delivered_note(shipment_id: int) -> str:
    return f"every shipment delivered (the last: shipment {shipment_id})"


def _every_one_delivered(statuses: Sequence[str]) -> bool:
    return bool(statuses) and all(s == TrackingStatus.DELIVERED for s in statuses)


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
    return _every_one_delivered(statuses)


_ORDERS = table_of(SalesOrder)
_LOCK_ORDERS = (
    select(_ORDERS.c.id, _ORDERS.c.status)
    .where(_ORDERS.c.id.in_(bindparam("order_ids", expanding=True)))
    .order_by(_ORDERS.c.id)
    .with_for_update()
)
# The statuses of the shipments of each order: those of every fulfilment order holding one
# of its lines (as ``holdings.of_order``), one row per status an order has.
_LINES = table_of(OrderLine)
_FULFILMENT_LINES = table_of(FulfilmentLine)
_SHIPMENTS = table_of(Shipment)
_SHIPMENT_STATUSES = (
    select(_LINES.c.order_id, _SHIPMENTS.c.status)
    .select_from(
        _LINES.join(_FULFILMENT_LINES, _FULFILMENT_LINES.c.order_line_id == _LINES.c.id).join(
            _SHIPMENTS,
            _SHIPMENTS.c.fulfilment_order_id == _FULFILMENT_LINES.c.fulfilment_order_id,
        )
    )
    .where(_LINES.c.order_id.in_(bindparam("order_ids", expanding=True)))
    .distinct()
)
