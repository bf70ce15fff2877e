"""INVOIC (commercial invoice, BGM 380) from a plain ``Invoice``.

Lines: LIN/PIA, QTY+47 (invoiced), MOA+203 (line amount = quantity times net price), PRI+AAA,
TAX+7+VAT with the rate. Summary after UNS: CNT+2, MOA+79 (lines), MOA+125 (taxable),
MOA+176 (tax), MOA+77 (invoice total), and per VAT rate TAX with MOA+125 and MOA+124.
Amounts are computed here to two places (half up), tax per rate on the rate's total.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from omniroute.connectors.edi_edifact.adapter import Segment, segment
from omniroute.connectors.edi_edifact.parts import (
    ItemId,
    PartyRef,
    amount,
    dtm,
    line_items,
    money,
    nad,
)
from omniroute.connectors.edi_edifact.values import edifact_number
from omniroute.connectors.edi_edifact.writer import OutboundError, OutboundMessage


@dataclass(frozen=True)
class InvoiceLine:
    line_number: str
    items: tuple[ItemId, ...]
    quantity: int
    unit_price: Decimal
    tax_rate: Decimal


@dataclass(frozen=True)
class Invoice:
    document_number: str
    order_number: str
    issued: datetime
    buyer: PartyRef
    supplier: PartyRef
    currency: str
    lines: tuple[InvoiceLine, ...]
    invoicee: PartyRef | None = None
    despatch_number: str | None = None


@dataclass(frozen=True)
class InvoiceTotals:
    lines: Decimal
    tax: Decimal
    total: Decimal
    by_rate: tuple[tuple[Decimal, Decimal, Decimal], ...]  # rate, taxable, tax


def totals_of(invoice: Invoice) -> InvoiceTotals:
    taxable: dict[Decimal, Decimal] = defaultdict(Decimal)
    for line in invoice.lines:
        taxable[line.tax_rate] += money(line.unit_price * line.quantity)
    by_rate = tuple(
        (rate, base, money(base * rate / 100)) for rate, base in sorted(taxable.items())
    )
    lines = sum((base for _, base, _ in by_rate), Decimal(0))
    tax = sum((part for _, _, part in by_rate), Decimal(0))
    return InvoiceTotals(lines=lines, tax=tax, total=lines + tax, by_rate=by_rate)


def build_invoic(
    invoice: Invoice,
    *,
    reference: str,
    version: tuple[str, str] = ("D", "96A"),
    association: str = "EAN008",
    decimal_mark: str = ".",
) -> OutboundMessage:
    if not invoice.lines:
        raise OutboundError("an INVOIC needs at least one line")
    body: list[Segment] = [
        segment("BGM", "380", invoice.document_number, "9"),
        dtm("137", invoice.issued),
        segment("RFF", ["ON", invoice.order_number]),
    ]
    if invoice.despatch_number:
        body.append(segment("RFF", ["AAK", invoice.despatch_number]))
    body += [nad("BY", invoice.buyer), nad("SU", invoice.supplier)]
    if invoice.invoicee is not None:
        body.append(nad("IV", invoice.invoicee))
    body.append(segment("CUX", ["2", invoice.currency, "4"]))
    for line in invoice.lines:
        if line.quantity <= 0 or line.unit_price < 0:
            raise OutboundError(
                f"invoice line {line.line_number} needs a positive quantity and a price >= 0"
            )
        body.extend(line_items(line.line_number, line.items))
        body += [
            segment("QTY", ["47", str(line.quantity)]),
            segment("MOA", ["203", amount(line.unit_price * line.quantity, decimal_mark)]),
            segment("PRI", ["AAA", edifact_number(line.unit_price, decimal_mark)]),
            _tax(line.tax_rate, decimal_mark),
        ]
    totals = totals_of(invoice)
    body += [
        segment("UNS", "S"),
        segment("CNT", ["2", str(len(invoice.lines))]),
        segment("MOA", ["79", amount(totals.lines, decimal_mark)]),
        segment("MOA", ["125", amount(totals.lines, decimal_mark)]),
        segment("MOA", ["176", amount(totals.tax, decimal_mark)]),
        segment("MOA", ["77", amount(totals.total, decimal_mark)]),
    ]
    for rate, base, tax in totals.by_rate:
        body += [
            _tax(rate, decimal_mark),
            segment("MOA", ["125", amount(base, decimal_mark)]),
            segment("MOA", ["124", amount(tax, decimal_mark)]),
        ]
    return OutboundMessage(
        reference=reference,
        type="INVOIC",
        version=version[0],
        release=version[1],
        body=tuple(body),
        association=association,
    )


def _tax(rate: Decimal, decimal_mark: str) -> Segment:
    category = "S" if rate > 0 else "Z"
    return segment(
        "TAX", "7", "VAT", None, None, ["", "", "", edifact_number(rate, decimal_mark)], category
    )
