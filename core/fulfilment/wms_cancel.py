"""Outbox relay of a ``wms.cancel``: ask the warehouse to cancel units, record its answer.

The row was written with its ``cancellation`` (``orders.after_release``) and is claimed by
``release.deliver_outbox``, which hands it here. As a release: the WMS is called outside any
transaction with the row's idempotency key on every attempt; a transient failure is retried
with backoff until ``OMNIROUTE_OUTBOX_MAX_ATTEMPTS``, then dead-lettered with a
``cancel_failed`` exception (so is a permanent refusal) that ops can redrive. Each outcome
counts in the WMS connector's health.

The answer is settled in one transaction that locks, as a shipment confirmation does, the
orders with lines on the fulfilment order (ascending), then the fulfilment order, then its
lines. So a shipment confirmation and a cancel outcome for the same units are serialised:

- cancelled: each line's ``cancelled_quantity`` grows by what the warehouse cancelled, at most
  what is still open (not shipped) then; those units' reservations go back through
  ``stock.levels.give_back`` once. Units the warehouse cancelled fewer of, or that shipped
  meanwhile, open a ``cancel_too_late`` exception. A later shipment can only take units that
  are neither shipped nor cancelled (``fulfilment.shipments``), so cancelled units never ship.
  The fulfilment order is ``cancelled`` (or ``shipped``) once nothing of it is open; the order
  is ``shipped`` once nothing of it is left to ship if any unit of it shipped, else
  ``cancelled``, and only then, if ops asked with ``notify_channel``, its channel is told
  (``channel.cancel``). The channel is never told of a cancel it sent itself, nor of one that
  leaves units shipped or to ship (channels take whole-order cancels only).
- too late (picked, packed or shipped): ``cancel_too_late``; nothing is given back.
- unknown order: ``cancel_unknown_order``; nothing is given back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import (
    CancelLine,
    CancelOutcome,
    CancelReceipt,
    CancelRequest,
    Capability,
    ConnectorError,
    PermanentError,
    TransientError,
    WarehouseCanceller,
    enabled_capabilities,
)
from omniroute.core.channels import health as connector_health
from omniroute.core.channels.push import queue_cancel_push
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import CLOSED, member_orders_of
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import WMS_CANCEL
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.metrics import OUTBOX_DELIVERIES
from omniroute.core.platform.models import (
    Cancellation,
    Connector,
    ConnectorHealth,
    FulfilmentLine,
    FulfilmentOrder,
    OrderException,
    OrderLine,
    OutboxMessage,
    SalesOrder,
    Warehouse,
)
from omniroute.core.platform.ports import HasConnectors, HasDispatcher, HasSettings, Store
from omniroute.core.platform.telemetry.logs import bind
from omniroute.core.stock.levels import give_back

log = logging.getLogger("omniroute.outbox")

#: Orders whose last open units a confirmed cancel leaves them with nothing to ship.
CANCELLED_FROM = frozenset({OrderStatus.RELEASED, OrderStatus.PARTIALLY_SHIPPED})


class Deps(Store, HasSettings, HasConnectors, HasDispatcher, Protocol):
    """What delivering a WMS cancel uses."""


@dataclass(frozen=True)
class CancelJob:
    outbox_id: int
    cancellation_id: int
    adapter: Any
    request: CancelRequest
    connector_id: int
    health: connector_health.Seen


def deliver_cancel(deps: Deps, outbox_id: int, *, now: datetime) -> str:
    """Deliver a claimed ``wms.cancel`` row: sent, retry, dead (or skipped if settled)."""
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, outbox_id)
        try:
            job = _prepare(deps, session, msg)
        except PermanentError as exc:
            _dead(deps, session, msg, exc, None)
            return "dead"
        if job is None:  # settled already (a redelivery after its outcome was recorded)
            outbox.mark_sent(session, outbox_id, now=now)
            return "skipped"
    try:
        receipt = job.adapter.cancel(job.request)
    except TransientError as exc:
        return _after_transient(deps, job, exc)
    except ConnectorError as exc:
        with unit_of_work(deps.sessions) as session:
            _dead(deps, session, session.get_one(OutboxMessage, outbox_id), exc, job)
        return "dead"
    with unit_of_work(deps.sessions) as session:
        outbox.mark_sent(session, outbox_id, now=deps.clock.now())
        told = settle(deps, session, job.cancellation_id, receipt)
        session.flush()
        connector_health.note_success(session, job.connector_id, job.health, now=now_of(session))
    OUTBOX_DELIVERIES.labels(WMS_CANCEL, "sent").inc()
    if told is not None:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, told)
    return "sent"


def _prepare(deps: Deps, session: Session, msg: OutboxMessage) -> CancelJob | None:
    row = session.get_one(Cancellation, msg.payload["cancellation_id"])
    if row.status not in ("requested", "failed"):
        return None
    fo = session.get_one(FulfilmentOrder, row.fulfilment_order_id)
    order = session.get_one(SalesOrder, row.order_id)
    warehouse = session.get_one(Warehouse, fo.warehouse_id)
    connector = session.get(Connector, msg.connector_id) if msg.connector_id else None
    if connector is None or not connector.enabled:
        raise PermanentError(
            f"warehouse {warehouse.code} has no enabled WMS connector", reason=Reason.NO_WMS
        )
    adapter = deps.connectors.for_row(connector)
    if Capability.FULFILMENT_CANCEL not in enabled_capabilities(adapter) or not isinstance(
        adapter, WarehouseCanceller
    ):
        raise PermanentError(
            f"connector {connector.name} cannot cancel fulfilment orders", reason="no_wms_cancel"
        )
    health = session.get(ConnectorHealth, connector.id)
    bind(correlation_id=msg.correlation_id, order_id=order.id)
    return CancelJob(
        outbox_id=msg.id,
        cancellation_id=row.id,
        adapter=adapter,
        request=CancelRequest(
            fulfilment_order_id=fo.id,
            order_id=order.id,
            order_reference=order.external_number or order.external_id,
            warehouse_code=warehouse.code,
            external_ref=fo.external_ref,
            lines=tuple(
                CancelLine(int(i["order_line_id"]), str(i["sku"]), int(i["quantity"]))
                for i in row.lines
            ),
            entire=bool(msg.payload.get("entire")),
            reason=row.reason,
            idempotency_key=msg.idempotency_key,
            correlation_id=msg.correlation_id,
        ),
        connector_id=connector.id,
        health=connector_health.Seen(
            row=health is not None,
            consecutive_failures=health.consecutive_failures if health else 0,
            last_success_at=health.last_success_at if health else None,
        ),
    )


def settle(
    deps: Deps, session: Session, cancellation_id: int, receipt: CancelReceipt
) -> int | None:
    """Record the warehouse's answer; the ``channel.cancel`` outbox id to nudge, if any."""
    row = session.get_one(Cancellation, cancellation_id)
    fo_id = row.fulfilment_order_id
    members = member_orders_of(session, fo_id)
    orders = {
        o.id: o
        for o in session.scalars(
            select(SalesOrder)
            .where(SalesOrder.id.in_(members or [row.order_id]))
            .order_by(SalesOrder.id)
            .with_for_update()
        )
    }
    fo = session.scalars(
        select(FulfilmentOrder).where(FulfilmentOrder.id == fo_id).with_for_update()
    ).one()
    lines = {
        line.id: line
        for line in session.scalars(
            select(FulfilmentLine)
            .where(FulfilmentLine.fulfilment_order_id == fo_id)
            .order_by(FulfilmentLine.id)
            .with_for_update()
        )
    }
    session.refresh(row, with_for_update=True)
    if row.status not in ("requested", "failed"):
        return None  # settled by another delivery of the same row
    order = orders[row.order_id]
    row.settled_at = now_of(session)
    row.detail = receipt.detail
    if receipt.outcome != CancelOutcome.CANCELLED:
        _refused(session, row, order, receipt)
        return None
    return _cancelled(deps, session, row, order=order, fo=fo, lines=lines, receipt=receipt)


