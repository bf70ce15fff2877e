"""Outbox relay: hand a fulfilment order to its warehouse system, exactly once in effect.

The remote call happens outside any transaction (no lock is held while calling out); the
idempotency key stored on the row is sent on every attempt, so a retry after a lost answer
cannot create a second order in the WMS.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.base import (
    Capability,
    ConnectorError,
    PermanentError,
    ReleaseLine,
    ReleaseRequest,
    TransientError,
    WarehouseAdapter,
)
from core.bootstrap import Context
from core.clock import utcnow
from core.db import unit_of_work
from core.metrics import OUTBOX_DELIVERIES
from core.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OutboxMessage,
    SalesOrder,
    Warehouse,
)
from core.services import order_state
from core.services.claims import claim, relax_durability
from core.services.exceptions import Reason, open_exception
from core.services.live_connectors import instance_for
from core.services.routing import routed_order_released
from core.states import OrderStatus

log = logging.getLogger("omniroute.outbox")


@dataclass(frozen=True)
class Job:
    outbox_id: int
    adapter: Any
    request: ReleaseRequest
    attempts: int


def deliver_outbox(ctx: Context, outbox_id: int, *, now: datetime | None = None) -> str:
    """Deliver one outbox row; returns what happened (sent, retry, dead, skipped)."""
    now = now or utcnow()
    with unit_of_work(ctx.sessions) as session:
        relax_durability(session)  # a lost claim only means the row is done again
        if not claim(
            session, OutboxMessage, outbox_id, now=now, claim_timeout=ctx.settings.claim_timeout
        ):
            return "skipped"
        try:
            job = _prepare(ctx, session, outbox_id)
        except PermanentError as exc:
            _dead(session, session.get_one(OutboxMessage, outbox_id), exc, Reason.NO_WMS)
            return "dead"
    try:
        receipt = job.adapter.release(job.request)
    except TransientError as exc:
        return _after_transient(ctx, outbox_id, exc)
    except ConnectorError as exc:
        with unit_of_work(ctx.sessions) as session:
            _dead(session, session.get_one(OutboxMessage, outbox_id), exc, Reason.WMS_REJECTED)
        return "dead"
    with unit_of_work(ctx.sessions) as session:
        _sent(session, job, receipt.external_ref)
    OUTBOX_DELIVERIES.labels("wms.release", "sent").inc()
    return "sent"


def _prepare(ctx: Context, session: Session, outbox_id: int) -> Job:
    # One joined read for the row and what it points at, one for the lines (no lazy loads).
    row = session.execute(
        select(OutboxMessage, FulfilmentOrder, SalesOrder, Warehouse, Connector)
        .join(FulfilmentOrder, FulfilmentOrder.id == OutboxMessage.fulfilment_order_id)
        .join(SalesOrder, SalesOrder.id == FulfilmentOrder.order_id)
        .join(Warehouse, Warehouse.id == FulfilmentOrder.warehouse_id)
        .outerjoin(Connector, Connector.id == OutboxMessage.connector_id)
        .where(OutboxMessage.id == outbox_id)
    ).one()
    msg, fo, order, warehouse, connector = row
    if connector is None or not connector.enabled:
        raise PermanentError(
            f"warehouse {warehouse.code} has no enabled WMS connector", reason=Reason.NO_WMS
        )
    adapter = instance_for(ctx, connector)
    if Capability.FULFILMENT_RELEASE not in adapter.capabilities or not isinstance(
        adapter, WarehouseAdapter
    ):
        raise PermanentError(
            f"connector {connector.name} cannot release fulfilment orders", reason=Reason.NO_WMS
        )
    lines = session.execute(
        select(FulfilmentLine.order_line_id, FulfilmentLine.sku, FulfilmentLine.quantity)
        .where(FulfilmentLine.fulfilment_order_id == fo.id)
        .order_by(FulfilmentLine.id)
    ).all()
    request = ReleaseRequest(
        fulfilment_order_id=fo.id,
        order_id=order.id,
        order_reference=order.external_number or order.external_id,
        warehouse_code=warehouse.code,
        ship_to=order.ship_to or {},
        lines=tuple(
            ReleaseLine(line_id=line_id, sku=sku, quantity=quantity)
            for line_id, sku, quantity in lines
        ),
        idempotency_key=msg.idempotency_key,
        service_level=order.service_level,
    )
    return Job(outbox_id=outbox_id, adapter=adapter, request=request, attempts=msg.attempts)


def _sent(session: Session, job: Job, external_ref: str | None) -> None:
    now = utcnow()
    request = job.request
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == job.outbox_id)
        .values(status="sent", sent_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    # Lock the order before looking at its other fulfilment orders: those of a split order
    # are sent in parallel, and without the lock each transaction sees its sibling still
    # pending (READ COMMITTED) and neither releases the order, which then stays routed.
    order = session.scalars(
        select(SalesOrder).where(SalesOrder.id == request.order_id).with_for_update()
    ).one()
    released = session.execute(
        update(FulfilmentOrder)
        .where(FulfilmentOrder.id == request.fulfilment_order_id)
        .where(FulfilmentOrder.status != "released")
        .values(status="released", released_at=now, external_ref=external_ref)
        .execution_options(synchronize_session=False)
    )
    if released.rowcount != 1:  # type: ignore[attr-defined]
        return  # already released (a redelivery): nothing more to do
    if order.status == OrderStatus.ROUTED and routed_order_released(session, order.id):
        order_state.transition(
            session, order, OrderStatus.RELEASED, "every fulfilment order accepted by its warehouse"
        )


def _after_transient(ctx: Context, outbox_id: int, exc: TransientError) -> str:
    settings = ctx.settings
    with unit_of_work(ctx.sessions) as session:
        msg = session.get_one(OutboxMessage, outbox_id)
        if msg.attempts >= settings.outbox_max_attempts:
            _dead(session, msg, exc, Reason.WMS_UNREACHABLE)
            return "dead"
        delay = backoff_delay(
            msg.attempts, settings.outbox_backoff_base, settings.outbox_backoff_max, exc.retry_after
        )
        msg.status = "pending"
        msg.claimed_at = msg.nudged_at = None
        msg.next_attempt_at = utcnow() + timedelta(seconds=delay)
        msg.last_error = f"{exc.reason}: {exc}"[:2000]
    OUTBOX_DELIVERIES.labels("wms.release", "retry").inc()
    log.info("outbox %s: transient failure, retry in %.1fs: %s", outbox_id, delay, exc)
    return "retry"


def backoff_delay(attempts: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the remote asked."""
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def _dead(session: Session, msg: OutboxMessage, exc: ConnectorError, reason: str) -> None:
    msg.status = "dead"
    msg.claimed_at = None
    msg.last_error = f"{exc.reason}: {exc}"[:2000]
    fo = session.get(FulfilmentOrder, msg.fulfilment_order_id)
    order = session.get(SalesOrder, fo.order_id) if fo else None
    open_exception(
        session,
        reason,
        outbox_message_id=msg.id,
        order_id=order.id if order else None,
        detail={
            "message": str(exc),
            "error": exc.reason,
            "attempts": msg.attempts,
            "fulfilment_order_id": msg.fulfilment_order_id,
        },
    )
    if fo is not None:
        fo.status = "failed"
    if order is not None and order.status in (OrderStatus.ROUTED, OrderStatus.RELEASED):
        order_state.transition(
            session, order, OrderStatus.EXCEPTION, f"warehouse hand-off failed: {reason}"
        )
    OUTBOX_DELIVERIES.labels(msg.kind, "dead").inc()
    log.warning("outbox %s dead-lettered (%s): %s", msg.id, reason, exc)
