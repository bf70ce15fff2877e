"""Outbox relay of a ``wms.return``: tell the warehouse's WMS of a return to expect (or that
it was cancelled).

Claimed by ``fulfilment.release.deliver_outbox``, which hands it here. As a release: the WMS
is called outside any transaction with the row's idempotency key on every attempt; a
transient failure is retried with backoff until ``OMNIROUTE_OUTBOX_MAX_ATTEMPTS``, then
dead-lettered with a ``return_notice_failed`` exception (so is a permanent refusal) that ops
can redrive. The return itself does not wait for it: a warehouse may confirm a receipt it
was never told of. Each outcome counts in the WMS connector's health.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import (
    Capability,
    ConnectorError,
    PermanentError,
    ReturnExpecter,
    ReturnLine,
    ReturnRequest,
    TransientError,
    enabled_capabilities,
)
from omniroute.core.channels import health as connector_health
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.order_state import timeline as order_state
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import WMS_RETURN
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.metrics import OUTBOX_DELIVERIES
from omniroute.core.platform.models import (
    Connector,
    ConnectorHealth,
    OrderLine,
    OutboxMessage,
    ReturnAuthorisation,
    SalesOrder,
    Warehouse,
)
from omniroute.core.platform.ports import HasConnectors, HasSettings, Store
from omniroute.core.platform.telemetry.logs import bind

log = logging.getLogger("omniroute.outbox")


class Deps(Store, HasSettings, HasConnectors, Protocol):
    """What delivering a return notice uses."""


@dataclass(frozen=True)
class NoticeJob:
    outbox_id: int
    adapter: Any
    request: ReturnRequest
    connector_id: int
    health: connector_health.Seen


def deliver_return_notice(deps: Deps, outbox_id: int, *, now: datetime) -> str:
    """Deliver a claimed ``wms.return`` row: sent, retry or dead."""
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, outbox_id)
        try:
            job = _prepare(deps, session, msg)
        except PermanentError as exc:
            _dead(deps, session, msg, exc, None)
            return "dead"
    try:
        job.adapter.expect_return(job.request)
    except TransientError as exc:
        with unit_of_work(deps.sessions) as session:
            msg = session.get_one(OutboxMessage, outbox_id)
            delay = outbox.retry_with_backoff(msg, exc, deps.settings, now=deps.clock.now())
            if delay is None:
                _dead(deps, session, msg, exc, job)
                return "dead"
            _count_failure(deps, session, job, exc)
        OUTBOX_DELIVERIES.labels(WMS_RETURN, "retry").inc()
        return "retry"
    except ConnectorError as exc:
        with unit_of_work(deps.sessions) as session:
            _dead(deps, session, session.get_one(OutboxMessage, outbox_id), exc, job)
        return "dead"
    with unit_of_work(deps.sessions) as session:
        outbox.mark_sent(session, outbox_id, now=deps.clock.now())
        session.flush()
        connector_health.note_success(session, job.connector_id, job.health, now=now_of(session))
    OUTBOX_DELIVERIES.labels(WMS_RETURN, "sent").inc()
    return "sent"


def _prepare(deps: Deps, session: Session, msg: OutboxMessage) -> NoticeJob:
    rma = session.get_one(ReturnAuthorisation, msg.payload["return_id"])
    order = session.get_one(SalesOrder, rma.order_id)
    warehouse = session.get_one(Warehouse, rma.warehouse_id)
    connector = session.get(Connector, msg.connector_id) if msg.connector_id else None
    if connector is None or not connector.enabled:
        raise PermanentError(
            f"warehouse {warehouse.code} has no enabled WMS connector", reason=Reason.NO_WMS
        )
    adapter = deps.connectors.for_row(connector)
    if Capability.RETURN_NOTICE not in enabled_capabilities(adapter) or not isinstance(
        adapter, ReturnExpecter
    ):
        raise PermanentError(
            f"connector {connector.name} does not take return notices", reason="no_wms_returns"
        )
    external = dict(
        session.execute(
            select(OrderLine.id, OrderLine.external_line_id).where(OrderLine.order_id == order.id)
        ).all()
    )
    health = session.get(ConnectorHealth, connector.id)
    bind(correlation_id=msg.correlation_id, order_id=order.id)
    return NoticeJob(
        outbox_id=msg.id,
        adapter=adapter,
        request=ReturnRequest(
            return_id=rma.id,
            rma_number=rma.rma_number,
            order_id=order.id,
            order_reference=order.external_number or order.external_id,
            warehouse_code=warehouse.code,
            lines=tuple(
                ReturnLine(ln.order_line_id, ln.sku, ln.quantity, external.get(ln.order_line_id))
                for ln in rma.lines
            ),
            reason=rma.reason,
            idempotency_key=msg.idempotency_key,
            note=rma.note,
            cancelled=bool(msg.payload.get("cancelled")),
            correlation_id=msg.correlation_id,
        ),
        connector_id=connector.id,
        health=connector_health.Seen(
            row=health is not None,
            consecutive_failures=health.consecutive_failures if health else 0,
            last_success_at=health.last_success_at if health else None,
        ),
    )


def _count_failure(deps: Deps, session: Session, job: NoticeJob, exc: ConnectorError) -> None:
    session.flush()  # the health row last in the transaction, as the release relay does
    connector_health.count_failure(
        session, job.connector_id, outbox.describe(exc), job.health, now=deps.clock.now()
    )


def _dead(
    deps: Deps,
    session: Session,
    msg: OutboxMessage,
    exc: ConnectorError,
    job: NoticeJob | None,
) -> None:
    outbox.mark_dead(msg, exc)
    rma = session.get_one(ReturnAuthorisation, msg.payload["return_id"])
    order = session.get_one(SalesOrder, rma.order_id)
    open_exception(
        session,
        Reason.RETURN_NOTICE_FAILED,
        outbox_message_id=msg.id,
        order_id=order.id,
        detail={
            "message": f"the warehouse could not be told of return {rma.rma_number}: {exc}",
            "error": exc.reason,
            "attempts": msg.attempts,
            "return_id": rma.id,
        },
    )
    order_state.note(session, order, f"return notice {rma.rma_number} failed: {exc.reason}")
    if job is not None and exc.reason not in ("http_409", "http_422"):
        _count_failure(deps, session, job, exc)
    OUTBOX_DELIVERIES.labels(WMS_RETURN, "dead").inc()
    log.warning("outbox %s (wms.return) dead-lettered: %s", msg.id, exc)
