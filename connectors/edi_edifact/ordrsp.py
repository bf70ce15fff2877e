"""ORDRSP (order response, BGM 231) from a plain ``OrderResponse``.

Each line's status goes in LIN 1229: 5 accepted without amendment, 3 changed (quantity or
date), 7 not accepted; the header's BGM 1225 is 29 when every line is accepted as ordered,
27 when none is accepted, else 4 (change). Quantities: QTY+21 ordered, QTY+113 to be
delivered, QTY+83 backordered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from omniroute.connectors.edi_edifact.adapter import Segment, segment
from omniroute.connectors.edi_edifact.parts import ItemId, PartyRef, dtm, line_items, nad
from omniroute.connectors.edi_edifact.values import edifact_number
from omniroute.connectors.edi_edifact.writer import OutboundError, OutboundMessage


class LineStatus(enum.StrEnum):
    """LIN 1229, action request/notification."""

    ACCEPTED = "5"
    CHANGED = "3"
    NOT_ACCEPTED = "7"


@dataclass(frozen=True)
class ResponseLine:
    line_number: str
    items: tuple[ItemId, ...]
    status: LineStatus
    ordered: int
    confirmed: int
    backordered: int = 0
    delivery_date: date | None = None
    unit_price: Decimal | None = None


@dataclass(frozen=True)
class OrderResponse:
    document_number: str
    order_number: str
    issued: datetime
    buyer: PartyRef
    supplier: PartyRef
    lines: tuple[ResponseLine, ...]
    currency: str | None = None


def build_ordrsp(
    response: OrderResponse,
    *,
    reference: str,
    version: tuple[str, str] = ("D", "96A"),
    association: str = "EAN005",
    decimal_mark: str = ".",
) -> OutboundMessage:
    if not response.lines:
        raise OutboundError("an ORDRSP needs at least one line")
    body: list[Segment] = [
        segment("BGM", "231", response.document_number, _function(response)),
        dtm("137", response.issued),
        segment("RFF", ["ON", response.order_number]),
        nad("BY", response.buyer),
        nad("SU", response.supplier),
    ]
    if response.currency:
        body.append(segment("CUX", ["2", response.currency, "9"]))
    for line in response.lines:
        body.extend(_line(line, decimal_mark))
    body += [segment("UNS", "S"), segment("CNT", ["2", str(len(response.lines))])]
    return OutboundMessage(
        reference=reference,
        type="ORDRSP",
        version=version[0],
        release=version[1],
        body=tuple(body),
        association=association,
    )


def _function(response: OrderResponse) -> str:
    statuses = {line.status for line in response.lines}
    if statuses == {LineStatus.ACCEPTED}:
        return "29"
    if statuses == {LineStatus.NOT_ACCEPTED}:
        return "27"
    return "4"


def _line(line: ResponseLine, decimal_mark: str) -> list[Segment]:
    if line.confirmed + line.backordered > line.ordered and line.status is LineStatus.ACCEPTED:
        raise OutboundError(f"line {line.line_number} confirms more than was ordered")
    out = line_items(line.line_number, line.items, line.status.value)
    out.append(segment("QTY", ["21", str(line.ordered)]))
    out.append(segment("QTY", ["113", str(line.confirmed)]))
    if line.backordered:
        out.append(segment("QTY", ["83", str(line.backordered)]))
    if line.delivery_date is not None:
        out.append(dtm("2", line.delivery_date))
    if line.unit_price is not None:
        out.append(segment("PRI", ["AAA", edifact_number(line.unit_price, decimal_mark)]))
    return out
