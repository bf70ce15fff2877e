"""The order value routing rules see: the channel's total, else what the lines add up to.

Pure. An order without a total (a CSV or JSON upload, an Amazon order still Pending) is
worth Σ quantity x unit_price, less its discounts, plus its shipping and tax where they
are given: the order's ``discount_total`` (every discount of the order) else the lines'
``discount_total``; the order's ``tax_total`` else the lines'; the order's
``shipping_total``. If any line has no unit price the value stays missing, and says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Source = Literal["channel", "computed", "missing"]


@dataclass(frozen=True)
class OrderValue:
    """The value, where it came from, and for a missing one why (None: nothing to say)."""

    value: Decimal | None
    source: Source
    note: str | None = None


def value_of_order(order: Mapping[str, Any], *, total: Any = None) -> OrderValue:
    """The value of a canonical order (mapping/schemas/order.v1.json) for routing rules;
    ``total``, when given, stands for the order's own (the stored order's column)."""
    total = _amount(order.get("total") if total is None else total)
    if total is not None:
        return OrderValue(total, "channel")
    lines = order.get("lines") or []
    if not lines:
        return OrderValue(None, "missing")
    goods = Decimal(0)
    for number, line in enumerate(lines, start=1):
        price = _amount(line.get("unit_price")) if isinstance(line, Mapping) else None
        quantity = line.get("quantity") if isinstance(line, Mapping) else None
        if price is None or not isinstance(quantity, int) or isinstance(quantity, bool):
            return OrderValue(None, "missing", f"no total, and line {number} has no unit price")
        goods += price * quantity
    discount = _of_order_else_lines(order, lines, "discount_total")
    tax = _of_order_else_lines(order, lines, "tax_total")
    shipping = _amount(order.get("shipping_total")) or Decimal(0)
    return OrderValue(goods - discount + shipping + tax, "computed")


def _of_order_else_lines(order: Mapping[str, Any], lines: list[Any], name: str) -> Decimal:
    stated = _amount(order.get(name))
    if stated is not None:
        return stated
    amounts = (_amount(line.get(name)) for line in lines if isinstance(line, Mapping))
    return sum((amount for amount in amounts if amount is not None), start=Decimal(0))


def _amount(text: Any) -> Decimal | None:
    if not isinstance(text, str):
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
