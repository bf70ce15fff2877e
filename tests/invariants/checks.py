"""The system-wide invariants, read from the database (and the fake WMS when there is one).

Each ``*_violations`` function returns what it found wrong as readable sentences (empty when
all holds); :func:`assert_invariants` runs them all and fails with every sentence at once.
They read only committed state through their own session, so any test can call them
between two service calls.

What "open" means here: a fulfilment line holds ``quantity - shipped - cancelled`` units
while its fulfilment order is live (not ``rejected`` or ``cancelled``: a withdrawn, rejected
or warehouse-cancelled one gave its stock back when it closed). A ``failed`` one (its
release dead-lettered) still holds its units for a retry.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.connectors.wms.demo_server import FakeWms, RecordedRequest
from omniroute.core.order_state.holdings import CLOSED
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    InboundMessage,
    OrderLine,
    OutboxMessage,
    ReturnLine,
    SalesOrder,
    StockLedger,
    StockLevel,
)
from omniroute.core.platform.ports import HasSessions
from omniroute.core.returns.rmas import returned_per_line

Key = tuple[int, str]  # (warehouse id, sku)
# Fulfilment orders a warehouse accepted: each must have reached it through a sent release.
HANDED_OVER = ("released", "partially_shipped", "shipped")
UNANSWERED = ("pending", "processing", "dead")


def stock_violations(session: Session) -> list[str]:
    """No negative figure; reserved never above on hand (available = on hand - reserved)."""
    found = []
    for level in session.scalars(select(StockLevel).order_by(StockLevel.id)):
        where = f"stock ({level.warehouse_id}, {level.sku})"
        if level.on_hand < 0 or level.reserved < 0 or level.safety < 0:
            found.append(
                f"{where}: negative figure (on hand {level.on_hand}, reserved "
                f"{level.reserved}, safety {level.safety})"
            )
        if level.on_hand - level.reserved < 0:
            found.append(
                f"{where}: available {level.on_hand - level.reserved} < 0 "
                f"(on hand {level.on_hand}, reserved {level.reserved})"
            )
    return found


def open_allocations(session: Session) -> dict[Key, int]:
    """Units held per (warehouse, sku) by live fulfilment orders' open lines."""
    rows = session.execute(
        select(
            FulfilmentOrder.warehouse_id,
            FulfilmentLine.sku,
            func.sum(
                FulfilmentLine.quantity
                - FulfilmentLine.shipped_quantity
                - FulfilmentLine.cancelled_quantity
            ),
        )
        .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
        .where(FulfilmentOrder.status.not_in(CLOSED))
        .group_by(FulfilmentOrder.warehouse_id, FulfilmentLine.sku)
    )
    return {(wid, sku): int(units or 0) for wid, sku, units in rows}


def reservation_violations(session: Session) -> list[str]:
    """reserved = the open allocations, for every (warehouse, sku) either side knows."""
    reserved = {
        (wid, sku): r
        for wid, sku, r in session.execute(
            select(StockLevel.warehouse_id, StockLevel.sku, StockLevel.reserved)
        )
    }
    held = open_allocations(session)
    return [
        f"stock ({wid}, {sku}): reserved {reserved.get((wid, sku), 0)} but open "
        f"allocations hold {held.get((wid, sku), 0)}"
        for wid, sku in sorted({*reserved, *held})
        if reserved.get((wid, sku), 0) != held.get((wid, sku), 0)
    ]


def ledger_violations(session: Session) -> list[str]:
    """The ledger's movements add up to every figure of every stock row (and to nothing
    where there is no row)."""
    sums = {
        (wid, sku): (int(oh or 0), int(r or 0), int(sf or 0))
        for wid, sku, oh, r, sf in session.execute(
            select(
                StockLedger.warehouse_id,
                StockLedger.sku,
                func.sum(StockLedger.delta_on_hand),
                func.sum(StockLedger.delta_reserved),
                func.sum(StockLedger.delta_safety),
            ).group_by(StockLedger.warehouse_id, StockLedger.sku)
        )
    }
    levels = {
        (wid, sku): (oh, r, sf)
        for wid, sku, oh, r, sf in session.execute(
            select(
                StockLevel.warehouse_id,
                StockLevel.sku,
                StockLevel.on_hand,
                StockLevel.reserved,
                StockLevel.safety,
            )
        )
    }
    found = []
    for key in sorted({*sums, *levels}):
        have, moved = levels.get(key, (0, 0, 0)), sums.get(key, (0, 0, 0))
        if have != moved:
            found.append(
                f"stock {key}: (on hand, reserved, safety) is {have} but the ledger adds up "
                f"to {moved}"
            )
    return found


