"""Daily demand per warehouse and SKU from the order history, in one aggregated read.

Demand is what routing allocated to a warehouse: the units of each fulfilment line less
those the warehouse confirmed cancelled, on the day its fulfilment order was created.
Fulfilment orders that were rejected, failed or cancelled are left out (their units went
to another warehouse, or nowhere). Shipping later does not move the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.core.platform.models import FulfilmentLine, FulfilmentOrder

NOT_DEMAND = ("rejected", "failed", "cancelled")


@dataclass(frozen=True)
class DailyDemand:
    """Parallel arrays: warehouse, SKU, day (0 = ``start``) and units."""

    warehouse_id: npt.NDArray[np.int64]
    sku: list[str]
    day: npt.NDArray[np.int64]
    units: npt.NDArray[np.float64]


def read_daily(session: Session, *, start: date, end: date) -> DailyDemand:
    """Units per (warehouse, SKU, day) for days ``start`` ≤ day < ``end``."""
    day = func.date(FulfilmentOrder.created_at)
    rows = session.execute(
        select(
            FulfilmentOrder.warehouse_id,
            FulfilmentLine.sku,
            day,
            func.sum(FulfilmentLine.quantity - FulfilmentLine.cancelled_quantity),
        )
        .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
        .where(
            FulfilmentOrder.created_at >= datetime.combine(start, time.min),
            FulfilmentOrder.created_at < datetime.combine(end, time.min),
            FulfilmentOrder.status.not_in(NOT_DEMAND),
        )
        .group_by(FulfilmentOrder.warehouse_id, FulfilmentLine.sku, day)
    ).all()
    ordinal = start.toordinal()
    days: dict[object, int] = {}
    offsets = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        value = row[2]
        offset = days.get(value)
        if offset is None:  # SQLite gives 'YYYY-MM-DD', PostgreSQL a date
            parsed = value if isinstance(value, date) else date.fromisoformat(str(value))
            offset = days[value] = parsed.toordinal() - ordinal
        offsets[i] = offset
    return DailyDemand(
        warehouse_id=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        sku=[r[1] for r in rows],
        day=offsets,
        units=np.fromiter((float(r[3] or 0) for r in rows), dtype=np.float64, count=len(rows)),
    )
