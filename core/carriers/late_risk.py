"""Late-risk alerts: a sweeper turn that opens one ``late_risk`` exception per order that
will miss, or has missed, its promise, before the customer notices.

An order is at risk (checked at ``now``, naive UTC). Promise dates are local dates of the
warehouses (the ship-by is computed from their cut-offs and calendars), so a date counts as
passed once that day is over where the warehouse is: in its ``timezone``, not UTC's (a Sydney
warehouse's Monday ends 11 hours before UTC's, a Los Angeles one's 8 hours after):

- ``not_shipped``: still with its warehouses (routed, released or partly shipped) after
  its ``promised_ship_by`` day where a fulfilment order of it is still open;
- ``not_delivered``: shipped (or partly) and a shipment of it not delivered after its
  ``promised_deliver_by`` day where that shipment left from (the customer's own zone is not
  known; the shipping warehouse is the nearest stand-in we have);
- ``carrier_exception``: a shipment of it in the carrier status ``exception``,
  ``failed_attempt`` or ``returned_to_sender`` before its ``promised_deliver_by`` passed.

Once per order: the turn stamps ``sales_order.late_risk_at`` in the transaction that opens
the exception, and never looks at that order again (ops close the exception when handled).
At most ``BATCH`` orders per turn, oldest promise first, so a backlog is worked through
over a few sweeps rather than in one long transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import FulfilmentOrder, SalesOrder, Shipment, Warehouse
from omniroute.core.platform.ports import Store

BATCH: Final = 500
WITH_WAREHOUSE: Final = (OrderStatus.ROUTED, OrderStatus.RELEASED, OrderStatus.PARTIALLY_SHIPPED)
ON_THE_WAY: Final = (OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED)
TROUBLE: Final = ("exception", "failed_attempt", "returned_to_sender")
#: Fulfilment orders no longer waiting on their warehouse to ship.
FO_DONE: Final = ("shipped", "cancelled", "rejected")


def open_late_risks(deps: Store, *, now: datetime) -> int:
    """Open the ``late_risk`` exceptions due at ``now``; how many were opened."""
    with unit_of_work(deps.sessions) as session:
        days = _local_days(session, now)
        found = _not_shipped(session, days, now.date()) + _not_delivered(session, days)
        seen: set[int] = set()
        for order, why, detail in found:
            if order.id in seen:
                continue
            seen.add(order.id)
            order.late_risk_at = now
            open_exception(
                session,
                Reason.LATE_RISK,
                order_id=order.id,
                detail={"message": detail, "risk": why, **_promise(order)},
            )
        return len(seen)


def _promise(order: SalesOrder) -> dict[str, str | None]:
    return {
        "promised_ship_by": _iso(order.promised_ship_by),
        "promised_deliver_by": _iso(order.promised_deliver_by),
    }


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def local_day(now: datetime, zone: str) -> date:
    """The date at ``now`` (naive UTC) in ``zone``; UTC's for a zone this machine lacks."""
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()
    return now.replace(tzinfo=UTC).astimezone(tz).date()


def _local_days(session: Session, now: datetime) -> dict[str, date]:
    """Today in each timezone a warehouse is in (a handful, whatever the number of them)."""
    zones = session.scalars(select(Warehouse.timezone).distinct()).all()
    return {zone: local_day(now, zone) for zone in zones}


def _day_over(
    day: InstrumentedAttribute[date | None], days: dict[str, date]
) -> ColumnElement[bool]:
    """``day`` is over in the timezone of the ``Warehouse`` joined in the query."""
    over = [and_(Warehouse.timezone == zone, day < today) for zone, today in days.items()]
    return or_(*over) if over else false()


def _not_shipped(
    session: Session, days: dict[str, date], utc_today: date
) -> list[tuple[SalesOrder, str, str]]:
    open_fo = and_(
        FulfilmentOrder.order_id == SalesOrder.id, FulfilmentOrder.status.not_in(FO_DONE)
    )
    late_somewhere = (
        select(FulfilmentOrder.id)
        .join(Warehouse, Warehouse.id == FulfilmentOrder.warehouse_id)
        .where(open_fo, _day_over(SalesOrder.promised_ship_by, days))
        .exists()
    )
    # An order with nothing open at a warehouse (a rejection being re-routed) counts in UTC.
    unplaced = and_(not_(exists().where(open_fo)), SalesOrder.promised_ship_by < utc_today)
    latest = max([utc_today, *days.values()])
    orders = session.scalars(
        select(SalesOrder)
        .where(
            SalesOrder.late_risk_at.is_(None),
            SalesOrder.promised_ship_by < latest,
            SalesOrder.status.in_(WITH_WAREHOUSE),
            or_(late_somewhere, unplaced),
        )
        .order_by(SalesOrder.promised_ship_by, SalesOrder.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=SalesOrder)
    )
    return [
        (
            o,
            "not_shipped",
            f"not shipped by its ship-by date {o.promised_ship_by}; it is {o.status}",
        )
        for o in orders
    ]


def _not_delivered(session: Session, days: dict[str, date]) -> list[tuple[SalesOrder, str, str]]:
    undelivered_late = (
        select(Shipment.id)
        .join(FulfilmentOrder, FulfilmentOrder.id == Shipment.fulfilment_order_id)
        .join(Warehouse, Warehouse.id == FulfilmentOrder.warehouse_id)
        .where(
            Shipment.order_id == SalesOrder.id,
            Shipment.status != "delivered",
            _day_over(SalesOrder.promised_deliver_by, days),
        )
        .exists()
    )
    troubled = and_(Shipment.order_id == SalesOrder.id, Shipment.status.in_(TROUBLE))
    orders = session.scalars(
        select(SalesOrder)
        .where(
            SalesOrder.late_risk_at.is_(None),
            SalesOrder.promised_deliver_by.is_not(None),
            SalesOrder.status.in_(ON_THE_WAY),
            or_(undelivered_late, exists().where(troubled)),
        )
        .order_by(SalesOrder.promised_deliver_by, SalesOrder.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=SalesOrder)
    )
    found = []
    for order in orders:
        rows = session.execute(
            select(Shipment.status, Warehouse.timezone)
            .join(FulfilmentOrder, FulfilmentOrder.id == Shipment.fulfilment_order_id)
            .join(Warehouse, Warehouse.id == FulfilmentOrder.warehouse_id)
            .where(Shipment.order_id == order.id)
            .order_by(Shipment.id)
        ).all()
        statuses = [status for status, _ in rows]
        by = order.promised_deliver_by
        missed = by is not None and any(
            status != "delivered" and by < days.get(zone, by) for status, zone in rows
        )
        if missed:
            found.append(
                (
                    order,
                    "not_delivered",
                    f"not delivered by its deliver-by date {by}; shipments: {', '.join(statuses)}",
                )
            )
        else:
            bad = sorted({s for s in statuses if s in TROUBLE})
            found.append(
                (
                    order,
                    "carrier_exception",
                    f"a shipment is {', '.join(bad)}; deliver-by {by} at risk",
                )
            )
    return found
