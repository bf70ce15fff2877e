"""Re-routing: lines a warehouse rejected (or miscounted) go to the next best warehouse.

A re-route is one transaction: the order is locked, the rejected fulfilment order closed,
its reservation given back (and, for a stock discrepancy, on hand set to the warehouse's
count), and just its lines are routed again without the warehouses that rejected this order,
as a new routing decision with its trace. Stock rows are touched in one sorted pass
(release, reserve, count), as a reservation touches them, so the two cannot deadlock; a
lost race rolls the whole transaction back and it runs again on fresh stock. An order is
re-routed at most ``max_reroutes`` times; then its lines park as ``reroute_exhausted``.
The pieces that apply a decision (:func:`place`, :func:`apply_moves`) serve the ops
overrides in :mod:`core.orders.overrides` too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute import routing
from omniroute.core.access.audit import record
from omniroute.core.exceptions.opening import Reason, open_exception, resolve_dead_letters
from omniroute.core.order_routing import route
from omniroute.core.order_routing.inputs import channel_holdbacks, decision_snapshot
from omniroute.core.order_routing.route import (
    build_request,
    create_fulfilment,
    park,
    record_decision,
    record_promise,
)
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import member_orders_of, of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.metrics import ORDERS_ROUTED, RESERVATION_RACES
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    OrderException,
    OrderLine,
    RoutingDecision,
    SalesOrder,
    Warehouse,
)
from omniroute.core.platform.ports import HasDispatcher
from omniroute.core.stock.levels import ReservationLost, StockMoves, apply_moves
from omniroute.routing.engine import decide

log = logging.getLogger("omniroute.reroute")

REJECT_REASONS = frozenset({"rejected", "stock_discrepancy"})
# Connector error reasons that mean "this warehouse will not take this order" (others, such
# as 401/403/404 or a redirect, are the connection's fault: they stay dead letters).
REJECTIONS = frozenset({"http_400", "http_422", "permanent", "rejected", "stock_discrepancy"})
REROUTABLE = frozenset({"pending", "released", "failed"})  # nothing shipped from it yet
PARKED = frozenset({OrderStatus.EXCEPTION, OrderStatus.BACKORDERED, OrderStatus.ON_HOLD})
DONE = frozenset(
    {
        OrderStatus.CANCELLED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.PARTIALLY_RETURNED,
        OrderStatus.RETURNED,
    }
)


class Deps(route.Deps, HasDispatcher, Protocol):
    """What re-routing uses."""


@dataclass(frozen=True)
class Count:
    """What a warehouse counted of one SKU (a stock discrepancy report)."""

    sku: str
    on_hand: int


@dataclass(frozen=True)
class NewFulfilment:
    id: int
    warehouse_id: int
    warehouse_code: str
    lines: tuple[routing.LineAllocation, ...]


@dataclass(frozen=True)
class RerouteResult:
    """What a re-route or override did: its decision, new fulfilment orders or parking."""

    order_id: int
    order_status: str
    outcome: str
    decision_id: int | None
    fulfilment_orders: tuple[NewFulfilment, ...]
    exception_id: int | None
    summary: str
    rejected_fulfilment_order_id: int | None = None


class Unplaceable(Exception):
    """No warehouse can take the rejected lines and the caller asked not to park them."""

    def __init__(self, summary: str, shortfall: list[dict[str, Any]]) -> None:
        super().__init__(summary)
        self.summary = summary
        self.shortfall = shortfall


@dataclass(frozen=True)
class Decision:
    """A decision to record and apply: its plan, and the engine's result when it placed
    nothing for some lines (which then park by the no-stock policy)."""

    policy: str
    rule_set_id: int | None
    outcome: str
    trace: dict[str, Any]
    shipments: tuple[routing.Shipment, ...]
    unplaced: routing.RoutingResult | None = None
    # The stock the engine saw (kept with the decision for backtests), and what each
    # warehouse holds back from the order's channel (the reservation leaves it free).
    stock_snapshot: dict[str, dict[str, int]] | None = None
    held_back: Mapping[int, int] = field(default_factory=dict)
    # What the router promised for this plan (ship-by, service level); None keeps the
    # order's previous promise (an ops override that placed every line by hand).
    promise: routing.Promise | None = None


Work = Callable[[Session], tuple[RerouteResult, list[int]]]


def reroute_fulfilment(
    deps: Deps,
    fulfilment_order_id: int,
    *,
    reason: str,
    actor: str,
    counted: Sequence[Count] | None = None,
    detail: str | None = None,
    outbox_id: int | None = None,
    park_unplaced: bool = True,
    now: datetime | None = None,
) -> RerouteResult:
    """Reject a fulfilment order and route just its lines again, elsewhere; what happened.

    ``park_unplaced=False`` (the outbox relay): when no warehouse can take the lines and the
    policy is not to backorder them, nothing is written and Unplaceable is raised, so the
    rejection stays a dead letter that can be redriven once the warehouse is fixed.
    """
    if reason not in REJECT_REASONS:
        raise Invalid(f"unknown rejection reason {reason!r}", code="invalid_reason")
    at = now or deps.clock.now()

    def work(session: Session) -> tuple[RerouteResult, list[int]]:
        return _reject(
            deps,
            session,
            fulfilment_order_id,
            _Rejection(reason, actor, tuple(counted or ()), detail, outbox_id, park_unplaced),
            at,
        )

    return run_with_replans(deps, work)


def run_with_replans(deps: Deps, work: Work) -> RerouteResult:
    """Run ``work`` in a transaction, again on fresh stock after a lost reservation race;
    then nudge the outbox rows it wrote."""
    for _ in range(deps.settings.route_max_replans):
        try:
            with unit_of_work(deps.sessions) as session:
                result, outbox_ids = work(session)
        except ReservationLost as lost:
            RESERVATION_RACES.inc()
            log.info("re-route lost a reservation race (%s); trying again", lost)
            continue
        for outbox_id in outbox_ids:
            deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
        return result
    raise Conflict("every attempt lost its reservation race; try again", code="routing_contention")


@dataclass(frozen=True)
class _Rejection:
    reason: str
    actor: str
    counted: tuple[Count, ...]
    detail: str | None
    outbox_id: int | None
    park_unplaced: bool


def _reject(
    deps: Deps, session: Session, fo_id: int, why: _Rejection, now: datetime
) -> tuple[RerouteResult, list[int]]:
    row = session.execute(
        select(FulfilmentOrder.order_id, FulfilmentOrder.consolidation_id).where(
            FulfilmentOrder.id == fo_id
        )
    ).first()
    if row is None:
        raise NotFound(f"fulfilment order {fo_id} does not exist")
    if row.consolidation_id is not None:
        return _reject_merged(deps, session, fo_id, why, now)
    order = order_state.lock_order(session, row.order_id)
    fo = _lock_rejectable(session, fo_id, [order])
    earlier = _earlier_rejections(session, order.id)  # before this one is marked rejected
    code, moves = _close_rejected(session, fo, [order], why)
    demand = _demand(fo.lines)
    record(
        session,
        why.actor,
        "fulfilment_order.reject",
        "fulfilment_order",
        fo.id,
        {
            "reason": why.reason,
            "warehouse": code,
            "counted": [{"sku": c.sku, "on_hand": c.on_hand} for c in why.counted],
            "detail": why.detail,
        },
    )
    if len(earlier) >= deps.settings.max_reroutes:
        return _exhausted(session, order, fo, moves, why=why, earlier=len(earlier)), []
    excluded = {wid: f"rejected fulfilment order {fid}" for fid, wid in earlier}
    excluded[fo.warehouse_id] = f"rejected fulfilment order {fo.id} ({why.reason})"
    request, rules = build_request(deps, session, order, now, lines=list(demand.values()))
    result = decide(replace(request, excluded_warehouses=excluded))
    if not (result.shipments or why.park_unplaced or result.outcome == routing.Outcome.BACKORDER):
        raise Unplaceable(str(result.trace.get("summary") or ""), result.trace["shortfall"])
    summary = (
        f"Re-route after {code} rejected fulfilment order {fo.id} ({why.reason}): "
        f"{result.trace.get('summary') or result.outcome.value}"
    )
    trace = {
        **result.trace,
        "reason": f"reroute after rejection of FO {fo.id}",
        "reroute": {
            "fulfilment_order_id": fo.id,
            "warehouse": code,
            "reason": why.reason,
            "detail": why.detail,
            "by": why.actor,
            "number": len(earlier) + 1,
            "excluded": {str(wid): text for wid, text in sorted(excluded.items())},
        },
        "summary": summary,
    }
    decision = Decision(
        policy=rules.label,
        rule_set_id=rules.row_id,
        outcome=result.outcome.value,
        trace=trace,
        shipments=result.shipments,
        unplaced=None if result.shipments else result,
        stock_snapshot=decision_snapshot(request),
        held_back=channel_holdbacks(request),
        promise=result.promise,
    )
    placed, outbox_ids = place(deps, session, order, decision, moves, actor=why.actor)
    return replace(placed, rejected_fulfilment_order_id=fo.id), outbox_ids


def _lock_rejectable(session: Session, fo_id: int, orders: Sequence[SalesOrder]) -> FulfilmentOrder:
    """Lock the fulfilment order (after its orders); a Conflict when it cannot re-route."""
    fo = session.scalars(
        select(FulfilmentOrder)
        .where(FulfilmentOrder.id == fo_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    done = [o for o in orders if o.status in DONE]
    if fo.status not in REROUTABLE or done:
        status = (done or list(orders))[0].status
        raise Conflict(
            f"fulfilment order {fo_id} is {fo.status} (order {status}); it cannot re-route",
            code="not_reroutable",
            fulfilment_status=fo.status,
            order_status=status,
        )
    return fo


def _close_rejected(
    session: Session, fo: FulfilmentOrder, orders: Sequence[SalesOrder], why: _Rejection
) -> tuple[str, StockMoves]:
    """Withdraw and close a rejected fulfilment order, note it on its orders; its warehouse
    code and the stock moves that give its reservation back (and set counts)."""
    code = session.scalar(select(Warehouse.code).where(Warehouse.id == fo.warehouse_id)) or "?"
    outbox.withdraw_releases(session, [fo.id], rejected_by_warehouse=True, own=why.outbox_id)
    resolve_dead_letters(session, [fo.id])
    if why.outbox_id is not None:  # the relay's row: kept, with the warehouse's answer
        outbox.mark_rejected(session, why.outbox_id, why.detail)
    moves = StockMoves()
    moves.release_lines(fo.warehouse_id, [(ln.sku, ln.quantity) for ln in fo.lines])
    for c in why.counted:
        moves.counts[(fo.warehouse_id, c.sku)] = c.on_hand
    fo.status = "rejected"
    what = f"{code} rejected fulfilment order {fo.id} ({why.reason})"
    for order in orders:
        order_state.note(session, order, what if not why.detail else f"{what}: {why.detail}"[:1000])
    return code, moves


def _earlier_rejections(session: Session, order_id: int) -> Sequence[Any]:
    """(id, warehouse id) of the order's fulfilment orders rejected so far."""
    return session.execute(
        select(FulfilmentOrder.id, FulfilmentOrder.warehouse_id)
        .where(of_order(order_id), FulfilmentOrder.status == "rejected")
        .order_by(FulfilmentOrder.id)
    ).all()


