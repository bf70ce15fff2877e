"""The outbox relay's ERP leg: a claimed ``erp.*`` row sent to its ERP connector.

As a channel push: the call is made outside any transaction with the row's idempotency
key; a transient failure is retried with backoff, a permanent one (or the last attempt) is
a dead letter with an ``erp_posting_failed`` exception that ops redrive once the cause is
fixed (``exceptions/queue.retry_exception``). The ERP's answer (its document number) is
kept on the row's ``erp_posting``, for reconciliation.

Before an invoice is sent: its order's sales order must have been taken by that ERP (an
invoice waits, as a transient failure, while it is still on its way; one that was
dead-lettered holds its invoices back until it is redriven), and shipped <= ordered -
cancelled must hold for each of its lines on the figures of that moment, else the
invoice is dead-lettered and nothing is sent.

The ERP connector is never disabled for failures (as a WMS's is not, see
``fulfilment/release``): disabling would stop postings being written at all, where the
outbox delivers them once the ERP is back; its health counts them instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import ConnectorError, PermanentError, TransientError
from omniroute.connectors.erp import ErpPoster, ErpReceipt, PurchaseRequestSink
from omniroute.core.erp.documents import (
    InvariantBroken,
    invoice_from_payload,
    sales_order_from_payload,
)
from omniroute.core.erp.posting import ERP_CONNECTOR_KINDS, check_invoice_lines, posting_of
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import ERP_INVOICE, ERP_PURCHASE_REQUEST, ERP_SALES_ORDER
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.metrics import OUTBOX_DELIVERIES
from omniroute.core.platform.models import Connector, ConnectorHealth, ErpPosting, OutboxMessage
from omniroute.core.platform.ports import HasConnectors, HasSettings, Store

log = logging.getLogger("omniroute.erp")


class Deps(Store, HasSettings, HasConnectors, Protocol):
    """What delivering to an ERP uses."""


def deliver_claimed(deps: Deps, outbox_id: int, *, now: datetime) -> str:
    """Send an ERP outbox row this worker has claimed: sent, retry or dead."""
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, outbox_id)
        kind = msg.kind
        try:
            call = _prepare(deps, session, msg)
        except TransientError as exc:
            return _retry(deps, session, msg, exc, now)
        except (PermanentError, InvariantBroken) as exc:
            _dead(session, msg, _as_connector_error(exc), now)
            return "dead"
    try:
        receipt = call()
    except TransientError as exc:
        with unit_of_work(deps.sessions) as session:
            return _retry(deps, session, session.get_one(OutboxMessage, outbox_id), exc, now)
    except ConnectorError as exc:
        with unit_of_work(deps.sessions) as session:
            _dead(session, session.get_one(OutboxMessage, outbox_id), exc, now)
        return "dead"
    with unit_of_work(deps.sessions) as session:
        at = deps.clock.now()
        msg = session.get_one(OutboxMessage, outbox_id)
        outbox.mark_sent(session, outbox_id, now=at)
        posting = posting_of(session, outbox_id)
        if posting is not None:
            posting.erp_reference = receipt.reference
            posting.posted_at = at
        if msg.connector_id is not None:
            _health_success(session, msg.connector_id, at)
    OUTBOX_DELIVERIES.labels(kind, "sent").inc()
    return "sent"


def _as_connector_error(exc: Exception) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    return PermanentError(f"shipped beyond ordered less cancelled: {exc}", reason="erp_invariant")


def _prepare(deps: Deps, session: Session, msg: OutboxMessage) -> Callable[[], ErpReceipt]:
    connector = session.get(Connector, msg.connector_id) if msg.connector_id else None
    if connector is None or not connector.enabled or connector.kind not in ERP_CONNECTOR_KINDS:
        raise PermanentError("the ERP connector is missing or disabled", reason="no_erp")
    erp = deps.connectors.for_row(connector)
    key = msg.idempotency_key
    if msg.kind == ERP_SALES_ORDER:
        if not isinstance(erp, ErpPoster):
            raise PermanentError(f"{connector.kind} cannot take sales orders", reason="no_erp")
        order_doc = sales_order_from_payload(msg.payload)
        return lambda: erp.post_sales_order(order_doc, idempotency_key=key)
    if msg.kind == ERP_INVOICE:
        if not isinstance(erp, ErpPoster):
            raise PermanentError(f"{connector.kind} cannot take invoices", reason="no_erp")
        invoice = invoice_from_payload(msg.payload)
        check_invoice_lines(session, [int(line.line_ref) for line in invoice.lines])
        _sales_order_first(session, msg)
        return lambda: erp.post_invoice(invoice, idempotency_key=key)
    if msg.kind == ERP_PURCHASE_REQUEST:
        if not isinstance(erp, PurchaseRequestSink):
            raise PermanentError(f"{connector.kind} takes no purchase requests", reason="no_erp")
        payload = dict(msg.payload)
        return lambda: erp.send_purchase_request(payload, idempotency_key=key)
    raise PermanentError(f"unknown ERP outbox kind {msg.kind!r}", reason="no_erp")


def _sales_order_first(session: Session, msg: OutboxMessage) -> None:
    """An invoice waits for its order's sales order to reach the same ERP."""
    status = session.scalar(
        select(OutboxMessage.status)
        .join(ErpPosting, ErpPosting.outbox_message_id == OutboxMessage.id)
        .where(
            ErpPosting.kind == ERP_SALES_ORDER,
            ErpPosting.order_id == msg.payload.get("order_id"),
            ErpPosting.connector_id == msg.connector_id,
        )
        .limit(1)
    )
    if status is not None and status != "sent":
        raise TransientError(
            f"the sales order of order {msg.payload.get('order_id')} is not with the ERP yet "
            f"({status})",
            reason="sales_order_pending",
        )


