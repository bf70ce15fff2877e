"""Exceptions: problems a person must look at, opened with a reason code and never lost."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omniroute.core.platform.clock import now_of
from omniroute.core.platform.metrics import EXCEPTIONS_OPENED
from omniroute.core.platform.models import OrderException, OutboxMessage


class Reason:
    INVALID_PAYLOAD = "invalid_payload"
    UNKNOWN_SKU = "unknown_sku"
    BAD_ADDRESS = "bad_address"
    BAD_QUANTITY = "bad_quantity"
    NO_STOCK = "no_stock"
    WMS_REJECTED = "wms_rejected"
    WMS_UNREACHABLE = "wms_unreachable"
    NO_WMS = "no_wms"
    PROCESSING_ERROR = "processing_error"
    REJECTED_BY_RULE = "rejected_by_rule"
    STOCK_DISCREPANCY = "stock_discrepancy"
    REROUTE_EXHAUSTED = "reroute_exhausted"
    CHANNEL_PUSH_FAILED = "channel_push_failed"


def open_exception(
    session: Session,
    reason: str,
    *,
    detail: dict[str, Any],
    order_id: int | None = None,
    inbound_message_id: int | None = None,
    outbox_message_id: int | None = None,
) -> OrderException:
    """Open an exception, or refresh the open one for the same subject and reason."""
    existing = session.scalars(
        select(OrderException).where(
            OrderException.status == "open",
            OrderException.reason == reason,
            OrderException.order_id == order_id
            if order_id is not None
            else OrderException.order_id.is_(None),
            OrderException.inbound_message_id == inbound_message_id
            if inbound_message_id is not None
            else OrderException.inbound_message_id.is_(None),
            OrderException.outbox_message_id == outbox_message_id
            if outbox_message_id is not None
            else OrderException.outbox_message_id.is_(None),
        )
    ).first()
    if existing is not None:
        existing.detail = detail
        return existing
    exc = OrderException(
        reason=reason,
        detail=detail,
        order_id=order_id,
        inbound_message_id=inbound_message_id,
        outbox_message_id=outbox_message_id,
    )
    session.add(exc)
    session.flush()
    EXCEPTIONS_OPENED.labels(reason).inc()
    return exc


def resolve_open_for_order(session: Session, order_id: int, *, except_reason: str = "") -> None:
    for exc in session.scalars(
        select(OrderException).where(
            OrderException.order_id == order_id, OrderException.status == "open"
        )
    ):
        if exc.reason != except_reason:
            exc.status = "resolved"
            exc.resolved_at = now_of(session)


def resolve_dead_letters(session: Session, fulfilment_order_ids: list[int]) -> None:
    """Resolve the open exceptions of these fulfilment orders' outbox rows (dead letters):
    redriving them would be wrong now that the fulfilment orders are withdrawn."""
    rows = select(OutboxMessage.id).where(
        OutboxMessage.fulfilment_order_id.in_(fulfilment_order_ids)
    )
    session.execute(
        update(OrderException)
        .where(OrderException.status == "open", OrderException.outbox_message_id.in_(rows))
        .values(status="resolved", resolved_at=now_of(session))
        .execution_options(synchronize_session=False)
    )
