"""Exceptions: problems a person must look at, opened with a reason code and never lost.

One exception per subject and reason. The subject is what the problem is about: the
outbox row of a dead letter; for a bad payload, what was delivered (the connector and the
SHA-256 of the body, so the same body resent under another webhook id is the same
problem); else the order; else the inbox row. ``open_exception`` counts a new occurrence
(detail replaced, ``occurrences`` + 1, ``last_seen_at``, the subject's rows pointing at
the latest) on that subject's exception for the reason when it is

- ``open``: still waiting for a person;
- ``retried``: the machine replayed its work when a person asked (``queue.retry_exception``)
  and the problem came back: it goes back to ``open``. A retry that worked leaves it
  ``retried``, and the same problem on the same subject later reopens it too;
- ``resolved`` earlier in the same transaction: the work that cleared it found it again
  (an order the channel updated, re-checked and still failing; a parked order ops
  re-route that still has no stock).

Otherwise it opens a new row. ``resolved`` is final: the cause was dealt with (the order
was cancelled, re-validated clean or re-routed by ops; a dead letter's fulfilment order
was withdrawn), so the same problem coming back later is a new exception with its own
history, and the resolved row stays as it was.

Exceptions with no subject (a stock count below what is reserved) share one open row per
reason.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, or_, select, text, update
from sqlalchemy.orm import Session

from omniroute.core.platform.clock import now_of
from omniroute.core.platform.metrics import EXCEPTIONS_OPENED
from omniroute.core.platform.models import InboundMessage, OrderException, OutboxMessage


class Reason(enum.StrEnum):
    INVALID_PAYLOAD = "invalid_payload"
    UNKNOWN_SKU = "unknown_sku"
    BAD_ADDRESS = "bad_address"
    BAD_QUANTITY = "bad_quantity"
    NO_STOCK = "no_stock"
    # An urgent order every warehouse with the stock could ship only on a later day.
    CUTOFF_MISSED = "cutoff_missed"
    WMS_REJECTED = "wms_rejected"
    WMS_UNREACHABLE = "wms_unreachable"
    NO_WMS = "no_wms"
    PROCESSING_ERROR = "processing_error"
    REJECTED_BY_RULE = "rejected_by_rule"
    STOCK_DISCREPANCY = "stock_discrepancy"
    REROUTE_EXHAUSTED = "reroute_exhausted"
    CHANNEL_PUSH_FAILED = "channel_push_failed"
    HELD_FOR_REVIEW = "held_for_review"
    # Cancels and edits after a warehouse has the order (core/orders/after_release.py).
    CANCEL_TOO_LATE = "cancel_too_late"  # the warehouse had picked or shipped the units
    CANCEL_UNKNOWN_ORDER = "cancel_unknown_order"  # the warehouse holds no such order
    CANCEL_FAILED = "cancel_failed"  # the cancel could not be delivered (a dead letter)
    RETURN_REQUIRED = "return_required"  # shipped already: a return, not a cancel
    CHANGE_AFTER_RELEASE = "change_after_release"  # an edit no warehouse can be sent
    # A return's advance notice could not be delivered to its warehouse (a dead letter).
    RETURN_NOTICE_FAILED = "return_notice_failed"
    # Carriers (core/carriers): no carrier could be booked; an order that will miss its promise.
    CARRIER_BOOKING_FAILED = "carrier_booking_failed"
    LATE_RISK = "late_risk"
    # A sales order, invoice or purchase request the ERP did not take (core/erp/delivery.py).
    ERP_POSTING_FAILED = "erp_posting_failed"


class ExceptionStatus(enum.StrEnum):
    OPEN = "open"
    RETRIED = "retried"
    RESOLVED = "resolved"
    # Closed by a person without fixing it (not a problem after all, handled elsewhere).
    DISMISSED = "dismissed"


# An exception counted again from other inbox rows lists them in detail, newest last.
LINKED_INBOUND = "inbound_message_ids"
MAX_LINKED_INBOUND = 20

_RESOLVED_HERE = "omniroute.exceptions.resolved_here"


def payload_subject(connector_id: int, body: bytes) -> str:
    """The subject of a bad payload: the connector and the SHA-256 of the body."""
    return f"payload:{connector_id}:{hashlib.sha256(body).hexdigest()}"


def subject_of(
    session: Session,
    reason: str,
    *,
    order_id: int | None = None,
    inbound_message_id: int | None = None,
    outbox_message_id: int | None = None,
) -> str | None:
    """The key one exception per reason is kept for (see the module's docstring)."""
    if outbox_message_id is not None:
        return f"outbox:{outbox_message_id}"
    if reason == Reason.INVALID_PAYLOAD and inbound_message_id is not None:
        msg = session.get(InboundMessage, inbound_message_id)  # the caller holds it already
        if msg is not None:
            return payload_subject(msg.connector_id, msg.body)
    if order_id is not None:
        return f"order:{order_id}"
    if inbound_message_id is not None:
        return f"inbound:{inbound_message_id}"
    return None


def open_exception(
    session: Session,
    reason: str,
    *,
    detail: dict[str, Any],
    order_id: int | None = None,
    inbound_message_id: int | None = None,
    outbox_message_id: int | None = None,
) -> OrderException:
    """Open an exception, or count another occurrence on its subject's for the reason."""
    now = now_of(session)
    subject = subject_of(
        session,
        reason,
        order_id=order_id,
        inbound_message_id=inbound_message_id,
        outbox_message_id=outbox_message_id,
    )
    if subject is not None and subject.startswith("payload:"):
        # The only subject that is not a row the caller holds: two workers with the same
        # body under two webhook ids would each find nothing and open one.
        _lock_subject(session, reason, subject)
    existing = _current(session, reason, subject)
    if existing is not None:
        _recur(
            existing,
            detail,
            now,
            order_id=order_id,
            inbound_message_id=inbound_message_id,
            outbox_message_id=outbox_message_id,
        )
        return existing
    exc = OrderException(
        reason=reason,
        detail=dict(detail),
        order_id=order_id,
        inbound_message_id=inbound_message_id,
        outbox_message_id=outbox_message_id,
        subject=subject,
        occurrences=1,
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
    )
    session.add(exc)
    session.flush()
    EXCEPTIONS_OPENED.labels(reason).inc()
    return exc


def mark_retried(exc: OrderException, now: datetime) -> None:
    """Its work is being replayed; if the problem comes back, ``open_exception`` reopens it."""
    exc.status = ExceptionStatus.RETRIED
    exc.resolved_at = now
    exc.retries += 1
    exc.last_retried_at = now


def resolve_open_for_order(session: Session, order_id: int, *, except_reason: str = "") -> None:
    resolved = _resolved_here(session)
    for exc in session.scalars(
        select(OrderException).where(
            OrderException.order_id == order_id, OrderException.status == ExceptionStatus.OPEN
        )
    ):
        if exc.reason != except_reason:
            exc.status = ExceptionStatus.RESOLVED
            exc.resolved_at = now_of(session)
            resolved.add(exc.id)


def resolve_retried_for_order(session: Session, order_id: int) -> None:
    """The order's retried exceptions are resolved: the replay got past what failed (if the
    problem had come back, ``open_exception`` would have reopened it)."""
    session.execute(
        update(OrderException)
        .where(
            OrderException.order_id == order_id,
            OrderException.status == ExceptionStatus.RETRIED,
        )
        .values(status=ExceptionStatus.RESOLVED, resolved_at=now_of(session))
        .execution_options(synchronize_session=False)
    )


def resolve_dead_letters(session: Session, fulfilment_order_ids: list[int]) -> None:
    """Resolve the open exceptions of these fulfilment orders' outbox rows (dead letters):
    redriving them would be wrong now that the fulfilment orders are withdrawn."""
    rows = select(OutboxMessage.id).where(
        OutboxMessage.fulfilment_order_id.in_(fulfilment_order_ids)
    )
    session.execute(
        update(OrderException)
        .where(
            OrderException.status == ExceptionStatus.OPEN,
            OrderException.outbox_message_id.in_(rows),
        )
        .values(status=ExceptionStatus.RESOLVED, resolved_at=now_of(session))
        .execution_options(synchronize_session=False)
    )


def _current(session: Session, reason: str, subject: str | None) -> OrderException | None:
    """The subject's exception for the reason a new occurrence counts on, if any."""
    live: ColumnElement[bool] = OrderException.status.in_(
        (ExceptionStatus.OPEN, ExceptionStatus.RETRIED)
    )
    resolved_here = _resolved_here(session)
    if resolved_here:
        live = or_(live, OrderException.id.in_(sorted(resolved_here)))
    same_subject = (
        OrderException.subject.is_(None) if subject is None else OrderException.subject == subject
    )
    return session.scalars(
        select(OrderException)
        .where(same_subject, OrderException.reason == reason, live)
        .order_by(
            case((OrderException.status == ExceptionStatus.OPEN, 0), else_=1),
            OrderException.id.desc(),
        )
        .limit(1)
    ).first()


def _recur(
    exc: OrderException,
    detail: dict[str, Any],
    now: datetime,
    *,
    order_id: int | None,
    inbound_message_id: int | None,
    outbox_message_id: int | None,
) -> None:
    linked = list(exc.detail.get(LINKED_INBOUND, ()))
    if inbound_message_id is not None and exc.inbound_message_id not in (None, inbound_message_id):
        linked = linked or [exc.inbound_message_id]
        linked = [i for i in linked if i != inbound_message_id] + [inbound_message_id]
    exc.detail = (
        {**detail, LINKED_INBOUND: linked[-MAX_LINKED_INBOUND:]} if linked else dict(detail)
    )
    exc.occurrences += 1
    exc.last_seen_at = now
    # The latest occurrence's rows: a retry replays what failed last.
    if order_id is not None:
        exc.order_id = order_id
    if inbound_message_id is not None:
        exc.inbound_message_id = inbound_message_id
    if outbox_message_id is not None:
        exc.outbox_message_id = outbox_message_id
    if exc.status != ExceptionStatus.OPEN:
        exc.status = ExceptionStatus.OPEN
        exc.resolved_at = None
        EXCEPTIONS_OPENED.labels(exc.reason).inc()


def _resolved_here(session: Session) -> set[int]:
    """Ids of the exceptions ``resolve_open_for_order`` resolved in this transaction."""
    transaction = session.get_transaction()
    held: tuple[object, set[int]] | None = session.info.get(_RESOLVED_HERE)
    if held is None or held[0] is not transaction:
        held = (transaction, set())
        session.info[_RESOLVED_HERE] = held
    return held[1]


def _lock_subject(session: Session, reason: str, subject: str) -> None:
    """Serialise opening this subject's exception until the transaction ends. SQLite needs
    nothing: every transaction begins IMMEDIATE, holding the database's one write lock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"{reason}|{subject}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
