"""An order's state after routing as the 855's content (pure): each line accepted as
ordered (IA), waiting for stock (IB), or accepted in part (IQ, the quantity placed); and a
shipment of an order as the 856's (one pack holding the shipped lines, with the tracking
number)."""

from __future__ import annotations

import datetime as dt
import decimal

from omniroute.connectors.edi import (
    AnswerLine,
    InventoryReport,
    OrderAnswer,
    ShipmentNotice,
    invoiced_lines,
)
from omniroute.connectors.edi_x12.outbound import (
    AckLine,
    InventoryAdvice,
    InventoryItem,
    Invoice,
    InvoiceLine,
    LineStatus,
    PurchaseOrderAck,
)
from omniroute.connectors.edi_x12.ship_notice import (
    Pack,
    ShipNotice,
    ShippedItem,
    ShippedOrder,
    ShipTo,
)


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


def ship_notice(notice: ShipmentNotice) -> ShipNotice:
    items = [
        ShippedItem(
            identifiers=line.identifiers,
            quantity=line.accepted,
            unit=line.unit or "EA",
            ordered_quantity=line.ordered,
            line_id=line.line_id,
        )
        for line in notice.lines
        if line.accepted > 0
    ]
    po_date = dt.date.fromisoformat(notice.order_date[:10]) if notice.order_date else None
    order = ShippedOrder(
        notice.external_id, [Pack(items, tracking_number=notice.tracking_number)], po_date
    )
    return ShipNotice(
        shipment_id=str(notice.shipment_id),
        shipped_at=notice.shipped_at,
        orders=[order],
        control_number=1,
        tracking_number=notice.tracking_number,
        ship_to=_ship_to(notice.ship_to),
    )


def _ship_to(address: object) -> ShipTo | None:
    if not isinstance(address, dict) or not address.get("address1"):
        return None
    return ShipTo(
        name=str(address.get("name") or address.get("company") or "Ship to"),
        address1=address.get("address1"),
        address2=address.get("address2"),
        city=address.get("city"),
        region=address.get("region"),
        postal_code=address.get("postal_code"),
        country=address.get("country"),
    )


def invoice(notice: ShipmentNotice, *, currency: str | None) -> Invoice:
    """The 810 of a shipment's lines, numbered by the shipment; a line without a price is
    refused (a partner is not invoiced nothing for goods)."""
    lines = [
        InvoiceLine(
            line_id=line.line_id,
            quantity=line.accepted,
            unit=line.unit or "EA",
            unit_price=decimal.Decimal(price),
            identifiers=line.identifiers,
        )
        for line, price in invoiced_lines(notice, "810")
    ]
    po_date = dt.date.fromisoformat(notice.order_date[:10]) if notice.order_date else None
    return Invoice(
        invoice_number=f"INV{notice.shipment_id}",
        invoice_date=notice.shipped_at.date(),
        po_number=notice.external_id,
        po_date=po_date,
        lines=tuple(lines),
        control_number=1,
        currency=currency,
    )


def inventory_advice(report: InventoryReport, *, default_qualifier: str) -> InventoryAdvice:
    """The 846 of a partner's listings: each ``channel_ref`` as its item id (a bare value
    under ``default_qualifier``) with the units available."""
    items = []
    for ref, available in report.lines:
        qualifier, sep, value = ref.partition(":")
        pair = (qualifier, value) if sep and qualifier and value else (default_qualifier, ref)
        items.append(InventoryItem(identifiers=(pair,), quantity=available))
    return InventoryAdvice(report.reference, report.as_of.date(), tuple(items), 1)
