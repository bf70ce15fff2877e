"""Stock levels, their append-only ledger, and the conditional reservation that never oversells."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from omniroute.core.platform.clock import now_of
from omniroute.core.platform.errors import Conflict, NotFound
from omniroute.core.platform.models import Sku, StockLedger, StockLevel, Warehouse
from omniroute.core.platform.sql import table_of


class ReservationLost(Exception):
    """Another order took the stock between our snapshot and our reservation."""

    def __init__(self, warehouse_id: int, sku: str, quantity: int) -> None:
        super().__init__(f"could not reserve {quantity} x {sku} in warehouse {warehouse_id}")
        self.warehouse_id = warehouse_id
        self.sku = sku
        self.quantity = quantity


@dataclass(frozen=True)
class Allocation:
    warehouse_id: int
    sku: str
    quantity: int
    # Units the warehouse holds back from the order's channel (its channel buffer): the
    # reservation leaves them free, as routing did when it planned.
    held_back: int = 0


def available_snapshot(session: Session, skus: Iterable[str]) -> dict[tuple[int, str], int]:
    """Available to promise per (warehouse, sku): on hand - reserved - safety."""
    sku_list = sorted(set(skus))
    if not sku_list:
        return {}
    rows = session.execute(_SNAPSHOT, {"skus": sku_list})
    return {(w, s): max(0, oh - r - sf) for w, s, oh, r, sf in rows}


# Built once (an expanding IN): no statement construction or cache key per order.
_SNAPSHOT = select(
    StockLevel.warehouse_id,
    StockLevel.sku,
    StockLevel.on_hand,
    StockLevel.reserved,
    StockLevel.safety,
).where(StockLevel.sku.in_(bindparam("skus", expanding=True)))


# Core statements on the tables: no ORM flush or bookkeeping on the hot path.
_LEVEL = table_of(StockLevel).c
_RESERVE = (
    update(table_of(StockLevel))
    .where(
        _LEVEL.warehouse_id == bindparam("w"),
        _LEVEL.sku == bindparam("s"),
        _LEVEL.on_hand - _LEVEL.reserved - _LEVEL.safety - bindparam("h") >= bindparam("q"),
    )
    .values(reserved=_LEVEL.reserved + bindparam("q"), updated_at=bindparam("now"))
)
_UNRESERVE = (
    update(table_of(StockLevel))
    .where(_LEVEL.warehouse_id == bindparam("w"), _LEVEL.sku == bindparam("s"))
    .values(reserved=_LEVEL.reserved - bindparam("q"))
)
_INSERT_LEDGER = insert(table_of(StockLedger))


def reserve(session: Session, allocations: Iterable[Allocation], *, reference: str) -> None:
    """Reserve every allocation, or none and raise ReservationLost (the caller re-plans).

    A row is taken only while what stays free covers the units it holds back from the
    order's channel, so a race cannot eat into a channel buffer that routing respected.

    Rows are touched in one fixed key order so concurrent reservations cannot deadlock. On a
    lost race the rows already taken are given back in this transaction (still locked by it,
    so no other transaction saw them), which leaves the caller's transaction usable.
    """
    merged: dict[tuple[int, str], int] = defaultdict(int)
    held: dict[tuple[int, str], int] = {}
    for a in allocations:
        merged[(a.warehouse_id, a.sku)] += a.quantity
        held[(a.warehouse_id, a.sku)] = max(a.held_back, held.get((a.warehouse_id, a.sku), 0))
    now = now_of(session)
    taken: list[dict[str, Any]] = []
    for (warehouse_id, sku), qty in sorted(merged.items()):
        params = {"w": warehouse_id, "s": sku, "q": qty}
        result = session.execute(_RESERVE, {**params, "h": held[(warehouse_id, sku)], "now": now})
        if result.rowcount != 1:  # type: ignore[attr-defined]
            for done in taken:
                session.execute(_UNRESERVE, done)
            raise ReservationLost(warehouse_id, sku, qty)
        taken.append(params)
    if taken:
        session.execute(
            _INSERT_LEDGER,
            [
                {
                    "warehouse_id": t["w"],
                    "sku": t["s"],
                    "delta_reserved": t["q"],
                    "reason": "reserve",
                    "reference": reference,
                }
                for t in taken
            ],
        )


def ensure_sku(session: Session, code: str, name: str | None = None) -> Sku:
    sku = session.get(Sku, code)
    if sku is None:
        sku = Sku(code=code, name=name)
        session.add(sku)
        session.flush()
    elif name and sku.name != name:
        sku.name = name
    return sku


def set_level(
    session: Session,
    warehouse_id: int,
    sku: str,
    *,
    on_hand: int | None,
    safety: int | None,
    actor: str,
    reason: str = "set",
    reference: str | None = None,
) -> StockLevel:
    """Set on hand and/or safety to absolute values; the ledger records the deltas."""
    level = _level_for_update(session, warehouse_id, sku)
    d_on_hand = 0 if on_hand is None else on_hand - level.on_hand
    d_safety = 0 if safety is None else safety - level.safety
    return _apply(
        session, level, d_on_hand, d_safety, actor=actor, reason=reason, reference=reference
    )


def adjust_level(
    session: Session,
    warehouse_id: int,
    sku: str,
    *,
    delta_on_hand: int,
    delta_safety: int = 0,
    actor: str,
    reason: str = "adjust",
    reference: str | None = None,
) -> StockLevel:
    level = _level_for_update(session, warehouse_id, sku)
    return _apply(
        session, level, delta_on_hand, delta_safety, actor=actor, reason=reason, reference=reference
    )


def _level_for_update(session: Session, warehouse_id: int, sku: str) -> StockLevel:
    if session.get(Warehouse, warehouse_id) is None:
        raise NotFound(f"warehouse {warehouse_id} does not exist")
    ensure_sku(session, sku)
    level = session.scalars(
        select(StockLevel)
        .where(StockLevel.warehouse_id == warehouse_id, StockLevel.sku == sku)
        .with_for_update()
    ).first()
    if level is None:
        level = StockLevel(warehouse_id=warehouse_id, sku=sku, on_hand=0, reserved=0, safety=0)
        session.add(level)
        session.flush()
    return level


def _apply(
    session: Session,
    level: StockLevel,
    d_on_hand: int,
    d_safety: int,
    *,
    actor: str,
    reason: str,
    reference: str | None,
) -> StockLevel:
    new_on_hand = level.on_hand + d_on_hand
    new_safety = level.safety + d_safety
    if new_on_hand < 0 or new_safety < 0:
        raise Conflict(
            "stock cannot go below zero",
            code="negative_stock",
            on_hand=new_on_hand,
            safety=new_safety,
        )
    if new_on_hand < level.reserved:
        raise Conflict(
            f"on hand {new_on_hand} would be below the {level.reserved} units reserved",
            code="below_reserved",
            reserved=level.reserved,
        )
    if d_on_hand or d_safety:
        level.on_hand = new_on_hand
        level.safety = new_safety
        session.add(
            StockLedger(
                warehouse_id=level.warehouse_id,
                sku=level.sku,
                delta_on_hand=d_on_hand,
                delta_safety=d_safety,
                reason=reason,
                reference=reference,
                actor=actor,
            )
        )
        session.flush()
    return level


def give_back(
    session: Session,
    warehouse_id: int,
    quantities: Mapping[str, int],
    *,
    shipped: bool,
    reason: str,
    reference: str,
    actor: str | None = None,
) -> int:
    """Take reserved units off their reservation, in the reservations' key order; units moved.

    ``shipped``: the units left the building (on hand goes down too); otherwise they are
    free again. Each SKU writes its ledger row; fewer reserved than asked is a Conflict.
    """
    moved_total = 0
    for sku in sorted(quantities):
        qty = quantities[sku]
        values: dict[str, Any] = {"reserved": StockLevel.reserved - qty}
        if shipped:
            values["on_hand"] = StockLevel.on_hand - qty
        moved = session.execute(
            update(StockLevel)
            .where(
                StockLevel.warehouse_id == warehouse_id,
                StockLevel.sku == sku,
                StockLevel.reserved >= qty,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                f"fewer than {qty} x {sku} are reserved in warehouse {warehouse_id}",
                code="stock_mismatch",
                sku=sku,
            )
        session.execute(
            insert(StockLedger).values(
                warehouse_id=warehouse_id,
                sku=sku,
                delta_on_hand=-qty if shipped else 0,
                delta_reserved=-qty,
                delta_safety=0,
                reason=reason,
                reference=reference,
                actor=actor,
                created_at=now_of(session),
            )
        )
        moved_total += qty
    return moved_total
