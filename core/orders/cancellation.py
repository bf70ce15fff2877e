"""Ops cancel an order: at once while no warehouse has it, else through its warehouses.

An order a warehouse holds (released, partially shipped, shipped, delivered) is cancelled
through it (``orders.after_release``): the answer is 202 with the cancel asked of the WMS
(``wms.cancel`` outbox rows) and units already shipped opened as a ``return_required``
exception; stock goes back, the order is cancelled and the channel told (once) only when
the warehouse confirms (``fulfilment.wms_cancel``). ``lines`` cancel part of such an order.

An order whose fulfilment orders are still waiting in the outbox can be cancelled: those
outbox rows are withdrawn with a conditional update, so a relay that has already picked
one up wins and the cancel is refused (try again once it has answered). An order only part
of which a warehouse holds (a backordered order whose covered lines were released, a split
order with one fulfilment order accepted and another in the outbox) is cancelled through
``after_release`` too: what waits for stock is dropped, what is in the outbox withdrawn, what
warehouses hold asked of them; ``lines`` cancel part of it, waiting units first. An order on
hold or in the exception queue that a warehouse holds part of is refused (409
``not_cancellable``).

An order waiting in a consolidation group leaves it. One routed with its group, whose shared
fulfilment orders are still in the outbox, takes those with it: they are withdrawn and the
other orders of the group are routed again together, at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from omniroute.core.access.audit import record
from omniroute.core.channels.push import queue_cancel_push
from omniroute.core.exceptions.opening import resolve_open_for_order
from omniroute.core.order_routing import consolidation
from omniroute.core.order_routing.consolidation import (
    leave_group,
    lock_group_of,
    reference,
    route_members,
)
from omniroute.core.order_routing.route import RoutingContention
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.orders.after_release import (
    AFTER_RELEASE,
    THROUGH_FULFILMENT,
    Requested,
    request_cancellation,
)
from omniroute.core.outbox import messages as outbox
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid
from omniroute.core.platform.models import (
    Consolidation,
    FulfilmentLine,
    FulfilmentOrder,
    SalesOrder,
)
from omniroute.core.platform.ports import HasConnectors
from omniroute.core.stock.levels import give_back

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
# Fulfilment orders a warehouse has accepted (and may have shipped from).
WITH_A_WAREHOUSE = ("released", "partially_shipped", "shipped")
# Orders of a group routed again with the rest when a member is cancelled: those on their
# way to warehouses (a parked one waits for its own retry, as before).
ROUTED_WITH_GROUP = frozenset(
    {OrderStatus.ROUTED, OrderStatus.RELEASED, OrderStatus.PARTIALLY_SHIPPED}
)


class Deps(consolidation.Deps, HasConnectors, Protocol):
    """What cancelling an order uses."""


@dataclass(frozen=True)
class CancelResult:
    order_id: int
    status: str
    units_released: int
    channel_notified: bool
    #: Set when a warehouse holds the order: what was asked of it (the cancel is pending).
    requested: Requested | None = None


def cancel_order(
    deps: Deps,
    order_id: int,
    *,
    reason: str,
    actor: str,
    notify_channel: bool = True,
    lines: dict[int, int] | None = None,
) -> CancelResult:
    """Cancel the order, or ``lines`` of it (order line id → units; only once a warehouse
    holds it)."""
    with unit_of_work(deps.sessions) as session:
        group = lock_group_of(session, order_id)  # the group before its orders
        order = order_state.lock_order(session, order_id)
        if order.status == OrderStatus.CANCELLED:
            return CancelResult(order.id, order.status, 0, False)
        if _through_fulfilment(session, order, partial=lines is not None):
            requested = _through_warehouses(
                session, order, lines, reason=reason, actor=actor, notify_channel=notify_channel
            )
            queued = list(requested.outbox_ids)
            told = False
            if order.status == OrderStatus.CANCELLED and notify_channel:
                # Nothing of it was with a warehouse any more: cancelled here and now.
                pushed = queue_cancel_push(deps, session, order, reason)
                told = pushed is not None
                queued += [] if pushed is None else [pushed]
            units = requested.units_dropped + requested.units_withdrawn
            result = CancelResult(order.id, order.status, units, told, requested)
        elif lines is not None:
            raise Invalid(
                f"order {order_id} is {order.status}: only an order its warehouses hold is "
                "cancelled in part; cancel all of it",
                code="not_partially_cancellable",
            )
        else:
            result, queued = _cancel_now(
                deps,
                session,
                group,
                order,
                reason=reason,
                actor=actor,
                notify_channel=notify_channel,
            )
    for queued_id in queued:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, queued_id)
    return result


def _through_fulfilment(session: Session, order: SalesOrder, *, partial: bool) -> bool:
    """Whether the cancel goes through the order's fulfilment orders (``after_release``):
    all of it is with warehouses, or part of it is, or only part of it is to be cancelled
    while it waits for stock or is being handed over."""
    if order.status in AFTER_RELEASE:
        return True
    if order.status not in THROUGH_FULFILMENT:
        return False
    return partial or _with_a_warehouse(session, order) is not None


def _cancel_now(
    deps: Deps,
    session: Session,
    group: Consolidation | None,
    order: SalesOrder,
    *,
    reason: str,
    actor: str,
    notify_channel: bool,
) -> tuple[CancelResult, list[int]]:
    """Cancel an order no warehouse holds: withdraw its releases, stock back, channel told."""
    outbox_id: int | None = None
    rerouted: list[int] = []
    if order.status not in CANCELLABLE:
        raise Conflict(
            f"order {order.id} is {order.status}: a warehouse has it; cancel it there first",
            code="not_cancellable",
            order_status=order.status,
        )
    _refuse_if_with_a_warehouse(session, order)
    if order.status == OrderStatus.ON_HOLD:
        leave_group(session, order, f"cancelled: {reason}", now=deps.clock.now())
    released = _withdraw_fulfilment(session, order, group)
    resolve_open_for_order(session, order.id)
    order_state.transition(session, order, OrderStatus.CANCELLED, f"cancelled: {reason}")
    if released.merged:
        rerouted = _route_the_rest(deps, session, order, released.merged)
    if notify_channel:
        outbox_id = queue_cancel_push(deps, session, order, reason)
    record(
        session,
        actor,
        "order.cancel",
        "order",
        order.id,
        {
            "reason": reason,
            "units_released": released.units,
            "channel": outbox_id is not None,
        },
    )
    result = CancelResult(order.id, order.status, released.units, outbox_id is not None)
    return result, ([] if outbox_id is None else [outbox_id]) + rerouted


def _through_warehouses(
    session: Session,
    order: SalesOrder,
    lines: dict[int, int] | None,
    *,
    reason: str,
    actor: str,
    notify_channel: bool,
) -> Requested:
    """Ask the warehouses holding the order to cancel it (or ``lines``), audited."""
    requested = request_cancellation(
        session,
        order,
        lines,
        source="ops",
        reason=reason,
        actor=actor,
        notify_channel=notify_channel,
        strict=True,
    )
    if requested.unplaced:
        raise Conflict(
            f"order {order.id}: some of those units are on no fulfilment order a warehouse "
            "holds yet; try again once it has them",
            code="release_in_flight",
            order_status=order.status,
        )
    record(
        session,
        actor,
        "order.cancel",
        "order",
        order.id,
        {
            "reason": reason,
            "lines": lines,
            "units_requested": requested.units_requested,
            "units_to_return": requested.units_to_return,
            "cancellations": list(requested.cancellation_ids),
            "channel": notify_channel,
        },
    )
    return requested


def _with_a_warehouse(session: Session, order: SalesOrder) -> int | None:
    """The first fulfilment order of the order a warehouse has accepted, if any."""
    return session.scalar(
        select(FulfilmentOrder.id)
        .where(of_order(order.id), FulfilmentOrder.status.in_(WITH_A_WAREHOUSE))
        .order_by(FulfilmentOrder.id)
        .limit(1)
    )


def _refuse_if_with_a_warehouse(session: Session, order: SalesOrder) -> None:
    """409 when a warehouse has accepted some of the order's lines while its status says
    otherwise (on hold, in the exception queue): that part is cancelled there first."""
    accepted = _with_a_warehouse(session, order)
    if accepted is not None:
        raise Conflict(
            f"order {order.id} is {order.status} but a warehouse has part of it (fulfilment "
            f"order {accepted}); cancel that part there first",
            code="not_cancellable",
            order_status=order.status,
            fulfilment_order_id=accepted,
        )


@dataclass(frozen=True)
class _Withdrawn:
    units: int
    merged: int | None = None  # the group whose shared fulfilment orders were withdrawn


def _withdraw_fulfilment(
    session: Session, order: SalesOrder, group: Consolidation | None
) -> _Withdrawn:
    """Cancel fulfilment orders not yet handed over and give their stock back.

    Those holding the order's lines; when one of them is shared with other orders of its
    consolidation group, every such shared one of the group not yet handed over too (the
    rest of the group is routed again at once).
    """
    mine = of_order(order.id)
    fos = list(
        session.scalars(
            select(FulfilmentOrder)
            .where(mine, FulfilmentOrder.status.in_(("pending", "failed")))
            .with_for_update()
        )
    )
    merged = None
    if group is not None and any(fo.consolidation_id == group.id for fo in fos):
        merged = group.id
        fos = list(
            session.scalars(
                select(FulfilmentOrder)
                .where(
                    or_(mine, FulfilmentOrder.consolidation_id == group.id),
                    FulfilmentOrder.status.in_(("pending", "failed")),
                )
                .order_by(FulfilmentOrder.id)
                .with_for_update()
            )
        )
    if not fos:
        return _Withdrawn(0)
    outbox.withdraw_releases(session, [fo.id for fo in fos])
    own_lines = {line.id for line in order.lines}
    freed = 0  # of this order's own units; a shared one's others are routed again
    for fo in sorted(fos, key=lambda f: f.id):
        lines = list(
            session.execute(
                select(
                    FulfilmentLine.sku, FulfilmentLine.quantity, FulfilmentLine.order_line_id
                ).where(FulfilmentLine.fulfilment_order_id == fo.id)
            )
        )
        _unreserve(
            session, fo.warehouse_id, [(s, q) for s, q, _ in lines], reference=f"cancel:{order.id}"
        )
        freed += sum(int(q) for _, q, line_id in lines if line_id in own_lines)
        fo.status = "cancelled"
    return _Withdrawn(freed, merged)


def _route_the_rest(
    deps: Deps, session: Session, cancelled: SalesOrder, group_id: int
) -> list[int]:
    """Route the other orders of the group whose lines were withdrawn with the cancelled
    one's, together and at once; the outbox ids to send."""
    rest = list(
        session.scalars(
            select(SalesOrder)
            .where(
                SalesOrder.consolidation_id == group_id,
                SalesOrder.id != cancelled.id,
                SalesOrder.status.in_(ROUTED_WITH_GROUP),
            )
            .order_by(SalesOrder.created_at, SalesOrder.id)
            .with_for_update()
        )
    )
    for other in rest:
        order_state.note(
            session,
            other,
            f"order {reference(cancelled)} (id {cancelled.id}) was cancelled; "
            f"routing the rest of consolidation group {group_id} again",
        )
    try:
        return route_members(
            deps,
            session,
            group_id,
            rest,
            deps.clock.now(),
            reason=f"order {cancelled.id} cancelled",
        )
    except RoutingContention:
        raise Conflict(
            "the rest of the consolidation group lost every stock race; try again",
            code="routing_contention",
        ) from None


def _unreserve(session: Session, warehouse_id: int, lines: Sequence[Any], *, reference: str) -> int:
    by_sku: dict[str, int] = {}
    for sku, qty in lines:
        by_sku[sku] = by_sku.get(sku, 0) + int(qty)
    return give_back(
        session, warehouse_id, by_sku, shipped=False, reason="unreserved", reference=reference
    )
