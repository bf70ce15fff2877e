"""Outbound documents from plain dataclasses: 855 PO acknowledgement, 810 invoice, 846
inventory advice, and the 997 as a transaction set (856 is in ``ship_notice``).

Each builder returns a ``TransactionOut`` (body segments and the ST02 control number given
to it); ``serializer.write_interchange`` wraps it in the partner's envelope. Dates are
arguments: nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from omniroute.connectors.edi_x12.acknowledgements import GroupAck, functional_ack_body
from omniroute.connectors.edi_x12.serializer import (
    OutSegment,
    SerializeError,
    TransactionOut,
    seg,
)

#: An item's ids as (qualifier, value) pairs: ``(("UP", "012345678905"), ("VN", "A-1"))``.
Identifiers = Sequence[tuple[str, str]]
_MAX_ID_PAIRS = 10  # PO106-PO125 / IT106-IT125 / LIN02-LIN31 hold at least ten pairs


def id_pairs(identifiers: Identifiers, where: str) -> list[str]:
    if len(identifiers) > _MAX_ID_PAIRS:
        raise SerializeError(f"{where}: at most {_MAX_ID_PAIRS} id pairs, got {len(identifiers)}")
    values: list[str] = []
    for qualifier, value in identifiers:
        if not qualifier or not value:
            raise SerializeError(f"{where}: id pair ({qualifier!r}, {value!r}) is incomplete")
        values.extend((qualifier, value))
    return values


def _amount(value: decimal.Decimal | None) -> str | None:
    """An R-type number: no exponent, no trailing zeros after the point, no '-0'."""
    if value is None:
        return None
    if not value.is_finite():
        raise SerializeError(f"amount {value} is not a finite number")
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def _date(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


# --- 855 ------------------------------------------------------------------------------


class LineStatus(StrEnum):
    """ACK01 line item status codes used in an 855."""

    ACCEPTED = "IA"
    CHANGED = "IC"  # accepted, changes made (price, date, item)
    QUANTITY_CHANGED = "IQ"
    BACKORDERED = "IB"
    REJECTED = "IR"


@dataclass(frozen=True, slots=True)
class AckLine:
    """One PO line as we acknowledge it."""

    line_id: str
    ordered_quantity: int
    unit: str
    status: LineStatus
    quantity: int  # the quantity ACK02 states (accepted, back-ordered or rejected)
    identifiers: Identifiers
    unit_price: decimal.Decimal | None = None
    ship_date: dt.date | None = None  # ACK04/05, qualifier 068 (current schedule ship)


@dataclass(frozen=True, slots=True)
class PurchaseOrderAck:
    po_number: str
    po_date: dt.date
    acknowledged_on: dt.date
    lines: Sequence[AckLine]
    control_number: int


def ack_type(lines: Sequence[AckLine]) -> str:
    """BAK02: AD all accepted as ordered, RJ all rejected, AC accepted with changes."""
    statuses = {line.status for line in lines}
    if statuses <= {LineStatus.ACCEPTED}:
        return "AD"
    if statuses == {LineStatus.REJECTED}:
        return "RJ"
    return "AC"


def po_acknowledgement(ack: PurchaseOrderAck) -> TransactionOut:
    """An 855: BAK, then PO1 + ACK per line, CTT."""
    if not ack.lines:
        raise SerializeError("an 855 needs at least one line")
    body: list[OutSegment] = [
        seg(
            "BAK",
            "00",
            ack_type(ack.lines),
            ack.po_number,
            _date(ack.po_date),
            None,
            None,
            None,
            None,
            _date(ack.acknowledged_on),
        )
    ]
    for line in ack.lines:
        where = f"855 line {line.line_id}"
        body.append(
            seg(
                "PO1",
                line.line_id,
                str(line.ordered_quantity),
                line.unit,
                _amount(line.unit_price),
                None,
                *id_pairs(line.identifiers, where),
            )
        )
        ship = ("068", _date(line.ship_date)) if line.ship_date else (None, None)
        body.append(seg("ACK", line.status.value, str(line.quantity), line.unit, *ship))
    body.append(seg("CTT", str(len(ack.lines))))
    return TransactionOut("855", ack.control_number, body)


# --- 810 ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_id: str
    quantity: int
    unit: str
    unit_price: decimal.Decimal
    identifiers: Identifiers
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_number: str
    invoice_date: dt.date
    po_number: str
    po_date: dt.date | None
    lines: Sequence[InvoiceLine]
    control_number: int
    currency: str | None = None  # CUR*SE when given
    total: decimal.Decimal | None = None  # TDS01; the sum of the lines when None


def invoice_total(invoice: Invoice) -> decimal.Decimal:
    """TDS01's amount: given, else quantity times unit price over the lines."""
    if invoice.total is not None:
        return invoice.total
    return sum(
        (line.unit_price * line.quantity for line in invoice.lines), start=decimal.Decimal(0)
    )


