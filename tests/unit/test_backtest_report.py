"""The backtest summary and its renderings, from plain replays."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from omniroute.core.order_routing.backtest_report import (
    Replay,
    Side,
    change_of,
    changes_csv,
    summarise,
    summary_table,
)

AT = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)


def replay(order_id: int, before: Side, after: Side) -> Replay:
    return Replay(order_id, f"#{order_id}", "decision_time", AT, before, after, "v1", None)


def test_figures_compare_like_with_like() -> None:
    replays = [
        replay(1, Side("single", ("A",), (10.0,), 5.0), Side("single", ("B",), (30.0,), 7.0)),
        # split after: both priced, so the cost counts
        replay(
            2,
            Side("single", ("A",), (20.0,), 5.0),
            Side("split", ("A", "B"), (20.0, 40.0), 12.0),
        ),
        # not filled after: its cost is left out on both sides
        replay(3, Side("single", ("A",), (10.0,), 5.0), Side("exception", (), (), None)),
        # unpriced before (no rate table then): left out too
        replay(4, Side("single", ("C",), (), None), Side("single", ("C",), (), None)),
    ]
    summary = summarise(replays)
    assert (summary["orders_replayed"], summary["decisions_changed"]) == (4, 3)
    figures = summary["figures"]
    assert list(figures) == [
        "fill_rate",
        "split_rate",
        "shipments_per_order",
        "mean_distance_km",
        "shipping_cost",
    ]
    assert (figures["fill_rate"]["before"], figures["fill_rate"]["after"]) == (1.0, 0.75)
    assert figures["fill_rate"]["delta"] == -0.25
    assert (figures["split_rate"]["before"], figures["split_rate"]["after"]) == (0.0, 0.3333)
    assert figures["shipments_per_order"]["after"] == 1.333
    assert figures["mean_distance_km"]["before"] == 13.3  # (10 + 20 + 10) / 3
    cost = figures["shipping_cost"]
    assert (cost["before"], cost["after"], cost["delta"], cost["orders_priced"]) == (
        10.0,
        19.0,
        9.0,
        2,
    )
    assert "rate table" in cost["means"]


def test_table_and_csv_read_well() -> None:
    replays = [
        replay(1, Side("single", ("A",), (10.0,), 5.0), Side("single", ("B",), (30.0,), 7.5)),
        replay(2, Side("single", ("A",), (10.0,), 5.0), Side("single", ("A",), (10.0,), 5.0)),
    ]
    report = {
        "rule_set": "west (backtest)",
        "summary": summarise(replays),
        "stock_sources": {"decision_time": 2, "current": 0},
    }
    lines = summary_table(report).splitlines()
    assert lines[:9] == [
        "Backtest of west (backtest)",
        "                     before   after   change",
        "orders replayed                   2",
        "decisions changed                 1",
        "fill rate            100.0%  100.0%  +0.0 pt",
        "split rate             0.0%    0.0%  +0.0 pt",
        "shipments per order    1.00    1.00    +0.00",
        "mean distance (km)     10.0    20.0    +10.0",
        "shipping cost         10.00   12.50    +2.50",
    ]
    assert max(len(line) for line in lines) <= 100  # the notes are wrapped
    changes = [change_of(r) for r in replays if r.changed]
    (row,) = csv.DictReader(io.StringIO(changes_csv(changes)))
    assert row["order_id"] == "1" and row["decided_at"] == AT.isoformat()
    assert (row["before_warehouses"], row["after_warehouses"]) == ("A", "B")
    assert (row["before_shipping_cost"], row["after_shipping_cost"]) == ("5.0", "7.5")
    empty = summarise([])
    assert empty["figures"]["fill_rate"] == {
        "label": "fill rate",
        "before": None,
        "after": None,
        "delta": None,
        "means": empty["figures"]["fill_rate"]["means"],
    }
