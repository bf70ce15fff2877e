"""An EDI partner's order answered after routing (855 / ORDRSP), from the order's real
state: each line's units placed with warehouses (its fulfilment lines, less what they
cancelled) and the rest waiting for stock. Written once per order, in the routing
transaction, when the order is routed or backordered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.connectors.edi import AnswerLine, EdiPartner, OrderAnswer, OrderAnswering
from omniroute.core.edi.documents import queue_document
from omniroute.core.edi.interchanges import note_outbox
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.models import FulfilmentLine, OutboxMessage, SalesOrder

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
    if not _answers(source) or OrderStatus(order.status) not in ANSWERED:
        return
    key = f"edi:{connector_id}:answer:{order.id}"
    with session.no_autoflush:
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)):
            return
        placed = _placed(session, [line.id for line in order.lines])
    reply = source.answer_order(_answer(order, placed))
    if reply is not None:
        note_outbox(session, queue_document(session, connector_id, source, reply, key=key))


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
