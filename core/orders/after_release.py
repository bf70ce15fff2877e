"""Cancelling units a warehouse already holds: ask its WMS, or open a return.

Asked by ops (``orders.cancellation``) or by the channel (a newer version of a released
order that is cancelled or has fewer units: ``intake.late_versions``), in the caller's
transaction, with the order locked. For each order line the units to cancel are taken
first from what its fulfilment orders still have open (not shipped, not cancelled, not
already asked for): one ``cancellation`` row and one ``wms.cancel`` outbox row per
fulfilment order, written together, delivered and settled by ``fulfilment.wms_cancel``.
Units already shipped cannot be cancelled: they open a ``return_required`` exception and
no WMS call. Nothing moves stock for those units here: stock goes back only when the
warehouse confirms.

An order only part of which warehouses hold (released in part while the rest waits for
stock, or split with one fulfilment order accepted and another still in the outbox) is
cancelled the same way, after two steps of its own: units still waiting for stock (on no
fulfilment order) are taken first and simply dropped (the order line keeps fewer units, so
nothing routes them later); a cancel of the whole order also withdraws its fulfilment orders
not yet handed over (``outbox.withdraw_releases``: refused while one is being sent) and gives
their stock back. Then the order's status says what is left: still waiting, routed, released,
shipped in part or whole, or cancelled when nothing of it is left anywhere.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.core.exceptions.opening import Reason, open_exception, resolve_open_for_order
from omniroute.core.order_routing.route import open_lines
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import CLOSED, of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import WMS_CANCEL
from omniroute.core.platform.errors import Invalid
from omniroute.core.platform.models import (
    Cancellation,
    FulfilmentLine,
    FulfilmentOrder,
    SalesOrder,
    Warehouse,
)
from omniroute.core.stock.levels import give_back

#: Order statuses in which every routed unit is with a warehouse (or shipped).
AFTER_RELEASE = frozenset(
    {
        OrderStatus.RELEASED,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
    }
)
#: Fulfilment orders a warehouse accepted, whose units a cancel or a return concerns.
WITH_A_WAREHOUSE = ("released", "partially_shipped", "shipped")
#: Fulfilment orders still in the outbox: withdrawn, not asked, by a cancel of the whole order.
NOT_HANDED_OVER = ("pending", "failed")
REQUESTED = "requested"
#: Orders part of which may wait for stock (on no fulfilment order) while warehouses hold the
#: rest; such waiting units are dropped by a cancel before any warehouse is asked.
WAITING_IN_PART = frozenset({OrderStatus.BACKORDERED})
#: Orders a cancel reaches through their fulfilment orders: a warehouse holds all of it
#: (``AFTER_RELEASE``), or part of it while the rest waits or is still being handed over.
THROUGH_FULFILMENT = AFTER_RELEASE | WAITING_IN_PART | {OrderStatus.ROUTED}


@dataclass
class _Slot:
    """One fulfilment line of the order: what it can still give to a cancel."""

    line: FulfilmentLine
    fo: FulfilmentOrder
    open: int  # not shipped, not cancelled, not asked for by a pending cancellation
    shipped: int


@dataclass(frozen=True)
class Requested:
    """What a cancellation request did."""

    cancellation_ids: tuple[int, ...] = ()
    outbox_ids: tuple[int, ...] = ()  # nudge them once the transaction commits
    units_requested: int = 0  # asked of warehouses
    units_to_return: int = 0  # shipped already: a return_required exception
    units_dropped: int = 0  # waiting for stock on no fulfilment order: dropped at once
    units_withdrawn: int = 0  # on fulfilment orders not yet handed over: withdrawn
    #: Units on no fulfilment order a warehouse holds, by order line (e.g. still in transit
    #: to a warehouse, or never routed): nothing was asked for them.
    unplaced: dict[int, int] = field(default_factory=dict)


def request_cancellation(
    session: Session,
    order: SalesOrder,
    wanted: dict[int, int] | None,
    *,
    source: str,
    reason: str,
    actor: str,
    notify_channel: bool,
    strict: bool,
) -> Requested:
    """Ask the warehouses to cancel ``wanted`` units per order line (None: all that is left).

    ``strict`` (ops): a line not in the order, or more units than are left, is ``Invalid``
    (422) and nothing is asked; otherwise (the channel) each line is cut to what is left.
    """
    whole = wanted is None
    slots = _slots(session, order)
    waiting = _waiting(session, order)
    # Units in the outbox: withdrawn by a cancel of all of it; a cut cannot take them.
    unsent = _unsent(session, order)
    left = {
        line.id: waiting.get(line.id, 0)
        + unsent.get(line.id, 0)
        + sum(s.open + s.shipped for s in slots.get(line.id, ()))
        for line in order.lines
    }
    wanted = dict(left) if wanted is None else _checked(order, wanted, left, strict=strict)
    plan = _allocate(wanted, waiting, unsent if whole else {}, slots)
    asks, returns, unplaced, dropped = plan.asks, plan.returns, plan.unplaced, plan.dropped
    withdrawn = _withdraw_unsent(session, order, reason) if whole and unsent else 0
    _drop_waiting(session, order, dropped, source=source, reason=reason, lower=not whole)
    ids, outbox_ids = _ask(
        session,
        order,
        asks,
        source=source,
        reason=reason,
        actor=actor,
        notify_channel=notify_channel,
    )
    if returns:
        _open_return(session, order, returns, source=source, reason=reason)
    asked = sum(take for items in asks.values() for _, take in items)
    if asked:
        order_state.note(
            session,
            order,
            f"cancel of {asked} unit(s) asked of the warehouse ({source}: {reason}); "
            f"fulfilment order(s) {', '.join(str(fo) for fo in sorted(asks))}",
        )
    if order.status not in AFTER_RELEASE and not unplaced:
        _settle_status(session, order, reason, whole=whole)
    return Requested(
        cancellation_ids=tuple(ids),
        outbox_ids=tuple(outbox_ids),
        units_requested=asked,
        units_to_return=sum(int(r["quantity"]) for r in returns),
        unplaced=unplaced,
        units_dropped=sum(dropped.values()),
        units_withdrawn=withdrawn,
    )


@dataclass
class _Allocation:
    """Where the units to cancel are taken from."""

    asks: dict[int, list[tuple[_Slot, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # by fulfilment order
    returns: list[dict[str, Any]] = field(default_factory=list)
    unplaced: dict[int, int] = field(default_factory=dict)
    dropped: dict[int, int] = field(default_factory=dict)


def _allocate(
    wanted: dict[int, int],
    waiting: dict[int, int],
    unsent: dict[int, int],
    slots: dict[int, list[_Slot]],
) -> _Allocation:
    """Per line: what waits for stock first, then what warehouses hold open, then what they
    shipped (a return); a whole cancel takes the units not yet handed over as they are."""
    plan = _Allocation()
    for line_id, units in sorted(wanted.items()):
        rest = units - unsent.get(line_id, 0)
        if take := min(rest, waiting.get(line_id, 0)):
            plan.dropped[line_id] = take
            rest -= take
        for slot in slots.get(line_id, ()):
            if take := min(rest, slot.open):
                plan.asks[slot.fo.id].append((slot, take))
                rest -= take
        for slot in slots.get(line_id, ()):
            if take := min(rest, slot.shipped):
                plan.returns.append(_line_dict(slot.line) | {"quantity": take})
                rest -= take
        if rest > 0:
            plan.unplaced[line_id] = rest
    return plan


def _waiting(session: Session, order: SalesOrder) -> dict[int, int]:
    """Units of each line waiting for stock on no fulfilment order (a partial release)."""
    if order.status not in WAITING_IN_PART:
        return {}
    return {d.line_id: d.quantity for d in open_lines(session, order)}


def _unsent(session: Session, order: SalesOrder) -> dict[int, int]:
    """Units of each line on its own fulfilment orders not yet handed over (a consolidation
    group's shared ones are the group's: ``orders.cancellation`` withdraws those)."""
    mine = {line.id for line in order.lines}
    units: dict[int, int] = defaultdict(int)
    for line_id, quantity in session.execute(
        select(FulfilmentLine.order_line_id, FulfilmentLine.quantity)
        .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
        .where(
            of_order(order.id),
            FulfilmentOrder.status.in_(NOT_HANDED_OVER),
            FulfilmentOrder.consolidation_id.is_(None),
        )
    ):
        if line_id in mine:
            units[line_id] += int(quantity)
    return dict(units)


def _withdraw_unsent(session: Session, order: SalesOrder, reason: str) -> int:
    """Withdraw the order's own fulfilment orders not yet handed over, stock back; units."""
    fos = list(
        session.scalars(
            select(FulfilmentOrder)
            .where(
                of_order(order.id),
                FulfilmentOrder.status.in_(NOT_HANDED_OVER),
                FulfilmentOrder.consolidation_id.is_(None),
            )
            .order_by(FulfilmentOrder.id)
            .with_for_update()
        )
    )
    # Conflict while one is being sent, or was tried and waits for its retry (it may have
    # reached the warehouse): the cancel waits for the hand-off to settle.
    outbox.withdraw_releases(session, [fo.id for fo in fos], untried_only=True)
    units = 0
    for fo in fos:
        by_sku: dict[str, int] = defaultdict(int)
        for line in fo.lines:
            by_sku[line.sku] += line.quantity
        give_back(
            session,
            fo.warehouse_id,
            by_sku,
            shipped=False,
            reason="unreserved",
            reference=f"cancel:{order.id}",
        )
        units += sum(by_sku.values())
        fo.status = "cancelled"
    order_state.note(
        session,
        order,
        f"{units} unit(s) not yet handed over withdrawn ({reason}); fulfilment order(s) "
        f"{', '.join(str(fo.id) for fo in fos)}",
    )
    return units


