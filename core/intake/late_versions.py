"""A newer version from the channel of an order a warehouse may already hold.

Compared with the channel's previous version (``SalesOrder.canonical``), a newer one may:

- cancel the order, remove lines or lower quantities: a cancel of those units, asked of the
  warehouses holding them (``orders.after_release``; units shipped already open a
  ``return_required`` exception). The channel is not told of its own cancel.
- change what no warehouse can be sent (the ship-to address, the service level, an added
  line, a higher quantity): a ``change_after_release`` exception naming each change.

Cancels and cuts reach an order wherever it is past routing: all with warehouses (released,
partially shipped, shipped, delivered), released in part while the rest waits for stock
(the waiting units are dropped first), or still being handed over (a cancel of all of it
withdraws the fulfilment orders in the outbox; one being sent right now makes the row wait
for a later try). A cut of units that sit on a fulfilment order not yet handed over, and any
newer version of an order on hold or in the exception queue with fulfilment orders, gets the
``change_after_release`` exception for ops to act on. The version is then recorded as the
one seen (``external_updated_at``, ``canonical``), so a redelivery changes nothing and the
next version is compared with this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from omniroute.core.channels.release_policy import needs_shipping
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.orders.after_release import THROUGH_FULFILMENT, request_cancellation
from omniroute.core.platform.models import OrderLine, SalesOrder

#: An order no warehouse has shipped from: the channel calling it fulfilled is not our doing.
NOTHING_SHIPPED_YET = frozenset({OrderStatus.ROUTED, OrderStatus.RELEASED})

#: Where the outbox ids of cancels asked in a session wait for it to commit.
_NUDGES = "omniroute.intake.late_cancel_nudges"


@dataclass
class Changes:
    """What a newer version changes, seen from the warehouse."""

    cancelled: bool = False
    fewer: dict[int, int] = field(default_factory=dict)  # order line id -> units fewer
    unsendable: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        said = ["cancelled by the channel"] if self.cancelled else []
        said += [f"line {line_id}: {n} unit(s) fewer" for line_id, n in sorted(self.fewer.items())]
        return said + self.unsendable


def changes_of(order: SalesOrder, canonical: dict[str, Any]) -> Changes:
    """What ``canonical`` changes against the channel's previous version of the order."""
    before = order.canonical or {}
    # Lines that need no shipping (gift cards, digital goods) were never a warehouse's.
    previous = _by_key(before.get("lines") or [])
    incoming = _by_key(canonical.get("lines") or [])
    incoming = {k: v for k, v in incoming.items() if needs_shipping(v)}
    changes = Changes(cancelled=bool(canonical.get("cancelled")))
    for line in order.lines:
        key = _key_of_line(line)
        had = int(previous[key]["quantity"]) if key in previous else line.quantity
        has = 0 if changes.cancelled or key not in incoming else int(incoming[key]["quantity"])
        if has < had:
            changes.fewer[line.id] = had - has
        elif has > had:
            changes.unsendable.append(
                f"line {line.id} ({line.sku or line.channel_sku}): quantity raised from "
                f"{had} to {has}"
            )
    known = {_key_of_line(line) for line in order.lines}
    for key, added in incoming.items():
        if key not in known and not changes.cancelled:
            name = added.get("sku") or added.get("channel_sku") or added.get("title")
            changes.unsendable.append(f"line added: {added.get('quantity')} x {name}")
    if not changes.cancelled:
        if canonical.get("fulfilled_externally") and order.status in NOTHING_SHIPPED_YET:
            changes.unsendable.append(
                "the channel marks it fulfilled while a warehouse holds it: if the merchant "
                "shipped it, cancel it at the warehouse"
            )
        if (canonical.get("ship_to") or None) != (before.get("ship_to") or None):
            changes.unsendable.append("ship-to address changed")
        old_level, new_level = before.get("service_level"), canonical.get("service_level")
        if (new_level or "standard") != (old_level or "standard"):
            changes.unsendable.append(f"service level changed from {old_level} to {new_level}")
    return changes


def apply_late_version(session: Session, order: SalesOrder, canonical: dict[str, Any]) -> None:
    """Act on a newer version of an order that is no longer editable (see the module)."""
    incoming = canonical.get("updated_at")
    changes = changes_of(order, canonical)
    if order.status == OrderStatus.CANCELLED:
        order_state.note(session, order, f"version {incoming}: the order is cancelled already")
    elif not (changes.cancelled or changes.fewer or changes.unsendable):
        order_state.note(
            session, order, f"version {incoming} changes nothing the warehouse needs to know"
        )
    elif order.status in THROUGH_FULFILMENT:
        _through_warehouses(session, order, changes, incoming)
    else:
        _not_applied(session, order, changes.describe(), incoming)
    order.external_updated_at = incoming
    order.canonical = canonical


def take_nudges(session: Session) -> list[int]:
    """The outbox ids of the cancels this session asked for: nudge them after the commit."""
    return list(session.info.pop(_NUDGES, ()))


def _through_warehouses(
    session: Session, order: SalesOrder, changes: Changes, incoming: str | None
) -> None:
    unsendable = list(changes.unsendable)
    if changes.cancelled or changes.fewer:
        why = "cancelled by the channel" if changes.cancelled else "lines cut by the channel"
        requested = request_cancellation(
            session,
            order,
            None if changes.cancelled else changes.fewer,
            source="channel",
            reason=f"{why} (version {incoming})",
            actor="channel",
            notify_channel=False,
            strict=False,
        )
        session.info.setdefault(_NUDGES, []).extend(requested.outbox_ids)
        unsendable += [
            f"line {line_id}: {n} unit(s) to cancel are on no fulfilment order a warehouse "
            "holds yet (still being handed over)"
            for line_id, n in sorted(requested.unplaced.items())
        ]
    if unsendable:
        _not_applied(session, order, unsendable, incoming)


def _not_applied(
    session: Session, order: SalesOrder, changes: list[str], incoming: str | None
) -> None:
    open_exception(
        session,
        Reason.CHANGE_AFTER_RELEASE,
        order_id=order.id,
        detail={
            "message": f"version {incoming} from the channel changes what a warehouse may hold "
            f"already (the order is {order.status}); not applied: change it by hand",
            "changes": changes,
            "version": incoming,
        },
    )
    order_state.note(
        session, order, f"version {incoming} not applied after release: {'; '.join(changes)}"
    )


def _by_key(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {_key(line, no): line for no, line in enumerate(lines, start=1)}


def _key(line: dict[str, Any], line_no: int) -> str:
    """A line's identity across versions: the channel's line id, else its position."""
    external = line.get("external_line_id")
    return f"id:{external}" if external else f"no:{line_no}"


def _key_of_line(line: OrderLine) -> str:
    return f"id:{line.external_line_id}" if line.external_line_id else f"no:{line.line_no}"
