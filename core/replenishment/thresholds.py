"""Stock thresholds per warehouse and SKU: set one (API), import many (CSV, the CLI), list.

Setting a threshold checks its alerts at once, in the same transaction, so a SKU already
below its new min has its alert without waiting for the next stock change.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.core.access.audit import Action, Entity, record
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Invalid, NotFound
from omniroute.core.platform.models import Sku, StockThreshold, Warehouse
from omniroute.core.platform.ports import Store
from omniroute.core.replenishment import alerts

#: The columns a threshold CSV has (a header row naming them, in any order); ``warehouse``
#: is the warehouse's code. Empty cells leave a figure unset (or at its default).
CSV_COLUMNS = (
    "warehouse",
    "sku",
    "min_units",
    "max_units",
    "min_days",
    "max_days",
    "lead_time_days",
    "review_period_days",
    "pack_size",
    "moq",
)
MAX_UNITS = 1_000_000_000
MAX_DAYS = 3650


class Deps(Store, Protocol):
    """What threshold changes use."""


@dataclass(frozen=True)
class ThresholdSpec:
    warehouse_id: int
    sku: str
    min_units: int | None = None
    max_units: int | None = None
    min_days: float | None = None
    max_days: float | None = None
    lead_time_days: int = 0
    review_period_days: int = 0
    pack_size: int = 1
    moq: int = 0

    def problems(self) -> list[str]:
        found = []
        for name in ("min_units", "max_units", "moq"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_UNITS:
                found.append(f"{name} must be between 0 and {MAX_UNITS}")
        for name in ("min_days", "max_days", "lead_time_days", "review_period_days"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_DAYS:
                found.append(f"{name} must be between 0 and {MAX_DAYS}")
        if not 1 <= self.pack_size <= MAX_UNITS:
            found.append("pack_size must be at least 1")
        for low, high in (("min_units", "max_units"), ("min_days", "max_days")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                found.append(f"{low} must not exceed {high}")
        if all(
            getattr(self, n) is None for n in ("min_units", "max_units", "min_days", "max_days")
        ):
            found.append("set at least one of min_units, max_units, min_days, max_days")
        return found


def set_threshold(deps: Deps, spec: ThresholdSpec, *, actor: str) -> StockThreshold:
    with unit_of_work(deps.sessions) as session:
        row = _upsert(session, spec)
        session.flush()
        record(
            session,
            actor,
            Action.STOCK_THRESHOLD_SET,
            Entity.STOCK_THRESHOLD,
            row.id,
            asdict(spec),
        )
        alerts.evaluate(session, [(spec.warehouse_id, spec.sku)], now=deps.clock.now())
        return row


def import_csv(deps: Deps, text: str, *, actor: str) -> int:
    """Set every threshold of a CSV file in one transaction (all or none); how many."""
    with unit_of_work(deps.sessions) as session:
        codes = dict(session.execute(select(Warehouse.code, Warehouse.id)).all())
        specs = sorted(read_csv(text, codes), key=lambda spec: (spec.warehouse_id, spec.sku))
        for spec in specs:
            _upsert(session, spec)
        session.flush()
        record(
            session,
            actor,
            Action.STOCK_THRESHOLD_SET,
            Entity.STOCK_THRESHOLD,
            None,
            {"imported": len(specs)},
        )
        alerts.evaluate(session, [(s.warehouse_id, s.sku) for s in specs], now=deps.clock.now())
        return len(specs)


def read_csv(text: str, warehouse_ids: dict[str, int]) -> list[ThresholdSpec]:
    """Threshold specs from CSV text; every problem named by its line, all at once."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"warehouse", "sku"} - set(reader.fieldnames or ())
    if missing:
        raise Invalid(f"the CSV header lacks {', '.join(sorted(missing))}")
    unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
    if unknown:
        raise Invalid(f"unknown CSV columns: {', '.join(sorted(unknown))}")
    specs: list[ThresholdSpec] = []
    problems: list[str] = []
    for row in reader:
        line = reader.line_num
        try:
            spec = _spec_of(row, warehouse_ids)
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        problems += [f"line {line}: {p}" for p in spec.problems()]
        specs.append(spec)
    if problems:
        raise Invalid("; ".join(problems[:20]))
    return specs


def _spec_of(row: dict[str, str | None], warehouse_ids: dict[str, int]) -> ThresholdSpec:
    code = (row.get("warehouse") or "").strip()
    if code not in warehouse_ids:
        raise ValueError(f"unknown warehouse {code!r}")
    sku = (row.get("sku") or "").strip()
    if not sku:
        raise ValueError("no sku")
    values: dict[str, int | float] = {}
    for f in fields(ThresholdSpec):
        if f.name in {"warehouse_id", "sku"}:
            continue
        cell = (row.get(f.name) or "").strip()
        if cell:
            values[f.name] = float(cell) if f.name.endswith("_days") and "." in cell else int(cell)
    return ThresholdSpec(warehouse_id=warehouse_ids[code], sku=sku, **values)  # type: ignore[arg-type]


def _upsert(session: Session, spec: ThresholdSpec) -> StockThreshold:
    problems = spec.problems()
    if problems:
        raise Invalid("; ".join(problems))
    if session.get(Warehouse, spec.warehouse_id) is None:
        raise NotFound(f"warehouse {spec.warehouse_id} does not exist")
    if session.get(Sku, spec.sku) is None:
        raise NotFound(f"SKU {spec.sku} does not exist")
    row = session.scalar(
        select(StockThreshold)
        .where(StockThreshold.warehouse_id == spec.warehouse_id, StockThreshold.sku == spec.sku)
        .with_for_update()
    )
    if row is None:
        row = StockThreshold(warehouse_id=spec.warehouse_id, sku=spec.sku)
        session.add(row)
    for name, value in asdict(spec).items():
        setattr(row, name, value)
    return row


def list_thresholds(
    deps: Deps,
    *,
    warehouse_id: int | None = None,
    sku: str | None = None,
    limit: int = 500,
    after_id: int = 0,
) -> list[StockThreshold]:
    with unit_of_work(deps.sessions) as session:
        q = select(StockThreshold).where(StockThreshold.id > after_id)
        if warehouse_id is not None:
            q = q.where(StockThreshold.warehouse_id == warehouse_id)
        if sku is not None:
            q = q.where(StockThreshold.sku == sku)
        return list(session.scalars(q.order_by(StockThreshold.id).limit(limit)))


def min_units_of(deps: Deps, skus: Collection[str]) -> dict[tuple[int, str], int]:
    """The min in units of every threshold of these SKUs that has one, by (warehouse, SKU)."""
    if not skus:
        return {}
    with unit_of_work(deps.sessions) as session:
        found = session.execute(
            select(StockThreshold.warehouse_id, StockThreshold.sku, StockThreshold.min_units).where(
                StockThreshold.sku.in_(sorted(set(skus))), StockThreshold.min_units.is_not(None)
            )
        )
        return {(w, s): m for w, s, m in found if m is not None}
