"""Stock levels and their append-only ledger: the one writer of every stock movement.

Every change to ``stock_level`` goes through here, each with its ledger row: a reservation
(the conditional update that never oversells, leaving a channel's buffer free), giving a
reservation back, shipping it, setting or adjusting on hand and safety, a warehouse's count,
and a sale a store made on its own. So do the reads that decide them: the available-to-
promise snapshot routing plans on, and what a channel may sell. Each statement exists once.

Rows are touched in one fixed key order, (warehouse id, sku), by every multi-row movement, so
two of them cannot deadlock. A reservation that loses its race raises ReservationLost and
leaves the caller's transaction usable (it re-plans on fresh stock); a CHECK constraint on
the table backs the conditional update up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from omniroute import routing
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.errors import Conflict, NotFound
from omniroute.core.platform.models import Connector, Sku, StockLedger, StockLevel, Warehouse
from omniroute.core.platform.sql import table_of
from omniroute.routing.warehouses import channel_buffer

Key = tuple[int, str]  # (warehouse id, sku): the order stock rows are touched in


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


@dataclass
class StockMoves:
    """Reservations to give back and take, and counts to set, by (warehouse, sku)."""

    release: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    reserve: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    counts: dict[Key, int] = field(default_factory=dict)
    # Units held back from the order's channel (channel buffers) where a row is taken from.
    held_back: dict[Key, int] = field(default_factory=dict)

    def release_lines(self, warehouse_id: int, lines: Iterable[tuple[str, int]]) -> None:
        for sku, qty in lines:
            self.release[(warehouse_id, sku)] += qty

    def reserve_shipments(
        self, shipments: Iterable[routing.Shipment], held_back: Mapping[int, int]
    ) -> None:
        for s in shipments:
            for a in s.lines:
                self.reserve[(s.warehouse_id, a.sku)] += a.quantity
                if held := held_back.get(s.warehouse_id, 0):
                    self.held_back[(s.warehouse_id, a.sku)] = held


# --- the statements, built once (Core: no ORM flush or bookkeeping on the hot path)

_LEVEL = table_of(StockLevel).c
_THIS_ROW = (_LEVEL.warehouse_id == bindparam("w"), _LEVEL.sku == bindparam("s"))
_RESERVE = (
    update(table_of(StockLevel))
    .where(
        *_THIS_ROW,
        _LEVEL.on_hand - _LEVEL.reserved - _LEVEL.safety - bindparam("h") >= bindparam("q"),
    )
    .values(reserved=_LEVEL.reserved + bindparam("q"), updated_at=bindparam("now"))
)
_FREE_OF_KEYS = select(
    _LEVEL.warehouse_id, _LEVEL.sku, _LEVEL.on_hand - _LEVEL.reserved - _LEVEL.safety
).where(tuple_(_LEVEL.warehouse_id, _LEVEL.sku).in_(bindparam("keys", expanding=True)))
# Locked in the key order Python sorts by (code points: PostgreSQL's "C" collation), the
# order every other reservation takes its rows in. SQLite has no row locks to order.
_LOCK_FREE = {
    "postgresql": _FREE_OF_KEYS.order_by(
        _LEVEL.warehouse_id, _LEVEL.sku.collate("C")
    ).with_for_update(),
    "sqlite": _FREE_OF_KEYS,
}
_RELEASE = (
    update(table_of(StockLevel))
    .where(*_THIS_ROW, _LEVEL.reserved >= bindparam("q"))
    .values(reserved=_LEVEL.reserved - bindparam("q"), updated_at=bindparam("now"))
)
_SHIP = (
    update(table_of(StockLevel))
    .where(*_THIS_ROW, _LEVEL.reserved >= bindparam("q"))
    .values(
        reserved=_LEVEL.reserved - bindparam("q"),
        on_hand=_LEVEL.on_hand - bindparam("q"),
        updated_at=bindparam("now"),
    )
)
_READ_LOCKED = select(_LEVEL.on_hand, _LEVEL.reserved).where(*_THIS_ROW).with_for_update()
_SET_ON_HAND = (
    update(table_of(StockLevel))
    .where(*_THIS_ROW)
    .values(on_hand=bindparam("on_hand"), updated_at=bindparam("now"))
)
_INSERT_LEDGER = insert(table_of(StockLedger))
# An expanding IN: no statement construction or cache key per order.
_SNAPSHOT = select(
    _LEVEL.warehouse_id, _LEVEL.sku, _LEVEL.on_hand, _LEVEL.reserved, _LEVEL.safety
).where(_LEVEL.sku.in_(bindparam("skus", expanding=True)))
_LEVEL_OF = select(_LEVEL.on_hand, _LEVEL.reserved, _LEVEL.safety).where(*_THIS_ROW)


def _changed(result: Any) -> int:
    return int(result.rowcount)


# --- reads


def available_snapshot(session: Session, skus: Iterable[str]) -> dict[Key, int]:
    """Available to promise per (warehouse, sku): on hand - reserved - safety."""
    sku_list = sorted(set(skus))
    if not sku_list:
        return {}
    rows = session.execute(_SNAPSHOT, {"skus": sku_list})
    return {(w, s): max(0, oh - r - sf) for w, s, oh, r, sf in rows}


def available(session: Session, warehouse_id: int, sku: str) -> int:
    """On hand - reserved - safety of one row; -1 when there is no row."""
    row = session.execute(_LEVEL_OF, {"w": warehouse_id, "s": sku}).first()
    return -1 if row is None else int(row.on_hand - row.reserved - row.safety)


def available_after_release(
    session: Session, stock: Mapping[Key, int], moves: StockMoves
) -> dict[Key, int]:
    """The available-to-promise snapshot as it will be once ``moves.release`` is given back."""
    adjusted = dict(stock)
    for (wid, sku), qty in moves.release.items():
        row = session.execute(_LEVEL_OF, {"w": wid, "s": sku}).first()
        if row is not None and (wid, sku) in adjusted:
            on_hand, reserved, safety = row
            adjusted[(wid, sku)] = max(0, on_hand - (reserved - qty) - safety)
    return adjusted


def serves(warehouse_channels: Iterable[str], connector: Connector) -> bool:
    """Whether a warehouse sells through this channel (no list means every channel)."""
    channels = set(warehouse_channels or ())
    return not channels or bool({connector.kind, connector.name} & channels)


def channel_available(session: Session, connector: Connector, skus: list[str]) -> dict[str, int]:
    """Free units per SKU over the enabled warehouses that serve the channel, less what each
    holds back from it (its channel buffer, as routing applies it)."""
    if not skus:
        return {}
    rows = session.execute(
        select(
            Warehouse.channels,
            Warehouse.channel_buffers,
            StockLevel.sku,
            StockLevel.on_hand - StockLevel.reserved - StockLevel.safety,
        )
        .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
        .where(Warehouse.enabled.is_(True), StockLevel.sku.in_(sorted(set(skus))))
    )
    totals: dict[str, int] = {}
    for channels, buffers, sku, free in rows:
        if serves(channels, connector):
            held = channel_buffer(buffers or {}, connector.kind, connector.name)
            totals[sku] = totals.get(sku, 0) + max(int(free) - held, 0)
    return totals


# --- reservations


def reserve(session: Session, allocations: Iterable[Allocation], *, reference: str) -> None:
    """Reserve every allocation, or none and raise ReservationLost (the caller re-plans).

    A row is taken only while what stays free covers the units it holds back from the
    order's channel, so a race cannot eat into a channel buffer that routing respected.
    On a lost race the rows already taken are given back in this transaction (still locked
    by it, so no other transaction saw them), which leaves the caller's transaction usable.
    """
    merged: dict[Key, int] = defaultdict(int)
    held: dict[Key, int] = {}
    for a in allocations:
        merged[(a.warehouse_id, a.sku)] += a.quantity
        held[(a.warehouse_id, a.sku)] = max(a.held_back, held.get((a.warehouse_id, a.sku), 0))
    now = now_of(session)
    if len(merged) >= _LOCK_FIRST_FROM:
        taken = _reserve_locked_first(session, merged, held, now)
    else:
        taken = _reserve_one_by_one(session, merged, held, now)
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
                    "created_at": now,
                }
                for t in taken
            ],
        )


# From this many rows, an order's reservation locks them all in one read (in key order) and
# takes them in one executemany: two round trips instead of one per row.
_LOCK_FIRST_FROM = 3


def _reserve_one_by_one(
    session: Session, merged: Mapping[Key, int], held: Mapping[Key, int], now: Any
) -> list[dict[str, Any]]:
    """One conditional UPDATE per row in key order; on a lost race the rows already taken
    are given back (still locked by this transaction, so no other one saw them)."""
    taken: list[dict[str, Any]] = []
    for (warehouse_id, sku), qty in sorted(merged.items()):
        params = {"w": warehouse_id, "s": sku, "q": qty, "now": now}
        if _changed(session.execute(_RESERVE, {**params, "h": held[(warehouse_id, sku)]})) != 1:
            for done in taken:
                session.execute(_RELEASE, done)
            raise ReservationLost(warehouse_id, sku, qty)
        taken.append(params)
    return taken


def _reserve_locked_first(
    session: Session, merged: Mapping[Key, int], held: Mapping[Key, int], now: Any
) -> list[dict[str, Any]]:
    """Lock every row in key order with one read of what is free (SELECT ... ORDER BY ...
    FOR UPDATE locks in that order on PostgreSQL; SQLite's write lock is already held),
    decide there, then take them all with one executemany of the same conditional UPDATE.
    A lost race writes nothing."""
    keys = sorted(merged)
    lock = _LOCK_FREE[session.get_bind().dialect.name]
    free = {(w, s): int(f) for w, s, f in session.execute(lock, {"keys": keys})}
    for key in keys:
        if free.get(key, -1) - held[key] < merged[key]:
            raise ReservationLost(key[0], key[1], merged[key])
    taken = [{"w": w, "s": s, "q": merged[(w, s)], "now": now} for w, s in keys]
    result = session.execute(_RESERVE, [{**t, "h": held[(t["w"], t["s"])]} for t in taken])
    if _changed(result) != len(taken):
        # Cannot happen while the rows are locked; never leave a partial reservation behind.
        raise RuntimeError(f"reserved {_changed(result)} of {len(taken)} locked stock rows")
    return taken


def apply_moves(session: Session, moves: StockMoves, *, reference: str, actor: str) -> None:
    """Give back, take and count stock in one pass in key order, each with its ledger rows.

    A reservation given back and taken on the same row is netted: the conditional update
    checks only what is newly taken. A lost race raises ReservationLost (roll back, re-plan).
    """
    now = now_of(session)
    keys = sorted({*moves.release, *moves.reserve, *moves.counts})
    ledger: list[dict[str, Any]] = []
    for wid, sku in keys:
        give = moves.release.get((wid, sku), 0)
        take = moves.reserve.get((wid, sku), 0)
        params = {"w": wid, "s": sku, "now": now}
        held = moves.held_back.get((wid, sku), 0)
        taken = {**params, "q": take - give, "h": held}
        if take > give and _changed(session.execute(_RESERVE, taken)) != 1:
            raise ReservationLost(wid, sku, take)
        if give > take and _changed(session.execute(_RELEASE, {**params, "q": give - take})) != 1:
            raise _mismatch(wid, sku, give)
        base = {"warehouse_id": wid, "sku": sku, "delta_on_hand": 0, "delta_safety": 0}
        base |= {"reference": reference, "actor": actor, "created_at": now}
        if give:
            ledger.append({**base, "delta_reserved": -give, "reason": "unreserved"})
        if take:
            ledger.append({**base, "delta_reserved": take, "reason": "reserve"})
        if (wid, sku) in moves.counts:
            ledger += _count(session, wid, sku, moves.counts[(wid, sku)], base)
    if ledger:
        session.execute(_INSERT_LEDGER, ledger)


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
    now = now_of(session)
    moved_total = 0
    ledger: list[dict[str, Any]] = []
    for sku in sorted(quantities):
        qty = quantities[sku]
        params = {"w": warehouse_id, "s": sku, "q": qty, "now": now}
        if _changed(session.execute(_SHIP if shipped else _RELEASE, params)) != 1:
            raise _mismatch(warehouse_id, sku, qty)
        ledger.append(
            {
                "warehouse_id": warehouse_id,
                "sku": sku,
                "delta_on_hand": -qty if shipped else 0,
                "delta_reserved": -qty,
                "delta_safety": 0,
                "reason": reason,
                "reference": reference,
                "actor": actor,
                "created_at": now,
            }
        )
        moved_total += qty
    if ledger:
        session.execute(_INSERT_LEDGER, ledger)
    return moved_total


def _mismatch(warehouse_id: int, sku: str, quantity: int) -> Conflict:
    return Conflict(
        f"fewer than {quantity} x {sku} are reserved in warehouse {warehouse_id}",
        code="stock_mismatch",
        sku=sku,
    )


# --- on hand and safety


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


def sell_off_shelf(
    session: Session, warehouse_id: int, sku: str, quantity: int, *, actor: str, reference: str
) -> int:
    """A sale the store made itself leaves its shelf: on hand goes down by what was sold,
    but never into units reserved for other orders; the units taken off (<= ``quantity``)."""
    row = session.execute(_READ_LOCKED, {"w": warehouse_id, "s": sku}).first()
    free = 0 if row is None else row.on_hand - row.reserved
    take = min(quantity, max(free, 0))
    if take:
        adjust_level(
            session,
            warehouse_id,
            sku,
            delta_on_hand=-take,
            actor=actor,
            reason=STORE_SALE,
            reference=reference,
        )
    return take


STORE_SALE = "channel_sale"  # the ledger reason of a store's own sale


def store_sale_posted(session: Session, reference: str) -> bool:
    """Whether the store sale ``reference`` has taken its stock off the shelf already."""
    posted = select(StockLedger.id).where(
        StockLedger.reason == STORE_SALE, StockLedger.reference == reference
    )
    return session.scalar(posted.limit(1)) is not None


def _count(
    session: Session, wid: int, sku: str, counted: int, base: dict[str, Any]
) -> list[dict[str, Any]]:
    """Set on hand to a warehouse's count; never below what other orders hold reserved (that
    difference opens a stock_discrepancy exception for a person instead)."""
    row = session.execute(_READ_LOCKED, {"w": wid, "s": sku}).first()
    if row is None:
        if counted:
            set_level(
                session, wid, sku, on_hand=counted, safety=None, actor=base["actor"],
                reason="count", reference=base["reference"],
            )  # fmt: skip
        return []
    on_hand, reserved = row
    target = max(counted, reserved)
    if counted < reserved:
        open_exception(
            session,
            Reason.STOCK_DISCREPANCY,
            detail={
                "warehouse_id": wid,
                "sku": sku,
                "counted": counted,
                "reserved_by_other_orders": reserved,
                "on_hand_set_to": target,
            },
        )
    if target == on_hand:
        return []
    session.execute(
        _SET_ON_HAND, {"w": wid, "s": sku, "on_hand": target, "now": base["created_at"]}
    )
    return [{**base, "delta_on_hand": target - on_hand, "delta_reserved": 0, "reason": "count"}]


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
