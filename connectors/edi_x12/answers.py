"""An order's state after routing as the 855's content (pure): each line accepted as
ordered (IA), waiting for stock (IB), or accepted in part (IQ, the quantity placed)."""

from __future__ import annotations

import datetime as dt
import decimal

from omniroute.connectors.edi import AnswerLine, OrderAnswer
from omniroute.connectors.edi_x12.outbound import AckLine, LineStatus, PurchaseOrderAck


def _status(line: AnswerLine) -> tuple[LineStatus, int]:
    if line.accepted >= line.ordered:
        return LineStatus.ACCEPTED, line.ordered
    if line.accepted <= 0:
        return LineStatus.BACKORDERED, line.ordered
    return LineStatus.QUANTITY_CHANGED, line.accepted


def purchase_order_ack(answer: OrderAnswer, today: dt.date) -> PurchaseOrderAck:
    po_date = dt.date.fromisoformat(answer.order_date[:10]) if answer.order_date else today
    lines = []
    for line in answer.lines:
        status, quantity = _status(line)
        price = decimal.Decimal(line.unit_price) if line.unit_price else None
        lines.append(
            AckLine(
                line_id=line.line_id,
                ordered_quantity=line.ordered,
                unit=line.unit or "EA",
                status=status,
                quantity=quantity,
                identifiers=line.identifiers,
                unit_price=price,
            )
        )
    return PurchaseOrderAck(answer.external_id, po_date, today, tuple(lines), 1)
