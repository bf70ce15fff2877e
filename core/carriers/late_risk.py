"""Late-risk alerts: a sweeper turn that opens one ``late_risk`` exception per order that
will miss, or has missed, its promise, before the customer notices.

An order is at risk (checked at ``now``, naive UTC; a promise date counts as passed once
its UTC day is over):

- ``not_shipped``: still with its warehouses (routed, released or partly shipped) after
  its ``promised_ship_by`` day;
- ``not_delivered``: shipped (or partly) and a shipment of it not delivered after its
  ``promised_deliver_by`` day;
- ``carrier_exception``: a shipment of it in the carrier status ``exception``,
  ``failed_attempt`` or ``returned_to_sender`` before its ``promised_deliver_by`` passed.

Once per order: the turn stamps ``sales_order.late_risk_at`` in the transaction that opens
the exception, and never looks at that order again (ops close the exception when handled).
At most ``BATCH`` orders per turn, oldest promise first, so a backlog is worked through
over a few sweeps rather than in one long transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import SalesOrder, Shipment
from omniroute.core.platform.ports import Store

BATCH: Final = 500
WITH_WAREHOUSE: Final = (OrderStatus.ROUTED, OrderStatus.RELEASED, OrderStatus.PARTIALLY_SHIPPED)
ON_THE_WAY: Final = (OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED)
TROUBLE: Final = ("exception", "failed_attempt", "returned_to_sender")


def open_late_risks(deps: Store, *, now: datetime) -> int:
    """Open the ``late_risk`` exceptions due at ``now``; how many were opened."""
    today = now.date()
    with unit_of_work(deps.sessions) as session:
        found = _not_shipped(session, today) + _not_delivered(session, today)
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


def _not_shipped(session: Session, today: date) -> list[tuple[SalesOrder, str, str]]:
    orders = session.scalars(
        select(SalesOrder)
        .where(
            SalesOrder.late_risk_at.is_(None),
            SalesOrder.promised_ship_by < today,
            SalesOrder.status.in_(WITH_WAREHOUSE),
        )
        .order_by(SalesOrder.promised_ship_by, SalesOrder.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    return [
        (
            o,
            "not_shipped",
            f"not shipped by its ship-by date {o.promised_ship_by}; it is {o.status}",
        )
        for o in orders
    ]


def _not_delivered(session: Session, today: date) -> list[tuple[SalesOrder, str, str]]:
    undelivered = and_(Shipment.order_id == SalesOrder.id, Shipment.status != "delivered")
    late = and_(undelivered, SalesOrder.promised_deliver_by < today)
    troubled = and_(Shipment.order_id == SalesOrder.id, Shipment.status.in_(TROUBLE))
    orders = session.scalars(
        select(SalesOrder)
        .where(
            SalesOrder.late_risk_at.is_(None),
            SalesOrder.promised_deliver_by.is_not(None),
            SalesOrder.status.in_(ON_THE_WAY),
            or_(exists().where(late), exists().where(troubled)),
        )
        .order_by(SalesOrder.promised_deliver_by, SalesOrder.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    found = []
    for order in orders:
        statuses = session.scalars(
            select(Shipment.status).where(Shipment.order_id == order.id).order_by(Shipment.id)
        ).all()
        by = order.promised_deliver_by
        if by is not None and by < today:
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
