"""A replenishment run: forecast every thresholded SKU at its warehouse, then propose
transfers and purchases (core/replenishment/plan.py says how), written as
``replenishment_suggestion`` rows.

One transaction reads the thresholds, the stock levels and the aggregated daily demand of
the last ``HISTORY_DAYS`` days (one read each, whatever the number of SKUs), computes on
arrays, marks the previous run's proposals ``superseded``, writes the new ones
``proposed`` and keeps each threshold's daily rate for the alerts on days of cover.

There is no inbound (purchase order or transfer in transit) concept in omniroute yet: the
inbound figure is 0, so a run does not know about units already on their way. Sending a
purchase suggestion to an ERP as a purchase request is a hook left open: a suggestion
keeps ``status`` ``proposed`` until something acts on it (``sent`` or ``dismissed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import uuid4

import numpy as np
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from omniroute.core.access.audit import Action, Entity, record
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    ReplenishmentSuggestion,
    StockLevel,
    StockThreshold,
    Warehouse,
)
from omniroute.core.platform.ports import Store
from omniroute.core.replenishment import alerts
from omniroute.core.replenishment.demand import read_daily
from omniroute.core.replenishment.forecast import forecast, horizon_demand
from omniroute.core.replenishment.plan import Plan, Positions, plan

HISTORY_DAYS = 364
#: Series forecast at once (keeps the day matrix at a few megabytes).
CHUNK = 4096


class Deps(Store, Protocol):
    """What a replenishment run uses."""


@dataclass(frozen=True)
class Line:
    """A suggestion as the CLI prints it."""

    kind: str
    sku: str
    warehouse: str
    from_warehouse: str
    quantity: int
    need: int
    available: int
    min_units: int
    max_units: int
    forecast_daily: float
    horizon_demand: float


@dataclass(frozen=True)
class RunResult:
    run_id: str
    series: int
    lines: list[Line]


def run(deps: Deps, *, actor: str) -> RunResult:
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        ids, pos = _positions(session)
        rate, horizon = _forecast(session, pos, now)
        result = plan(pos, rate, horizon)
        run_id = f"{now:%Y%m%dT%H%M%S}-{uuid4().hex[:8]}"
        lines = _write(session, run_id, now, pos, rate, horizon, result)
        _keep_rates(session, ids, rate, now)
        session.flush()
        # Thresholds in days of cover have new units: every pair's alerts, in one pass.
        alerts.evaluate(session, None, now=now)
        record(
            session,
            actor,
            Action.REPLENISHMENT_RUN,
            Entity.REPLENISHMENT_RUN,
            run_id,
            {"series": len(pos), "suggestions": len(lines)},
        )
        return RunResult(run_id=run_id, series=len(pos), lines=lines)


def _positions(session: Session) -> tuple[np.ndarray, Positions]:
    rows = session.execute(
        select(
            StockThreshold.id,
            StockThreshold.warehouse_id,
            StockThreshold.sku,
            StockThreshold.min_units,
            StockThreshold.max_units,
            StockThreshold.min_days,
            StockThreshold.max_days,
            StockThreshold.lead_time_days,
            StockThreshold.review_period_days,
            StockThreshold.pack_size,
            StockThreshold.moq,
        ).order_by(StockThreshold.sku, StockThreshold.warehouse_id)
    ).all()
    free = {
        (w, s): on_hand - reserved - safety
        for w, s, on_hand, reserved, safety in session.execute(
            select(
                StockLevel.warehouse_id,
                StockLevel.sku,
                StockLevel.on_hand,
                StockLevel.reserved,
                StockLevel.safety,
            )
        )
    }
    n = len(rows)

    def column(k: int, dtype: type) -> np.ndarray:
        return np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=dtype).reshape(n)

    ids = np.array([r[0] for r in rows], dtype=np.int64)
    return ids, Positions(
        sku=[r[2] for r in rows],
        warehouse_id=np.array([r[1] for r in rows], dtype=np.int64).reshape(n),
        available=np.array([free.get((r[1], r[2]), 0) for r in rows], dtype=np.int64).reshape(n),
        inbound=np.zeros(n, dtype=np.int64),
        min_units=column(3, np.float64),
        max_units=column(4, np.float64),
        min_days=column(5, np.float64),
        max_days=column(6, np.float64),
        lead_days=np.array([r[7] for r in rows], dtype=np.int64).reshape(n),
        review_days=np.array([r[8] for r in rows], dtype=np.int64).reshape(n),
        pack_size=np.array([r[9] for r in rows], dtype=np.int64).reshape(n),
        moq=np.array([r[10] for r in rows], dtype=np.int64).reshape(n),
    )


def _forecast(session: Session, pos: Positions, now: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Daily rate and demand over lead time + review period, per series."""
    n = len(pos)
    today = now.date()
    start = today - timedelta(days=HISTORY_DAYS)
    history = read_daily(session, start=start, end=today)
    index = {(int(w), s): i for i, (w, s) in enumerate(zip(pos.warehouse_id, pos.sku, strict=True))}
    series = np.fromiter(
        (
            index.get((int(w), s), -1)
            for w, s in zip(history.warehouse_id, history.sku, strict=True)
        ),
        dtype=np.int64,
        count=len(history.sku),
    )
    known = series >= 0
    series, days, units = series[known], history.day[known], history.units[known]
    order = np.argsort(series, kind="stable")
    series, days, units = series[order], days[order], units[order]
    last_weekday = (today - timedelta(days=1)).weekday()
    rate = np.zeros(n)
    horizon = np.zeros(n)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        a, b = np.searchsorted(series, [lo, hi])
        matrix = np.zeros((hi - lo, HISTORY_DAYS))
        np.add.at(matrix, (series[a:b] - lo, days[a:b]), units[a:b])
        fc = forecast(matrix, last_weekday=last_weekday)
        rate[lo:hi] = fc.rate
        horizon[lo:hi] = horizon_demand(
            fc,
            first_weekday=today.weekday(),
            days=pos.lead_days[lo:hi] + pos.review_days[lo:hi],
        )
    return rate, horizon


