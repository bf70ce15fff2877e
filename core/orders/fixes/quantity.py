"""A person changes a line's quantity before a warehouse has the order: fewer units (0
takes the line out), or more, up to what the channel sent; beyond that only for a role that
may route orders (ops), who may know the customer asked. Kept beside the channel's quantity
(``fixes``), audited with before and after, and the order processed again (its open
``bad_quantity`` exception retried)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from omniroute.core.access.audit import record
from omniroute.core.exceptions.opening import Reason
from omniroute.core.order_state import timeline as order_state
from omniroute.core.orders.fixes.replay import lock_fixable, replay
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Invalid, NotFound
from omniroute.core.platform.models import OrderLine
from omniroute.core.platform.ports import HasClock, HasDispatcher, HasSessions

MAX_QUANTITY = 1_000_000


class Deps(HasSessions, HasClock, HasDispatcher, Protocol):
    """What changing a quantity uses."""


@dataclass(frozen=True)
class QuantityChanged:
    order_id: int
    line_id: int
    quantity: int
    channel_quantity: int
    inbound_message_id: int  # the inbox row replayed to validate and route it again


def change_quantity(
    deps: Deps,
    order_id: int,
    line_id: int,
    quantity: int,
    *,
    actor: str,
    beyond_channel: bool = False,
    note: str = "",
) -> QuantityChanged:
    """``beyond_channel``: the caller may set more units than the channel sent (ops)."""
    if not 0 <= quantity <= MAX_QUANTITY:
        raise Invalid(f"a quantity is 0 to {MAX_QUANTITY}", code="bad_quantity")
    with unit_of_work(deps.sessions) as session:
        order = lock_fixable(session, order_id, "lines")
        line = session.scalars(
            select(OrderLine).where(OrderLine.id == line_id, OrderLine.order_id == order.id)
        ).first()
        if line is None:
            raise NotFound(f"order {order_id} has no line {line_id}")
        if line.external_line_id is None:
            raise Invalid(
                f"line {line_id} has no channel line id: it cannot be told apart in the "
                "channel's next version",
                code="unkeyed_line",
            )
        key = str(line.external_line_id)
        fixes = dict(order.fixes or {})
        quantities = dict(fixes.get("quantities") or {})
        channel = int(quantities.get(key, {}).get("channel", line.quantity))
        if quantity > channel and not beyond_channel:
            raise Invalid(
                f"the channel sent {channel} of line {line_id}; more needs ops",
                code="above_channel",
                channel_quantity=channel,
            )
        # A line the channel sent with 0 units (a bad_quantity) is taken out by setting 0.
        if quantity == line.quantity and (quantity != 0 or key in quantities):
            raise Invalid("the quantity is unchanged", code="unchanged")
        others = session.scalar(
            select(OrderLine.id)
            .where(OrderLine.order_id == order.id, OrderLine.id != line.id, OrderLine.quantity > 0)
            .limit(1)
        )
        if quantity == 0 and others is None:
            raise Invalid(
                "that would leave the order with no line: cancel the order instead",
                code="no_line_left",
            )
        before = line.quantity
        quantities[key] = {"channel": channel, "fixed": quantity}
        fixes["quantities"] = quantities
        order.fixes = fixes
        order_state.note(
            session, order, f"line {line.line_no} quantity {before} → {quantity} by {actor}"
        )
        replayed = replay(session, order, now=deps.clock.now(), reasons={Reason.BAD_QUANTITY})
        record(
            session,
            actor,
            "order.quantity_change",
            "order",
            order.id,
            {"note": note, "line_id": line.id, "inbound_message_id": replayed},
            before={"line_id": line.id, "quantity": before},
            after={"line_id": line.id, "quantity": quantity},
        )
        result = QuantityChanged(order.id, line.id, quantity, channel, replayed)
    deps.dispatcher.enqueue(Task.PROCESS_INBOUND, result.inbound_message_id)
    return result
