"""Consolidation: orders of one customer to one address wait together and leave together.

A validated order whose rule says ``consolidate`` joins the open group of its merge key
(:mod:`core.order_routing.merge_key`), or opens one held until ``now + window``; it waits
``on_hold``. The window runs from the group's first order and is never extended. Once it
has passed (the sweeper) or ops release the group, the group is claimed with a conditional
update (open -> routed) and its members are routed as one request: one reservation and one
fulfilment order per warehouse carrying lines of several orders. A group of one routes
exactly as a plain order.

Locks: the group row first, then its orders (cancel, release and routing all do so), so
they serialise on the group. Intake, which already holds its order when it joins or leaves
a group, is the exception; on PostgreSQL a clash with a group being routed at that moment
ends in a detected deadlock, and the loser is retried like any failed unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omniroute import routing
from omniroute.core.access.audit import record
from omniroute.core.order_routing import route
from omniroute.core.order_routing.inputs import (
    Rules,
    channel_holdbacks,
    decision_snapshot,
    order_facts,
)
from omniroute.core.order_routing.merge_key import merge_key
from omniroute.core.order_routing.partial_release import OUTCOME as PARTIAL_RELEASE
from omniroute.core.order_routing.partial_release import (
    PartialRelease,
    evaluate_order,
    partial_release,
)
from omniroute.core.order_routing.route import (
    Merged,
    RoutingContention,
    build_request,
    create_fulfilment,
    open_lines,
    park,
    record_decision,
    record_promise,
    reserve_plan,
)
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.machine import OrderStatus, can_transition
from omniroute.core.platform.clock import as_aware
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, NotFound
from omniroute.core.platform.metrics import ORDERS_ROUTED, RESERVATION_RACES
from omniroute.core.platform.models import Connector, Consolidation, OrderEvent, SalesOrder, Sku
from omniroute.core.platform.ports import HasDispatcher
from omniroute.core.platform.sql import table_of
from omniroute.core.stock.levels import ReservationLost
from omniroute.routing.engine import decide
from omniroute.routing.tracing.explain import headline, runner_up
from omniroute.routing.tracing.render import render_trace

log = logging.getLogger("omniroute.consolidation")

OPEN, ROUTED, DISSOLVED = "open", "routed", "dissolved"
_GROUP = table_of(Consolidation)


class Deps(route.Deps, HasDispatcher, Protocol):
    """What holding and routing consolidation groups uses."""


def reference(order: SalesOrder) -> str:
    """How the order is named to people and warehouses: the channel's number, else its id."""
    return order.external_number or order.external_id


def _named(orders: Sequence[SalesOrder]) -> str:
    return ", ".join(f"{reference(o)} (id {o.id})" for o in orders)


# --- holding an order


def hold_if_consolidating(
    deps: Deps,
    session: Session,
    order: SalesOrder,
    connector: Connector,
    skus: dict[str, Sku],
    *,
    now: datetime,
    rules: Rules,
) -> bool:
    """Put a just-validated order on hold in its group when its rule says so; held?"""
    if not rules.rule_set.consolidates:
        return False
    evaluation = evaluate_order(rules.rule_set, order_facts(order, connector, skus), now)
    minutes = evaluation.outcome.consolidate_minutes
    if minutes <= 0:
        return False
    key = merge_key(
        email=order.customer_email,
        phone=((order.canonical or {}).get("customer") or {}).get("phone"),
        ship_to=order.ship_to,
        service_level=order.service_level,
    )
    if key is None:
        order_state.note(
            session, order, "not held for consolidation: no customer e-mail or phone, or no address"
        )
        return False
    group = join_or_open_group(session, key, now + timedelta(minutes=minutes), now)
    others = _held_members(session, group.id)
    order.consolidation_id = group.id
    rule = ", ".join(evaluation.matched) or "default"
    order_state.transition(
        session,
        order,
        OrderStatus.ON_HOLD,
        f"held for consolidation group {group.id} until "
        f"{group.hold_until:%Y-%m-%d %H:%M} UTC (rule {rule}, {rules.label})",
    )
    if others:
        order_state.note(session, order, f"consolidated with order {_named(others)}")
        for other in others:
            _note(session, other, f"consolidated with order {_named([order])}")
    return True


