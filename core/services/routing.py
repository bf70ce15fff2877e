"""Routing application: plan with the pure router, then reserve and record it atomically."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import routing
from core.bootstrap import Context
from core.clock import utcnow
from core.db import unit_of_work
from core.metrics import ORDERS_ROUTED, RESERVATION_RACES
from core.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OutboxMessage,
    RoutingDecision,
    SalesOrder,
    Warehouse,
)
from core.services import order_state
from core.services.exceptions import Reason, open_exception
from core.services.routing_inputs import (
    Rules,
    active_rules,
    locate_ship_to,
    order_facts,
    sku_profiles,
    sku_requirements,
    warehouse_profiles,
)
from core.services.stock import Allocation, ReservationLost, available_snapshot, reserve
from core.states import OrderStatus
from routing.engine import RoutingRequest, decide

log = logging.getLogger("omniroute.routing")

WMS_RELEASE = "wms.release"


class RoutingContention(Exception):
    """Every re-plan lost its reservation race; the order stays validated for the sweeper."""


def route_order(ctx: Context, order_id: int, *, now: datetime | None = None) -> list[int]:
    """Route a validated order; the ids of the outbox rows to deliver."""
    now = now or utcnow()
    for attempt in range(1, ctx.settings.route_max_replans + 1):
        try:
            with unit_of_work(ctx.sessions) as session:
                return _route_once(ctx, session, order_id, now, attempt)
        except ReservationLost as lost:
            RESERVATION_RACES.inc()
            log.info("order %s lost a reservation race (%s); re-planning", order_id, lost)
    raise RoutingContention(f"order {order_id}: every re-plan lost its reservation race")


def build_request(
    ctx: Context, session: Session, order: SalesOrder, now: datetime
) -> tuple[RoutingRequest, Rules]:
    """Everything the pure router needs to decide this order, read in this transaction."""
    connector = session.get_one(Connector, order.connector_id)
    codes = {line.sku for line in order.lines if line.sku}
    skus = sku_profiles(session, codes)
    rules = active_rules(session, ctx.routing, now, ctx.settings.no_stock_policy)
    request = RoutingRequest(
        order=routing.OrderDemand(
            order_id=order.id,
            lines=tuple(
                routing.LineDemand(line_id=line.id, sku=line.sku or "", quantity=line.quantity)
                for line in order.lines
            ),
        ),
        facts=order_facts(order, connector, skus),
        channel_name=connector.name,
        ship_to=locate_ship_to(ctx.routing, order.ship_to),
        warehouses=warehouse_profiles(session, ctx.routing, now),
        stock=available_snapshot(session, codes),
        now=now.replace(tzinfo=UTC),
        skus=sku_requirements(skus),
        rule_set=rules.rule_set,
        rule_set_label=rules.label,
    )
    return request, rules


def _route_once(
    ctx: Context, session: Session, order_id: int, now: datetime, attempt: int
) -> list[int]:
    order = session.scalars(
        select(SalesOrder).where(SalesOrder.id == order_id).with_for_update()
    ).first()
    if order is None or order.status != OrderStatus.VALIDATED:
        return []
    request, rules = build_request(ctx, session, order, now)
    result = decide(request)
    decision = RoutingDecision(
        order_id=order.id,
        policy=rules.label[:64],
        rule_set_id=rules.row_id,
        outcome=result.outcome.value,
        attempt=attempt,
        trace=result.trace,
        plan=[
            {
                "warehouse_id": s.warehouse_id,
                "warehouse_code": s.warehouse_code,
                "lines": [
                    {"line_id": a.line_id, "sku": a.sku, "quantity": a.quantity} for a in s.lines
                ],
            }
            for s in result.shipments
        ],
    )
    session.add(decision)
    session.flush()
    ORDERS_ROUTED.labels(result.outcome.value).inc()
    if not result.shipments:
        _park(session, order, decision, result)
        return []
    reserve(
        session,
        (Allocation(s.warehouse_id, a.sku, a.quantity) for s in result.shipments for a in s.lines),
        reference=f"order:{order.id}",
    )
    # Only the WMS connector of each shipping warehouse is needed: no ORM objects to build.
    wms_of = dict(
        session.execute(
            select(Warehouse.id, Warehouse.wms_connector_id).where(
                Warehouse.id.in_(sorted({s.warehouse_id for s in result.shipments}))
            )
        ).all()
    )
    outbox_ids = [
        _create_fulfilment(
            session,
            order,
            decision,
            shipment,
            warehouse_id=shipment.warehouse_id,
            wms_connector_id=wms_of[shipment.warehouse_id],
        )
        for shipment in result.shipments
    ]
    order_state.transition(
        session, order, OrderStatus.ROUTED, str(result.trace.get("summary") or result.outcome.value)
    )
    return outbox_ids


def _park(
    session: Session,
    order: SalesOrder,
    decision: RoutingDecision,
    result: routing.RoutingResult,
) -> None:
    shortfall = [
        {"line_id": d.line_id, "sku": d.sku, "missing": d.quantity} for d in result.shortfall
    ]
    summary = str(result.trace.get("summary") or "")
    if result.outcome == routing.Outcome.BACKORDER:
        order_state.transition(session, order, OrderStatus.BACKORDERED, "waiting for stock")
        return
    if result.outcome == routing.Outcome.HOLD:
        order_state.transition(session, order, OrderStatus.ON_HOLD, summary[:1000])
        return
    if result.outcome == routing.Outcome.REJECT:
        open_exception(
            session,
            Reason.REJECTED_BY_RULE,
            order_id=order.id,
            detail={"decision_id": decision.id, "summary": summary},
        )
        order_state.transition(session, order, OrderStatus.EXCEPTION, summary[:1000])
        return
    open_exception(
        session,
        Reason.NO_STOCK,
        order_id=order.id,
        detail={"decision_id": decision.id, "shortfall": shortfall},
    )
    order_state.transition(session, order, OrderStatus.EXCEPTION, summary[:1000])


def _create_fulfilment(
    session: Session,
    order: SalesOrder,
    decision: RoutingDecision,
    shipment: routing.Shipment,
    *,
    warehouse_id: int,
    wms_connector_id: int | None,
) -> int:
    fo = FulfilmentOrder(
        order_id=order.id, warehouse_id=warehouse_id, decision_id=decision.id, status="pending"
    )
    session.add(fo)
    session.flush()
    for a in shipment.lines:
        session.add(
            FulfilmentLine(
                fulfilment_order_id=fo.id, order_line_id=a.line_id, sku=a.sku, quantity=a.quantity
            )
        )
    msg = OutboxMessage(
        kind=WMS_RELEASE,
        connector_id=wms_connector_id,
        fulfilment_order_id=fo.id,
        idempotency_key=f"fo-{fo.id}-{uuid.uuid4().hex[:16]}",
        payload={"fulfilment_order_id": fo.id},
        status="pending",
        attempts=0,
    )
    session.add(msg)
    session.flush()
    return msg.id


def routed_order_released(session: Session, order_id: int) -> bool:
    """True when every fulfilment order of the order has been released."""
    pending = session.scalar(
        select(func.count())
        .select_from(FulfilmentOrder)
        .where(FulfilmentOrder.order_id == order_id, FulfilmentOrder.status != "released")
    )
    return pending == 0
