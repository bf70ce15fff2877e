"""A person releases an order from its channel's release-policy hold.

The hold's code is waived for this order (a later version from the channel is not held for
it again) and the order's latest inbox row is replayed, so it is checked, validated and
routed by the same processing as any order; another hold the policy finds (a test order
that is also unpaid) holds it again. A voided payment is never waived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from omniroute.core.access.audit import record
from omniroute.core.channels.release_policy import HoldCode
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict
from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.ports import HasClock, HasDispatcher, HasSessions


class Deps(HasSessions, HasClock, HasDispatcher, Protocol):
    """What releasing a hold uses."""


@dataclass(frozen=True)
class HoldReleased:
    order_id: int
    hold_code: str
    inbound_message_id: int


def release_hold(deps: Deps, order_id: int, *, actor: str, note: str) -> HoldReleased:
    with unit_of_work(deps.sessions) as session:
        order = order_state.lock_order(session, order_id)
        code = order.hold_code
        if order.status != OrderStatus.ON_HOLD or code is None:
            raise Conflict(
                f"order {order_id} is {order.status} and not held by its channel's release policy",
                code="not_held",
                order_status=order.status,
            )
        if code == HoldCode.PAYMENT_VOIDED:
            raise Conflict(
                f"order {order_id}'s payment was voided or refunded: it cannot be released; "
                "cancel it, or wait for the channel to take a new payment",
                code="not_releasable",
                hold_code=code,
            )
        msg = session.scalars(
            select(InboundMessage)
            .where(InboundMessage.order_id == order.id)
            .order_by(InboundMessage.id.desc())
            .limit(1)
            .with_for_update()
        ).first()
        if msg is None:  # every order comes in through the inbox; kept for a clear answer
            raise Conflict(f"order {order_id} has no inbox row to replay", code="not_replayable")
        order.holds_waived = sorted({*(order.holds_waived or []), code})
        msg.status, msg.attempts, msg.claimed_at, msg.nudged_at = "pending", 0, None, None
        msg.next_attempt_at = deps.clock.now()
        order_state.transition(
            session, order, OrderStatus.RECEIVED, f"released from hold {code} by {actor}: {note}"
        )
        record(
            session,
            actor,
            "order.release_hold",
            "order",
            order.id,
            {"hold_code": code, "note": note, "inbound_message_id": msg.id},
        )
        result = HoldReleased(order.id, code, msg.id)
    deps.dispatcher.enqueue(Task.PROCESS_INBOUND, result.inbound_message_id)
    return result
