"""Return authorisations (RMAs): created for an order's shipped units, authorised, cancelled
or closed by ops (or requested by the channel), each move audited and on the order's timeline.

Creating one locks the order, so two returns of the same units cannot both pass the check
(``rules.check_return_lines``: at most shipped less what open returns hold). Authorising
writes, in the same transaction, the advance notice to the warehouse's WMS (``wms.return``,
delivered by ``returns.wms_notice``) and the status push to the channel where it takes one
(``channel.return``, delivered by ``channels.push``); a warehouse with no WMS that takes
return notices, or a channel without the capability, is noted on the timeline and skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.connectors.base import Capability
from omniroute.core.access.audit import Action, Entity, record
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.timeline import lock_order
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import CHANNEL_RETURN, WMS_RETURN
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OrderLine,
    ReturnAuthorisation,
    ReturnLine,
    SalesOrder,
    Warehouse,
)
from omniroute.core.platform.ports import HasConnectors, HasDispatcher, Store
from omniroute.core.returns import rules
from omniroute.core.returns.rules import ReasonCode, ReturnStatus


class Deps(Store, HasDispatcher, HasConnectors, Protocol):
    """What handling returns uses."""


@dataclass(frozen=True)
class ReturnInput:
    lines: list[tuple[int, int]]  # (order_line_id, quantity)
    reason: str
    warehouse_id: int | None = None  # None: the warehouse that shipped the most of them
    note: str | None = None
    authorise: bool = True  # False: left requested, for a person to authorise


def create_return(
    deps: Deps, order_id: int, data: ReturnInput, *, actor: str, source: str = "ops"
) -> int:
    """A new return of ``order_id``'s shipped units; its id. Invalid (422) for units that
    were not shipped or are returned already, an unknown reason or warehouse."""
    reason = _reason(data.reason)
    with unit_of_work(deps.sessions) as session:
        order = lock_order(session, order_id)
        rma, outbox_ids = create_locked(
            deps, session, order, data, reason=reason, actor=actor, source=source
        )
        return_id = rma.id
    nudge(deps, outbox_ids)
    return return_id


def _reason(value: str) -> ReasonCode:
    try:
        return ReasonCode(value)
    except ValueError:
        raise Invalid(f"unknown reason {value!r}", reasons=[r.value for r in ReasonCode]) from None


def create_locked(
    deps: Deps,
    session: Session,
    order: SalesOrder,
    data: ReturnInput,
    *,
    reason: ReasonCode,
    actor: str,
    source: str,
    external_id: str | None = None,
    tell_channel: bool = True,
) -> tuple[ReturnAuthorisation, list[int]]:
    """The return written for an order the caller has locked, and the outbox rows to nudge."""
    facts = line_facts(session, order.id)
    problems = rules.check_return_lines(facts, data.lines)
    if problems:
        raise Invalid("these units cannot be returned", problems=problems)
    warehouse_id = data.warehouse_id or _shipped_from(session, [i for i, _ in data.lines])
    if warehouse_id is None or session.get(Warehouse, warehouse_id) is None:
        raise Invalid(f"warehouse {warehouse_id} does not exist", code="unknown_warehouse")
    rma = ReturnAuthorisation(
        rma_number=f"new-{uuid.uuid4().hex[:30]}",
        order_id=order.id,
        connector_id=order.connector_id,
        warehouse_id=warehouse_id,
        status=ReturnStatus.REQUESTED,
        source=source,
        reason=reason.value,
        note=data.note,
        external_id=external_id,
        created_by=actor,
        created_at=deps.clock.now(),
        updated_at=deps.clock.now(),
    )
    session.add(rma)
    session.flush()
    rma.rma_number = rules.rma_number(rma.id, order.external_number or order.external_id)
    for line_id, qty in _summed(data.lines):
        rma.lines.append(ReturnLine(order_line_id=line_id, sku=facts[line_id].sku, quantity=qty))
    session.flush()
    units = sum(q for _, q in data.lines)
    order_state.note(
        session, order, f"return {rma.rma_number} requested: {units} unit(s), {reason.value}"
    )
    outbox_ids = (
        authorise_locked(deps, session, rma, order, tell_channel=tell_channel)
        if data.authorise
        else []
    )
    record(
        session,
        actor,
        Action.RETURN_CREATE,
        Entity.RETURN,
        rma.id,
        {
            "order_id": order.id,
            "rma_number": rma.rma_number,
            "reason": reason.value,
            "warehouse_id": warehouse_id,
            "lines": [{"order_line_id": i, "quantity": q} for i, q in data.lines],
            "source": source,
            "external_id": external_id,
        },
    )
    return rma, outbox_ids


def authorise_return(deps: Deps, return_id: int, *, actor: str) -> str:
    """A requested return authorised: the warehouse and the channel are told; its status."""
    with unit_of_work(deps.sessions) as session:
        rma, order = locked(session, return_id)
        outbox_ids = authorise_locked(deps, session, rma, order)
        record(session, actor, Action.RETURN_AUTHORISE, Entity.RETURN, rma.id)
        status = rma.status
    nudge(deps, outbox_ids)
    return status


def cancel_return(deps: Deps, return_id: int, *, actor: str, note: str | None = None) -> str:
    """Cancel a return nothing of which came back yet; a warehouse told of it is told again."""
    with unit_of_work(deps.sessions) as session:
        rma, order = locked(session, return_id)
        outbox_ids = cancel_locked(deps, session, rma, order)
        record(session, actor, Action.RETURN_CANCEL, Entity.RETURN, rma.id, {"note": note})
        status = rma.status
    nudge(deps, outbox_ids)
    return status


def cancel_locked(
    deps: Deps,
    session: Session,
    rma: ReturnAuthorisation,
    order: SalesOrder,
    *,
    tell_channel: bool = True,
    why: str = "cancelled",
) -> list[int]:
    was_authorised = rma.status != ReturnStatus.REQUESTED
    move(session, rma, ReturnStatus.CANCELLED)
    order_state.note(session, order, f"return {rma.rma_number} {why}")
    outbox_ids: list[int] = []
    if was_authorised:
        outbox_ids += _tell_warehouse(deps, session, rma, order, cancelled=True)
    # The channel hears of a cancel if it heard of the return, or asked for it itself.
    if tell_channel and (was_authorised or rma.external_id):
        outbox_ids += channel_push(
            deps, session, rma, order, status="cancelled", lines=_expected(session, rma)
        )
    return outbox_ids


def close_return(deps: Deps, return_id: int, *, actor: str, note: str | None = None) -> str:
    """Settle a return: what came back is all that will (the rest may be returned again);
    the channel is told where it takes returns."""
    with unit_of_work(deps.sessions) as session:
        rma, order = locked(session, return_id)
        move(session, rma, ReturnStatus.CLOSED)
        order_state.note(session, order, f"return {rma.rma_number} closed")
        outbox_ids = channel_push(deps, session, rma, order, status="closed", lines=[])
        record(session, actor, Action.RETURN_CLOSE, Entity.RETURN, rma.id, {"note": note})
        status = rma.status
    nudge(deps, outbox_ids)
    return status


def mark_in_transit(
    deps: Deps,
    return_id: int,
    *,
    actor: str,
    tracking_number: str | None = None,
    carrier: str | None = None,
) -> str:
    """The return parcel is on its way back (told by the warehouse or ops), with its tracking
    where known. Marking it again changes nothing unless it brings a new tracking number."""
    with unit_of_work(deps.sessions) as session:
        rma, order = locked(session, return_id)
        if rma.status != ReturnStatus.IN_TRANSIT:
            move(session, rma, ReturnStatus.IN_TRANSIT)
        elif (tracking_number or None) in (None, rma.tracking_number):
            return rma.status
        rma.tracking_number = tracking_number or rma.tracking_number
        rma.carrier = carrier or rma.carrier
        parcel = (
            f" ({rma.carrier or 'carrier unknown'} {rma.tracking_number})"
            if rma.tracking_number
            else ""
        )
        order_state.note(session, order, f"return {rma.rma_number} in transit{parcel}")
        record(
            session,
            actor,
            Action.RETURN_IN_TRANSIT,
            Entity.RETURN,
            rma.id,
            {"tracking_number": rma.tracking_number, "carrier": rma.carrier},
        )
        return rma.status


def line_facts(session: Session, order_id: int) -> dict[int, rules.LineFacts]:
    """Each line of the order: units shipped from our warehouses, units held by returns."""
    shipped = dict(
        session.execute(
            select(FulfilmentLine.order_line_id, func.sum(FulfilmentLine.shipped_quantity))
            .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
            .where(OrderLine.order_id == order_id)
            .group_by(FulfilmentLine.order_line_id)
        ).all()
    )
    held = returned_per_line(session, order_id)
    return {
        line.id: rules.LineFacts(
            line.id, line.sku or "", int(shipped.get(line.id) or 0), held.get(line.id, 0)
        )
        for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order_id))
    }


def returned_per_line(session: Session, order_id: int) -> dict[int, int]:
    """Units of each order line open returns expect or got back; a closed one counts what it
    received, a cancelled one nothing."""
    held: dict[int, int] = {}
    rows = session.execute(
        select(
            ReturnLine.order_line_id,
            ReturnAuthorisation.status,
            ReturnLine.quantity,
            ReturnLine.restocked_quantity + ReturnLine.written_off_quantity,
        )
        .join(ReturnAuthorisation, ReturnAuthorisation.id == ReturnLine.return_id)
        .where(ReturnAuthorisation.order_id == order_id)
    ).all()
    for line_id, status, quantity, received in rows:
        counted = quantity if status in rules.OPEN else received
        if status != ReturnStatus.CANCELLED:
            held[line_id] = held.get(line_id, 0) + counted
    return held


def channel_push(
    deps: HasConnectors,
    session: Session,
    rma: ReturnAuthorisation,
    order: SalesOrder,
    *,
    status: str,
    lines: list[dict[str, Any]],
    key: str | None = None,
    order_returned: bool = False,
) -> list[int]:
    """The ``channel.return`` row telling the order's channel, if it takes returns."""
    connector = session.get(Connector, order.connector_id)
    if connector is None or not connector.enabled:
        return []
    if not deps.connectors.can(connector, Capability.RETURN_PUSH):
        return []
    return [
        outbox.add(
            session,
            kind=CHANNEL_RETURN,
            connector_id=connector.id,
            idempotency_key=key or f"return-{rma.id}-{status}",
            payload={
                "order_id": order.id,
                "return_id": rma.id,
                "rma_number": rma.rma_number,
                "status": status,
                "reason": rma.reason,
                "lines": lines,
                "order_returned": order_returned,
                "return_complete": rma.status in (ReturnStatus.RECEIVED, ReturnStatus.CLOSED),
            },
        )
    ]


