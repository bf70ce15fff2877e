"""Stock as ops see it: levels per warehouse and SKU, changes, and the ledger."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select

from omniroute.core.access.audit import record
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import StockLedger, StockLevel
from omniroute.core.stock import backorder_wakeup
from omniroute.core.stock import levels as stock
from omniroute.core.stock.backorder_wakeup import wake_backorders


class Deps(backorder_wakeup.Deps, Protocol):
    """What ops stock changes use (a rise wakes backorders)."""


def set_stock(
    deps: Deps,
    warehouse_id: int,
    sku: str,
    *,
    on_hand: int | None,
    safety: int | None,
    actor: str,
    reason: str = "set",
) -> StockLevel:
    with unit_of_work(deps.sessions) as session:
        before = stock.available(session, warehouse_id, sku)
        level = stock.set_level(
            session, warehouse_id, sku, on_hand=on_hand, safety=safety, actor=actor, reason=reason
        )
        more = level.on_hand - level.reserved - level.safety > before
        record(
            session,
            actor,
            "stock.set",
            "stock_level",
            level.id,
            {"warehouse_id": warehouse_id, "sku": sku, "on_hand": on_hand, "safety": safety},
        )
    if more:
        wake_backorders(deps, sku)
    return level


def adjust_stock(
    deps: Deps,
    warehouse_id: int,
    sku: str,
    *,
    delta: int,
    actor: str,
    reason: str,
) -> StockLevel:
    with unit_of_work(deps.sessions) as session:
        level = stock.adjust_level(
            session, warehouse_id, sku, delta_on_hand=delta, actor=actor, reason=reason
        )
        record(
            session,
            actor,
            "stock.adjust",
            "stock_level",
            level.id,
            {"warehouse_id": warehouse_id, "sku": sku, "delta": delta, "reason": reason},
        )
    if delta > 0:
        wake_backorders(deps, sku)
    return level


def list_stock(
    deps: Deps,
    *,
    warehouse_id: int | None = None,
    sku: str | None = None,
    limit: int = 500,
    after_id: int = 0,
) -> list[StockLevel]:
    with unit_of_work(deps.sessions) as session:
        q = select(StockLevel).where(StockLevel.id > after_id)
        if warehouse_id is not None:
            q = q.where(StockLevel.warehouse_id == warehouse_id)
        if sku is not None:
            q = q.where(StockLevel.sku == sku)
        return list(session.scalars(q.order_by(StockLevel.id).limit(limit)))


def ledger(
    deps: Deps,
    *,
    warehouse_id: int | None = None,
    sku: str | None = None,
    limit: int = 500,
    after_id: int = 0,
) -> list[StockLedger]:
    with unit_of_work(deps.sessions) as session:
        q = select(StockLedger).where(StockLedger.id > after_id)
        if warehouse_id is not None:
            q = q.where(StockLedger.warehouse_id == warehouse_id)
        if sku is not None:
            q = q.where(StockLedger.sku == sku)
        return list(session.scalars(q.order_by(StockLedger.id).limit(limit)))


def ledger_newest_first(
    deps: Deps, warehouse_id: int, sku: str, *, before_id: int = 0, limit: int = 50
) -> list[StockLedger]:
    """A SKU's ledger at one warehouse, newest first: keyset below ``before_id`` (0 for the
    newest), on the (warehouse_id, sku, id) index."""
    with unit_of_work(deps.sessions) as session:
        q = select(StockLedger).where(
            StockLedger.warehouse_id == warehouse_id, StockLedger.sku == sku
        )
        if before_id:
            q = q.where(StockLedger.id < before_id)
        return list(session.scalars(q.order_by(StockLedger.id.desc()).limit(limit)))
