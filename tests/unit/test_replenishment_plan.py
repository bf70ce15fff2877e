"""Reorder and transfer suggestions (core/replenishment/plan.py), pure."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from omniroute.core.replenishment.plan import (
    Positions,
    alert_kind,
    bounds,
    levels,
    order_quantity,
    plan,
)

NAN = math.nan


def positions(rows: list[dict[str, object]]) -> Positions:
    def col(name: str, default: object, dtype: type) -> np.ndarray:
        return np.array([r.get(name, default) for r in rows], dtype=dtype)

    return Positions(
        sku=[str(r["sku"]) for r in rows],
        warehouse_id=col("warehouse_id", 1, np.int64),
        available=col("available", 0, np.int64),
        inbound=col("inbound", 0, np.int64),
        min_units=col("min_units", NAN, np.float64),
        max_units=col("max_units", NAN, np.float64),
        min_days=col("min_days", NAN, np.float64),
        max_days=col("max_days", NAN, np.float64),
        lead_days=col("lead_days", 0, np.int64),
        review_days=col("review_days", 0, np.int64),
        pack_size=col("pack_size", 1, np.int64),
        moq=col("moq", 0, np.int64),
    )


@pytest.mark.parametrize(
    ("need", "pack", "moq", "expected"),
    [(0, 6, 0, 0), (-3, 1, 0, 0), (7, 6, 0, 12), (12, 6, 0, 12), (5, 1, 20, 20), (5, 6, 20, 24)],
)
def test_order_quantity_rounds_to_packs_and_moq(
    need: int, pack: int, moq: int, expected: int
) -> None:
    assert order_quantity(need, pack, moq) == expected


def test_days_of_cover_become_units() -> None:
    pos = positions(
        [
            {"sku": "A", "min_units": 5, "max_units": 50},
            {"sku": "B", "min_days": 7, "max_days": 21},  # rate 2: 14 and 42
            {"sku": "C", "min_units": 20, "min_days": 7},  # the larger min, no max: max = min
            {"sku": "D", "min_days": 2.0, "max_days": 3},  # rate 1/3: 1 (2/3 up) and 1
        ]
    )
    rate = np.array([9.0, 2.0, 2.0, 1 / 3])
    lv = levels(pos, rate)
    assert lv.low.tolist() == [5, 14, 20, 1]
    assert lv.high.tolist() == [50, 42, 20, 1]
    assert lv.has_max.tolist() == [True, True, False, True]


def test_bounds_agrees_with_levels() -> None:
    rng = random.Random(4)
    for _ in range(200):
        row = {
            "min_units": rng.choice([None, rng.randrange(50)]),
            "max_units": rng.choice([None, rng.randrange(50, 200)]),
            "min_days": rng.choice([None, rng.uniform(0, 10)]),
            "max_days": rng.choice([None, rng.uniform(10, 40)]),
        }
        rate = rng.uniform(0, 8)
        pos = positions([{"sku": "X"} | {k: NAN if v is None else v for k, v in row.items()}])
        lv = levels(pos, np.array([rate]))
        low, high = bounds(rate=rate, **row)  # type: ignore[arg-type]
        assert low == lv.low[0]
        assert high == (lv.high[0] if lv.has_max[0] else None)


def test_reorder_to_max_after_lead_time_by_hand() -> None:
    # min 20, max 100, 12 available, 2/day over 5 days of lead time + 2 of review:
    # projected 12 - 14 = -2 < 20, need 100 - (-2) = 102, packs of 25 -> 125.
    pos = positions(
        [
            {
                "sku": "A",
                "available": 12,
                "min_units": 20,
                "max_units": 100,
                "lead_days": 5,
                "review_days": 2,
                "pack_size": 25,
            }
        ]
    )
    result = plan(pos, np.array([2.0]), np.array([14.0]))
    assert result.transfers == []
    assert [(p.sku, p.need, p.quantity) for p in result.purchases] == [("A", 102, 125)]


def test_above_min_after_lead_time_orders_nothing() -> None:
    pos = positions([{"sku": "A", "available": 40, "min_units": 20, "max_units": 100}])
    result = plan(pos, np.array([2.0]), np.array([14.0]))  # projected 26 >= 20
    assert result.purchases == [] and result.transfers == []


def test_transfers_come_before_purchases() -> None:
    pos = positions(
        [
            # EAST (1) is short by 60 to its max; WEST (2) holds 35 above its max; NORTH (3)
            # is short by 10 and SOUTH (4) has no max, so no surplus to give.
            {"sku": "A", "warehouse_id": 1, "available": 0, "min_units": 10, "max_units": 60},
            {"sku": "A", "warehouse_id": 2, "available": 85, "min_units": 10, "max_units": 50},
            {"sku": "A", "warehouse_id": 3, "available": 5, "min_units": 10, "max_units": 15},
            {"sku": "A", "warehouse_id": 4, "available": 999, "min_units": 10},
            {"sku": "B", "warehouse_id": 2, "available": 500, "min_units": 1, "max_units": 10},
        ]
    )
    zero = np.zeros(5)
    result = plan(pos, zero, zero)
    assert [
        (t.sku, t.from_warehouse_id, t.to_warehouse_id, t.quantity) for t in result.transfers
    ] == [("A", 2, 1, 35)]
    assert [(p.sku, p.warehouse_id, p.quantity) for p in result.purchases] == [
        ("A", 1, 25),
        ("A", 3, 10),
    ]
    assert result.surplus.tolist() == [0, 35, 0, 0, 490]  # B's surplus has no taker


def test_alert_kinds() -> None:
    assert alert_kind(4, 5, None) == "below_min"
    assert alert_kind(5, 5, None) is None
    assert alert_kind(51, 5, 50) == "above_max"
    assert alert_kind(50, 5, 50) is None
