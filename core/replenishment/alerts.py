"""Stock alerts: available units of a SKU at a warehouse across one of its thresholds.

Available is on hand - reserved - safety. Below the min opens a ``below_min`` alert, above
a max (when the threshold has one) an ``above_max`` one; an alert is raised once per
crossing and cleared when available is back within the thresholds, so a SKU that stays low
through many changes has one open alert. Thresholds in days of cover are turned into units
with the daily rate of the last replenishment run (``stock_threshold.forecast_daily``);
before any run they count as 0.

The stock ledger is the change feed, as for the stock sync: each sweeper turn
(``check_alerts``) reads the (warehouse, SKU) pairs changed since its own cursor
(``sync_cursor`` row ``replenishment_alerts``) and evaluates those that have a threshold.
Setting a threshold evaluates its pair at once. Open alerts are listed by the API and
counted in ``/metrics`` (``omniroute_stock_alerts_open``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    StockAlert,
    StockLedger,
    StockLevel,
    StockThreshold,
    SyncCursor,
)
from omniroute.core.platform.ports import Store
from omniroute.core.replenishment.plan import alert_kind, bounds

CURSOR = "replenishment_alerts"
CHUNK = 500
Key = tuple[int, str]


class Deps(Store, Protocol):
    """What the alert checks use."""


def check_alerts(deps: Deps, *, now: datetime | None = None) -> int:
    """Evaluate the pairs whose stock changed since the last turn; alerts opened or cleared."""
    now = now or deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        cursor = _cursor(session)
        newest = session.scalar(select(func.max(StockLedger.id))) or 0
        if newest <= cursor.position:
            return 0
        if session.scalar(select(StockThreshold.id).limit(1)) is None:
            cursor.position, cursor.updated_at = newest, now  # nothing to alert on
            return 0
        changed = list(
            session.execute(
                select(StockLedger.warehouse_id, StockLedger.sku)
                .where(StockLedger.id > cursor.position, StockLedger.id <= newest)
                .distinct()
            )
        )
        cursor.position, cursor.updated_at = newest, now
        moved = 0
        for start in range(0, len(changed), CHUNK):
            moved += evaluate(session, changed[start : start + CHUNK], now=now)
        return moved


def evaluate(session: Session, keys: Sequence[Key] | None, *, now: datetime) -> int:
    """Open or clear the alerts of ``keys`` (None: every pair with a threshold; pairs
    without one are skipped); how many alerts were opened or cleared."""
    if keys is not None and not keys:
        return 0
    wanted = None if keys is None else set(keys)
    skus = None if wanted is None else sorted({sku for _, sku in wanted})

    def by_sku(column: Any) -> list[Any]:
        # By SKU (each table has it indexed), the pairs picked out in Python: a row-value
        # IN list is not an index range on every database.
        return [] if skus is None else [column.in_(skus)]

    # Locked, in key order: a threshold being set and a sweeper turn evaluate one pair one
    # after the other, so neither opens a second open alert.
    thresholds: dict[Key, StockThreshold] = {}
    for threshold in session.scalars(
        select(StockThreshold)
        .where(*by_sku(StockThreshold.sku))
        .order_by(StockThreshold.warehouse_id, StockThreshold.sku)
        .with_for_update()
    ):
        key = (threshold.warehouse_id, threshold.sku)
        if wanted is None or key in wanted:
            thresholds[key] = threshold
    if not thresholds:
        return 0
    available = {
        (w, s): on_hand - reserved - safety
        for w, s, on_hand, reserved, safety in session.execute(
            select(
                StockLevel.warehouse_id,
                StockLevel.sku,
                StockLevel.on_hand,
                StockLevel.reserved,
                StockLevel.safety,
            ).where(*by_sku(StockLevel.sku))
        )
    }
    open_alerts: dict[Key, list[StockAlert]] = {}
    for alert in session.scalars(
        select(StockAlert)
        .where(StockAlert.status == "open", *by_sku(StockAlert.sku))
        .order_by(StockAlert.id)
        .with_for_update()
    ):
        open_alerts.setdefault((alert.warehouse_id, alert.sku), []).append(alert)
    moved = 0
    for key in sorted(thresholds):
        moved += _settle(
            session, key, thresholds[key], available.get(key, 0), open_alerts.get(key, []), now
        )
    return moved


def _settle(  # noqa: PLR0917 - one pair's figures
    session: Session,
    key: Key,
    threshold: StockThreshold,
    available: int,
    current: Iterable[StockAlert],
    now: datetime,
) -> int:
    low, high = bounds(
        min_units=threshold.min_units,
        max_units=threshold.max_units,
        min_days=threshold.min_days,
        max_days=threshold.max_days,
        rate=threshold.forecast_daily or 0.0,
    )
    kind = alert_kind(available, low, high)
    moved = 0
    held = False
    for alert in current:
        if alert.kind == kind:
            held = True
            continue
        alert.status, alert.cleared_at, alert.cleared_available = "cleared", now, available
        moved += 1
    if kind is not None and not held:
        session.add(
            StockAlert(
                warehouse_id=key[0],
                sku=key[1],
                kind=kind,
                status="open",
                available=available,
                threshold=low if kind == "below_min" else (high or 0),
                raised_at=now,
            )
        )
        moved += 1
    return moved


def list_alerts(
    deps: Deps,
    *,
    status: str | None = "open",
    warehouse_id: int | None = None,
    sku: str | None = None,
    limit: int = 500,
    after_id: int = 0,
) -> list[StockAlert]:
    with unit_of_work(deps.sessions) as session:
        q = select(StockAlert).where(StockAlert.id > after_id)
        if status is not None:
            q = q.where(StockAlert.status == status)
        if warehouse_id is not None:
            q = q.where(StockAlert.warehouse_id == warehouse_id)
        if sku is not None:
            q = q.where(StockAlert.sku == sku)
        return list(session.scalars(q.order_by(StockAlert.id).limit(limit)))


def _cursor(session: Session) -> SyncCursor:
    cursor = session.get(SyncCursor, CURSOR, with_for_update=True)
    if cursor is None:
        module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            module.insert(SyncCursor.__table__)
            .values(name=CURSOR, position=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        cursor = session.get_one(SyncCursor, CURSOR, with_for_update=True)
    return cursor
