"""Returns the channel tells of: a customer's request, the channel's approval, decline or
cancel, read from a stored webhook (``connectors.base.ReturnEvents``) in the inbox row's
transaction.

The channel's id of a return is bound to one RMA (``return_authorisation`` UNIQUE
(connector, external_id)); every later delivery about it moves that RMA. A delivery about a
return omniroute itself created in the channel names its RMA number (the connector reads it
back), so the RMA is bound to the channel's id, never created twice. A request becomes an RMA
in ``requested`` for a person to authorise; an approval authorises it (the warehouse is told,
the channel is not: it knows); a decline or cancel cancels it while nothing came back. Whatever
cannot be taken (an order or line omniroute does not know, units not shipped) raises
``ChannelReturnRefused``: the row fails with its reason, kept and replayable.
"""

from __future__ import annotations

from collections import Counter
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import (
    Capability,
    ChannelReturn,
    PayloadError,
    ReturnEvents,
    enabled_capabilities,
)
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.timeline import lock_order
from omniroute.core.platform.errors import Invalid
from omniroute.core.platform.models import (
    Connector,
    InboundMessage,
    OrderLine,
    ReturnAuthorisation,
    SalesOrder,
)
from omniroute.core.returns import rmas
from omniroute.core.returns.rules import ReasonCode, ReturnStatus

_NUDGES = "channel_return_nudges"
_IS_SOURCE: dict[type, bool] = {}

#: States a channel's decline or cancel still cancels (nothing came back yet).
CANCELLABLE = frozenset({ReturnStatus.REQUESTED, ReturnStatus.AUTHORISED, ReturnStatus.IN_TRANSIT})


class ChannelReturnRefused(PayloadError):
    """The channel's return cannot be taken as it is; the row fails with this reason."""


def return_event_of(source: object, msg: InboundMessage) -> ChannelReturn | None:
    """The return a stored delivery tells of; None when it is not about a return."""
    kind = type(source)
    known = _IS_SOURCE.get(kind)
    if known is None:  # a runtime protocol check inspects every member: once per class
        known = _IS_SOURCE[kind] = issubclass(kind, ReturnEvents)
    if not known or Capability.RETURN_WEBHOOKS not in enabled_capabilities(source):
        return None
    return cast(ReturnEvents, source).return_event(msg.topic, msg.headers, msg.body)


def take_channel_return(
    deps: rmas.Deps, session: Session, connector: Connector, event: ChannelReturn
) -> int | None:
    """Apply the channel's return to its RMA (made if new); the order's id, None when the
    delivery changes nothing omniroute holds. Outbox rows written: ``take_nudges``."""
    with session.begin_nested():
        rma = _bound(session, connector.id, event)
        if rma is None:
            return _new(deps, session, connector, event)
        rma, order = rmas.locked(session, rma.id)
        _move(deps, session, rma, order, event)
        return order.id


def take_nudges(session: Session) -> list[int]:
    """The outbox ids the channel's returns wrote in this session: nudge them after commit."""
    return list(session.info.pop(_NUDGES, ()))


def _bound(session: Session, connector_id: int, event: ChannelReturn) -> ReturnAuthorisation | None:
    """The RMA of the channel's return: by its id, else (omniroute made it there) by the RMA
    number it carries, which binds the id to that RMA."""
    rma = session.scalars(
        select(ReturnAuthorisation).where(
            ReturnAuthorisation.connector_id == connector_id,
            ReturnAuthorisation.external_id == event.external_return_id,
        )
    ).first()
    if rma is not None or not event.rma_number:
        return rma
    rma = session.scalars(
        select(ReturnAuthorisation).where(
            ReturnAuthorisation.connector_id == connector_id,
            ReturnAuthorisation.rma_number == event.rma_number,
        )
    ).first()
    if rma is not None and rma.external_id is None:
        rma.external_id = event.external_return_id
    return rma