def _duplicates(session: Session, *columns: Any) -> list[tuple[Any, ...]]:
    rows = session.execute(select(*columns).group_by(*columns).having(func.count() > 1))
    return [tuple(r) for r in rows]


def uniqueness_violations(session: Session) -> list[str]:
    """One order per (connector, external id), one inbox row per (connector, dedupe key)."""
    orders = _duplicates(session, SalesOrder.connector_id, SalesOrder.external_id)
    inbox = _duplicates(session, InboundMessage.connector_id, InboundMessage.dedupe_key)
    return [f"several orders for (connector, external id) {k}" for k in orders] + [
        f"several inbox rows for (connector, dedupe key) {k}" for k in inbox
    ]


def fulfilment_line_violations(session: Session) -> list[str]:
    """No line ships or cancels a negative number, nor more than it has in all."""
    found = []
    for line in session.scalars(select(FulfilmentLine).order_by(FulfilmentLine.id)):
        if (
            line.shipped_quantity < 0
            or line.cancelled_quantity < 0
            or line.shipped_quantity + line.cancelled_quantity > line.quantity
        ):
            found.append(
                f"fulfilment line {line.id} ({line.sku}): shipped {line.shipped_quantity} + "
                f"cancelled {line.cancelled_quantity} of {line.quantity}"
            )
    return found


def return_violations(session: Session) -> list[str]:
    """No return line receives more than it expects, and no order line has more units held
    by returns than shipped from it."""
    found = [
        f"return line {ln.id} ({ln.sku}): restocked {ln.restocked_quantity} + written off "
        f"{ln.written_off_quantity} of {ln.quantity}"
        for ln in session.scalars(select(ReturnLine).order_by(ReturnLine.id))
        if min(ln.restocked_quantity, ln.written_off_quantity) < 0
        or ln.restocked_quantity + ln.written_off_quantity > ln.quantity
    ]
    shipped = dict(
        session.execute(
            select(
                FulfilmentLine.order_line_id, func.sum(FulfilmentLine.shipped_quantity)
            ).group_by(FulfilmentLine.order_line_id)
        ).all()
    )
    order_ids = session.scalars(
        select(OrderLine.order_id)
        .where(OrderLine.id.in_(select(ReturnLine.order_line_id)))
        .distinct()
    )
    for order_id in order_ids:
        for line_id, held in sorted(returned_per_line(session, order_id).items()):
            if held > int(shipped.get(line_id) or 0):
                found.append(
                    f"order line {line_id}: returns hold {held} units, "
                    f"{shipped.get(line_id) or 0} shipped"
                )
    return found


def fulfilment_status_violations(session: Session) -> list[str]:
    """A fulfilment order's status agrees with its lines: one still waiting, released or
    partly shipped has units open; a shipped one has none open and shipped some."""
    found = []
    for fo in session.scalars(select(FulfilmentOrder).order_by(FulfilmentOrder.id)):
        open_units = sum(
            ln.quantity - ln.shipped_quantity - ln.cancelled_quantity for ln in fo.lines
        )
        shipped = sum(ln.shipped_quantity for ln in fo.lines)
        if fo.status in ("pending", "failed", "released", "partially_shipped") and not open_units:
            found.append(f"fulfilment order {fo.id} is {fo.status} with nothing open")
        if fo.status == "shipped" and (open_units or not shipped):
            found.append(
                f"fulfilment order {fo.id} is shipped with {open_units} unit(s) open and "
                f"{shipped} shipped"
            )
    return found


def cancelled_order_violations(session: Session) -> list[str]:
    """A cancelled order holds no stock: none of its lines is open on a live fulfilment order."""
    rows = session.execute(
        select(SalesOrder.id, FulfilmentLine.id, FulfilmentOrder.status)
        .join(OrderLine, OrderLine.order_id == SalesOrder.id)
        .join(FulfilmentLine, FulfilmentLine.order_line_id == OrderLine.id)
        .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
        .where(
            SalesOrder.status == "cancelled",
            FulfilmentOrder.status.not_in(CLOSED),
            FulfilmentLine.shipped_quantity + FulfilmentLine.cancelled_quantity
            < FulfilmentLine.quantity,
        )
        .order_by(SalesOrder.id, FulfilmentLine.id)
    )
    return [
        f"order {order_id} is cancelled but fulfilment line {line_id} still holds units "
        f"(its fulfilment order is {status})"
        for order_id, line_id, status in rows
    ]


