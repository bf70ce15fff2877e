"""Shipment confirmations from a warehouse: stock leaves, orders move on, the channel is told.

One confirmation is one transaction: the shipment row (unique per fulfilment order and the
warehouse's own reference, so a repeated confirmation is a no-op), shipped quantities (never
more than a line has open: units the warehouse confirmed cancelled do not ship), stock
out of on hand and reserved with ledger rows, fulfilment and order status, the outbox row
that reports the shipment to the order's channel, and the ERP invoices (``core/erp``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import Capability
from omniroute.connectors.tracking import normalise_tracking_number
from omniroute.core.access.audit import record
from omniroute.core.carriers import booking as carrier_booking
from omniroute.core.edi.folders import KINDS as EDI_KINDS
from omniroute.core.edi.ship_notices import notice_shipped
from omniroute.core.erp.posting import queue_invoices
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import member_orders_of, of_order
from omniroute.core.order_state.machine import AWAITING_REST, OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import CHANNEL_FULFILMENT
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OrderLine,
    SalesOrder,
    Shipment,
)
from omniroute.core.platform.ports import HasConnectors, HasDispatcher, Store
from omniroute.core.stock.levels import give_back
from omniroute.core.tracking.events import attach_parked
from omniroute.core.tracking.events import take_nudges as take_tracking_nudges

SHIPPABLE = frozenset({"pending", "released", "partially_shipped"})


class Deps(Store, HasDispatcher, HasConnectors, Protocol):
    """What recording a shipment uses."""


@dataclass(frozen=True)
class ShipmentInput:
    external_ref: str
    lines: list[tuple[str, int]] | None  # (sku, quantity); None = everything still open
    shipped_at: datetime | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


@dataclass(frozen=True)
class ShipmentResult:
    shipment_id: int
    created: bool
    order_status: str


def _with_booked_tracking(
    session: Session, fulfilment_order_id: int, shipment: ShipmentInput
) -> ShipmentInput:
    """A confirmation without a tracking number takes the carrier booking's, if any."""
    if shipment.tracking_number:
        return shipment
    booked = carrier_booking.booked_tracking(session, fulfilment_order_id)
    if booked is None:
        return shipment
    carrier, number = booked
    return replace(shipment, carrier=shipment.carrier or carrier, tracking_number=number)


def confirm_shipment(
    deps: Deps, fulfilment_order_id: int, shipment: ShipmentInput, *, actor: str
) -> ShipmentResult:
    outbox_id: int | None = None
    with unit_of_work(deps.sessions) as session:
        fo = session.get(FulfilmentOrder, fulfilment_order_id)
        if fo is None:
            raise NotFound(f"fulfilment order {fulfilment_order_id} does not exist")
        # A consolidated fulfilment order carries lines of several orders: lock them all.
        order_ids = (
            [fo.order_id] if fo.consolidation_id is None else member_orders_of(session, fo.id)
        )
        orders = {
            o.id: o
            for o in session.scalars(
                select(SalesOrder)
                .where(SalesOrder.id.in_(order_ids))
                .order_by(SalesOrder.id)
                .with_for_update()
            )
        }
        order = orders[fo.order_id]
        fo = session.scalars(
            select(FulfilmentOrder)
            .where(FulfilmentOrder.id == fulfilment_order_id)
            .with_for_update()
        ).one()
        existing = session.scalars(
            select(Shipment).where(
                Shipment.fulfilment_order_id == fo.id,
                Shipment.external_ref == shipment.external_ref,
            )
        ).first()
        if existing is not None:
            return ShipmentResult(existing.id, False, order.status)
        if fo.status not in SHIPPABLE:
            raise Conflict(
                f"fulfilment order {fo.id} is {fo.status}; it cannot ship",
                code="not_shippable",
                fulfilment_status=fo.status,
            )
        shipped = _take_lines(session, fo, shipment.lines)
        shipment = _with_booked_tracking(session, fo.id, shipment)
        row = Shipment(
            fulfilment_order_id=fo.id,
            order_id=order.id,
            external_ref=shipment.external_ref,
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            tracking_url=shipment.tracking_url,
            tracking_key=(
                normalise_tracking_number(shipment.tracking_number)[:200] or None
                if shipment.tracking_number
                else None
            ),
            lines=[
                {"fulfilment_line_id": line.id, "sku": line.sku, "quantity": qty}
                for line, qty in shipped
            ],
            shipped_at=as_naive_utc(shipment.shipped_at) or deps.clock.now(),
        )
        session.add(row)
        session.flush()
        _stock_out(session, fo.warehouse_id, shipped, reference=f"shipment:{row.id}", actor=actor)
        _close_fulfilment(session, fo)
        if fo.consolidation_id is None:
            complete = _advance(session, order, fo)
            outbox_ids: list[int | None] = [*_notify_channel(deps, session, order, row, complete)]
        else:
            outbox_ids = _advance_members(deps, session, orders, fo, shipment=row, shipped=shipped)
        # The ERP invoices the shipment (and is sent the sales order first if it has none).
        outbox_ids += queue_invoices(session, row)
        # Carrier events that came before the warehouse's confirmation apply now.
        attach_parked(deps, session, row)
        outbox_ids += take_tracking_nudges(session)
        record(session, actor, "shipment.confirm", "fulfilment_order", fo.id, {"shipment": row.id})
        result = ShipmentResult(row.id, True, order.status)
    for outbox_id in outbox_ids:
        if outbox_id is not None:
            deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    return result


