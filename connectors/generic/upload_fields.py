"""The CSV upload's columns for money, gift messages, order attributes and line properties.

==================== =====================================================================
column               meaning
==================== =====================================================================
total                the order's total; without it, routing rules see the value its
                     lines add up to (quantity x unit_price, less discounts, plus
                     shipping and tax)
subtotal, discount_total, shipping_total, tax_total
                     the order's amounts, decimals with a point (``discount_total``: every
                     discount of the order, as a positive amount)
gift_message         the order's gift message (at most 2,000 characters)
attribute:<name>     an order attribute passed on to the warehouse, e.g. ``attribute:Gift
                     wrap``; the name keeps its case
line_discount_total, line_tax_total, line_total
                     the line's amounts (``line_discount_total``: for the whole quantity)
line_gift_message    the line's gift message
property:<name>      a property of the line passed on to the warehouse, e.g.
                     ``property:Engraving``; the name keeps its case
==================== =====================================================================

The order-level ones follow the rule of every order-level column (the first row that gives
one wins; others must agree); the line-level ones are per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MONEY_COLUMNS = ("total", "subtotal", "discount_total", "shipping_total", "tax_total")
ORDER_TEXT_COLUMNS = ("gift_message",)
#: Line column → the canonical line field it fills.
LINE_MONEY_COLUMNS: Mapping[str, str] = {
    "line_discount_total": "discount_total",
    "line_tax_total": "tax_total",
    "line_total": "line_total",
}
LINE_TEXT_COLUMNS: Mapping[str, str] = {"line_gift_message": "gift_message"}
ATTRIBUTE_PREFIX = "attribute:"
PROPERTY_PREFIX = "property:"
PREFIXES = (ATTRIBUTE_PREFIX, PROPERTY_PREFIX)


def column_name(cell: str) -> str:
    """A header cell as a column name: lower case, except the name after a prefix."""
    text = cell.strip()
    lowered = text.lower()
    for prefix in PREFIXES:
        if lowered.startswith(prefix):
            return prefix + text[len(prefix) :].strip()
    return lowered


def is_named_column(name: str) -> bool:
    """``attribute:<name>`` or ``property:<name>`` with a name."""
    return any(name.startswith(prefix) and name[len(prefix) :] for prefix in PREFIXES)


def attribute_columns(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for name in names if name.startswith(ATTRIBUTE_PREFIX))


def attributes(fields: Mapping[str, Any]) -> list[dict[str, str]]:
    """The order's attributes from its ``attribute:`` columns, in the file's column order."""
    return [
        {"name": column[len(ATTRIBUTE_PREFIX) :], "value": value}
        for column, value in fields.items()
        if column.startswith(ATTRIBUTE_PREFIX)
    ]


def properties(row: Mapping[str, str]) -> list[dict[str, str]]:
    """A line's properties from its row's non-blank ``property:`` cells, in column order."""
    return [
        {"name": column[len(PROPERTY_PREFIX) :], "value": value}
        for column, value in row.items()
        if column.startswith(PROPERTY_PREFIX)
    ]