def release_violations(session: Session) -> list[str]:
    """Each fulfilment order a warehouse holds went there through one sent release, and a
    sent release's fulfilment order is one that holds (or held) stock."""
    releases: dict[int, list[OutboxMessage]] = defaultdict(list)
    for msg in session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "wms.release").order_by(OutboxMessage.id)
    ):
        if msg.fulfilment_order_id is not None:
            releases[msg.fulfilment_order_id].append(msg)
    found = []
    for fo in session.scalars(select(FulfilmentOrder).order_by(FulfilmentOrder.id)):
        sent = [m for m in releases.get(fo.id, []) if m.status == "sent"]
        # The warehouse may have taken one whose answer we never got (a timeout): its
        # release is still to be sent again, and that retry gets the stored answer.
        unanswered = [m for m in releases.get(fo.id, []) if m.status in UNANSWERED]
        if fo.status in HANDED_OVER and not sent and not unanswered:
            found.append(f"fulfilment order {fo.id} is {fo.status} without a sent release")
        if len(sent) > 1:
            found.append(f"fulfilment order {fo.id} has {len(sent)} sent releases")
        if sent and fo.status in ("pending", "failed"):
            found.append(f"fulfilment order {fo.id} is {fo.status} but its release was sent")
        if sent and fo.status == "cancelled" and _units_unaccounted(fo):
            found.append(
                f"fulfilment order {fo.id} was released to its warehouse but closed as "
                "cancelled with units neither shipped nor cancelled by the warehouse"
            )
    return found


def _units_unaccounted(fo: FulfilmentOrder) -> bool:
    return any(ln.shipped_quantity + ln.cancelled_quantity < ln.quantity for ln in fo.lines)


def _canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True)


def wms_violations(
    session: Session, requests: Iterable[RecordedRequest], accepted: Iterable[Any]
) -> list[str]:
    """What the warehouse saw (``requests``) and took (``accepted`` release bodies): one body
    per idempotency key and path, and every release it took names a fulfilment order that
    was sent and holds (or held) stock here."""
    bodies: dict[tuple[str, str], set[str]] = defaultdict(set)
    for req in requests:
        if req.method == "POST":
            key = req.headers.get("idempotency-key", "")
            bodies[(req.path, key)].add(_canonical(req.body))
    taken = {int(body.get("fulfilment_order_id") or 0) for body in accepted}
    found = [
        f"the WMS got idempotency key {key!r} on {path} with {len(seen)} different bodies"
        for (path, key), seen in sorted(bodies.items())
        if len(seen) > 1
    ]
    for fo_id in sorted(taken):
        fo = session.get(FulfilmentOrder, fo_id)
        if fo is None:
            found.append(f"the WMS was sent fulfilment order {fo_id}, which does not exist")
            continue
        release = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == "wms.release", OutboxMessage.fulfilment_order_id == fo_id
            )
        ).first()
        if release is None:
            found.append(f"the WMS was sent fulfilment order {fo_id} without a release row")
        elif release.status == "cancelled" or (fo.status == "cancelled" and _units_unaccounted(fo)):
            found.append(
                f"the WMS was sent fulfilment order {fo_id}, which no longer holds its stock "
                f"(fulfilment order {fo.status}, release {release.status})"
            )
    return found


CHECKS: tuple[Callable[[Session], list[str]], ...] = (
    stock_violations,
    reservation_violations,
    ledger_violations,
    uniqueness_violations,
    fulfilment_line_violations,
    fulfilment_status_violations,
    cancelled_order_violations,
    release_violations,
    return_violations,
)


def violations(deps: HasSessions, wms: FakeWms | None = None) -> list[str]:
    """Everything wrong now, as sentences (empty when every invariant holds)."""
    with unit_of_work(deps.sessions) as session:
        found = [problem for check in CHECKS for problem in check(session)]
        if wms is not None:
            found += wms_violations(session, wms.requests, wms.accepted.values())
    return found


def assert_invariants(deps: HasSessions, wms: FakeWms | None = None) -> None:
    found = violations(deps, wms)
    assert not found, "invariants broken:\n- " + "\n- ".join(found)