def _demand(lines: Iterable[FulfilmentLine]) -> dict[int, routing.LineDemand]:
    demand: dict[int, routing.LineDemand] = {}
    for ln in lines:
        had = demand.get(ln.order_line_id)
        demand[ln.order_line_id] = routing.LineDemand(
            ln.order_line_id, ln.sku, ln.quantity + (had.quantity if had else 0)
        )
    return demand


def _reject_merged(
    deps: Deps, session: Session, fo_id: int, why: _Rejection, now: datetime
) -> tuple[RerouteResult, list[int]]:
    """A rejected fulfilment order of a consolidation group: the merge is undone, and each
    order's lines on it are routed again on their own (without the rejecting warehouse)."""
    orders = [order_state.lock_order(session, oid) for oid in member_orders_of(session, fo_id)]
    fo = _lock_rejectable(session, fo_id, orders)
    code, moves = _close_rejected(session, fo, orders, why)
    record(
        session,
        why.actor,
        "fulfilment_order.reject",
        "fulfilment_order",
        fo.id,
        {"reason": why.reason, "warehouse": code, "detail": why.detail, "consolidated": True},
    )
    apply_moves(session, moves, reference=f"reject:fo-{fo.id}", actor=why.actor)
    line_orders = dict(
        session.execute(
            select(OrderLine.id, OrderLine.order_id).where(
                OrderLine.id.in_([ln.order_line_id for ln in fo.lines])
            )
        ).all()
    )
    results: list[RerouteResult] = []
    outbox_ids: list[int] = []
    for order in orders:
        own = [ln for ln in fo.lines if line_orders[ln.order_line_id] == order.id]
        earlier = _earlier_rejections(session, order.id)
        if len(earlier) > deps.settings.max_reroutes:  # this rejection is among them
            lone = replace(why, counted=())
            results.append(
                _exhausted(session, order, fo, StockMoves(), why=lone, earlier=len(earlier) - 1)
            )
            continue
        excluded = {wid: f"rejected fulfilment order {fid}" for fid, wid in earlier}
        excluded[fo.warehouse_id] = f"rejected fulfilment order {fo.id} ({why.reason})"
        request, rules = build_request(deps, session, order, now, lines=list(_demand(own).values()))
        result = decide(replace(request, excluded_warehouses=excluded))
        if not (
            result.shipments or why.park_unplaced or result.outcome == routing.Outcome.BACKORDER
        ):
            raise Unplaceable(str(result.trace.get("summary") or ""), result.trace["shortfall"])
        summary = (
            f"Re-route after {code} rejected consolidated fulfilment order {fo.id} "
            f"({why.reason}); the merge is undone: "
            f"{result.trace.get('summary') or result.outcome.value}"
        )
        decision = Decision(
            policy=rules.label,
            rule_set_id=rules.row_id,
            outcome=result.outcome.value,
            trace={
                **result.trace,
                "reason": f"reroute after rejection of FO {fo.id}",
                "summary": summary,
            },
            shipments=result.shipments,
            unplaced=None if result.shipments else result,
            stock_snapshot=decision_snapshot(request),
            held_back=channel_holdbacks(request),
            promise=result.promise,
        )
        placed, sent = place(deps, session, order, decision, StockMoves(), actor=why.actor)
        results.append(placed)
        outbox_ids += sent
    first = results[0]
    new = tuple(f for r in results for f in r.fulfilment_orders)
    return replace(first, fulfilment_orders=new, rejected_fulfilment_order_id=fo.id), outbox_ids


