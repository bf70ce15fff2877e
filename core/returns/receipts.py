"""A warehouse confirms what came back for a return: restocked units go back on hand, written
off ones are recorded, the return and the order move on, the channel is told.

One confirmation is one transaction, in the lock order every return path takes (the order,
then the return): the receipt row (unique per return and the warehouse's own reference, so a
repeated confirmation is a no-op that answers as the first did), the units spread over the
return's lines (never more than a line expects: ``rules.allocate_receipt``), restocked units
through ``stock.levels.adjust_level`` with ledger reason ``returned`` (so Σ ledger = on hand
still holds, and the stock sync pushes the new figure to channels), written-off units on the
return line and in the receipt only (no sellable stock, no ledger row), and the order
``partially_returned`` or ``returned`` once a shipped or delivered order has units back.
After the commit, backorders waiting for a restocked SKU are woken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.core.access.audit import Action, Entity, record
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid
from omniroute.core.platform.models import (
    FulfilmentLine,
    OrderLine,
    ReturnAuthorisation,
    ReturnLine,
    ReturnReceipt,
    SalesOrder,
)
from omniroute.core.returns import rmas, rules
from omniroute.core.returns.rules import Disposition, ReturnStatus
from omniroute.core.stock import backorder_wakeup
from omniroute.core.stock.backorder_wakeup import wake_backorders
from omniroute.core.stock.levels import adjust_level

#: The ledger reason of units a return put back on the shelf.
RETURNED = "returned"
#: Orders a receipt moves to partially returned / returned; others keep their status.
MOVABLE = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.PARTIALLY_RETURNED})


class Deps(rmas.Deps, backorder_wakeup.Deps, Protocol):
    """What recording a return's receipt uses."""


@dataclass(frozen=True)
class ReceiptInput:
    external_ref: str
    lines: list[tuple[str, int, Disposition]]  # (sku, quantity, disposition)
    received_at: datetime | None = None


@dataclass(frozen=True)
class ReceiptResult:
    receipt_id: int
    created: bool
    return_status: str
    order_status: str


def confirm_receipt(
    deps: Deps, return_id: int, receipt: ReceiptInput, *, actor: str
) -> ReceiptResult:
    with unit_of_work(deps.sessions) as session:
        rma, order = rmas.locked(session, return_id)
        existing = session.scalars(
            select(ReturnReceipt).where(
                ReturnReceipt.return_id == rma.id,
                ReturnReceipt.external_ref == receipt.external_ref,
            )
        ).first()
        if existing is not None:
            return ReceiptResult(existing.id, False, rma.status, order.status)
        if rma.status not in rules.RECEIVABLE:
            raise Conflict(
                f"return {rma.rma_number} is {rma.status}; it cannot be received",
                code="not_receivable",
                return_status=rma.status,
            )
        lines = list(
            session.scalars(
                select(ReturnLine)
                .where(ReturnLine.return_id == rma.id)
                .order_by(ReturnLine.id)
                .with_for_update()
            )
        )
        taken, problems = rules.allocate_receipt(
            [
                rules.ExpectedLine(
                    ln.id, ln.sku, ln.quantity, ln.restocked_quantity + ln.written_off_quantity
                )
                for ln in lines
            ],
            receipt.lines,
        )
        if problems:
            raise Invalid("the receipt does not match the return", problems=problems)
        row = ReturnReceipt(
            return_id=rma.id,
            external_ref=receipt.external_ref,
            lines=[
                {
                    "return_line_id": t.return_line_id,
                    "sku": t.sku,
                    "quantity": t.quantity,
                    "disposition": t.disposition.value,
                }
                for t in taken
            ],
            received_at=as_naive_utc(receipt.received_at) or deps.clock.now(),
            actor=actor,
            created_at=deps.clock.now(),
        )
        session.add(row)
        session.flush()
        restocked = _apply(
            session, rma, lines, taken, reference=f"return:{rma.id}:{row.id}", actor=actor
        )
        rmas.move(
            session,
            rma,
            rules.status_after_receipt(
                (ln.quantity, ln.restocked_quantity + ln.written_off_quantity) for ln in lines
            ),
        )
        units = sum(t.quantity for t in taken)
        _advance_order(session, order, f"return {rma.rma_number}: {units} unit(s) received")
        by_line = {ln.id: ln for ln in lines}
        outbox_ids = rmas.channel_push(
            deps,
            session,
            rma,
            order,
            status="received",
            lines=rmas.lines_payload(
                session,
                [(by_line[t.return_line_id].order_line_id, t.sku, t.quantity) for t in taken],
            ),
            key=f"return-receipt-{row.id}",
            order_returned=order.status == OrderStatus.RETURNED,
        )
        record(
            session,
            actor,
            Action.RETURN_RECEIVE,
            Entity.RETURN,
            rma.id,
            {"receipt": row.id, "external_ref": row.external_ref, "lines": row.lines},
        )
        result = ReceiptResult(row.id, True, rma.status, order.status)
    rmas.nudge(deps, outbox_ids)
    for sku in sorted(restocked):
        wake_backorders(deps, sku)
    return result


def _apply(
    session: Session,
    rma: ReturnAuthorisation,
    lines: list[ReturnLine],
    taken: list[rules.Taken],
    *,
    reference: str,
    actor: str,
) -> set[str]:
    """Units onto their lines; restocked ones back on hand (a ledger row per SKU, in SKU
    order); the SKUs restocked."""
    by_id = {ln.id: ln for ln in lines}
    back: dict[str, int] = {}
    for t in taken:
        line = by_id[t.return_line_id]
        if t.disposition == Disposition.RESTOCK:
            line.restocked_quantity += t.quantity
            back[t.sku] = back.get(t.sku, 0) + t.quantity
        else:
            line.written_off_quantity += t.quantity
    for sku, qty in sorted(back.items()):
        adjust_level(
            session,
            rma.warehouse_id,
            sku,
            delta_on_hand=qty,
            actor=actor,
            reason=RETURNED,
            reference=reference,
        )
    return set(back)


def _advance_order(session: Session, order: SalesOrder, text: str) -> None:
    """The order partially returned or returned by its units back; a note otherwise."""
    shipped = session.scalar(
        select(func.coalesce(func.sum(FulfilmentLine.shipped_quantity), 0))
        .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
        .where(OrderLine.order_id == order.id)
    )
    back = session.scalar(
        select(
            func.coalesce(
                func.sum(ReturnLine.restocked_quantity + ReturnLine.written_off_quantity), 0
            )
        )
        .join(ReturnAuthorisation, ReturnAuthorisation.id == ReturnLine.return_id)
        .where(ReturnAuthorisation.order_id == order.id)
    )
    target = rules.order_return_status(int(shipped or 0), int(back or 0))
    if target is None or order.status not in MOVABLE or order.status == target:
        order_state.note(session, order, text)
        return
    order_state.transition(session, order, target, text)


__all__ = ["RETURNED", "ReceiptInput", "ReceiptResult", "ReturnStatus", "confirm_receipt"]
