"""The ERP documents built from plain values: pro rata discounts and taxes, freight, the
shipped <= ordered - cancelled invariant (pure)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omniroute.core.erp.documents import (
    InvariantBroken,
    OrderedLine,
    ShippedUnits,
    check_shipped_within_ordered,
    invoice_document,
    invoice_from_payload,
    sales_order_document,
    sales_order_from_payload,
    share_of,
    to_payload,
)

CANONICAL: dict[str, Any] = {
    "external_id": "1",
    "channel": "shopify",
    "currency": "EUR",
    "total": "37.28",
    "subtotal": "30.00",
    "discount_total": "1.00",
    "shipping_total": "4.95",
    "tax_total": "3.33",
    "customer": {"email": "ada@example.com"},
    "ship_to": {"country": "NL"},
    "lines": [],
}
LINE = OrderedLine(11, "SKU-RED", 3, "Red", "10.00", "1.00", "3.33")


def invoice(shipped: list[ShippedUnits], **kw: Any) -> Any:
    values: dict[str, Any] = {
        "shipment_id": 5,
        "order_id": 3,
        "order_number": "#1",
        "canonical": CANONICAL,
        "shipped": shipped,
        "shipped_at": "2026-03-02T09:00:00",
        "freight": None,
        "first_invoice": True,
    } | kw
    return invoice_document(**values)


def test_sales_order_carries_every_money_field() -> None:
    doc = sales_order_document(
        order_id=3, order_number="#1", canonical=CANONICAL, lines=[LINE], service_level="express"
    )
    assert doc.reference == "order-3"
    assert (doc.subtotal, doc.discount_total, doc.shipping_total, doc.tax_total, doc.total) == (
        "30.00",
        "1.00",
        "4.95",
        "3.33",
        "37.28",
    )
    (line,) = doc.lines
    assert (line.unit_price, line.discount, line.tax, line.amount) == (
        "10.00",
        "1.00",
        "3.33",
        "29.00",
    )
    assert sales_order_from_payload(to_payload(doc)) == doc


def test_split_shipments_add_up_to_the_line_exactly() -> None:
    first = invoice([ShippedUnits(LINE, 1, 1)])
    second = invoice([ShippedUnits(LINE, 2, 3)], shipment_id=6, first_invoice=False)
    assert (first.lines[0].discount, first.lines[0].tax) == ("0.33", "1.11")
    assert (second.lines[0].discount, second.lines[0].tax) == ("0.67", "2.22")
    assert first.freight == "4.95"  # the order's shipping charge on its first invoice
    assert second.freight == "0.00"
    assert first.total == str(
        Decimal("10.00") - Decimal("0.33") + Decimal("1.11") + Decimal("4.95")
    )
    assert invoice_from_payload(to_payload(second)) == second


def test_prices_with_tax_included_are_invoiced_net_and_add_up_to_what_was_paid() -> None:
    # A Dutch shop: 3 x 12.10 incl. 21 % VAT, 1.21 off the line, 6.30 VAT in the line.
    gross = CANONICAL | {"taxes_included": True, "shipping_total": "4.84"}
    line = OrderedLine(11, "SKU-RED", 3, "Red", "12.10", "1.21", "6.30")
    order = sales_order_document(
        order_id=3, order_number="#1", canonical=gross, lines=[line], service_level=None
    )
    assert order.taxes_included is True
    assert order.lines[0].amount == "28.79"  # 36.30 - 1.21 - 6.30
    first = invoice([ShippedUnits(line, 1, 1)], canonical=gross)
    rest = invoice([ShippedUnits(line, 2, 3)], canonical=gross, shipment_id=6, first_invoice=False)
    assert first.taxes_included and rest.taxes_included
    paid = Decimal("36.30") - Decimal("1.21") + Decimal("4.84")
    assert Decimal(first.total) + Decimal(rest.total) == paid  # no tax counted twice
    assert Decimal(first.tax_total) + Decimal(rest.tax_total) == Decimal("6.30")
    assert first.lines[0].amount == str(Decimal("12.10") - Decimal("0.40") - Decimal("2.10"))
    assert invoice_from_payload(to_payload(first)) == first
    # Prices without tax (or a channel that does not say) keep tax on top.
    assert invoice([ShippedUnits(line, 3, 3)]).lines[0].amount == "35.09"


def test_a_known_freight_cost_wins_over_the_charge() -> None:
    doc = invoice([ShippedUnits(LINE, 1, 1)], freight=Decimal("7.1"))
    assert doc.freight == "7.10"


def test_zero_decimal_currency() -> None:
    line = OrderedLine(1, "A", 3, None, "1000", "100", "10")
    doc = invoice([ShippedUnits(line, 1, 1)], canonical=CANONICAL | {"currency": "JPY"})
    assert (doc.lines[0].discount, doc.lines[0].tax, doc.freight) == ("33", "3", "5")


def test_invariant_names_the_line() -> None:
    check_shipped_within_ordered([ShippedUnits(LINE, 1, 2, cancelled=1)])
    with pytest.raises(InvariantBroken, match="line 11"):
        check_shipped_within_ordered([ShippedUnits(LINE, 1, 3, cancelled=1)])


@given(
    total=st.decimals(min_value=0, max_value=10_000, places=2),
    parts=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=8),
)
def test_shares_of_any_split_add_up(total: Decimal, parts: list[int]) -> None:
    ordered = sum(parts)
    through = 0
    taken = Decimal(0)
    for part in parts:
        taken += share_of(total, through + part, ordered, "EUR") - share_of(
            total, through, ordered, "EUR"
        )
        through += part
    assert taken == total
