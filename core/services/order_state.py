"""Moving an order through its states, with a timeline row for every move."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import OrderEvent, SalesOrder
from core.states import check_transition


def transition(session: Session, order: SalesOrder, target: str, note: str | None = None) -> None:
    """Move ``order`` to ``target`` if the state machine allows it; record the event."""
    new = check_transition(order.status, target)
    session.add(OrderEvent(order_id=order.id, from_status=order.status, to_status=new, note=note))
    order.status = new
    order.updated_at = utcnow()


def note(session: Session, order: SalesOrder, text: str) -> None:
    """A timeline entry that does not change the status."""
    session.add(
        OrderEvent(order_id=order.id, from_status=order.status, to_status=order.status, note=text)
    )
