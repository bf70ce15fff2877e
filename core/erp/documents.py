"""The documents an ERP is sent, built from plain values (pure: no I/O, no ORM, no clock).

Money is ``Decimal`` inside and a decimal string outside, rounded half-up to the
currency's minor unit. An invoice takes a line's discount and tax pro rata to the units it
ships, cumulatively: the share of the first ``n`` units shipped is
``round(total x n / ordered)``, and an invoice takes the difference between the shares
after and before it, so the invoices of a line add up to its discount and tax exactly once
all of it has shipped, whatever the split.

Where the channel's prices include tax (``taxes_included`` on the canonical order: Shopify's
``taxes_included``, WooCommerce's ``prices_include_tax``, Square's inclusive taxes), a line's
amount is still net: the gross price less the discount less the tax, so that an invoice's
total (amounts + tax + freight) is what the customer paid and not tax counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from omniroute.connectors.erp import ErpLine, InvoiceDocument, SalesOrderDocument

# ISO 4217 minor units other than 2 (the currencies an order is likely to carry).
_ZERO_DECIMALS = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
     "XAF", "XOF", "XPF"}
)  # fmt: skip
_THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


class InvariantBroken(ValueError):
    """Shipped units exceed what was ordered less what was cancelled: nothing is posted."""


def minor_unit(currency: str) -> Decimal:
    if currency.upper() in _ZERO_DECIMALS:
        return Decimal(1)
    if currency.upper() in _THREE_DECIMALS:
        return Decimal("0.001")
    return Decimal("0.01")


def to_decimal(value: Any) -> Decimal | None:
    """A canonical money value (string or number) as a Decimal; None when absent or not one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def money(value: Decimal, currency: str) -> str:
    return str(value.quantize(minor_unit(currency), rounding=ROUND_HALF_UP))


def share_of(total: Decimal, units: int, ordered: int, currency: str) -> Decimal:
    """The part of a line's ``total`` that ``units`` of its ``ordered`` units carry."""
    if ordered <= 0 or units <= 0:
        return Decimal(0)
    part = total * min(units, ordered) / ordered
    return part.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class OrderedLine:
    """An order line with the canonical line's money (for the whole ordered quantity)."""

    line_id: int
    sku: str
    quantity: int
    title: str | None = None
    unit_price: str | None = None
    discount_total: str | None = None
    tax_total: str | None = None