def _new(
    deps: rmas.Deps, session: Session, connector: Connector, event: ChannelReturn
) -> int | None:
    if event.status not in (ReturnStatus.REQUESTED, ReturnStatus.AUTHORISED):
        return None  # declined, cancelled or closed before omniroute heard of it
    if not event.external_order_id:
        raise ChannelReturnRefused(f"return {event.external_return_id} names no order")
    order_id = session.scalar(
        select(SalesOrder.id).where(
            SalesOrder.connector_id == connector.id,
            SalesOrder.external_id == event.external_order_id,
        )
    )
    if order_id is None:
        raise ChannelReturnRefused(
            f"return {event.external_return_id} is of order {event.external_order_id}, "
            "which omniroute does not hold; replay it once the order is in"
        )
    order = lock_order(session, order_id)
    data = rmas.ReturnInput(
        lines=_order_lines(session, order.id, event),
        reason=_reason(event).value,
        note=_note(event),
        authorise=event.status == ReturnStatus.AUTHORISED,
    )
    try:
        rma, outbox_ids = rmas.create_locked(
            deps,
            session,
            order,
            data,
            reason=_reason(event),
            actor=f"channel:{connector.kind}",
            source="channel",
            external_id=event.external_return_id,
            tell_channel=False,
        )
    except Invalid as exc:
        problems = "; ".join(str(p.get("message")) for p in exc.details.get("problems", ()))
        raise ChannelReturnRefused(
            f"return {event.external_return_id} of order {event.external_order_id}: {exc}"
            + (f" ({problems})" if problems else "")
        ) from None
    session.info.setdefault(_NUDGES, []).extend(outbox_ids)
    label = event.name or event.external_return_id
    order_state.note(session, order, f"return {rma.rma_number} asked for in the channel ({label})")
    return order.id


def _move(
    deps: rmas.Deps,
    session: Session,
    rma: ReturnAuthorisation,
    order: SalesOrder,
    event: ChannelReturn,
) -> None:
    outbox_ids: list[int] = []
    if event.status == ReturnStatus.AUTHORISED and rma.status == ReturnStatus.REQUESTED:
        outbox_ids = rmas.authorise_locked(deps, session, rma, order, tell_channel=False)
    elif event.status in ("declined", ReturnStatus.CANCELLED):
        if rma.status in CANCELLABLE:
            outbox_ids = rmas.cancel_locked(
                deps, session, rma, order, tell_channel=False, why=f"{event.status} in the channel"
            )
        elif rma.status != ReturnStatus.CANCELLED:
            order_state.note(
                session,
                order,
                f"return {rma.rma_number} was {event.status} in the channel, but it is "
                f"{rma.status} here: settle it by hand",
            )
    elif event.status == ReturnStatus.CLOSED and rma.status not in (
        ReturnStatus.CLOSED,
        ReturnStatus.CANCELLED,
    ):
        order_state.note(session, order, f"return {rma.rma_number} closed in the channel")
    session.info.setdefault(_NUDGES, []).extend(outbox_ids)


def _order_lines(session: Session, order_id: int, event: ChannelReturn) -> list[tuple[int, int]]:
    if not event.lines:
        raise ChannelReturnRefused(
            f"return {event.external_return_id} carries no lines omniroute could read"
        )
    by_external = dict(
        session.execute(
            select(OrderLine.external_line_id, OrderLine.id).where(
                OrderLine.order_id == order_id,
                OrderLine.external_line_id.in_([ln.external_line_id for ln in event.lines]),
            )
        ).all()
    )
    missing = [ln.external_line_id for ln in event.lines if ln.external_line_id not in by_external]
    if missing:
        raise ChannelReturnRefused(
            f"return {event.external_return_id}: line(s) {', '.join(missing)} are not lines "
            f"of order {event.external_order_id} here"
        )
    return [(by_external[ln.external_line_id], ln.quantity) for ln in event.lines]


def _reason(event: ChannelReturn) -> ReasonCode:
    """The most common reason of its lines (one reason per RMA); ``other`` if unknown."""
    counted = Counter(ln.reason for ln in event.lines).most_common(1)
    try:
        return ReasonCode(counted[0][0]) if counted else ReasonCode.OTHER
    except ValueError:
        return ReasonCode.OTHER


def _note(event: ChannelReturn) -> str | None:
    notes = [ln.note for ln in event.lines if ln.note]
    return "\n".join(dict.fromkeys(notes))[:2000] or None


__all__ = ["ChannelReturnRefused", "return_event_of", "take_channel_return", "take_nudges"]