def _refused(
    session: Session, row: Cancellation, order: SalesOrder, receipt: CancelReceipt
) -> None:
    row.status = receipt.outcome.value
    reason = (
        Reason.CANCEL_TOO_LATE
        if receipt.outcome == CancelOutcome.TOO_LATE
        else Reason.CANCEL_UNKNOWN_ORDER
    )
    said = receipt.detail or receipt.outcome.value
    open_exception(
        session,
        reason,
        order_id=order.id,
        detail={
            "message": f"the warehouse did not cancel fulfilment order "
            f"{row.fulfilment_order_id}: {said}; nothing was given back",
            "cancellation_id": row.id,
            "fulfilment_order_id": row.fulfilment_order_id,
            "wms_status": said,
            "lines": row.lines,
        },
    )
    order_state.note(
        session,
        order,
        f"the warehouse refused the cancel of fulfilment order {row.fulfilment_order_id}: {said}",
    )


def _cancelled(
    deps: Deps,
    session: Session,
    row: Cancellation,
    *,
    order: SalesOrder,
    fo: FulfilmentOrder,
    lines: dict[int, FulfilmentLine],
    receipt: CancelReceipt,
) -> int | None:
    give: dict[str, int] = defaultdict(int)
    late: list[dict[str, Any]] = []
    for item in row.lines:
        line = lines[int(item["fulfilment_line_id"])]
        asked = int(item["quantity"])
        said = asked if receipt.lines is None else receipt.lines.get(line.order_line_id, 0)
        still_open = line.quantity - line.shipped_quantity - line.cancelled_quantity
        done = max(min(asked, said, still_open), 0)
        line.cancelled_quantity += done
        give[line.sku] += done
        if done < asked:
            late.append(item | {"quantity": asked - done})
    units = sum(give.values())
    if units:
        give_back(
            session,
            fo.warehouse_id,
            {sku: q for sku, q in give.items() if q},
            shipped=False,
            reason="cancelled",
            reference=f"cancellation:{row.id}",
        )
    row.status = "cancelled" if units else "too_late"
    row.units_cancelled = units
    _close(fo, lines)
    order_state.note(
        session,
        order,
        f"the warehouse cancelled {units} unit(s) of fulfilment order {fo.id}; "
        "their stock is free again",
    )
    if late:
        _refused_in_part(session, row, order, late)
    if not units or order.status not in CANCELLED_FROM or _left_to_ship(session, order.id):
        return None
    if not (order.canonical or {}).get("cancelled") and _keeps_shipped_units(session, order.id):
        # Part of it left the building and stays with the customer (the channel has not
        # cancelled the order and no return is pending):
        # it is shipped, the rest cancelled; the channel, which takes whole-order cancels
        # only, is not told of a cancel.
        order_state.transition(
            session, order, OrderStatus.SHIPPED, "shipped in part; the warehouse cancelled the rest"
        )
        return None
    order_state.transition(
        session, order, OrderStatus.CANCELLED, "the warehouse cancelled everything left to ship"
    )
    return queue_cancel_push(deps, session, order, row.reason) if row.notify_channel else None