def _drop_waiting(
    session: Session,
    order: SalesOrder,
    dropped: dict[int, int],
    *,
    source: str,
    reason: str,
    lower: bool,
) -> None:
    """Units waiting for stock leave the order. ``lower`` (a cancel of part of it): its lines
    keep fewer, so nothing routes them; a cancel of all of it leaves the lines as they were,
    as the order no longer waits for anything."""
    if not dropped:
        return
    if lower:
        for line in order.lines:
            line.quantity -= dropped.get(line.id, 0)
    said = ", ".join(f"line {line_id}: {n}" for line_id, n in sorted(dropped.items()))
    order_state.note(
        session,
        order,
        f"{sum(dropped.values())} unit(s) waiting for stock cancelled ({source}: {reason}): {said}",
    )


def _settle_status(session: Session, order: SalesOrder, reason: str, *, whole: bool) -> None:
    """The status of an order not (all) with warehouses after a cancel took units from it:
    it waits while units still wait (after a cut); else it is as far as its fulfilment
    orders are."""
    session.flush()  # the lowered lines and withdrawn fulfilment orders, for the reads below
    if not whole and open_lines(session, order):
        return
    states = list(
        session.scalars(
            select(FulfilmentOrder.status).where(
                of_order(order.id), FulfilmentOrder.status.not_in(CLOSED)
            )
        )
    )
    if not states:
        target = OrderStatus.CANCELLED
        resolve_open_for_order(session, order.id)
    elif any(state in NOT_HANDED_OVER for state in states):
        target = OrderStatus.ROUTED
    elif all(state == "shipped" for state in states):
        target = OrderStatus.SHIPPED
    elif any(state in ("partially_shipped", "shipped") for state in states):
        target = OrderStatus.PARTIALLY_SHIPPED
    else:
        target = OrderStatus.RELEASED
    if order.status != target:
        order_state.transition(session, order, target, f"nothing left waiting: {reason}")


