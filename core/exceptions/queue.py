"""The exception queue support works: list, read, and retry after the cause is fixed.

A retry marks the exception ``retried`` and replays its work; if the problem comes back,
``opening.open_exception`` reopens the same row (see there)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.core.access import scope
from omniroute.core.access.audit import record
from omniroute.core.exceptions.opening import ExceptionStatus, mark_retried
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import WMS_RELEASE
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import (
    FulfilmentOrder,
    InboundMessage,
    OrderException,
    OutboxMessage,
    SalesOrder,
)
from omniroute.core.platform.ports import HasDispatcher, Store


class Deps(Store, HasDispatcher, Protocol):
    """What working the exception queue uses."""


@dataclass(frozen=True)
class RetryResult:
    exception_id: int
    task: Task
    row_id: int


def list_exceptions(
    deps: Deps,
    *,
    status: str | None = ExceptionStatus.OPEN,
    reason: str | None = None,
    order_id: int | None = None,
    assignee: str | None = None,
    limit: int = 100,
    after_id: int = 0,
    connector_ids: Collection[int] | None = None,
) -> list[OrderException]:
    """Exceptions by id, oldest first; ``status`` None: any status; ``connector_ids`` (a
    scoped token's): only those channels' exceptions."""
    with unit_of_work(deps.sessions) as session:
        q = select(OrderException).where(OrderException.id > after_id)
        if connector_ids is not None:
            q = q.where(scope.exceptions_of(connector_ids))
        if status is not None:
            q = q.where(OrderException.status == status)
        if reason is not None:
            q = q.where(OrderException.reason == reason)
        if order_id is not None:
            q = q.where(OrderException.order_id == order_id)
        if assignee is not None:
            q = q.where(OrderException.assignee == assignee)
        return list(session.scalars(q.order_by(OrderException.id).limit(limit)))


def get_exception(deps: Deps, exception_id: int) -> OrderException:
    with unit_of_work(deps.sessions) as session:
        exc = session.get(OrderException, exception_id)
        if exc is None:
            raise NotFound(f"exception {exception_id} does not exist")
        return exc


def retry_exception(deps: Deps, exception_id: int, *, actor: str) -> RetryResult:
    """Replay the work behind an open exception: the inbound message, routing, or the hand-off."""
    with unit_of_work(deps.sessions) as session:
        exc = session.get(OrderException, exception_id)
        if exc is None:
            raise NotFound(f"exception {exception_id} does not exist")
        if exc.status != ExceptionStatus.OPEN:
            raise Conflict(f"exception {exception_id} is {exc.status}, not open", code="not_open")
        order = session.get(SalesOrder, exc.order_id) if exc.order_id else None
        if exc.outbox_message_id is not None:
            result = _redrive_outbox(session, exc, order)
        elif exc.inbound_message_id is not None:
            result = _replay_inbound(session, exc, order)
        elif order is not None:
            result = _reroute(session, exc, order)
        else:
            raise Conflict(f"exception {exception_id} has nothing to retry", code="not_retryable")
        mark_retried(exc, deps.clock.now())
        record(
            session,
            actor,
            "exception.retry",
            "exception",
            exc.id,
            {"reason": exc.reason, "task": result.task.value, "row_id": result.row_id},
        )
    deps.dispatcher.enqueue(result.task, result.row_id)
    return result


MAX_NOTE = 2000


def close_exception(
    deps: Deps, exception_id: int, *, outcome: ExceptionStatus, note: str, actor: str
) -> OrderException:
    """Close an open or retried exception by hand: ``resolved`` (the cause was dealt with)
    or ``dismissed`` (nothing to do), with a note saying why. Its order is left as it is."""
    if outcome not in (ExceptionStatus.RESOLVED, ExceptionStatus.DISMISSED):
        raise Invalid(f"an exception is closed as resolved or dismissed, not {outcome}")
    text = note.strip()
    if not text:
        raise Invalid("a note is required to close an exception", code="note_required")
    if len(text) > MAX_NOTE:
        raise Invalid(f"the note is longer than {MAX_NOTE} characters", code="note_too_long")
    with unit_of_work(deps.sessions) as session:
        exc = session.get(OrderException, exception_id, with_for_update=True)
        if exc is None:
            raise NotFound(f"exception {exception_id} does not exist")
        if exc.status not in (ExceptionStatus.OPEN, ExceptionStatus.RETRIED):
            raise Conflict(f"exception {exception_id} is {exc.status} already", code="closed")
        before = exc.status
        exc.status = outcome.value
        exc.resolved_at = deps.clock.now()
        exc.closed_by = actor
        exc.close_note = text
        record(
            session,
            actor,
            f"exception.{'resolve' if outcome == ExceptionStatus.RESOLVED else 'dismiss'}",
            "exception",
            exc.id,
            {"reason": exc.reason, "note": text},
            before={"status": before},
            after={"status": exc.status},
        )
        return exc


def _redrive_outbox(session: Session, exc: OrderException, order: SalesOrder | None) -> RetryResult:
    msg = session.get_one(OutboxMessage, exc.outbox_message_id)
    outbox.redrive(msg, now=now_of(session))
    if order is not None and order.status == OrderStatus.EXCEPTION:
        order_state.transition(session, order, OrderStatus.ROUTED, "hand-off redriven")
    fo = msg.fulfilment_order_id
    if fo is not None and msg.kind == WMS_RELEASE:
        session.get_one(FulfilmentOrder, fo).status = "pending"
    return RetryResult(exc.id, Task.DELIVER_OUTBOX, msg.id)


def _replay_inbound(session: Session, exc: OrderException, order: SalesOrder | None) -> RetryResult:
    msg = session.get_one(InboundMessage, exc.inbound_message_id)
    msg.status, msg.attempts, msg.claimed_at, msg.nudged_at = "pending", 0, None, None
    msg.next_attempt_at = now_of(session)
    held = order is not None and order.status == OrderStatus.ON_HOLD and order.hold_code
    if order is not None and (order.status == OrderStatus.EXCEPTION or held):
        # A release-policy hold is checked again, with the policy in force now.
        order_state.transition(session, order, OrderStatus.RECEIVED, "replayed from the inbox")
    return RetryResult(exc.id, Task.PROCESS_INBOUND, msg.id)


def _reroute(session: Session, exc: OrderException, order: SalesOrder) -> RetryResult:
    if order.status != OrderStatus.EXCEPTION:
        raise Conflict(
            f"order {order.id} is {order.status}; only a parked order re-routes",
            code="not_retryable",
        )
    order_state.transition(session, order, OrderStatus.VALIDATED, "routing retried")
    return RetryResult(exc.id, Task.ROUTE_ORDER, order.id)
