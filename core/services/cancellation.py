"""Ops cancel an order that no warehouse has yet: stock goes back, the channel is told.

An order whose fulfilment orders are still waiting in the outbox can be cancelled: those
outbox rows are withdrawn with a conditional update, so a relay that has already picked
one up wins and the cancel is refused (try again once it has answered). Once a warehouse
holds the order, cancelling is the warehouse's business first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from connectors.base import Capability, enabled_capabilities
from core.bootstrap import Context
from core.clock import utcnow
from core.db import unit_of_work
from core.dispatch import Task
from core.errors import Conflict, NotFound
from core.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OutboxMessage,
    SalesOrder,
)
from core.services import order_state
from core.services.audit import record
from core.services.exceptions import resolve_open_for_order
from core.services.live_connectors import instance_for
from core.services.routing import WMS_RELEASE
from core.services.stock import give_back
from core.states import OrderStatus

CHANNEL_CANCEL = "channel.cancel"
CANCELLABLE = frozenset(
    {
        OrderStatus.RECEIVED,
        OrderStatus.VALIDATED,
        OrderStatus.ROUTED,
        OrderStatus.EXCEPTION,
        OrderStatus.ON_HOLD,
        OrderStatus.BACKORDERED,
    }
)


@dataclass(frozen=True)
class CancelResult:
    order_id: int
    status: str
    units_released: int
    channel_notified: bool


def cancel_order(
    ctx: Context, order_id: int, *, reason: str, actor: str, notify_channel: bool = True
) -> CancelResult:
    outbox_id: int | None = None
    with unit_of_work(ctx.sessions) as session:
        order = session.scalars(
            select(SalesOrder).where(SalesOrder.id == order_id).with_for_update()
        ).first()
        if order is None:
            raise NotFound(f"order {order_id} does not exist")
        if order.status == OrderStatus.CANCELLED:
            return CancelResult(order.id, order.status, 0, False)
        if order.status not in CANCELLABLE:
            raise Conflict(
                f"order {order_id} is {order.status}: a warehouse has it; cancel it there first",
                code="not_cancellable",
                order_status=order.status,
            )
        released = _withdraw_fulfilment(session, order)
        resolve_open_for_order(session, order.id)
        order_state.transition(session, order, OrderStatus.CANCELLED, f"cancelled: {reason}")
        if notify_channel:
            outbox_id = _tell_channel(ctx, session, order, reason)
        record(
            session,
            actor,
            "order.cancel",
            "order",
            order.id,
            {"reason": reason, "units_released": released, "channel": outbox_id is not None},
        )
        result = CancelResult(order.id, order.status, released, outbox_id is not None)
    if outbox_id is not None:
        ctx.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    return result


def _withdraw_fulfilment(session: Session, order: SalesOrder) -> int:
    """Cancel fulfilment orders not yet handed over and give their stock back; units freed."""
    fos = list(
        session.scalars(
            select(FulfilmentOrder)
            .where(
                FulfilmentOrder.order_id == order.id,
                FulfilmentOrder.status.in_(("pending", "failed")),
            )
            .with_for_update()
        )
    )
    if not fos:
        return 0
    fo_ids = [fo.id for fo in fos]
    in_flight = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.fulfilment_order_id.in_(fo_ids),
            OutboxMessage.kind == WMS_RELEASE,
            OutboxMessage.status.in_(("processing", "sent")),
        )
        .limit(1)
    )
    if in_flight is not None:
        raise Conflict(
            f"order {order.id} is being handed to a warehouse right now; try again shortly",
            code="release_in_flight",
        )
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.fulfilment_order_id.in_(fo_ids),
            OutboxMessage.kind == WMS_RELEASE,
            OutboxMessage.status.in_(("pending", "dead")),
        )
        .values(status="cancelled", claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    freed = 0
    for fo in sorted(fos, key=lambda f: f.id):
        lines = list(
            session.execute(
                select(FulfilmentLine.sku, FulfilmentLine.quantity).where(
                    FulfilmentLine.fulfilment_order_id == fo.id
                )
            )
        )
        freed += _unreserve(session, fo.warehouse_id, lines, reference=f"cancel:{order.id}")
        fo.status = "cancelled"
    return freed


def _unreserve(session: Session, warehouse_id: int, lines: Sequence[Any], *, reference: str) -> int:
    by_sku: dict[str, int] = {}
    for sku, qty in lines:
        by_sku[sku] = by_sku.get(sku, 0) + int(qty)
    return give_back(
        session, warehouse_id, by_sku, shipped=False, reason="unreserved", reference=reference
    )


def _tell_channel(ctx: Context, session: Session, order: SalesOrder, reason: str) -> int | None:
    connector = session.get(Connector, order.connector_id)
    if connector is None or not connector.enabled or connector.kind not in ctx.registry.kinds:
        return None
    if Capability.CANCEL_PUSH not in enabled_capabilities(instance_for(ctx, connector)):
        return None
    outbox_id = session.execute(
        insert(OutboxMessage)
        .values(
            kind=CHANNEL_CANCEL,
            connector_id=connector.id,
            idempotency_key=f"cancel-{order.id}",
            payload={"order_id": order.id, "reason": reason},
            status="pending",
            attempts=0,
            next_attempt_at=utcnow(),
            created_at=utcnow(),
        )
        .returning(OutboxMessage.id)
    ).scalar_one()
    return int(outbox_id)