def _keeps_shipped_units(session: Session, order_id: int) -> bool:
    """Whether units of the order shipped and no return of them is pending (a cut of what
    was left, not a cancel of the whole order)."""
    shipped = session.scalar(
        select(FulfilmentLine.id)
        .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
        .where(OrderLine.order_id == order_id, FulfilmentLine.shipped_quantity > 0)
        .limit(1)
    )
    if shipped is None:
        return False
    returning = session.scalar(
        select(OrderException.id)
        .where(
            OrderException.order_id == order_id,
            OrderException.reason == Reason.RETURN_REQUIRED.value,
            OrderException.status == "open",
        )
        .limit(1)
    )
    return returning is None


def _refused_in_part(
    session: Session, row: Cancellation, order: SalesOrder, late: list[dict[str, Any]]
) -> None:
    units = sum(int(i["quantity"]) for i in late)
    open_exception(
        session,
        Reason.CANCEL_TOO_LATE,
        order_id=order.id,
        detail={
            "message": f"{units} unit(s) of fulfilment order {row.fulfilment_order_id} "
            "could not be cancelled: they shipped, or the warehouse cancelled fewer",
            "cancellation_id": row.id,
            "fulfilment_order_id": row.fulfilment_order_id,
            "lines": late,
        },
    )


def _close(fo: FulfilmentOrder, lines: dict[int, FulfilmentLine]) -> None:
    """Nothing of it open: cancelled, or shipped when some of it shipped."""
    if any(ln.quantity > ln.shipped_quantity + ln.cancelled_quantity for ln in lines.values()):
        return
    fo.status = "shipped" if any(ln.shipped_quantity for ln in lines.values()) else "cancelled"


