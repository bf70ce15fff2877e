"""What every fix shares: the order locked and still fixable, and its inbox row replayed."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.core.exceptions.opening import ExceptionStatus, mark_retried
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.errors import Conflict
from omniroute.core.platform.models import (
    FulfilmentOrder,
    InboundMessage,
    OrderException,
    SalesOrder,
)

# Not yet released to a warehouse (and no fulfilment order either, checked apart): the
# statuses in which a version from the channel may still change the order.
FIXABLE = frozenset(
    {
        OrderStatus.RECEIVED,
        OrderStatus.VALIDATED,
        OrderStatus.EXCEPTION,
        OrderStatus.ON_HOLD,
        OrderStatus.BACKORDERED,
    }
)


def lock_fixable(session: Session, order_id: int, what: str) -> SalesOrder:
    """The order, locked; Conflict ``released`` once a warehouse has it."""
    order = order_state.lock_order(session, order_id)
    released = session.scalar(select(FulfilmentOrder.id).where(of_order(order.id)).limit(1))
    if order.status not in FIXABLE or released is not None:
        raise Conflict(
            f"order {order_id} is {order.status} and a warehouse has it: its {what} can no "
            "longer be changed here; cancel it or ask the warehouse",
            code="released",
            order_status=order.status,
        )
    return order


def replay(session: Session, order: SalesOrder, *, now: datetime, reasons: Collection[str]) -> int:
    """Have the order's latest inbox row processed again (the caller enqueues it after the
    commit); its open exceptions of ``reasons`` are retried: resolved if it now passes,
    opened again if not. The inbox row's id."""
    msg = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.order_id == order.id)
        .order_by(InboundMessage.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if msg is None:  # every order comes in through the inbox; kept for a clear answer
        raise Conflict(f"order {order.id} has no inbox row to replay", code="not_replayable")
    for exc in session.scalars(
        select(OrderException).where(
            OrderException.order_id == order.id,
            OrderException.status == ExceptionStatus.OPEN,
            OrderException.reason.in_(sorted(reasons)),
        )
    ):
        mark_retried(exc, now)
    msg.status, msg.attempts, msg.claimed_at, msg.nudged_at = "pending", 0, None, None
    msg.next_attempt_at = now
    return int(msg.id)
