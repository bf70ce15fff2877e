"""An EDI partner's order answered after routing (855 / ORDRSP), from the order's real
state: each line's units placed with warehouses (its fulfilment lines, less what they
cancelled) and the rest waiting for stock. Written in the routing transaction when the
order is routed or backordered, and again each time routing changes that state (a
backorder woken by stock, routed in part or whole): once per change, never twice for the
same state. The first answer's outbox key is ``edi:<connector>:answer:<order>``, the n-th's
that plus ``:<n>``; each row's payload keeps the line state it answered (``answer_state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from omniroute.connectors.edi import AnswerLine, EdiPartner, OrderAnswer, OrderAnswering
from omniroute.core.edi.documents import queue_document
from omniroute.core.edi.interchanges import note_outbox
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.live_connectors import LiveConnectors
from omniroute.core.platform.models import Connector, FulfilmentLine, OutboxMessage, SalesOrder

ANSWERED = frozenset({OrderStatus.ROUTED, OrderStatus.RELEASED, OrderStatus.BACKORDERED})
_ANSWERS: dict[type, bool] = {}


def _answers(source: object) -> bool:
    kind = type(source)
    known = _ANSWERS.get(kind)
    if known is None:
        known = _ANSWERS[kind] = issubclass(kind, OrderAnswering) and issubclass(kind, EdiPartner)
    return known


def answer_routed(session: Session, connector_id: int, source: Any, order: SalesOrder) -> None:
    """Queue the partner's answer to a just-routed order (nothing for other channels)."""
    outbox_id = answer_order(session, connector_id, source, order)
    if outbox_id is not None:
        note_outbox(session, outbox_id)


def answer_order(session: Session, connector_id: int, source: Any, order: SalesOrder) -> int | None:
    """The outbox id of a new 855 / ORDRSP for ``order``, when its partner asks for one and
    the order's line state differs from the last answer's (None otherwise)."""
    if not _answers(source) or OrderStatus(order.status) not in ANSWERED:
        return None
    key = f"edi:{connector_id}:answer:{order.id}"
    with session.no_autoflush:
        previous = session.scalars(
            select(OutboxMessage.payload)
            .where(
                or_(
                    OutboxMessage.idempotency_key == key,
                    OutboxMessage.idempotency_key.like(f"{key}:%"),
                )
            )
            .order_by(OutboxMessage.id.desc())
        ).all()
        placed = _placed(session, [line.id for line in order.lines])
    answer = _answer(order, placed)
    state = [[x.line_id, x.accepted, x.backordered] for x in answer.lines]
    if previous and (previous[0] or {}).get("answer_state") in (state, None):
        return None  # the same state answered before (or an answer from before states)
    reply = source.answer_order(answer)
    if reply is None:
        return None
    return queue_document(
        session,
        connector_id,
        source,
        reply,
        key=f"{key}:{len(previous) + 1}" if previous else key,
        extra={"answer_state": state},
    )


@dataclass(frozen=True)
class AnswerChanges:
    """The follow-up of routing an order again (``platform.ports.AfterRouting``): its
    partner's new answer, when its channel is an EDI partner that asks for one."""

    connectors: LiveConnectors

    def __call__(self, session: Session, order: SalesOrder) -> list[int]:
        connector = session.get(Connector, order.connector_id)
        if connector is None:
            return []
        source = self.connectors.for_row(connector)
        outbox_id = answer_order(session, connector.id, source, order)
        return [] if outbox_id is None else [outbox_id]


def identifiers_of(line: Any) -> tuple[tuple[str, str], ...]:
    """(qualifier, value) of each id the partner sent for a canonical line."""
    return tuple(
        (str(i["qualifier"]), str(i["value"]))
        for i in line.get("identifiers") or ()
        if i.get("qualifier") and i.get("value")
    )


def _placed(session: Session, line_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(
            FulfilmentLine.order_line_id,
            func.sum(FulfilmentLine.quantity - FulfilmentLine.cancelled_quantity),
        )
        .where(FulfilmentLine.order_line_id.in_(line_ids))
        .group_by(FulfilmentLine.order_line_id)
    )
    return {int(line_id): int(units or 0) for line_id, units in rows}


def _answer(order: SalesOrder, placed: dict[int, int]) -> OrderAnswer:
    canonical = order.canonical or {}
    channel_lines = canonical.get("lines") or []
    lines = []
    for line in sorted(order.lines, key=lambda x: x.line_no):
        source = channel_lines[line.line_no - 1] if line.line_no <= len(channel_lines) else {}
        accepted = min(placed.get(line.id, 0), line.quantity)
        ids = identifiers_of(source)
        lines.append(
            AnswerLine(
                line_id=line.external_line_id or str(line.line_no),
                ordered=line.quantity,
                accepted=accepted,
                backordered=line.quantity - accepted,
                unit=source.get("unit_of_measure"),
                identifiers=ids,
                unit_price=str(line.unit_price) if line.unit_price is not None else None,
            )
        )
    created = canonical.get("created_at")
    return OrderAnswer(
        order_id=order.id,
        external_id=order.external_id,
        order_date=str(created)[:10] if created else None,
        lines=tuple(lines),
        currency=order.currency,
    )
