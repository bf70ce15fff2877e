"""Routing application: plan with the pure router, then reserve and record it atomically."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from omniroute import routing
from omniroute.core.exceptions.opening import Reason, open_exception, resolve_retried_for_order
from omniroute.core.order_routing.inputs import (
    HasRoutingCaches,
    Rules,
    active_rules,
    channel_holdbacks,
    decision_snapshot,
    locate_ship_to,
    order_facts,
    sku_profiles,
    sku_requirements,
    warehouse_profiles,
    wms_connector_of,
)
from omniroute.core.order_routing.partial_release import OUTCOME as PARTIAL_RELEASE
from omniroute.core.order_routing.partial_release import PartialRelease, partial_release
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import CLOSED
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.metrics import ORDERS_ROUTED, RESERVATION_RACES, ROUTING_SECONDS
from omniroute.core.platform.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OrderLine,
    RoutingDecision,
    SalesOrder,
    Sku,
)
from omniroute.core.platform.ports import HasRoutingFollowUps, HasSettings, Store
from omniroute.core.platform.sql import table_of
from omniroute.core.stock.levels import Allocation, ReservationLost, available_snapshot, reserve
from omniroute.routing.engine import RoutingRequest, decide

log = logging.getLogger("omniroute.routing")


class Deps(Store, HasSettings, HasRoutingCaches, HasRoutingFollowUps, Protocol):
    """What routing an order uses."""


class RoutingContention(Exception):
    """Every re-plan lost its reservation race; the order stays validated for the sweeper."""


def route_order(deps: Deps, order_id: int, *, now: datetime | None = None) -> list[int]:
    """Route a validated order in a transaction of its own; the ids of the outbox rows."""
    now = now or deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        order = session.scalars(
            select(SalesOrder).where(SalesOrder.id == order_id).with_for_update()
        ).first()
        if order is None or order.status != OrderStatus.VALIDATED:
            return []
        lines = open_lines(session, order)
        if not lines:  # every line is with a warehouse already (routed in parts before)
            order_state.transition(
                session, order, OrderStatus.ROUTED, "every line has a fulfilment order"
            )
            return []
        sent = route_locked(deps, session, order, now, lines=lines)
        for follow_up in deps.after_routing:  # e.g. an EDI partner's new 855 / ORDRSP
            sent.extend(follow_up(session, order))
        session.flush()  # a problem that came back has reopened its exception by now
        resolve_retried_for_order(session, order.id)
        return sent


def open_lines(session: Session, order: SalesOrder) -> list[routing.LineDemand]:
    """The order's lines, less what its live fulfilment orders already hold."""
    # Through the lines: a consolidated fulfilment order names only the group's oldest order.
    held: dict[int, int] = {
        line_id: int(qty)
        for line_id, qty in session.execute(
            select(FulfilmentLine.order_line_id, func.sum(FulfilmentLine.quantity))
            .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
            .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
            .where(
                OrderLine.order_id == order.id,
                FulfilmentOrder.status.not_in(CLOSED),
            )
            .group_by(FulfilmentLine.order_line_id)
        )
    }
    return [
        routing.LineDemand(line_id=line.id, sku=line.sku or "", quantity=left)
        for line in order.lines
        if (left := line.quantity - held.get(line.id, 0)) > 0
    ]


def route_locked(
    deps: Deps,
    session: Session,
    order: SalesOrder,
    now: datetime,
    *,
    connector: Connector | None = None,
    skus: dict[str, Sku] | None = None,
    lines: Sequence[routing.LineDemand] | None = None,
    rules: Rules | None = None,
    claimed_at: datetime | None = None,
) -> list[int]:
    """Route ``order`` (validated, locked by this transaction) in the caller's transaction.

    ``claimed_at``: the WMS releases are written claimed at that time (``create_fulfilment``).

    A backorder whose rules allow a partial release routes what stock covers and stays
    backordered for the rest (:mod:`core.order_routing.partial_release`).
    A lost reservation race writes nothing and re-plans on fresh stock; when every re-plan
    loses, RoutingContention leaves the order validated. The ids of the outbox rows to send.
    """
    started = time.perf_counter()
    try:
        return _route_locked(
            deps,
            session,
            order,
            now,
            connector=connector,
            skus=skus,
            lines=lines,
            rules=rules,
            claimed_at=claimed_at,
        )
    finally:
        ROUTING_SECONDS.observe(time.perf_counter() - started)


def _route_locked(
    deps: Deps,
    session: Session,
    order: SalesOrder,
    now: datetime,
    *,
    connector: Connector | None,
    skus: dict[str, Sku] | None,
    lines: Sequence[routing.LineDemand] | None,
    rules: Rules | None,
    claimed_at: datetime | None,
) -> list[int]:
    for attempt in range(1, deps.settings.route_max_replans + 1):
        with session.no_autoflush:  # plain reads: the order's own changes can wait
            request, used = build_request(
                deps, session, order, now, connector=connector, skus=skus, lines=lines, rules=rules
            )
        result = decide(request)
        partial = partial_release(request, result)
        try:
            snapshot = decision_snapshot(request)
            held = channel_holdbacks(request)
            return _apply(
                deps,
                session,
                order,
                used,
                result if partial is None else partial.plan,
                attempt=attempt,
                snapshot=snapshot,
                held=held,
                partial=partial,
                claimed_at=claimed_at,
            )
        except ReservationLost as lost:
            RESERVATION_RACES.inc()
            log.info("order %s lost a reservation race (%s); re-planning", order.id, lost)
    raise RoutingContention(f"order {order.id}: every re-plan lost its reservation race")