def lines_payload(session: Session, items: Iterable[tuple[int, str, int]]) -> list[dict[str, Any]]:
    """``(order_line_id, sku, quantity)`` with each line's channel id, for a push."""
    items = list(items)
    external = dict(
        session.execute(
            select(OrderLine.id, OrderLine.external_line_id).where(
                OrderLine.id.in_([i for i, _, _ in items])
            )
        ).all()
    )
    return [
        {"order_line_id": i, "sku": sku, "quantity": q, "external_line_id": external.get(i)}
        for i, sku, q in items
    ]


def _expected(session: Session, rma: ReturnAuthorisation) -> list[dict[str, Any]]:
    return lines_payload(session, [(ln.order_line_id, ln.sku, ln.quantity) for ln in rma.lines])


def authorise_locked(
    deps: Deps,
    session: Session,
    rma: ReturnAuthorisation,
    order: SalesOrder,
    *,
    tell_channel: bool = True,
) -> list[int]:
    """Authorise a return the caller has locked; ``tell_channel`` False when the channel
    itself approved it."""
    move(session, rma, ReturnStatus.AUTHORISED)
    order_state.note(session, order, f"return {rma.rma_number} authorised")
    told = _tell_warehouse(deps, session, rma, order, cancelled=False)
    if not tell_channel:
        return told
    return told + channel_push(
        deps, session, rma, order, status="authorised", lines=_expected(session, rma)
    )


