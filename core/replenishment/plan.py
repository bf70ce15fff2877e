"""Reorder and transfer suggestions from positions, thresholds and a forecast; pure numpy.

Per series (a SKU at a warehouse with a threshold), all in units:

- ``min`` = the larger of ``min_units`` and ``min_days`` x daily rate (rounded up); ``max``
  likewise from ``max_units`` / ``max_days``, never below ``min`` (unset: ``min``).
- ``horizon`` = lead time + review period, in days; ``horizon_demand`` its forecast units.
- ``projected`` = available + inbound - horizon demand: what is left when an order placed
  now arrives (available = on hand - reserved - safety, so open reservations are out).
- **Need**: when ``projected < min``, the units that bring it back to ``max``
  (``max - projected``); otherwise none.
- **Surplus**: when the series has a max of its own and ``projected > max``, the units above
  it (never more than available).
- **Transfers first**: for each SKU, the warehouses in need take from those with surplus,
  largest need first from the largest surplus (ties by warehouse id).
- **Purchases**: what need is left, rounded up to a multiple of the pack size, and at least
  the minimum order quantity (itself rounded up to the pack size).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Positions:
    """Parallel arrays, one element per series. Unset thresholds are NaN."""

    sku: list[str]
    warehouse_id: Ints
    available: Ints
    inbound: Ints
    min_units: Floats
    max_units: Floats
    min_days: Floats
    max_days: Floats
    lead_days: Ints
    review_days: Ints
    pack_size: Ints
    moq: Ints

    def __len__(self) -> int:
        return len(self.sku)


@dataclass(frozen=True)
class Levels:
    """Each series' min and max in units and whether it has a max of its own."""

    low: Ints
    high: Ints
    has_max: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Purchase:
    sku: str
    warehouse_id: int
    quantity: int
    need: int
    index: int  # the series' position in ``Positions``


@dataclass(frozen=True)
class Transfer:
    sku: str
    from_warehouse_id: int
    to_warehouse_id: int
    quantity: int
    index: int  # the receiving series


@dataclass(frozen=True)
class Plan:
    levels: Levels
    projected: Floats
    need: Ints
    surplus: Ints
    transfers: list[Transfer]
    purchases: list[Purchase]


def levels(pos: Positions, rate: Floats) -> Levels:
    """Min and max in units of every series, days of cover turned into units by ``rate``."""
    low = np.fmax(np.nan_to_num(pos.min_units), _cover(pos.min_days, rate))
    high = np.fmax(pos.max_units, _cover(pos.max_days, rate))
    has_max = ~np.isnan(high)
    high = np.where(has_max, np.fmax(high, low), low)
    return Levels(low=low.astype(np.int64), high=high.astype(np.int64), has_max=has_max)


def _cover(days: Floats, rate: Floats) -> Floats:
    # NaN where unset; a tiny tolerance so 2.0000001 units of cover is 2, not 3.
    return np.ceil(days * rate - 1e-9)


def plan(pos: Positions, rate: Floats, horizon_demand: Floats) -> Plan:
    lv = levels(pos, rate)
    projected = pos.available + pos.inbound - horizon_demand
    short = projected < lv.low
    need = np.where(short, np.ceil(lv.high - projected - 1e-9), 0).astype(np.int64)
    over = lv.has_max & (projected > lv.high)
    surplus = np.where(over, np.floor(projected - lv.high + 1e-9), 0).astype(np.int64)
    surplus = np.minimum(surplus, np.maximum(pos.available, 0))
    left = need.copy()
    transfers = _transfers(pos, left, surplus.copy())
    purchases = [
        Purchase(
            sku=pos.sku[i],
            warehouse_id=int(pos.warehouse_id[i]),
            quantity=order_quantity(int(left[i]), int(pos.pack_size[i]), int(pos.moq[i])),
            need=int(left[i]),
            index=int(i),
        )
        for i in np.flatnonzero(left > 0)
    ]
    return Plan(lv, projected, need, surplus, transfers, purchases)


def _transfers(pos: Positions, left: Ints, surplus: Ints) -> list[Transfer]:
    """Move surplus to need within each SKU; ``left`` and ``surplus`` are updated in place."""
    takers: dict[str, list[int]] = defaultdict(list)
    for i in np.flatnonzero(left > 0):
        takers[pos.sku[i]].append(int(i))
    givers: dict[str, list[int]] = defaultdict(list)
    for i in np.flatnonzero(surplus > 0):
        if pos.sku[i] in takers:
            givers[pos.sku[i]].append(int(i))
    out: list[Transfer] = []
    for sku in sorted(givers):
        by_need = sorted(takers[sku], key=lambda i: (-left[i], pos.warehouse_id[i]))
        by_surplus = sorted(givers[sku], key=lambda i: (-surplus[i], pos.warehouse_id[i]))
        for taker in by_need:
            for giver in by_surplus:
                if left[taker] == 0:
                    break
                units = int(min(left[taker], surplus[giver]))
                if units == 0:
                    continue
                left[taker] -= units
                surplus[giver] -= units
                out.append(
                    Transfer(
                        sku=sku,
                        from_warehouse_id=int(pos.warehouse_id[giver]),
                        to_warehouse_id=int(pos.warehouse_id[taker]),
                        quantity=units,
                        index=taker,
                    )
                )
    return out


def order_quantity(need: int, pack_size: int, moq: int) -> int:
    """``need`` rounded up to whole packs, at least the MOQ in whole packs (0 for none)."""
    if need <= 0:
        return 0
    pack = max(pack_size, 1)
    packs = -(-need // pack)
    return max(packs * pack, -(-moq // pack) * pack)


def alert_kind(available: int, low: int, high: int | None) -> str | None:
    """Which side of its thresholds a series is on: ``below_min`` (available < min),
    ``above_max`` (available > max, when it has one) or None between them."""
    if available < low:
        return "below_min"
    if high is not None and available > high:
        return "above_max"
    return None


def bounds(
    *,
    min_units: int | None,
    max_units: int | None,
    min_days: float | None,
    max_days: float | None,
    rate: float,
) -> tuple[int, int | None]:
    """One series' min and max in units (max None when it has none): ``levels`` for one."""
    low = max(min_units or 0, _cover_one(min_days, rate))
    cover = None if max_days is None else _cover_one(max_days, rate)
    given = [v for v in (max_units, cover) if v is not None]
    return low, (max(*given, low) if given else None)


def _cover_one(days: float | None, rate: float) -> int:
    return 0 if days is None else int(np.ceil(days * rate - 1e-9))