def build_request(
    deps: Deps,
    session: Session,
    order: SalesOrder,
    now: datetime,
    *,
    connector: Connector | None = None,
    skus: dict[str, Sku] | None = None,
    lines: Sequence[routing.LineDemand] | None = None,
    excluded: Mapping[int, str] | None = None,
    rules: Rules | None = None,
) -> tuple[RoutingRequest, Rules]:
    """Everything the pure router needs to decide this order (``lines`` of it: all by
    default; never from the ``excluded`` warehouses; under ``rules`` when the caller read
    them in this transaction already), read in this transaction."""
    if connector is None:
        connector = session.get_one(Connector, order.connector_id)
    if lines is None:
        lines = [
            routing.LineDemand(line_id=line.id, sku=line.sku or "", quantity=line.quantity)
            for line in order.lines
        ]
    codes = {line.sku for line in lines if line.sku}
    if skus is None:
        skus = sku_profiles(session, codes)
    if rules is None:
        rules = active_rules(session, deps.routing, now, deps.settings.no_stock_policy)
    request = RoutingRequest(
        order=routing.OrderDemand(order_id=order.id, lines=tuple(lines)),
        facts=order_facts(order, connector, skus),
        channel_name=connector.name,
        ship_to=locate_ship_to(deps.routing, order.ship_to),
        warehouses=warehouse_profiles(session, deps.routing, now),
        stock=available_snapshot(session, codes),
        now=now.replace(tzinfo=UTC),
        skus=sku_requirements(skus),
        rule_set=rules.rule_set,
        rule_set_label=rules.label,
        excluded_warehouses=excluded or {},
    )
    return request, rules


def _apply(
    deps: Deps,
    session: Session,
    order: SalesOrder,
    rules: Rules,
    result: routing.RoutingResult,
    *,
    attempt: int,
    snapshot: dict[str, dict[str, int]] | None = None,
    held: Mapping[int, int] | None = None,
    partial: PartialRelease | None = None,
    claimed_at: datetime | None = None,
) -> list[int]:
    """Reserve first (a lost race raises before anything is written), then record it all.

    ``held``: units each warehouse holds back from the order's channel, left free.
    ``partial``: ``result`` is the plan of a partial release; the order stays backordered."""
    reserve_plan(session, result.shipments, held or {}, reference=f"order:{order.id}")
    outcome = result.outcome.value if partial is None else PARTIAL_RELEASE
    decision_id = record_decision(
        session,
        order.id,
        policy=rules.label,
        rule_set_id=rules.row_id,
        outcome=outcome,
        attempt=attempt,
        trace=result.trace if partial is None else partial.trace,
        shipments=result.shipments,
        stock_snapshot=snapshot,
    )
    ORDERS_ROUTED.labels(outcome).inc()
    record_promise(order, result.promise)
    if not result.shipments:
        park(session, order, decision_id, result)
        return []
    outbox_ids = create_fulfilment(
        deps, session, order.id, decision_id, result.shipments, claimed_at=claimed_at
    )
    if partial is not None:
        order_state.move(session, order, OrderStatus.BACKORDERED, partial.note[:1000])
        return outbox_ids
    order_state.transition(
        session, order, OrderStatus.ROUTED, str(result.trace.get("summary") or result.outcome.value)
    )
    return outbox_ids


def reserve_plan(
    session: Session,
    shipments: Sequence[routing.Shipment],
    held: Mapping[int, int],
    *,
    reference: str,
) -> None:
    """Reserve a plan's shipments, leaving each warehouse's ``held`` units (its buffer for
    the order's channel) free; ReservationLost when another order got there first."""
    if shipments:
        reserve(
            session,
            (
                Allocation(s.warehouse_id, a.sku, a.quantity, held.get(s.warehouse_id, 0))
                for s in shipments
                for a in s.lines
            ),
            reference=reference,
        )


def record_decision(
    session: Session,
    order_id: int,
    *,
    policy: str,
    rule_set_id: int | None,
    outcome: str,
    attempt: int,
    trace: dict[str, Any],
    shipments: Sequence[routing.Shipment],
    stock_snapshot: dict[str, dict[str, int]] | None = None,
) -> int:
    """Store one routing decision with its plan, trace and (if given) the stock it saw; its id."""
    kept = {} if stock_snapshot is None else {"stock_snapshot": stock_snapshot}
    return int(
        session.execute(
            _INSERT_DECISION,
            kept
            | {
                "order_id": order_id,
                "policy": policy[:64],
                "rule_set_id": rule_set_id,
                "outcome": outcome,
                "attempt": attempt,
                "trace": trace,
                "plan": [
                    {
                        "warehouse_id": s.warehouse_id,
                        "warehouse_code": s.warehouse_code,
                        "lines": [
                            {"line_id": a.line_id, "sku": a.sku, "quantity": a.quantity}
                            for a in s.lines
                        ],
                    }
                    for s in shipments
                ],
            },
        ).scalar_one()
    )