def _write(  # noqa: PLR0917 - one run's figures, passed through
    session: Session,
    run_id: str,
    now: datetime,
    pos: Positions,
    rate: np.ndarray,
    horizon: np.ndarray,
    result: Plan,
) -> list[Line]:
    session.execute(
        update(ReplenishmentSuggestion)
        .where(ReplenishmentSuggestion.status == "proposed")
        .values(status="superseded")
    )
    codes = dict(session.execute(select(Warehouse.id, Warehouse.code)).all())
    rows: list[dict[str, object]] = []
    lines: list[Line] = []

    picks: list[tuple[str, int, int, int | None, int, int]] = [
        (
            "transfer",
            t.index,
            t.to_warehouse_id,
            t.from_warehouse_id,
            t.quantity,
            int(result.need[t.index]),
        )
        for t in result.transfers
    ]
    picks += [
        ("purchase", p.index, p.warehouse_id, None, p.quantity, p.need) for p in result.purchases
    ]
    for kind, i, to, source, quantity, need in picks:
        line = Line(
            kind=kind,
            sku=pos.sku[i],
            warehouse=codes.get(to, str(to)),
            from_warehouse="" if source is None else codes.get(source, str(source)),
            quantity=quantity,
            need=need,
            available=int(pos.available[i]),
            min_units=int(result.levels.low[i]),
            max_units=int(result.levels.high[i]),
            forecast_daily=round(float(rate[i]), 4),
            horizon_demand=round(float(horizon[i]), 2),
        )
        lines.append(line)
        rows.append(
            {
                "run_id": run_id,
                "kind": kind,
                "sku": line.sku,
                "warehouse_id": to,
                "from_warehouse_id": source,
                "quantity": quantity,
                "need": need,
                "available": line.available,
                "min_units": line.min_units,
                "max_units": line.max_units,
                "forecast_daily": line.forecast_daily,
                "horizon_demand": line.horizon_demand,
                "status": "proposed",
                "created_at": now,
            }
        )
    for start in range(0, len(rows), 1000):
        session.execute(insert(ReplenishmentSuggestion), rows[start : start + 1000])
    return lines


def _keep_rates(session: Session, ids: np.ndarray, rate: np.ndarray, now: datetime) -> None:
    if len(ids) == 0:
        return
    session.execute(
        update(StockThreshold),
        [
            {"id": int(i), "forecast_daily": round(float(r), 4), "forecast_at": now}
            for i, r in zip(ids, rate, strict=True)
        ],
    )


def list_suggestions(
    deps: Deps,
    *,
    status: str | None = "proposed",
    kind: str | None = None,
    warehouse_id: int | None = None,
    limit: int = 500,
    after_id: int = 0,
) -> list[ReplenishmentSuggestion]:
    with unit_of_work(deps.sessions) as session:
        q = select(ReplenishmentSuggestion).where(ReplenishmentSuggestion.id > after_id)
        if status is not None:
            q = q.where(ReplenishmentSuggestion.status == status)
        if kind is not None:
            q = q.where(ReplenishmentSuggestion.kind == kind)
        if warehouse_id is not None:
            q = q.where(ReplenishmentSuggestion.warehouse_id == warehouse_id)
        return list(session.scalars(q.order_by(ReplenishmentSuggestion.id).limit(limit)))