def _take_lines(
    session: Session, fo: FulfilmentOrder, wanted: list[tuple[str, int]] | None
) -> list[tuple[FulfilmentLine, int]]:
    lines = list(
        session.scalars(
            select(FulfilmentLine)
            .where(FulfilmentLine.fulfilment_order_id == fo.id)
            .order_by(FulfilmentLine.id)
            .with_for_update()
        )
    )
    if wanted is None:
        taken = [(ln, _open(ln)) for ln in lines]
        taken = [(ln, q) for ln, q in taken if q > 0]
        if not taken:
            raise Conflict(
                f"fulfilment order {fo.id} has nothing left to ship", code="not_shippable"
            )
    else:
        taken = _allocate(fo.id, lines, wanted)
    for line, qty in taken:
        line.shipped_quantity += qty
    return taken


def _allocate(
    fo_id: int, lines: list[FulfilmentLine], wanted: list[tuple[str, int]]
) -> list[tuple[FulfilmentLine, int]]:
    """Spread each SKU's shipped quantity over the open lines of that SKU, in line order."""
    problems: list[dict[str, Any]] = []
    taken: list[tuple[FulfilmentLine, int]] = []
    for sku, qty in Counter(_summed(wanted)).items():
        if qty <= 0:
            problems.append({"sku": sku, "message": "quantity must be positive"})
            continue
        left = qty
        for line in lines:
            open_qty = _open(line)
            if line.sku != sku or open_qty <= 0 or left == 0:
                continue
            part = min(open_qty, left)
            taken.append((line, part))
            left -= part
        if left:
            problems.append(
                {"sku": sku, "message": f"{left} more than fulfilment order {fo_id} has open"}
            )
    if problems:
        raise Invalid("the shipment does not match the fulfilment order", problems=problems)
    return taken


def _open(line: FulfilmentLine) -> int:
    """Units of a line that may still ship: neither shipped nor cancelled by the warehouse."""
    return line.quantity - line.shipped_quantity - line.cancelled_quantity


# A line with units that may still ship (``_open`` > 0), as SQL.
_STILL_OPEN = (
    FulfilmentLine.shipped_quantity + FulfilmentLine.cancelled_quantity < FulfilmentLine.quantity
)