def _checked(
    order: SalesOrder, wanted: dict[int, int], left: dict[int, int], *, strict: bool
) -> dict[int, int]:
    problems: list[dict[str, Any]] = []
    checked: dict[int, int] = {}
    for line_id, units in wanted.items():
        if line_id not in left:
            problems.append({"line_id": line_id, "message": f"not a line of order {order.id}"})
        elif units > left[line_id]:
            problems.append(
                {"line_id": line_id, "message": f"{units} asked, {left[line_id]} left to cancel"}
            )
        if units > 0 and line_id in left:
            checked[line_id] = min(units, left[line_id])
    if problems and strict:
        raise Invalid("the lines do not match what is left of the order", problems=problems)
    return checked


def _slots(session: Session, order: SalesOrder) -> dict[int, list[_Slot]]:
    """The order's lines on fulfilment orders a warehouse holds, oldest first."""
    mine = {line.id for line in order.lines}
    rows = session.execute(
        select(FulfilmentLine, FulfilmentOrder)
        .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
        .where(of_order(order.id), FulfilmentOrder.status.in_(WITH_A_WAREHOUSE))
        .order_by(FulfilmentOrder.id, FulfilmentLine.id)
    ).all()
    pending = pending_units(session, order.id)
    slots: dict[int, list[_Slot]] = defaultdict(list)
    for line, fo in rows:
        if line.order_line_id not in mine:
            continue  # another order's line on a consolidated fulfilment order
        open_units = line.quantity - line.shipped_quantity - line.cancelled_quantity
        slots[line.order_line_id].append(
            _Slot(line, fo, max(open_units - pending.get(line.id, 0), 0), line.shipped_quantity)
        )
    return slots


