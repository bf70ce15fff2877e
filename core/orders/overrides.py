"""Ops overrides of routing: force a warehouse for an order or some of its lines, or re-run
routing with the rules in force now. Each is one audited transaction and a new routing
decision whose trace names who did it and what they chose."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute import routing
from omniroute.core.access.audit import record
from omniroute.core.exceptions.opening import resolve_dead_letters, resolve_open_for_order
from omniroute.core.order_routing import reroute
from omniroute.core.order_routing.consolidation import leave_group
from omniroute.core.order_routing.inputs import channel_holdbacks, decision_snapshot
from omniroute.core.order_routing.reroute import (
    PARKED,
    Decision,
    RerouteResult,
    place,
    run_with_replans,
)
from omniroute.core.order_routing.route import CUTOFF_HOLD, build_request, open_lines
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.errors import Conflict, Invalid
from omniroute.core.platform.models import FulfilmentOrder, SalesOrder, Warehouse
from omniroute.core.stock.levels import Key, StockMoves, available_after_release
from omniroute.routing.engine import decide
from omniroute.routing.tracing.render import render_trace

OVERRIDABLE = frozenset({OrderStatus.VALIDATED, *PARKED})
WITHDRAWABLE = ("pending", "failed")  # not yet accepted by a warehouse


class Deps(reroute.Deps, Protocol):
    """What an ops override of routing uses."""


@dataclass(frozen=True)
class ForcedLine:
    line_id: int
    warehouse_code: str


def override_route(
    deps: Deps,
    order_id: int,
    *,
    actor: str,
    warehouse_code: str | None = None,
    lines: Sequence[ForcedLine] | None = None,
    now: datetime | None = None,
) -> RerouteResult:
    """Route an order not yet routed (or parked) to the warehouses ops name: the whole order
    to ``warehouse_code``, or each of ``lines`` to its own (the other lines routed as usual).
    Exactly what is forced is reserved, or nothing is (409 insufficient_stock)."""
    if (warehouse_code is None) == (lines is None) or lines == []:
        raise Invalid("name a warehouse_code or some lines, not both", code="invalid_override")
    ids = [f.line_id for f in lines or ()]
    if len(set(ids)) != len(ids):
        raise Invalid("a line is named twice", code="invalid_override")
    at = now or deps.clock.now()

    def work(session: Session) -> tuple[RerouteResult, list[int]]:
        order = order_state.lock_order(session, order_id)
        if order.status not in OVERRIDABLE:
            raise Conflict(
                f"order {order_id} is {order.status}; only an order not yet routed, or parked, "
                "can be routed by hand",
                code="not_overridable",
                order_status=order.status,
            )
        moves = StockMoves()
        cancelled = _reopen(session, order, moves, "routing overridden by ops")
        demand = open_lines(session, order)
        if not demand:
            raise Conflict(f"order {order_id} has no line left to route", code="nothing_to_route")
        wanted = (
            {d.line_id: warehouse_code for d in demand}
            if warehouse_code is not None
            else {f.line_id: f.warehouse_code for f in lines or ()}
        )
        by_line = {d.line_id: d for d in demand}
        unknown = sorted(set(wanted) - set(by_line))
        if unknown:
            raise Invalid(
                f"line(s) {unknown} are not open lines of order {order_id}", code="unknown_line"
            )
        houses = _warehouses(session, set(wanted.values()))
        request, rules = build_request(deps, session, order, at, lines=demand)
        stock = available_after_release(session, request.stock, moves)
        forced = _forced(wanted, by_line, houses, stock)
        rest = tuple(d for d in demand if d.line_id not in wanted)
        left = None
        if rest:
            order_demand = routing.OrderDemand(order.id, rest)
            left = decide(replace(request, order=order_demand, stock=stock))
        shipments = _merged(forced, left.shipments if left else ())
        trace = _trace(actor, at, warehouse_code, forced, shipments, left, cancelled)
        decision = Decision(
            policy="override",
            rule_set_id=rules.row_id if rest else None,
            outcome="override",
            trace=trace,
            shipments=shipments,
            unplaced=left if left is not None and not left.shipments else None,
            # No held_back: an ops force may use units held back from the channel (a person
            # chose it). The snapshot is what the engine saw for the lines it placed.
            stock_snapshot=decision_snapshot(replace(request, stock=stock)) if rest else None,
        )
        placed = place(deps, session, order, decision, moves, actor=actor)
        record(
            session,
            actor,
            "order.route_override",
            "order",
            order.id,
            {"decision_id": placed[0].decision_id, **trace["override"]},
        )
        return placed

    return run_with_replans(deps, work)


def reroute_order(
    deps: Deps, order_id: int, *, actor: str, now: datetime | None = None
) -> RerouteResult:
    """Re-run routing with the rules in force now for an order no warehouse has accepted yet
    (routed, every fulfilment order still pending) or a parked one; 409 otherwise."""
    at = now or deps.clock.now()

    def work(session: Session) -> tuple[RerouteResult, list[int]]:
        order = order_state.lock_order(session, order_id)
        if order.status != OrderStatus.ROUTED and order.status not in PARKED:
            raise Conflict(
                f"order {order_id} is {order.status}; only a routed or parked order re-routes",
                code="not_reroutable",
                order_status=order.status,
            )
        if order.status == OrderStatus.ROUTED and _any_accepted(session, order.id):
            raise Conflict(
                f"order {order_id} is with a warehouse already; reject its fulfilment order",
                code="already_released",
            )
        moves = StockMoves()
        cancelled = _reopen(session, order, moves, "routing re-run by ops")
        demand = open_lines(session, order)
        if not demand:
            raise Conflict(f"order {order_id} has no line left to route", code="nothing_to_route")
        request, rules = build_request(deps, session, order, at, lines=demand)
        request = replace(request, stock=available_after_release(session, request.stock, moves))
        result = decide(request)
        note = {"by": actor, "reason": "routing re-run by ops", "cancelled": cancelled}
        decision = Decision(
            policy=rules.label,
            rule_set_id=rules.row_id,
            outcome=result.outcome.value,
            trace={**result.trace, "reroute": note},
            shipments=result.shipments,
            unplaced=None if result.shipments else result,
            stock_snapshot=decision_snapshot(request),
            held_back=channel_holdbacks(request),
            promise=result.promise,
        )
        placed = place(deps, session, order, decision, moves, actor=actor)
        record(
            session,
            actor,
            "order.reroute",
            "order",
            order.id,
            {"decision_id": placed[0].decision_id, "cancelled_fulfilment_orders": cancelled},
        )
        return placed

    return run_with_replans(deps, work)


def _reopen(session: Session, order: SalesOrder, moves: StockMoves, why: str) -> list[int]:
    """Withdraw what no warehouse has accepted and, for a parked order, un-park it."""
    if order.hold_code == CUTOFF_HOLD:  # ops route it now rather than on its next day
        order.hold_code = order.hold_reason = order.hold_until = None
    elif order.hold_code is not None:  # never checked: it goes through processing first
        raise Conflict(
            f"order {order.id} is held by its channel's release policy ({order.hold_code}); "
            f"release the hold first (POST /api/v1/orders/{order.id}/release-hold)",
            code="held",
            hold_code=order.hold_code,
        )
    _refuse_if_shared(session, order.id)
    if order.status == OrderStatus.ON_HOLD:  # ops route it now: it stops waiting for others
        leave_group(session, order, why, now=now_of(session))
    cancelled = withdraw(session, order, moves)
    if order.status in PARKED:
        resolve_open_for_order(session, order.id)
        order_state.transition(session, order, OrderStatus.VALIDATED, why)
    return cancelled


def withdraw(session: Session, order: SalesOrder, moves: StockMoves) -> list[int]:
    """Cancel the order's fulfilment orders no warehouse has accepted; their ids. Their
    reservations go into ``moves`` to be given back; their outbox rows are withdrawn."""
    fos = list(
        session.scalars(
            select(FulfilmentOrder)
            .where(
                FulfilmentOrder.order_id == order.id,
                FulfilmentOrder.status.in_(WITHDRAWABLE),
            )
            .order_by(FulfilmentOrder.id)
            .with_for_update()
        )
    )
    if not fos:
        return []
    ids = [fo.id for fo in fos]
    outbox.withdraw_releases(session, ids)
    resolve_dead_letters(session, ids)
    for fo in fos:
        moves.release_lines(fo.warehouse_id, [(ln.sku, ln.quantity) for ln in fo.lines])
        fo.status = "cancelled"
    order_state.note(session, order, f"withdrew fulfilment order(s) {ids} to route again")
    return ids


def _refuse_if_shared(session: Session, order_id: int) -> None:
    """Lines on a consolidation group's shared fulfilment order are not this order's alone
    to move: 409 until it is cancelled or rejected (either undoes the merge)."""
    shared = select(FulfilmentOrder.id).where(
        of_order(order_id),
        FulfilmentOrder.consolidation_id.is_not(None),
        FulfilmentOrder.status.not_in(("rejected", "cancelled")),
    )
    if session.scalar(shared.limit(1)) is not None:
        raise Conflict(
            f"order {order_id} shares a fulfilment order with its consolidation group; "
            "cancel the order or reject that fulfilment order first",
            code="consolidated",
        )


def _any_accepted(session: Session, order_id: int) -> bool:
    accepted = select(FulfilmentOrder.id).where(
        FulfilmentOrder.order_id == order_id,
        FulfilmentOrder.status.not_in(("pending", "rejected", "cancelled")),
    )
    return session.scalar(accepted.limit(1)) is not None


def _warehouses(session: Session, codes: set[str]) -> dict[str, tuple[int, str]]:
    """Id and code of each named warehouse; 422 for an unknown one, 409 for a disabled one."""
    rows = session.execute(
        select(Warehouse.code, Warehouse.id, Warehouse.enabled).where(
            Warehouse.code.in_(sorted(codes))
        )
    ).all()
    found = {code: (wid, code) for code, wid, _ in rows}
    missing = sorted(codes - set(found))
    if missing:
        raise Invalid(f"no warehouse with code(s) {missing}", code="unknown_warehouse")
    disabled = sorted(code for code, _, enabled in rows if not enabled)
    if disabled:
        raise Conflict(f"warehouse(s) {disabled} are disabled", code="warehouse_disabled")
    return found


def _forced(
    wanted: dict[int, str],
    by_line: dict[int, routing.LineDemand],
    houses: dict[str, tuple[int, str]],
    stock: dict[Key, int],
) -> tuple[routing.Shipment, ...]:
    """The forced lines as shipments, their units taken out of ``stock``; 409 with the
    shortfall when a named warehouse cannot fill them."""
    need: dict[Key, int] = {}
    per_house: dict[int, list[routing.LineAllocation]] = {}
    for line_id, code in sorted(wanted.items()):
        d = by_line[line_id]
        wid = houses[code][0]
        need[(wid, d.sku)] = need.get((wid, d.sku), 0) + d.quantity
        per_house.setdefault(wid, []).append(routing.LineAllocation(line_id, d.sku, d.quantity))
    codes = {wid: code for wid, code in houses.values()}
    shortfall = [
        {
            "warehouse_code": codes[wid],
            "sku": sku,
            "requested": qty,
            "available": stock.get((wid, sku), 0),
        }
        for (wid, sku), qty in sorted(need.items())
        if stock.get((wid, sku), 0) < qty
    ]
    if shortfall:
        raise Conflict(
            "the named warehouse(s) cannot fill the lines forced on them",
            code="insufficient_stock",
            shortfall=shortfall,
        )
    for key, qty in need.items():
        stock[key] -= qty
    return tuple(
        routing.Shipment(wid, codes[wid], tuple(allocs)) for wid, allocs in per_house.items()
    )


def _merged(
    forced: tuple[routing.Shipment, ...], decided: tuple[routing.Shipment, ...]
) -> tuple[routing.Shipment, ...]:
    """One shipment per warehouse: the forced lines and the routed ones together."""
    lines: dict[int, list[routing.LineAllocation]] = {}
    codes: dict[int, str] = {}
    for s in (*forced, *decided):
        lines.setdefault(s.warehouse_id, []).extend(s.lines)
        codes[s.warehouse_id] = s.warehouse_code
    return tuple(routing.Shipment(wid, codes[wid], tuple(ls)) for wid, ls in lines.items())


def _trace(  # noqa: PLR0917 - one call site, each argument a part of the trace
    actor: str,
    at: datetime,
    warehouse_code: str | None,
    forced: tuple[routing.Shipment, ...],
    shipments: tuple[routing.Shipment, ...],
    left: routing.RoutingResult | None,
    cancelled: list[int],
) -> dict[str, Any]:
    assigned = [
        {"line_id": a.line_id, "sku": a.sku, "quantity": a.quantity, "warehouse": s.warehouse_code}
        for s in forced
        for a in s.lines
    ]
    said = ", ".join(f"line {f['line_id']} to {f['warehouse']}" for f in assigned)
    summary = f"Routed by hand by {actor}: {said}."
    if left is not None:
        summary += f" The other lines by the rules: {left.trace.get('summary')}"
    return {
        "policy": "override",
        "decided_at": at.replace(tzinfo=UTC).isoformat(),
        "outcome": "override",
        "override": {
            "by": actor,
            "scope": "order" if warehouse_code is not None else "lines",
            "forced": assigned,
            "cancelled_fulfilment_orders": cancelled,
        },
        "chosen": [s.warehouse_code for s in shipments],
        "shipments": len(shipments),
        "rest": None if left is None else render_trace(left.trace),
        "shortfall": [] if left is None or left.shipments else left.trace["shortfall"],
        "summary": summary,
    }
