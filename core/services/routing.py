"""Routing application: plan with the pure router, then reserve and record it atomically."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, select
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
    Sku,
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
    wms_connector_of,
)
from core.services.stock import Allocation, ReservationLost, available_snapshot, reserve
from core.sql import table_of
from core.states import OrderStatus
from routing.engine import RoutingRequest, decide

log = logging.getLogger("omniroute.routing")

WMS_RELEASE = "wms.release"


class RoutingContention(Exception):
    """Every re-plan lost its reservation race; the order stays validated for the sweeper."""


def route_order(ctx: Context, order_id: int, *, now: datetime | None = None) -> list[int]:
    """Route a validated order in a transaction of its own; the ids of the outbox rows."""
    now = now or utcnow()
    with unit_of_work(ctx.sessions) as session:
        order = session.scalars(
            select(SalesOrder).where(SalesOrder.id == order_id).with_for_update()
        ).first()
        if order is None or order.status != OrderStatus.VALIDATED:
            return []
        return route_locked(ctx, session, order, now)


def route_locked(
    ctx: Context,
    session: Session,
    order: SalesOrder,
    now: datetime,
    *,
    connector: Connector | None = None,
    skus: dict[str, Sku] | None = None,
) -> list[int]:
    """Route ``order`` (validated, locked by this transaction) in the caller's transaction.

    A lost reservation race writes nothing and re-plans on fresh stock; when every re-plan
    loses, RoutingContention leaves the order validated. The ids of the outbox rows to send.
    """
    for attempt in range(1, ctx.settings.route_max_replans + 1):
        with session.no_autoflush:  # plain reads: the order's own changes can wait
            request, rules = build_request(ctx, session, order, now, connector=connector, skus=skus)
        result = decide(request)
        try:
            return _apply(ctx, session, order, rules, result, attempt=attempt)
        except ReservationLost as lost:
            RESERVATION_RACES.inc()
            log.info("order %s lost a reservation race (%s); re-planning", order.id, lost)
    raise RoutingContention(f"order {order.id}: every re-plan lost its reservation race")


def build_request(
    ctx: Context,
    session: Session,
    order: SalesOrder,
    now: datetime,
    *,
    connector: Connector | None = None,
    skus: dict[str, Sku] | None = None,
) -> tuple[RoutingRequest, Rules]:
    """Everything the pure router needs to decide this order, read in this transaction."""
    if connector is None:
        connector = session.get_one(Connector, order.connector_id)
    codes = {line.sku for line in order.lines if line.sku}
    if skus is None:
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


def _apply(
    ctx: Context,
    session: Session,
    order: SalesOrder,
    rules: Rules,
    result: routing.RoutingResult,
    *,
    attempt: int,
) -> list[int]:
    """Reserve first (a lost race raises before anything is written), then record it all."""
    if result.shipments:
        reserve(
            session,
            (
                Allocation(s.warehouse_id, a.sku, a.quantity)
                for s in result.shipments
                for a in s.lines
            ),
            reference=f"order:{order.id}",
        )
    decision_id = session.execute(
        _INSERT_DECISION,
        {
            "order_id": order.id,
            "policy": rules.label[:64],
            "rule_set_id": rules.row_id,
            "outcome": result.outcome.value,
            "attempt": attempt,
            "trace": result.trace,
            "plan": [
                {
                    "warehouse_id": s.warehouse_id,
                    "warehouse_code": s.warehouse_code,
                    "lines": [
                        {"line_id": a.line_id, "sku": a.sku, "quantity": a.quantity}
                        for a in s.lines
                    ],
                }
                for s in result.shipments
            ],
        },
    ).scalar_one()
    ORDERS_ROUTED.labels(result.outcome.value).inc()
    if not result.shipments:
        _park(session, order, decision_id, result)
        return []
    outbox_ids = _create_fulfilment(ctx, session, order.id, decision_id, result.shipments)
    order_state.transition(
        session, order, OrderStatus.ROUTED, str(result.trace.get("summary") or result.outcome.value)
    )
    return outbox_ids


def _park(
    session: Session,
    order: SalesOrder,
    decision_id: int,
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
            detail={"decision_id": decision_id, "summary": summary},
        )
        order_state.transition(session, order, OrderStatus.EXCEPTION, summary[:1000])
        return
    open_exception(
        session,
        Reason.NO_STOCK,
        order_id=order.id,
        detail={"decision_id": decision_id, "shortfall": shortfall},
    )
    order_state.transition(session, order, OrderStatus.EXCEPTION, summary[:1000])


_INSERT_DECISION = insert(table_of(RoutingDecision)).returning(table_of(RoutingDecision).c.id)
_INSERT_FULFILMENT = insert(table_of(FulfilmentOrder)).returning(table_of(FulfilmentOrder).c.id)
_INSERT_LINES = insert(table_of(FulfilmentLine))
_OUTBOX = table_of(OutboxMessage)
_INSERT_OUTBOX = insert(_OUTBOX).returning(_OUTBOX.c.id, _OUTBOX.c.fulfilment_order_id)


def _create_fulfilment(
    ctx: Context,
    session: Session,
    order_id: int,
    decision_id: int,
    shipments: Sequence[routing.Shipment],
) -> list[int]:
    """One fulfilment order per shipment, its lines, and its WMS release in the outbox."""
    fo_ids = [
        session.execute(
            _INSERT_FULFILMENT,
            {
                "order_id": order_id,
                "warehouse_id": s.warehouse_id,
                "decision_id": decision_id,
                "status": "pending",
            },
        ).scalar_one()
        for s in shipments
    ]
    session.execute(
        _INSERT_LINES,
        [
            {
                "fulfilment_order_id": fo_id,
                "order_line_id": a.line_id,
                "sku": a.sku,
                "quantity": a.quantity,
            }
            for fo_id, s in zip(fo_ids, shipments, strict=True)
            for a in s.lines
        ],
    )
    sent = session.execute(
        _INSERT_OUTBOX,
        [
            {
                "kind": WMS_RELEASE,
                "connector_id": wms_connector_of(ctx.routing, s.warehouse_id),
                "fulfilment_order_id": fo_id,
                "idempotency_key": f"fo-{fo_id}-{uuid.uuid4().hex[:16]}",
                "payload": {"fulfilment_order_id": fo_id},
                "status": "pending",
                "attempts": 0,
            }
            for fo_id, s in zip(fo_ids, shipments, strict=True)
        ],
    ).all()
    outbox_of = {fo_id: outbox_id for outbox_id, fo_id in sent}
    return [outbox_of[fo_id] for fo_id in fo_ids]