def join_or_open_group(
    session: Session, key: str, hold_until: datetime, now: datetime
) -> Consolidation:
    """The open group of ``key`` (locked), opened now when there is none.

    Two transactions opening one key at once: the partial unique index lets one insert
    win; the other's insert does nothing (on PostgreSQL after waiting for the winner to
    commit) and it finds the winner's group on its next look.
    """
    insert_stmt = _insert_open(session.get_bind().dialect.name)
    for _ in range(3):
        group = session.scalars(
            select(Consolidation)
            .where(Consolidation.merge_key == key, Consolidation.status == OPEN)
            .with_for_update()
        ).first()
        if group is not None:
            return group
        new_id = session.execute(
            insert_stmt,
            {"merge_key": key, "status": OPEN, "hold_until": hold_until, "created_at": now},
        ).scalar()
        if new_id is not None:
            return session.get_one(Consolidation, new_id)
    raise Conflict("could not open or join a consolidation group", code="consolidation_busy")


_INSERTS: dict[str, Any] = {}


def _insert_open(dialect: str) -> Any:
    stmt = _INSERTS.get(dialect)
    if stmt is None:
        module: Any = postgresql if dialect == "postgresql" else sqlite
        stmt = (
            module.insert(_GROUP)
            .on_conflict_do_nothing(
                index_elements=["merge_key"], index_where=text("status = 'open'")
            )
            .returning(_GROUP.c.id)
        )
        _INSERTS[dialect] = stmt
    return stmt


def _held_members(session: Session, group_id: int, *, lock: bool = False) -> list[SalesOrder]:
    """The orders waiting in a group, oldest first."""
    query = (
        select(SalesOrder)
        .where(SalesOrder.consolidation_id == group_id, SalesOrder.status == OrderStatus.ON_HOLD)
        .order_by(SalesOrder.created_at, SalesOrder.id)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(query))


def _note(session: Session, order: SalesOrder, text_: str) -> None:
    session.add(
        OrderEvent(order_id=order.id, from_status=order.status, to_status=order.status, note=text_)
    )