def record_promise(order: SalesOrder, promise: routing.Promise | None) -> None:
    """Keep on the order what the router promised: the ship-by date and the service level
    it was routed as; a decision with no plan and no promise keeps the previous one."""
    if promise is not None:
        order.promised_ship_by = promise.ship_by
        order.promised_service_level = promise.service_level


# The hold code of an order held after a missed cut-off (on_cutoff_missed "hold").
CUTOFF_HOLD = "cutoff_missed"


def park(
    session: Session,
    order: SalesOrder,
    decision_id: int,
    result: routing.RoutingResult,
) -> int | None:
    """Park an order no plan could fill by the no-stock outcome; the exception's id, if any."""
    shortfall = [
        {"line_id": d.line_id, "sku": d.sku, "missing": d.quantity} for d in result.shortfall
    ]
    summary = str(result.trace.get("summary") or "")
    if result.outcome == routing.Outcome.BACKORDER:
        order_state.move(session, order, OrderStatus.BACKORDERED, "waiting for stock")
        return None
    if result.outcome == routing.Outcome.HOLD:
        order_state.move(session, order, OrderStatus.ON_HOLD, summary[:1000])
        until = None if result.promise is None else result.promise.hold_until
        if until is not None:  # until the next shipping day: the sweeper routes it then
            order.hold_code, order.hold_reason = CUTOFF_HOLD, summary[:500]
            order.hold_until = until.astimezone(UTC).replace(tzinfo=None)
        return None
    if result.outcome == routing.Outcome.REJECT:
        exc = open_exception(
            session,
            Reason.REJECTED_BY_RULE,
            order_id=order.id,
            detail={"decision_id": decision_id, "summary": summary},
        )
    elif result.outcome == routing.Outcome.CUTOFF_MISSED:
        cutoff = result.trace.get("cutoff") or {}
        exc = open_exception(
            session,
            Reason.CUTOFF_MISSED,
            order_id=order.id,
            detail={
                "decision_id": decision_id,
                "summary": summary,
                "missed": cutoff.get("missed", []),
                "earliest_ship_date": cutoff.get("earliest_ship_date"),
            },
        )
    else:
        exc = open_exception(
            session,
            Reason.NO_STOCK,
            order_id=order.id,
            detail={"decision_id": decision_id, "shortfall": shortfall},
        )
    order_state.move(session, order, OrderStatus.EXCEPTION, summary[:1000])
    return exc.id


_INSERT_DECISION = insert(table_of(RoutingDecision)).returning(table_of(RoutingDecision).c.id)
_INSERT_FULFILMENT = insert(table_of(FulfilmentOrder)).returning(table_of(FulfilmentOrder).c.id)
_INSERT_LINES = insert(table_of(FulfilmentLine))


@dataclass(frozen=True)
class Merged:
    """The consolidation group whose orders' lines the fulfilment orders carry together,
    and each line's order as ``(order id, order reference)`` by line id."""

    consolidation_id: int
    line_orders: Mapping[int, tuple[int, str]]

    def payload(self, shipment: routing.Shipment) -> dict[str, Any]:
        """What the outbox row says beyond the fulfilment order's id: every line's order."""
        return {
            "consolidation_id": self.consolidation_id,
            "lines": [
                {
                    "line_id": a.line_id,
                    "order_id": self.line_orders[a.line_id][0],
                    "order_reference": self.line_orders[a.line_id][1],
                    "sku": a.sku,
                    "quantity": a.quantity,
                }
                for a in shipment.lines
            ],
        }


def create_fulfilment(
    deps: Deps,
    session: Session,
    order_id: int,
    decision_id: int,
    shipments: Sequence[routing.Shipment],
    *,
    merged: Merged | None = None,
    claimed_at: datetime | None = None,
) -> list[int]:
    """One fulfilment order per shipment, its lines, and its WMS release in the outbox.

    ``merged``: the lines are of several orders of a consolidation group (``order_id`` is
    its oldest); each fulfilment order and release says so, and names every line's order.
    ``claimed_at``: the caller's process sends the releases itself right after this
    transaction commits, so they are written claimed (``outbox.add_releases``).
    """
    fo_ids = [
        session.execute(
            _INSERT_FULFILMENT,
            {
                "order_id": order_id,
                "warehouse_id": s.warehouse_id,
                "decision_id": decision_id,
                "status": "pending",
                "consolidation_id": None if merged is None else merged.consolidation_id,
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
    return outbox.add_releases(
        session,
        [
            outbox.Release(
                fo_id,
                wms_connector_of(deps.routing, s.warehouse_id),
                None if merged is None else merged.payload(s),
            )
            for fo_id, s in zip(fo_ids, shipments, strict=True)
        ],
        claimed_at=claimed_at,
    )
