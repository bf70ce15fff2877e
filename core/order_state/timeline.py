"""Moving an order through its states, with a timeline row for every move."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from omniroute.core.order_state.machine import OrderStatus, check_transition
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.errors import NotFound
from omniroute.core.platform.models import OrderEvent, SalesOrder
from omniroute.core.platform.sql import table_of


def transition(session: Session, order: SalesOrder, target: str, note: str | None = None) -> None:
    """Move ``order`` to ``target`` if the state machine allows it; record the event."""
    new = check_transition(order.status, target)
    session.add(OrderEvent(order_id=order.id, from_status=order.status, to_status=new, note=note))
    if order.status == OrderStatus.ON_HOLD and order.hold_code is not None:
        # A release-policy hold, or one after a missed cut-off, ends with it.
        order.hold_code = order.hold_reason = None
        order.hold_until = None
    order.status = new
    order.updated_at = now_of(session)


def move(session: Session, order: SalesOrder, target: str, note_text: str) -> None:
    """Transition, or only note it when the order is there already (parked again)."""
    if order.status == target:
        note(session, order, note_text)
    else:
        transition(session, order, target, note_text)


def lock_order(session: Session, order_id: int) -> SalesOrder:
    """The order, locked by this transaction and read afresh; NotFound if there is none."""
    order = session.scalars(
        select(SalesOrder)
        .where(SalesOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    return order


def note(session: Session, order: SalesOrder, text: str) -> None:
    """A timeline entry that does not change the status."""
    session.add(
        OrderEvent(order_id=order.id, from_status=order.status, to_status=order.status, note=text)
    )


_ORDER = table_of(SalesOrder).c
_MOVE_IF_DONE = (
    update(table_of(SalesOrder))
    .where(_ORDER.id == bindparam("order_id"), _ORDER.status == bindparam("current"))
    .values(status=bindparam("target"), updated_at=bindparam("now"))
)
_INSERT_EVENT = insert(table_of(OrderEvent))


def transition_when(
    session: Session,
    order_id: int,
    current: str,
    target: str,
    note: str | None,
    *,
    condition: Any = None,
    now: datetime | None = None,
) -> bool:
    """Move the order from ``current`` to ``target`` if it is still in ``current`` and
    ``condition`` (an SQL expression) holds, without loading it; record the event. Moved?"""
    new = check_transition(current, target)
    stmt = _move_statement(condition)
    params = {
        "order_id": order_id,
        "current": current,
        "target": new.value,
        "now": now or now_of(session),
    }
    if session.execute(stmt, params).rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        _INSERT_EVENT,
        {"order_id": order_id, "from_status": current, "to_status": new.value, "note": note},
    )
    return True


def transition_locked(
    session: Session, moves: Sequence[tuple[int, str, str, str | None]], *, now: datetime
) -> None:
    """Move several orders this transaction has locked and read (order id, current status,
    target, note) in two statements: every move checked by the state machine first, then
    the orders updated at once and their timeline rows inserted at once. A loaded SalesOrder
    of one of them is expired (read afresh when next used)."""
    checked = [
        (order_id, current, check_transition(current, target).value, note)
        for order_id, current, target, note in moves
    ]
    if not checked:
        return
    session.execute(
        _MOVE_IF_DONE,
        [
            {"order_id": order_id, "current": current, "target": new, "now": now}
            for order_id, current, new, _ in checked
        ],
    )
    session.execute(
        _INSERT_EVENT,
        [
            {"order_id": order_id, "from_status": current, "to_status": new, "note": note}
            for order_id, current, new, note in checked
        ],
    )
    for order_id, *_ in checked:
        loaded = session.identity_map.get(identity_key(SalesOrder, order_id))
        if loaded is not None:
            session.expire(loaded)


_MOVES: dict[int, tuple[Any, Update]] = {}


def _move_statement(condition: Any) -> Update:
    """The conditional move with ``condition`` added, built once per condition object."""
    if condition is None:
        return _MOVE_IF_DONE
    hit = _MOVES.get(id(condition))
    if hit is None or hit[0] is not condition:
        hit = (condition, _MOVE_IF_DONE.where(condition))
        _MOVES[id(condition)] = hit
    return hit[1]