def _tell_warehouse(
    deps: Deps,
    session: Session,
    rma: ReturnAuthorisation,
    order: SalesOrder,
    *,
    cancelled: bool,
) -> list[int]:
    """The ``wms.return`` row for the return's warehouse, if its WMS takes return notices."""
    warehouse = session.get_one(Warehouse, rma.warehouse_id)
    connector = (
        session.get(Connector, warehouse.wms_connector_id) if warehouse.wms_connector_id else None
    )
    if connector is None or not deps.connectors.can(connector, Capability.RETURN_NOTICE):
        order_state.note(
            session,
            order,
            f"warehouse {warehouse.code} has no WMS that takes return notices: "
            f"tell it of return {rma.rma_number} by hand",
        )
        return []
    step = "cancel" if cancelled else "expect"
    return [
        outbox.add(
            session,
            kind=WMS_RETURN,
            connector_id=connector.id,
            idempotency_key=f"return-{rma.id}-{step}",
            payload={"return_id": rma.id, "cancelled": cancelled},
        )
    ]


def locked(session: Session, return_id: int) -> tuple[ReturnAuthorisation, SalesOrder]:
    """The return and its order, locked in the order every return path takes: order first."""
    order_id = session.scalar(
        select(ReturnAuthorisation.order_id).where(ReturnAuthorisation.id == return_id)
    )
    if order_id is None:
        raise NotFound(f"return {return_id} does not exist")
    order = lock_order(session, order_id)
    rma = session.scalars(
        select(ReturnAuthorisation)
        .where(ReturnAuthorisation.id == return_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return rma, order


def move(session: Session, rma: ReturnAuthorisation, target: ReturnStatus) -> None:
    try:
        rules.check_transition(rma.status, target)
    except rules.InvalidReturnTransition as exc:
        raise Conflict(str(exc), code="return_state", return_status=rma.status) from None
    rma.status = target
    rma.updated_at = now_of(session)


def _shipped_from(session: Session, line_ids: list[int]) -> int | None:
    """The warehouse that shipped the most units of these lines (lowest id on a tie)."""
    shipped = func.sum(FulfilmentLine.shipped_quantity)
    row = session.execute(
        select(FulfilmentOrder.warehouse_id, shipped)
        .join(FulfilmentLine, FulfilmentLine.fulfilment_order_id == FulfilmentOrder.id)
        .where(FulfilmentLine.order_line_id.in_(line_ids), FulfilmentLine.shipped_quantity > 0)
        .group_by(FulfilmentOrder.warehouse_id)
        .order_by(shipped.desc(), FulfilmentOrder.warehouse_id)
        .limit(1)
    ).first()
    return None if row is None else int(row[0])


def _summed(lines: list[tuple[int, int]]) -> list[tuple[int, int]]:
    totals: dict[int, int] = {}
    for line_id, qty in lines:
        totals[line_id] = totals.get(line_id, 0) + qty
    return sorted(totals.items())


def nudge(deps: Deps, outbox_ids: list[int]) -> None:
    for outbox_id in outbox_ids:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
