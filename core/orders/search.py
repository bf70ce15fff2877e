"""What the order lists filter on: status, the channel's order number, the customer (e-mail
exactly, any case; else a name prefix), a SKU on any line, and a created-at range.

Each filter is one condition an index answers (migration 0015); the lists page by id.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from omniroute.core.access import scope
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.models import OrderLine, SalesOrder

LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class OrderFilter:
    """``customer``: with an '@' an e-mail address (any case), else the start of a name.
    ``created_from`` inclusive, ``created_to`` exclusive."""

    status: str | None = None
    number: str | None = None
    customer: str | None = None
    sku: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _prefix_pattern(text: str) -> str:
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", r"\%").replace("_", r"\_")
    return escaped + "%"


def customer_condition(customer: str) -> ColumnElement[bool]:
    wanted = customer.strip().lower()
    if "@" in wanted:
        return func.lower(SalesOrder.customer_email) == wanted
    return func.lower(SalesOrder.customer_name).like(_prefix_pattern(wanted), escape=LIKE_ESCAPE)


def number_condition(number: str) -> ColumnElement[bool]:
    """The channel's order number exactly, with or without a leading '#'."""
    wanted = number.strip()
    bare = wanted.removeprefix("#")
    return SalesOrder.external_number.in_(sorted({wanted, bare, f"#{bare}"}))


def conditions(
    where: OrderFilter, connector_ids: Collection[int] | None
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if where.status:
        found.append(SalesOrder.status == where.status)
    if where.number and where.number.strip():
        found.append(number_condition(where.number))
    if where.customer and where.customer.strip():
        found.append(customer_condition(where.customer))
    if where.sku and where.sku.strip():
        having = select(OrderLine.order_id).where(OrderLine.sku == where.sku.strip())
        found.append(SalesOrder.id.in_(having))
    if where.created_from is not None:
        found.append(SalesOrder.created_at >= as_naive_utc(where.created_from))
    if where.created_to is not None:
        found.append(SalesOrder.created_at < as_naive_utc(where.created_to))
    if connector_ids is not None:
        found.append(scope.orders_of(connector_ids))
    return found


def by_id(where: OrderFilter, *, newest_first: bool) -> ColumnElement[Any]:
    """The page order: by id. When the created-at range ends away from where the walk
    starts (a range that ends before today, newest first; one that starts after the first
    orders, oldest first), walking the primary key would read every order outside the
    range first (1 s for a week early in a 200,000-order year): ``id + 0`` makes PostgreSQL
    read the range from ``(created_at, id)`` and sort it instead."""
    far = where.created_to if newest_first else where.created_from
    key: ColumnElement[Any] = (SalesOrder.id + 0) if far is not None else SalesOrder.id.expression
    return key.desc() if newest_first else key.asc()
