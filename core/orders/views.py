"""Reading orders as the API shows them: lines, timeline, fulfilment and the routing trace."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from omniroute.core.order_routing.consolidation import group_of_order
from omniroute.core.order_state.holdings import of_order
from omniroute.core.orders.search import OrderFilter, by_id, conditions
from omniroute.core.platform.clock import as_aware
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import NotFound
from omniroute.core.platform.models import (
    Cancellation,
    CarrierBooking,
    FulfilmentOrder,
    OrderEvent,
    OrderException,
    RoutingDecision,
    SalesOrder,
    Shipment,
    Warehouse,
)
from omniroute.core.platform.ports import HasSessions
from omniroute.routing.tracing.render import render_trace

ANY_ORDER = OrderFilter()


def list_orders(
    deps: HasSessions,
    *,
    where: OrderFilter = ANY_ORDER,
    limit: int,
    after_id: int = 0,
    connector_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Orders by id, oldest first, under ``where``; ``connector_ids`` (a scoped token's)
    limits them to those channels. Page on with ``after_id`` = the last id shown."""
    q = select(SalesOrder).where(SalesOrder.id > after_id, *conditions(where, connector_ids))
    q = q.order_by(by_id(where, newest_first=False)).limit(limit)
    with unit_of_work(deps.sessions) as session:
        return [_summary(o) for o in session.scalars(q)]