def ordered_line(
    line_id: int, sku: str, quantity: int, canonical: Mapping[str, Any]
) -> OrderedLine:
    """An order line with its money taken from the canonical line it came from."""
    return OrderedLine(
        line_id=line_id,
        sku=sku,
        quantity=quantity,
        title=_text(canonical.get("title")),
        unit_price=_text(canonical.get("unit_price")),
        discount_total=_text(canonical.get("discount_total")),
        tax_total=_text(canonical.get("tax_total")),
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return str(value)


def _line_amount(
    unit_price: Decimal | None, units: int, discount: Decimal, included_tax: Decimal
) -> Decimal | None:
    """Net amount of ``units``: price less discount, less the tax when the price holds it."""
    return None if unit_price is None else unit_price * units - discount - included_tax


def taxes_included(canonical: Mapping[str, Any]) -> bool:
    return canonical.get("taxes_included") is True


def sales_order_document(
    *,
    order_id: int,
    order_number: str,
    canonical: Mapping[str, Any],
    lines: Sequence[OrderedLine],
    service_level: str | None,
) -> SalesOrderDocument:
    """The order as the ERP takes it: every line the warehouses ship and every money field
    of the canonical order, as the channel stated it."""
    currency = str(canonical.get("currency") or "")
    gross = taxes_included(canonical)
    items = []
    for line in lines:
        price = to_decimal(line.unit_price)
        discount = to_decimal(line.discount_total) or Decimal(0)
        tax = (to_decimal(line.tax_total) or Decimal(0)) if gross else Decimal(0)
        amount = _line_amount(price, line.quantity, discount, tax)
        items.append(
            ErpLine(
                line_ref=str(line.line_id),
                sku=line.sku,
                quantity=line.quantity,
                title=line.title,
                unit_price=line.unit_price,
                discount=line.discount_total,
                tax=line.tax_total,
                amount=None if amount is None else money(amount, currency),
            )
        )
    customer = canonical.get("customer")
    return SalesOrderDocument(
        reference=order_reference(order_id),
        order_number=order_number,
        channel=str(canonical.get("channel") or ""),
        currency=currency,
        ordered_at=_text(canonical.get("created_at")),
        customer=dict(customer) if isinstance(customer, Mapping) else {},
        ship_to=_address(canonical.get("ship_to")),
        bill_to=_address(canonical.get("bill_to")),
        lines=tuple(items),
        subtotal=_text(canonical.get("subtotal")),
        discount_total=_text(canonical.get("discount_total")),
        shipping_total=_text(canonical.get("shipping_total")),
        tax_total=_text(canonical.get("tax_total")),
        total=_text(canonical.get("total")),
        service_level=service_level,
        taxes_included=gross,
    )


def _address(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def order_reference(order_id: int) -> str:
    return f"order-{order_id}"


def invoice_reference(shipment_id: int, order_id: int) -> str:
    return f"shipment-{shipment_id}-order-{order_id}"


@dataclass(frozen=True)
class ShippedUnits:
    """Units of an order line on this shipment, and on all shipments up to and including it."""

    line: OrderedLine
    quantity: int
    shipped_through: int  # this shipment's units included
    cancelled: int = 0  # units of the line the warehouses cancelled


def check_shipped_within_ordered(shipped: Sequence[ShippedUnits]) -> None:
    """shipped <= ordered - cancelled for each line, or ``InvariantBroken`` naming the lines."""
    broken = [
        f"line {s.line.line_id} ({s.line.sku}): shipped {s.shipped_through} > ordered "
        f"{s.line.quantity} - cancelled {s.cancelled}"
        for s in shipped
        if s.shipped_through > s.line.quantity - s.cancelled
    ]
    if broken:
        raise InvariantBroken("; ".join(broken))


def invoice_document(
    *,
    shipment_id: int,
    order_id: int,
    order_number: str,
    canonical: Mapping[str, Any],
    shipped: Sequence[ShippedUnits],
    shipped_at: str,
    freight: Decimal | None,
    first_invoice: bool,
    warehouse_code: str | None = None,
    carrier: str | None = None,
    tracking_number: str | None = None,
) -> InvoiceDocument:
    """The invoice of one order's lines on a shipment. Freight: the shipment's freight cost
    when known, else the order's shipping charge on its first invoice (0 on the others).
    The invariant (``check_shipped_within_ordered``) is checked by the relay before the
    call, on the figures of that moment."""
    currency = str(canonical.get("currency") or "")
    gross = taxes_included(canonical)
    items: list[ErpLine] = []
    discounts = taxes = amounts = Decimal(0)
    for s in shipped:
        ordered = s.line.quantity
        before = s.shipped_through - s.quantity
        line_discount = to_decimal(s.line.discount_total) or Decimal(0)
        line_tax = to_decimal(s.line.tax_total) or Decimal(0)
        discount = share_of(line_discount, s.shipped_through, ordered, currency) - share_of(
            line_discount, before, ordered, currency
        )
        tax = share_of(line_tax, s.shipped_through, ordered, currency) - share_of(
            line_tax, before, ordered, currency
        )
        amount = _line_amount(
            to_decimal(s.line.unit_price), s.quantity, discount, tax if gross else Decimal(0)
        )
        discounts += discount
        taxes += tax
        amounts += amount or Decimal(0)
        items.append(
            ErpLine(
                line_ref=str(s.line.line_id),
                sku=s.line.sku,
                quantity=s.quantity,
                title=s.line.title,
                unit_price=s.line.unit_price,
                discount=money(discount, currency),
                tax=money(tax, currency),
                amount=None if amount is None else money(amount, currency),
            )
        )
    if freight is None:
        charge = to_decimal(canonical.get("shipping_total")) if first_invoice else None
        freight = charge or Decimal(0)
    customer = canonical.get("customer")
    return InvoiceDocument(
        reference=invoice_reference(shipment_id, order_id),
        order_reference=order_reference(order_id),
        order_number=order_number,
        currency=currency,
        shipped_at=shipped_at,
        lines=tuple(items),
        freight=money(freight, currency),
        discount_total=money(discounts, currency),
        tax_total=money(taxes, currency),
        total=money(amounts + taxes + freight, currency),
        warehouse_code=warehouse_code,
        carrier=carrier,
        tracking_number=tracking_number,
        customer=dict(customer) if isinstance(customer, Mapping) else {},
        taxes_included=gross,
    )


def to_payload(document: SalesOrderDocument | InvoiceDocument) -> dict[str, Any]:
    """A document as an outbox payload (JSON), read back by ``*_from_payload``."""
    return {"document": asdict(document)}


def sales_order_from_payload(payload: Mapping[str, Any]) -> SalesOrderDocument:
    body = dict(payload["document"])
    body["lines"] = tuple(ErpLine(**line) for line in body["lines"])
    return SalesOrderDocument(**body)


def invoice_from_payload(payload: Mapping[str, Any]) -> InvoiceDocument:
    body = dict(payload["document"])
    body["lines"] = tuple(ErpLine(**line) for line in body["lines"])
    return InvoiceDocument(**body)