def lock_group_of(session: Session, order_id: int) -> Consolidation | None:
    """Lock the group of an order (before the order itself, see the module docs)."""
    group_id = session.scalar(select(SalesOrder.consolidation_id).where(SalesOrder.id == order_id))
    if group_id is None:
        return None
    return session.scalars(
        select(Consolidation)
        .where(Consolidation.id == group_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def leave_group(session: Session, order: SalesOrder, why: str, *, now: datetime) -> None:
    """Take a held order out of its open group (cancelled, or changed by its channel); the
    others keep waiting, and a group left empty is dissolved."""
    group_id = order.consolidation_id
    if group_id is None:
        return
    group = session.scalars(
        select(Consolidation).where(Consolidation.id == group_id).with_for_update()
    ).one()
    if group.status != OPEN:
        return  # routed already: its fulfilment orders are the cancel's business
    order.consolidation_id = None
    order_state.note(session, order, f"left consolidation group {group_id}: {why}")
    rest = [o for o in _held_members(session, group_id) if o.id != order.id]
    for other in rest:
        _note(session, other, f"order {_named([order])} left consolidation group {group_id}")
    if not rest:
        group.status = DISSOLVED
        group.closed_at = now


# --- routing a group


def route_due_groups(deps: Deps, *, now: datetime | None = None) -> int:
    """Route every group whose window has passed (the sweeper); how many were routed."""
    now = now or deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        due = list(
            session.scalars(
                select(Consolidation.id)
                .where(Consolidation.status == OPEN, Consolidation.hold_until <= now)
                .order_by(Consolidation.hold_until, Consolidation.id)
                .limit(deps.settings.sweep_batch)
            )
        )
    routed = 0
    for group_id in due:
        try:
            if route_group(deps, group_id, now=now) is not None:
                routed += 1
        except RoutingContention as exc:
            log.warning("%s; the group stays open for the next sweep", exc)
        except Exception:
            # Rolled back: the group stays open and is tried again on the next sweep; one
            # group that cannot route must not hold up the others or the rest of the sweep.
            log.exception("consolidation group %s could not be routed", group_id)
    return routed


def route_group(
    deps: Deps, group_id: int, *, now: datetime | None = None, actor: str | None = None
) -> list[int] | None:
    """Claim a group and route its members together; None when it was not there to claim.

    ``actor`` set: ops release it before its window ends. A reservation race lost on every
    re-plan raises RoutingContention and rolls everything back: the group stays open.
    """
    now = now or deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        claim = (
            update(Consolidation)
            .where(Consolidation.id == group_id, Consolidation.status == OPEN)
            .values(status=ROUTED, closed_at=now)
            .execution_options(synchronize_session=False)
        )
        if actor is None:
            claim = claim.where(Consolidation.hold_until <= now)
        if session.execute(claim).rowcount != 1:  # type: ignore[attr-defined]
            return None
        members = _held_members(session, group_id, lock=True)
        if actor is not None:
            record(session, actor, "consolidation.release", "consolidation", group_id, {})
        if not members:
            session.execute(
                update(Consolidation)
                .where(Consolidation.id == group_id)
                .values(status=DISSOLVED)
                .execution_options(synchronize_session=False)
            )
            return []
        why = "window ended" if actor is None else f"released by {actor}"
        for member in members:
            order_state.transition(
                session, member, OrderStatus.VALIDATED, f"consolidation group {group_id}: {why}"
            )
        outbox_ids = route_members(deps, session, group_id, members, now, reason=why)
    for outbox_id in outbox_ids:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    return outbox_ids


@dataclass(frozen=True)
class _Members:
    """The orders routed together, oldest first, and each one's open lines."""

    group_id: int
    orders: list[SalesOrder]
    lines: dict[int, list[routing.LineDemand]]

    @property
    def lead(self) -> SalesOrder:
        return self.orders[0]

    @property
    def merged(self) -> Merged | None:
        if len(self.orders) < 2:
            return None
        return Merged(
            self.group_id,
            {line.line_id: (o.id, reference(o)) for o in self.orders for line in self.lines[o.id]},
        )


def route_members(
    deps: Deps,
    session: Session,
    group_id: int,
    members: Sequence[SalesOrder],
    now: datetime,
    *,
    reason: str,
) -> list[int]:
    """Route the open lines of ``members`` (locked, oldest first) as one request, in the
    caller's transaction: facts and rules of the oldest; the outbox ids to send."""
    demand = {m.id: open_lines(session, m) for m in members}
    routable = [m for m in members if demand[m.id]]
    if not routable:
        return []
    group = _Members(group_id, routable, demand)
    lines = [line for m in routable for line in demand[m.id]]
    for attempt in range(1, deps.settings.route_max_replans + 1):
        with session.no_autoflush:
            request, rules = build_request(deps, session, group.lead, now, lines=lines)
        result = decide(request)
        partial = partial_release(request, result)
        if partial is not None:
            result = partial.plan
        try:
            seen = (decision_snapshot(request), channel_holdbacks(request))
            return _apply(
                deps, session, group, rules, result, attempt, seen, reason, partial=partial
            )
        except ReservationLost as lost:
            RESERVATION_RACES.inc()
            log.info("group %s lost a reservation race (%s); re-planning", group_id, lost)
    raise RoutingContention(f"consolidation group {group_id}: every re-plan lost its race")


def _apply(  # noqa: PLR0917 - the pieces of one decision, applied together
    deps: Deps,
    session: Session,
    group: _Members,
    rules: Rules,
    result: routing.RoutingResult,
    attempt: int,
    seen: tuple[dict[str, dict[str, int]], Mapping[int, int]],
    reason: str,
    *,
    partial: PartialRelease | None = None,
) -> list[int]:
    """``seen``: the stock snapshot the engine used, and the units each warehouse holds back
    from the lead order's channel (the reservation leaves them free). ``partial``: ``result``
    is the plan of a partial release; members with missing units stay backordered."""
    snapshot, held = seen
    merged = group.merged
    reference = f"order:{group.lead.id}" if merged is None else f"consolidation:{group.group_id}"
    reserve_plan(session, result.shipments, held, reference=reference)
    trace = result.trace if partial is None else partial.trace
    outcome = result.outcome.value if partial is None else PARTIAL_RELEASE
    if merged is not None:
        trace = trace | {
            "consolidation": {
                "id": group.group_id,
                "orders": [o.id for o in group.orders],
                "reason": reason,
            }
        }
    owns = {
        o.id: _own(result.shipments, {line.line_id for line in group.lines[o.id]})
        for o in group.orders
    }
    decisions = {
        o.id: record_decision(
            session,
            o.id,
            policy=rules.label,
            rule_set_id=rules.row_id,
            outcome=outcome,
            attempt=attempt,
            trace=trace if merged is None else member_trace(trace, owns[o.id]),
            shipments=owns[o.id],
            stock_snapshot=snapshot,
        )
        for o in group.orders
    }
    ORDERS_ROUTED.labels(outcome).inc(len(group.orders))
    for o in group.orders:
        record_promise(o, result.promise)
    if not result.shipments:
        for o in group.orders:
            park(session, o, decisions[o.id], result)
        return []
    outbox_ids = create_fulfilment(
        deps, session, group.lead.id, decisions[group.lead.id], result.shipments, merged=merged
    )
    summary = str(result.trace.get("summary") or result.outcome.value)
    for o in group.orders:
        own = {line.line_id for line in group.lines[o.id]}
        target, note = OrderStatus.ROUTED, summary if merged is None else own_summary(owns[o.id])
        if partial is not None and partial.waiting(own):  # this member's rest waits
            target, note = OrderStatus.BACKORDERED, partial.note_for(own)
        if merged is not None:
            others = [x for x in group.orders if x.id != o.id]
            note = f"consolidated with order {_named(others)} (group {group.group_id}): {note}"
        _settle(session, o, target, note[:1000])
    return outbox_ids


def member_trace(trace: dict[str, Any], own: Sequence[routing.Shipment]) -> dict[str, Any]:
    """A merged order's trace: its own shipments, summary and headline, the group's kept
    under ``consolidation.group``; a warehouse that ships only other members' lines says so."""
    if not own:
        return trace
    trace = render_trace(trace)  # the losers' words name the group's shipment count
    mine = {s.warehouse_id for s in own}
    candidates = [
        c | _only_others(c)
        if c["verdict"].startswith("chosen") and c["warehouse_id"] not in mine
        else c
        for c in trace["candidates"]
    ]
    summary = own_summary(own)
    group = {key: trace.get(key) for key in ("headline", "summary", "chosen", "shipments")}
    return trace | {
        "headline": headline(
            [s.warehouse_code for s in own], candidates, summary, runner_up(candidates)
        ),
        "candidates": candidates,
        "chosen": [s.warehouse_code for s in own],
        "shipments": len(own),
        "summary": summary,
        "consolidation": dict(trace.get("consolidation") or {}) | {"group": group},
    }


def _only_others(candidate: dict[str, Any]) -> dict[str, Any]:
    why = "ships other orders of the group, none of this order's lines"
    return {"verdict": f"chosen for the group: {why}", "why_not": {"reason": "group", "text": why}}


def own_summary(own: Sequence[routing.Shipment]) -> str:
    """A merged order's part of the group's plan, in words."""
    codes = ", ".join(s.warehouse_code for s in own)
    if len(own) == 1:
        return f"Ship this order's lines from {codes} (with its consolidation group)."
    return f"Ship this order's lines in {len(own)} shipments from {codes} (with its group)."


def _own(shipments: Sequence[routing.Shipment], line_ids: set[int]) -> tuple[routing.Shipment, ...]:
    """The part of a group's plan that carries one member's lines."""
    own = (replace(s, lines=tuple(a for a in s.lines if a.line_id in line_ids)) for s in shipments)
    return tuple(s for s in own if s.lines)


def _settle(session: Session, order: SalesOrder, target: OrderStatus, note: str) -> None:
    if order.status != target and can_transition(OrderStatus(order.status), target):
        order_state.transition(session, order, target, note)
    else:
        order_state.note(session, order, note)


# --- ops


def release_group(deps: Deps, group_id: int, *, actor: str) -> dict[str, Any]:
    """Route a held group now, before its window ends (ops); the group as the API shows it."""
    with unit_of_work(deps.sessions) as session:
        group = session.get(Consolidation, group_id)
        if group is None:
            raise NotFound(f"consolidation group {group_id} does not exist")
        status = group.status
    try:
        routed = status == OPEN and route_group(deps, group_id, actor=actor) is not None
    except RoutingContention:
        raise Conflict(
            "every plan lost its stock race to other orders; try again", code="routing_contention"
        ) from None
    if not routed:
        raise Conflict(
            f"consolidation group {group_id} is {status}; only an open group can be released",
            code="not_open",
        )
    return group_detail(deps, group_id)


def group_detail(deps: Deps, group_id: int) -> dict[str, Any]:
    with unit_of_work(deps.sessions) as session:
        group = session.get(Consolidation, group_id)
        if group is None:
            raise NotFound(f"consolidation group {group_id} does not exist")
        return group_view(session, group)


def group_view(session: Session, group: Consolidation) -> dict[str, Any]:
    """A group and its orders (those that left it are not listed)."""
    members = session.execute(
        select(
            SalesOrder.id,
            SalesOrder.external_id,
            SalesOrder.external_number,
            SalesOrder.status,
        )
        .where(SalesOrder.consolidation_id == group.id)
        .order_by(SalesOrder.created_at, SalesOrder.id)
    ).all()
    return {
        "id": group.id,
        "status": group.status,
        "hold_until": as_aware(group.hold_until),
        "created_at": as_aware(group.created_at),
        "closed_at": as_aware(group.closed_at),
        "orders": [dict(m._mapping) for m in members],
    }


def group_of_order(session: Session, order: SalesOrder) -> dict[str, Any] | None:
    if order.consolidation_id is None:
        return None
    group = session.get(Consolidation, order.consolidation_id)
    return None if group is None else group_view(session, group)