def search_orders(
    deps: HasSessions,
    *,
    where: OrderFilter = ANY_ORDER,
    before_id: int | None = None,
    limit: int = 50,
    connector_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Newest first under ``where``; page on with ``before_id`` = the last id shown."""
    q = select(SalesOrder).where(*conditions(where, connector_ids))
    if before_id is not None:
        q = q.where(SalesOrder.id < before_id)
    with unit_of_work(deps.sessions) as session:
        rows = session.scalars(q.order_by(by_id(where, newest_first=True)).limit(limit))
        return [_summary(o) for o in rows]


def order_detail(deps: HasSessions, order_id: int) -> dict[str, Any]:
    with unit_of_work(deps.sessions) as session:
        order = session.scalars(
            select(SalesOrder)
            .where(SalesOrder.id == order_id)
            .options(selectinload(SalesOrder.lines))
        ).first()
        if order is None:
            raise NotFound(f"order {order_id} does not exist")
        codes = {wid: code for wid, code in session.execute(select(Warehouse.id, Warehouse.code))}
        events = session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        )
        # Through the lines: a consolidated fulfilment order names only its oldest order.
        fos = list(
            session.scalars(
                select(FulfilmentOrder)
                .where(of_order(order_id))
                .options(selectinload(FulfilmentOrder.lines))
                .order_by(FulfilmentOrder.id)
            )
        )
        mine = {ln.id for ln in order.lines}
        own_lines = {fl.id for fo in fos for fl in fo.lines if fl.order_line_id in mine}
        shipments = session.scalars(
            select(Shipment)
            .where(Shipment.fulfilment_order_id.in_([fo.id for fo in fos]))
            .order_by(Shipment.id)
        )
        bookings = session.scalars(
            select(CarrierBooking)
            .where(CarrierBooking.fulfilment_order_id.in_([fo.id for fo in fos]))
            .order_by(CarrierBooking.id)
        )
        decisions = list(
            session.scalars(
                select(RoutingDecision)
                .where(RoutingDecision.order_id == order_id)
                .order_by(RoutingDecision.id)
            )
        )
        exceptions = session.scalars(
            select(OrderException)
            .where(OrderException.order_id == order_id)
            .order_by(OrderException.id)
        )
        canonical = order.canonical or {}
        channel_lines = canonical.get("lines") or []
        return {
            **_summary(order),
            "ship_to": order.ship_to,
            # What the latest routing decision could not place (an unknown country or postal
            # code, a warehouse without a location): its distances are unknown or rough.
            "routing_warnings": (decisions[-1].trace or {}).get("warnings", [])
            if decisions
            else [],
            **_order_fields(canonical),
            "lines": [
                {
                    **_line_fields(channel_lines, ln.line_no),
                    "id": ln.id,
                    "line_no": ln.line_no,
                    "external_line_id": ln.external_line_id,
                    "channel_sku": ln.channel_sku,
                    "sku": ln.sku,
                    "title": ln.title,
                    "quantity": ln.quantity,
                    "unit_price": ln.unit_price,
                }
                for ln in order.lines
            ],
            "timeline": [
                {
                    "at": as_aware(e.created_at),
                    "from": e.from_status,
                    "to": e.to_status,
                    "note": e.note,
                }
                for e in events
            ],
            "fulfilment_orders": [
                {
                    "id": fo.id,
                    "warehouse_id": fo.warehouse_id,
                    "warehouse_code": codes.get(fo.warehouse_id),
                    "status": fo.status,
                    "external_ref": fo.external_ref,
                    "released_at": as_aware(fo.released_at),
                    "consolidation_id": fo.consolidation_id,
                    "lines": [
                        {
                            "order_line_id": fl.order_line_id,
                            "sku": fl.sku,
                            "quantity": fl.quantity,
                            "shipped_quantity": fl.shipped_quantity,
                            "cancelled_quantity": fl.cancelled_quantity,
                        }
                        for fl in fo.lines
                        if fl.order_line_id in mine
                    ],
                }
                for fo in fos
            ],
            "shipments": [
                {
                    "id": sh.id,
                    "fulfilment_order_id": sh.fulfilment_order_id,
                    "external_ref": sh.external_ref,
                    "carrier": sh.carrier,
                    "tracking_number": sh.tracking_number,
                    "tracking_url": sh.tracking_url,
                    "shipped_at": as_aware(sh.shipped_at),
                    "status": sh.status,
                    "delivered_at": as_aware(sh.delivered_at),
                    "lines": [
                        {"sku": item["sku"], "quantity": item["quantity"]}
                        for item in sh.lines
                        if item.get("fulfilment_line_id") in own_lines
                    ],
                }
                for sh in shipments
            ],
            "carrier_bookings": [
                {
                    "fulfilment_order_id": b.fulfilment_order_id,
                    "carrier": b.carrier,
                    "service": b.service,
                    "service_level": b.service_level,
                    "tracking_number": b.tracking_number,
                    "label_ref": b.label_ref,
                    "amount": b.amount,
                    "currency": b.currency,
                    "deliver_by": b.deliver_by,
                    "booked_at": as_aware(b.booked_at),
                    "choice": b.choice,
                }
                for b in bookings
            ],
            "routing_decisions": [
                {
                    "id": d.id,
                    "policy": d.policy,
                    "outcome": d.outcome,
                    "attempt": d.attempt,
                    "at": as_aware(d.created_at),
                    "plan": d.plan,
                    # Stored compact: the losers' words are made here (routing.tracing.render).
                    "trace": render_trace(d.trace) if d.trace else d.trace,
                }
                for d in decisions
            ],
            "exceptions": [
                {
                    "id": x.id,
                    "reason": x.reason,
                    "status": x.status,
                    "detail": x.detail,
                    "occurrences": x.occurrences,
                    "first_seen_at": as_aware(x.first_seen_at),
                    "last_seen_at": as_aware(x.last_seen_at),
                    "retries": x.retries,
                }
                for x in exceptions
            ],
            "consolidation": group_of_order(session, order),
            "cancellations": _cancellations(session, order_id),
        }


def _cancellations(session: Session, order_id: int) -> list[dict[str, Any]]:
    """Cancels asked of the order's warehouses: pending (``requested``) or answered."""
    return [
        {
            "id": c.id,
            "fulfilment_order_id": c.fulfilment_order_id,
            "source": c.source,
            "reason": c.reason,
            "status": c.status,
            "pending": c.status == "requested",
            "lines": [
                {"order_line_id": i["order_line_id"], "sku": i["sku"], "quantity": i["quantity"]}
                for i in c.lines
            ],
            "units_cancelled": c.units_cancelled,
            "detail": c.detail,
            "requested_at": as_aware(c.created_at),
            "settled_at": as_aware(c.settled_at),
        }
        for c in session.scalars(
            select(Cancellation).where(Cancellation.order_id == order_id).order_by(Cancellation.id)
        )
    ]


#: What the order view shows of the canonical order beside its columns, and of each line.
ORDER_FIELDS = (
    "bill_to",
    "note",
    "gift_message",
    "financial_status",
    "subtotal",
    "discount_total",
    "shipping_total",
    "tax_total",
)
LINE_FIELDS = ("discount_total", "tax_total", "line_total", "gift_message")


def _order_fields(canonical: dict[str, Any]) -> dict[str, Any]:
    shown = {name: canonical.get(name) for name in ORDER_FIELDS}
    shown["attributes"] = canonical.get("attributes") or []
    return shown


def _line_fields(channel_lines: list[Any], line_no: int) -> dict[str, Any]:
    """The canonical line's fields beside the order_line columns (lines are numbered from 1
    in the canonical order's line order)."""
    found = channel_lines[line_no - 1] if 0 < line_no <= len(channel_lines) else None
    line = found if isinstance(found, dict) else {}
    shown = {name: line.get(name) for name in LINE_FIELDS}
    shown["properties"] = line.get("properties") or []
    return shown


def _summary(order: SalesOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "connector_id": order.connector_id,
        "channel": order.channel,
        "external_id": order.external_id,
        "external_number": order.external_number,
        "status": order.status,
        "currency": order.currency,
        "total": order.total,
        "service_level": order.service_level,
        "customer_email": order.customer_email,
        "customer_name": order.customer_name,
        "created_at": as_aware(order.created_at),
        "updated_at": as_aware(order.updated_at),
        "hold": None
        if order.hold_code is None
        else {
            "code": order.hold_code,
            "reason": order.hold_reason,
            "waived": list(order.holds_waived or []),
            "until": None if order.hold_until is None else as_aware(order.hold_until),
        },
        "promised_ship_by": order.promised_ship_by,
        "promised_service_level": order.promised_service_level,
        "promised_deliver_by": order.promised_deliver_by,
    }