def _exhausted(
    session: Session,
    order: SalesOrder,
    fo: FulfilmentOrder,
    moves: StockMoves,
    *,
    why: _Rejection,
    earlier: int,
) -> RerouteResult:
    apply_moves(session, moves, reference=f"reject:fo-{fo.id}", actor=why.actor)
    summary = f"fulfilment order {fo.id} rejected after {earlier} re-route(s); no more tries"
    exc = open_exception(
        session,
        Reason.REROUTE_EXHAUSTED,
        order_id=order.id,
        detail={
            "fulfilment_order_id": fo.id,
            "reroutes": earlier,
            "lines": [
                {"line_id": ln.order_line_id, "sku": ln.sku, "quantity": ln.quantity}
                for ln in fo.lines
            ],
            "reason": why.reason,
        },
    )
    order_state.move(session, order, OrderStatus.EXCEPTION, summary)
    return RerouteResult(
        order.id, order.status, "reroute_exhausted", None, (), exc.id, summary, fo.id
    )


def place(
    deps: Deps,
    session: Session,
    order: SalesOrder,
    decision: Decision,
    moves: StockMoves,
    *,
    actor: str,
) -> tuple[RerouteResult, list[int]]:
    """Apply a decision: stock, the decision row, fulfilment orders and outbox, the order's
    state (routed, or parked by the no-stock policy for what it could not place)."""
    moves.reserve_shipments(decision.shipments, decision.held_back)
    apply_moves(session, moves, reference=f"order:{order.id}", actor=actor)
    attempt = 1 + int(
        session.scalar(
            select(func.count())
            .select_from(RoutingDecision)
            .where(RoutingDecision.order_id == order.id)
        )
        or 0
    )
    decision_id = record_decision(
        session,
        order.id,
        policy=decision.policy,
        rule_set_id=decision.rule_set_id,
        outcome=decision.outcome,
        attempt=attempt,
        trace=decision.trace,
        shipments=decision.shipments,
        stock_snapshot=decision.stock_snapshot,
    )
    ORDERS_ROUTED.labels(decision.outcome).inc()
    record_promise(order, decision.promise)
    summary = str(decision.trace.get("summary") or decision.outcome)
    outbox_ids: list[int] = []
    new: tuple[NewFulfilment, ...] = ()
    if decision.shipments:
        outbox_ids = create_fulfilment(deps, session, order.id, decision_id, decision.shipments)
        ids = session.scalars(
            select(FulfilmentOrder.id)
            .where(FulfilmentOrder.decision_id == decision_id)
            .order_by(FulfilmentOrder.id)
        ).all()
        new = tuple(
            NewFulfilment(fo_id, s.warehouse_id, s.warehouse_code, s.lines)
            for fo_id, s in zip(ids, decision.shipments, strict=True)
        )
    exception_id = None
    if decision.unplaced is not None:
        exception_id = park(session, order, decision_id, decision.unplaced)
    elif _stays(session, order):
        order_state.note(session, order, summary[:1000])
    else:
        order_state.transition(session, order, OrderStatus.ROUTED, summary[:1000])
    result = RerouteResult(
        order.id, order.status, decision.outcome, decision_id, new, exception_id, summary
    )
    return result, outbox_ids


def _stays(session: Session, order: SalesOrder) -> bool:
    """Whether new fulfilment orders leave the order's state as it is: the rest is on its
    way already (routed, partly shipped), or other lines still wait (parked)."""
    if order.status in (OrderStatus.ROUTED, OrderStatus.PARTIALLY_SHIPPED):
        return True
    if order.status in (OrderStatus.BACKORDERED, OrderStatus.ON_HOLD):
        return True
    if order.status != OrderStatus.EXCEPTION:
        return False
    still_open = select(OrderException.id).where(
        OrderException.order_id == order.id, OrderException.status == "open"
    )
    return session.scalar(still_open.limit(1)) is not None
