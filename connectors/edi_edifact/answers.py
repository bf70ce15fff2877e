"""An order's state after routing as an ORDRSP (pure): each line accepted as ordered (5),
accepted in part with the rest backordered (3, QTY+113 and QTY+83), or not placed at all
and waiting for stock (3 with nothing confirmed); a shipment as a DESADV (one package with
the lines it carried and the tracking number) and as an INVOIC (the units it carried at
the order's prices, dated the day it left)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from omniroute.connectors.edi import AnswerLine, OrderAnswer, ShipmentNotice, invoiced_lines
from omniroute.connectors.edi_edifact.desadv import DespatchAdvice, Package, PackedItem
from omniroute.connectors.edi_edifact.invoic import Invoice, InvoiceLine
from omniroute.connectors.edi_edifact.ordrsp import LineStatus, OrderResponse, ResponseLine
from omniroute.connectors.edi_edifact.parts import ItemId, PartyRef


def _line(line: AnswerLine) -> ResponseLine:
    confirmed = min(line.accepted, line.ordered)
    status = LineStatus.ACCEPTED if confirmed >= line.ordered else LineStatus.CHANGED
    return ResponseLine(
        line_number=line.line_id,
        items=tuple(ItemId(value, qualifier) for qualifier, value in line.identifiers),
        status=status,
        ordered=line.ordered,
        confirmed=confirmed,
        backordered=line.ordered - confirmed,
        unit_price=Decimal(line.unit_price) if line.unit_price else None,
    )


def order_response(
    answer: OrderAnswer, *, buyer: PartyRef, supplier: PartyRef, issued: datetime
) -> OrderResponse:
    return OrderResponse(
        document_number=f"R{answer.order_id}",
        order_number=answer.external_id,
        issued=issued,
        buyer=buyer,
        supplier=supplier,
        lines=tuple(_line(line) for line in answer.lines),
        currency=answer.currency,
    )


def despatch_advice(
    notice: ShipmentNotice,
    *,
    buyer: PartyRef,
    supplier: PartyRef,
    ship_to: PartyRef,
    issued: datetime,
) -> DespatchAdvice:
    contents = tuple(
        PackedItem(
            line_number=line.line_id,
            items=tuple(ItemId(value, qualifier) for qualifier, value in line.identifiers),
            quantity=line.accepted,
            order_line=line.line_id,
        )
        for line in notice.lines
        if line.accepted > 0
    )
    return DespatchAdvice(
        document_number=f"D{notice.shipment_id}",
        order_number=notice.external_id,
        issued=issued,
        buyer=buyer,
        supplier=supplier,
        ship_to=ship_to,
        packages=(Package(contents, tracking_number=notice.tracking_number),),
        despatched=notice.shipped_at,
        tracking_number=notice.tracking_number,
    )


def invoice(
    notice: ShipmentNotice,
    *,
    buyer: PartyRef,
    supplier: PartyRef,
    currency: str | None,
    tax_rate: Decimal,
    despatch_number: str | None,
) -> Invoice:
    """The INVOIC of a shipment's lines, numbered by the shipment. A line without a price,
    or an order without a currency, is refused (``ValueError``): a partner is not invoiced
    nothing, nor in a currency we guess."""
    if currency is None:
        raise ValueError("INVOIC: the order has no currency and the agreement no default")
    lines = [
        InvoiceLine(
            line_number=line.line_id,
            items=tuple(ItemId(value, qualifier) for qualifier, value in line.identifiers),
            quantity=line.accepted,
            unit_price=Decimal(price),
            tax_rate=tax_rate,
        )
        for line, price in invoiced_lines(notice, "INVOIC")
    ]
    return Invoice(
        document_number=f"I{notice.shipment_id}",
        order_number=notice.external_id,
        issued=notice.shipped_at,
        buyer=buyer,
        supplier=supplier,
        currency=currency,
        lines=tuple(lines),
        despatch_number=despatch_number,
    )