def _retry(
    deps: Deps, session: Session, msg: OutboxMessage, exc: TransientError, now: datetime
) -> str:
    if outbox.retry_with_backoff(msg, exc, deps.settings, now=deps.clock.now()) is None:
        _dead(session, msg, exc, now)
        return "dead"
    if msg.connector_id is not None and exc.reason != "sales_order_pending":
        _health_failure(session, msg.connector_id, outbox.describe(exc), now)
    OUTBOX_DELIVERIES.labels(msg.kind, "retry").inc()
    log.info("outbox %s (%s): retry: %s", msg.id, msg.kind, exc)
    return "retry"


def _dead(session: Session, msg: OutboxMessage, exc: ConnectorError, now: datetime) -> None:
    outbox.mark_dead(msg, exc)
    detail: dict[str, Any] = {
        "message": str(exc),
        "error": exc.reason,
        "attempts": msg.attempts,
        "kind": msg.kind,
        "connector_id": msg.connector_id,
    }
    if "shipment_id" in msg.payload:
        detail["shipment_id"] = msg.payload["shipment_id"]
    order_id = msg.payload.get("order_id")
    open_exception(
        session,
        Reason.ERP_POSTING_FAILED,
        outbox_message_id=msg.id,
        order_id=order_id if isinstance(order_id, int) else None,
        detail=detail,
    )
    if msg.connector_id is not None and exc.reason not in ("erp_invariant", "no_erp"):
        _health_failure(session, msg.connector_id, outbox.describe(exc), now)
    OUTBOX_DELIVERIES.labels(msg.kind, "dead").inc()
    log.warning("outbox %s (%s) dead-lettered: %s", msg.id, msg.kind, exc)


def _health_success(session: Session, connector_id: int, now: datetime) -> None:
    health = session.get(ConnectorHealth, connector_id)
    if health is None:
        health = ConnectorHealth(connector_id=connector_id, consecutive_failures=0)
        session.add(health)
    health.last_success_at = now
    health.consecutive_failures = 0


def _health_failure(session: Session, connector_id: int, error: str, now: datetime) -> None:
    health = session.get(ConnectorHealth, connector_id)
    if health is None:
        health = ConnectorHealth(connector_id=connector_id, consecutive_failures=0)
        session.add(health)
    health.last_error_at = now
    health.last_error = error[: outbox.ERROR_CHARS]
    health.consecutive_failures = (health.consecutive_failures or 0) + 1
