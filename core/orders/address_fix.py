"""A person fixes an order's shipping address before a warehouse has it.

The new ship-to passes the same checks as an order the channel sends
(core/order_state/ship_to.py); it is saved on the order with the channel's address beside
it (``address_fix``), audited with before and after. An order parked in ``exception`` has
its latest inbox row replayed (its open ``bad_address`` exceptions marked retried), so it
is validated and routed by the same processing as any order: intake keeps the fix while the
channel sends the same address again (``keep_fix``), and a new address from the channel
replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.core.access.audit import record
from omniroute.core.exceptions.opening import ExceptionStatus, Reason, mark_retried
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.order_state.ship_to import check_ship_to
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid
from omniroute.core.platform.models import (
    FulfilmentOrder,
    InboundMessage,
    OrderException,
    SalesOrder,
)
from omniroute.core.platform.ports import HasClock, HasDispatcher, HasSessions

FIELDS = (
    "name",
    "company",
    "address1",
    "address2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)
MAX_FIELD = 200
# Not yet released to a warehouse (and no fulfilment order either, checked apart).
FIXABLE = frozenset(
    {
        OrderStatus.RECEIVED,
        OrderStatus.VALIDATED,
        OrderStatus.EXCEPTION,
        OrderStatus.ON_HOLD,
        OrderStatus.BACKORDERED,
    }
)


class Deps(HasSessions, HasClock, HasDispatcher, Protocol):
    """What fixing an address uses."""


@dataclass(frozen=True)
class AddressFixed:
    order_id: int
    ship_to: dict[str, Any]
    # The inbox row replayed to validate and route it again (an order in exception), or None.
    inbound_message_id: int | None


def new_ship_to(
    current: Mapping[str, Any] | None, changes: Mapping[str, str | None]
) -> dict[str, Any]:
    """The ship-to with ``changes`` applied (a field not named keeps its value; an empty one
    is cleared), checked; Invalid with every problem found (pure)."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise Invalid(f"unknown address fields: {', '.join(unknown)}", code="unknown_field")
    ship_to: dict[str, Any] = {k: v for k, v in (current or {}).items() if k in FIELDS}
    for field, value in changes.items():
        text = (value or "").strip()
        if len(text) > MAX_FIELD:
            raise Invalid(f"{field} is longer than {MAX_FIELD} characters", code="too_long")
        ship_to[field] = text or None
    if ship_to.get("country"):
        ship_to["country"] = str(ship_to["country"]).upper()
        if len(ship_to["country"]) != 2 or not ship_to["country"].isalpha():
            raise Invalid("country must be a two-letter ISO code, such as US", code="bad_address")
    problems = check_ship_to(ship_to)
    if problems:
        raise Invalid(
            "; ".join(p.message for p in problems),
            code="bad_address",
            fields=[p.field for p in problems],
        )
    return ship_to


def keep_fix(fix: Mapping[str, Any] | None, canonical: dict[str, Any]) -> bool:
    """Put a person's fixed address on a version from the channel that still carries the
    address they fixed; True when it did (pure)."""
    if not fix or canonical.get("ship_to") != fix.get("channel"):
        return False
    canonical["ship_to"] = dict(fix["fixed"])
    return True


def fix_address(
    deps: Deps, order_id: int, changes: Mapping[str, str | None], *, actor: str, note: str = ""
) -> AddressFixed:
    with unit_of_work(deps.sessions) as session:
        order = order_state.lock_order(session, order_id)
        if order.status not in FIXABLE or _released(session, order.id):
            raise Conflict(
                f"order {order_id} is {order.status} and a warehouse has it: its address can no "
                "longer be changed here; cancel it or ask the warehouse",
                code="released",
                order_status=order.status,
            )
        before = dict(order.ship_to or {})
        after = new_ship_to(before, changes)
        if after == before:
            raise Invalid("the address is unchanged", code="unchanged")
        channel = (order.address_fix or {}).get("channel", before)
        order.address_fix = {"channel": channel, "fixed": after}
        order.ship_to = after
        order.canonical = {**(order.canonical or {}), "ship_to": after}
        order_state.note(session, order, f"shipping address fixed by {actor}")
        replayed = _replay(session, order, deps) if order.status == OrderStatus.EXCEPTION else None
        record(
            session,
            actor,
            "order.address_fix",
            "order",
            order.id,
            {"note": note, "inbound_message_id": replayed},
            before={"ship_to": before},
            after={"ship_to": after},
        )
        result = AddressFixed(order.id, after, replayed)
    if result.inbound_message_id is not None:
        deps.dispatcher.enqueue(Task.PROCESS_INBOUND, result.inbound_message_id)
    return result


def _released(session: Session, order_id: int) -> bool:
    found = session.scalar(select(FulfilmentOrder.id).where(of_order(order_id)).limit(1))
    return found is not None


def _replay(session: Session, order: SalesOrder, deps: Deps) -> int | None:
    """Have the order's latest inbox row processed again; its bad_address exceptions are
    retried (resolved if it now passes, opened again if not)."""
    msg = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.order_id == order.id)
        .order_by(InboundMessage.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if msg is None:
        return None
    now = deps.clock.now()
    for exc in session.scalars(
        select(OrderException).where(
            OrderException.order_id == order.id,
            OrderException.status == ExceptionStatus.OPEN,
            OrderException.reason == Reason.BAD_ADDRESS,
        )
    ):
        mark_retried(exc, now)
    msg.status, msg.attempts, msg.claimed_at, msg.nudged_at = "pending", 0, None, None
    msg.next_attempt_at = now
    return int(msg.id)