def _cents(amount: decimal.Decimal) -> str:
    """TDS01 is N2 (two implied decimals): 1234.5 → 123450; a fraction of a cent refused."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise SerializeError(f"invoice total {amount} has a fraction of a cent")
    return str(int(cents))


def invoice(doc: Invoice) -> TransactionOut:
    """An 810: BIG, CUR, IT1 (+ PID) per line, TDS, CTT."""
    if not doc.lines:
        raise SerializeError("an 810 needs at least one line")
    po_date = _date(doc.po_date) if doc.po_date else None
    body: list[OutSegment] = [
        seg("BIG", _date(doc.invoice_date), doc.invoice_number, po_date, doc.po_number)
    ]
    if doc.currency:
        body.append(seg("CUR", "SE", doc.currency))
    for line in doc.lines:
        where = f"810 line {line.line_id}"
        body.append(
            seg(
                "IT1",
                line.line_id,
                str(line.quantity),
                line.unit,
                _amount(line.unit_price),
                None,
                *id_pairs(line.identifiers, where),
            )
        )
        if line.description:
            body.append(seg("PID", "F", None, None, None, line.description))
    body.append(seg("TDS", _cents(invoice_total(doc))))
    body.append(seg("CTT", str(len(doc.lines))))
    return TransactionOut("810", doc.control_number, body)


# --- 846 ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InventoryItem:
    identifiers: Identifiers
    quantity: int
    unit: str = "EA"


@dataclass(frozen=True, slots=True)
class InventoryAdvice:
    reference: str
    as_of: dt.date
    items: Sequence[InventoryItem]
    control_number: int
    report_type: str = "MM"  # BIA02, as the partner's guide asks
    quantity_qualifier: str = "33"  # QTY01: quantity available for sale


def inventory_advice(doc: InventoryAdvice) -> TransactionOut:
    """An 846: BIA, then LIN + QTY per item (a negative figure is sent as 0)."""
    if not doc.items:
        raise SerializeError("an 846 needs at least one item")
    body: list[OutSegment] = [seg("BIA", "00", doc.report_type, doc.reference, _date(doc.as_of))]
    for number, item in enumerate(doc.items, start=1):
        body.append(seg("LIN", str(number), *id_pairs(item.identifiers, f"846 item {number}")))
        body.append(seg("QTY", doc.quantity_qualifier, str(max(item.quantity, 0)), item.unit))
    body.append(seg("CTT", str(len(doc.items))))
    return TransactionOut("846", doc.control_number, body)


# --- 997 ------------------------------------------------------------------------------


def functional_ack(ack: GroupAck, control_number: int) -> TransactionOut:
    """The 997 answering one group, as a transaction set."""
    version_5010 = ack.version.startswith("005")
    return TransactionOut(
        "997", control_number, functional_ack_body(ack, version_5010=version_5010)
    )