def _summed(wanted: list[tuple[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for sku, qty in wanted:
        totals[sku] = totals.get(sku, 0) + qty
    return totals


def _stock_out(
    session: Session,
    warehouse_id: int,
    shipped: list[tuple[FulfilmentLine, int]],
    *,
    reference: str,
    actor: str,
) -> None:
    by_sku = _summed([(line.sku, qty) for line, qty in shipped])
    give_back(
        session,
        warehouse_id,
        by_sku,
        shipped=True,
        reason="shipped",
        reference=reference,
        actor=actor,
    )


def _close_fulfilment(session: Session, fo: FulfilmentOrder) -> None:
    """The fulfilment order is shipped, or partially so while some of its lines are open."""
    open_here = session.scalar(
        select(FulfilmentLine.id)
        .where(
            FulfilmentLine.fulfilment_order_id == fo.id,
            _STILL_OPEN,
        )
        .limit(1)
    )
    fo.status = "partially_shipped" if open_here is not None else "shipped"


def _advance(session: Session, order: SalesOrder, fo: FulfilmentOrder) -> bool:
    """Move the order on after a shipment from ``fo``; True when the whole order has shipped.

    Its fulfilment orders are found through its lines, so that one shared with other
    orders of a consolidation group counts for each of them, with only their own lines.
    An order whose other lines still wait to be routed (released in part while backordered)
    stays as it is, with a note: it is not complete, and it must stay findable by the wake-up.
    """
    if order.status in AWAITING_REST:
        order_state.note(
            session,
            order,
            f"shipment from fulfilment order {fo.id}; the rest of the order waits to be routed",
        )
        return False
    mine = select(OrderLine.id).where(OrderLine.order_id == order.id)
    open_here = session.scalar(
        select(FulfilmentLine.id)
        .where(
            FulfilmentLine.fulfilment_order_id == fo.id,
            FulfilmentLine.order_line_id.in_(mine),
            _STILL_OPEN,
        )
        .limit(1)
    )
    others_open = session.scalar(
        select(FulfilmentOrder.id)
        .where(
            of_order(order.id),
            FulfilmentOrder.id != fo.id,
            FulfilmentOrder.status.not_in(("shipped", "cancelled", "rejected")),
        )
        .limit(1)
    )
    complete = open_here is None and others_open is None
    if order.status == OrderStatus.ROUTED:
        order_state.transition(session, order, OrderStatus.RELEASED, "the warehouse shipped")
    target = OrderStatus.SHIPPED if complete else OrderStatus.PARTIALLY_SHIPPED
    if order.status != target:
        order_state.transition(session, order, target, f"shipment from fulfilment order {fo.id}")
    return complete


def _advance_members(
    deps: Deps,
    session: Session,
    orders: dict[int, SalesOrder],
    fo: FulfilmentOrder,
    *,
    shipment: Shipment,
    shipped: list[tuple[FulfilmentLine, int]],
) -> list[int | None]:
    """After a shipment from a consolidated fulfilment order: each order with lines in it
    moves on, and its channel hears of its own lines only; the outbox ids to send."""
    line_orders = dict(
        session.execute(
            select(OrderLine.id, OrderLine.order_id).where(
                OrderLine.id.in_([line.order_line_id for line, _ in shipped])
            )
        ).all()
    )
    by_order: dict[int, list[int]] = {}
    for line, _ in shipped:
        by_order.setdefault(line_orders[line.order_line_id], []).append(line.id)
    outbox_ids: list[int | None] = []
    for order_id, line_ids in sorted(by_order.items()):
        order = orders[order_id]
        complete = _advance(session, order, fo)
        outbox_ids.extend(
            _notify_channel(deps, session, order, shipment, complete, only_lines=line_ids)
        )
    return outbox_ids


def _notify_channel(
    deps: Deps,
    session: Session,
    order: SalesOrder,
    shipment: Shipment,
    complete: bool,
    *,
    only_lines: list[int] | None = None,
) -> list[int]:
    """The outbox rows telling the order's channel of the shipment (none if it is not told)."""
    connector = session.get(Connector, order.connector_id)
    if connector is None:
        return []
    if connector.kind in EDI_KINDS:  # an EDI partner is sent an 856 / DESADV instead
        source = deps.connectors.for_row(connector)
        return notice_shipped(session, connector.id, source, order, shipment, only_lines=only_lines)
    if not deps.connectors.can(connector, Capability.FULFILMENT_PUSH):
        return []
    outbox_id = outbox.add(
        session,
        kind=CHANNEL_FULFILMENT,
        connector_id=connector.id,
        fulfilment_order_id=shipment.fulfilment_order_id,
        idempotency_key=f"shipment-{shipment.id}"
        if only_lines is None
        else f"shipment-{shipment.id}-order-{order.id}",
        payload={"shipment_id": shipment.id, "order_complete": complete}
        | ({} if only_lines is None else {"order_id": order.id, "fulfilment_line_ids": only_lines}),
    )
    return [outbox_id]