def pending_units(session: Session, order_id: int) -> dict[int, int]:
    """Units asked to be cancelled and not yet answered, by fulfilment line."""
    pending: dict[int, int] = defaultdict(int)
    for lines in session.scalars(
        select(Cancellation.lines).where(
            Cancellation.order_id == order_id, Cancellation.status == REQUESTED
        )
    ):
        for item in lines:
            pending[int(item["fulfilment_line_id"])] += int(item["quantity"])
    return pending


def _ask(
    session: Session,
    order: SalesOrder,
    asks: dict[int, list[tuple[_Slot, int]]],
    *,
    source: str,
    reason: str,
    actor: str,
    notify_channel: bool,
) -> tuple[list[int], list[int]]:
    """A cancellation row and its ``wms.cancel`` outbox row per fulfilment order."""
    ids: list[int] = []
    outbox_ids: list[int] = []
    for fo_id, items in sorted(asks.items()):
        fo = items[0][0].fo
        row = Cancellation(
            order_id=order.id,
            fulfilment_order_id=fo_id,
            source=source,
            reason=reason[:500],
            actor=actor[:200],
            notify_channel=notify_channel,
            status=REQUESTED,
            lines=[_line_dict(slot.line) | {"quantity": take} for slot, take in items],
            units_cancelled=0,
        )
        session.add(row)
        session.flush()
        entire = all(s.open == take and s.line.shipped_quantity == 0 for s, take in items) and len(
            items
        ) == len(fo.lines)
        connector_id = session.scalar(
            select(Warehouse.wms_connector_id).where(Warehouse.id == fo.warehouse_id)
        )
        outbox_ids.append(
            outbox.add(
                session,
                kind=WMS_CANCEL,
                connector_id=connector_id,
                fulfilment_order_id=fo_id,
                idempotency_key=f"cancel-fo-{fo_id}-{row.id}",
                payload={"cancellation_id": row.id, "entire": entire},
            )
        )
        ids.append(row.id)
    return ids, outbox_ids


def _line_dict(line: FulfilmentLine) -> dict[str, Any]:
    return {"fulfilment_line_id": line.id, "order_line_id": line.order_line_id, "sku": line.sku}


def _open_return(
    session: Session, order: SalesOrder, returns: list[dict[str, Any]], *, source: str, reason: str
) -> None:
    units = sum(int(r["quantity"]) for r in returns)
    open_exception(
        session,
        Reason.RETURN_REQUIRED,
        order_id=order.id,
        detail={
            "message": f"{units} unit(s) to cancel had shipped already: arrange a return "
            "(nothing was asked of the warehouse for them)",
            "source": source,
            "reason": reason,
            "lines": returns,
        },
    )
    order_state.note(
        session, order, f"{units} unit(s) to cancel had shipped already: a return is needed"
    )