def _left_to_ship(session: Session, order_id: int) -> bool:
    """Whether any unit of the order is still open on a fulfilment order that holds it."""
    open_units = session.scalar(
        select(FulfilmentLine.id)
        .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
        .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
        .where(
            OrderLine.order_id == order_id,
            FulfilmentOrder.status.not_in(CLOSED),
            FulfilmentLine.quantity
            > FulfilmentLine.shipped_quantity + FulfilmentLine.cancelled_quantity,
        )
        .limit(1)
    )
    return open_units is not None


def _after_transient(deps: Deps, job: CancelJob, exc: TransientError) -> str:
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, job.outbox_id)
        delay = outbox.retry_with_backoff(msg, exc, deps.settings, now=deps.clock.now())
        if delay is None:
            _dead(deps, session, msg, exc, job)
            return "dead"
        _count_failure(deps, session, job, exc)
    OUTBOX_DELIVERIES.labels(WMS_CANCEL, "retry").inc()
    log.info("outbox %s: cancel failed for now, retry in %.1fs: %s", job.outbox_id, delay, exc)
    return "retry"


def _count_failure(deps: Deps, session: Session, job: CancelJob, exc: ConnectorError) -> None:
    session.flush()  # the health row last in the transaction, as the release relay does
    connector_health.count_failure(
        session, job.connector_id, outbox.describe(exc), job.health, now=deps.clock.now()
    )


def _dead(
    deps: Deps,
    session: Session,
    msg: OutboxMessage,
    exc: ConnectorError,
    job: CancelJob | None,
) -> None:
    """A dead letter: the cancellation failed, its order keeps its status (the warehouse
    may still ship it) and a ``cancel_failed`` exception says so; ops can redrive it."""
    outbox.mark_dead(msg, exc)
    row = session.get_one(Cancellation, msg.payload["cancellation_id"])
    row.status = "failed"
    row.detail = outbox.describe(exc)
    order = session.get_one(SalesOrder, row.order_id)
    open_exception(
        session,
        Reason.CANCEL_FAILED,
        outbox_message_id=msg.id,
        order_id=order.id,
        detail={
            "message": f"the cancel of fulfilment order {row.fulfilment_order_id} could not "
            f"be delivered; the warehouse may still ship it: {exc}",
            "error": exc.reason,
            "attempts": msg.attempts,
            "cancellation_id": row.id,
            "fulfilment_order_id": row.fulfilment_order_id,
        },
    )
    order_state.note(
        session,
        order,
        f"the cancel of fulfilment order {row.fulfilment_order_id} failed: {exc.reason}",
    )
    if job is not None and exc.reason not in ("http_409", "http_422"):
        _count_failure(deps, session, job, exc)
    OUTBOX_DELIVERIES.labels(WMS_CANCEL, "dead").inc()
    log.warning("outbox %s (wms.cancel) dead-lettered: %s", msg.id, exc)
