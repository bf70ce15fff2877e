"""Carrier reports: freight cost per carrier, warehouse and channel over a date range, and
carriers' on-time rate (delivered by the promise / delivered) per carrier and lane.

Dates are UTC days, ``since`` included and ``until`` excluded. Amounts are summed exactly
(``Decimal``) per currency: a group's rows never add two currencies together.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select

from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Invalid
from omniroute.core.platform.models import (
    CarrierBooking,
    SalesOrder,
    Shipment,
    Warehouse,
)
from omniroute.core.platform.ports import Store

MAX_DAYS: Final = 366
_PAGE: Final = 5000


@dataclass
class FreightRow:
    carrier: str
    warehouse: str
    channel: str
    currency: str
    shipments: int = 0
    total: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        average = (self.total / self.shipments).quantize(Decimal("0.01"))
        return {
            "carrier": self.carrier,
            "warehouse": self.warehouse,
            "channel": self.channel,
            "currency": self.currency,
            "bookings": self.shipments,
            "total": str(self.total),
            "average": str(average),
        }


@dataclass
class OnTimeRow:
    carrier: str
    warehouse: str
    country: str
    region: str
    delivered: int = 0
    on_time: int = 0
    late_days: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "carrier": self.carrier,
            "lane": f"{self.warehouse} → {self.country}"
            + (f"-{self.region}" if self.region else ""),
            "warehouse": self.warehouse,
            "country": self.country,
            "region": self.region or None,
            "delivered": self.delivered,
            "on_time": self.on_time,
            "on_time_rate": round(self.on_time / self.delivered, 4),
            "max_days_late": max(self.late_days, default=0),
        }


def check_range(since: date, until: date) -> tuple[datetime, datetime]:
    """The range as naive UTC datetimes; ``Invalid`` when it is empty or longer than a year."""
    if until <= since:
        raise Invalid("until must be after since", code="bad_range")
    if (until - since).days > MAX_DAYS:
        raise Invalid(f"a report covers at most {MAX_DAYS} days", code="bad_range")
    return datetime.combine(since, time()), datetime.combine(until, time())


def freight(deps: Store, *, since: date, until: date) -> list[dict[str, Any]]:
    """Freight cost booked in the range per carrier, warehouse, channel and currency."""
    start, end = check_range(since, until)
    query = (
        select(
            CarrierBooking.id,
            CarrierBooking.carrier,
            Warehouse.code,
            SalesOrder.channel,
            CarrierBooking.currency,
            CarrierBooking.amount,
        )
        .join(Warehouse, Warehouse.id == CarrierBooking.warehouse_id)
        .join(SalesOrder, SalesOrder.id == CarrierBooking.order_id)
        .where(CarrierBooking.booked_at >= start, CarrierBooking.booked_at < end)
        .order_by(CarrierBooking.id)
        .limit(_PAGE)
    )
    groups: dict[tuple[str, str, str, str], FreightRow] = {}
    with unit_of_work(deps.sessions) as session:
        after = 0
        while rows := session.execute(query.where(CarrierBooking.id > after)).all():
            for _, carrier, warehouse, channel, currency, amount in rows:
                key = (carrier, warehouse, channel, currency)
                row = groups.get(key) or groups.setdefault(key, FreightRow(*key))
                row.shipments += 1
                row.total += Decimal(amount)
            after = rows[-1][0]
    return [groups[k].to_json() for k in sorted(groups)]


def on_time(deps: Store, *, since: date, until: date) -> list[dict[str, Any]]:
    """Per carrier and lane (warehouse → ship-to country and region), of the shipments
    delivered in the range whose fulfilment order was booked: how many were delivered on
    or before the booking's deliver-by date."""
    start, end = check_range(since, until)
    query = (
        select(
            Shipment.id,
            CarrierBooking.carrier,
            Warehouse.code,
            SalesOrder.ship_to,
            CarrierBooking.deliver_by,
            Shipment.delivered_at,
        )
        .join(CarrierBooking, CarrierBooking.fulfilment_order_id == Shipment.fulfilment_order_id)
        .join(Warehouse, Warehouse.id == CarrierBooking.warehouse_id)
        .join(SalesOrder, SalesOrder.id == Shipment.order_id)
        .where(Shipment.delivered_at >= start, Shipment.delivered_at < end)
        .order_by(Shipment.id)
        .limit(_PAGE)
    )
    groups: dict[tuple[str, str, str, str], OnTimeRow] = {}
    with unit_of_work(deps.sessions) as session:
        after = 0
        while rows := session.execute(query.where(Shipment.id > after)).all():
            for _, carrier, warehouse, ship_to, deliver_by, delivered_at in rows:
                to = ship_to or {}
                key = (
                    carrier,
                    warehouse,
                    str(to.get("country") or "").upper(),
                    str(to.get("region") or "").upper(),
                )
                row = groups.get(key) or groups.setdefault(key, OnTimeRow(*key))
                row.delivered += 1
                late = (delivered_at.date() - deliver_by).days
                if late <= 0:
                    row.on_time += 1
                else:
                    row.late_days.append(late)
            after = rows[-1][0]
    return [groups[k].to_json() for k in sorted(groups)]


def as_csv(rows: Sequence[dict[str, Any]], columns: Iterable[str]) -> str:
    """Rows as CSV with a header line."""
    names = list(columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


FREIGHT_COLUMNS: Final = (
    "carrier",
    "warehouse",
    "channel",
    "currency",
    "bookings",
    "total",
    "average",
)
ON_TIME_COLUMNS: Final = (
    "carrier",
    "lane",
    "warehouse",
    "country",
    "region",
    "delivered",
    "on_time",
    "on_time_rate",
    "max_days_late",
)
