"""A backtest's figures, and the backtest read by people: a summary table, per-order changes
as CSV or JSON lines. Pure: replays in, numbers and text out.

Each figure is given before (the stored decisions) and after (the rule set replayed), with
the change. Shipping cost is the router's own estimate, the one its ``shipping_cost``
criterion ranks by (``routing.engine.shipping_cost``), so before and after are valued alike.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import mean
from typing import Any

FILLED = frozenset({"single", "split", "partial_release"})  # partial: shipped what stock covered

COST_MEANS = (
    "estimated shipping cost: for each warehouse an order ships from, the band of its rate "
    "table that reaches the ship-to, base + per kg x the order's weight (SKU weights), as the "
    "router's shipping_cost criterion values it; summed over the orders filled and priced both "
    "before and after (a warehouse without a rate table, or an unplaced address, leaves an order "
    "out); in the rate tables' currency"
)


@dataclass(frozen=True)
class Side:
    """One order's plan: the stored decision (before) or the replay (after)."""

    outcome: str
    warehouses: tuple[str, ...]
    km: tuple[float, ...]  # ship-to to each shipping warehouse that is placed
    cost: float | None  # estimated shipping cost; None: not filled or not priced

    @property
    def filled(self) -> bool:
        return self.outcome in FILLED


@dataclass(frozen=True)
class Replay:
    order_id: int
    external_id: str
    stock: str  # decision_time | current: where the replay's stock came from
    decided_at: datetime
    before: Side
    after: Side
    policy: str  # what decided it then (rule set label)
    headline: str | None  # the replay's summary in words

    @property
    def changed(self) -> bool:
        return (
            sorted(self.before.warehouses) != sorted(self.after.warehouses)
            or self.before.outcome != self.after.outcome
        )


FIGURES: tuple[tuple[str, str, str], ...] = (
    ("fill_rate", "fill rate", "share of orders routed to stock (whole, split or partial)"),
    ("split_rate", "split rate", "share of filled orders shipped from more than one warehouse"),
    ("shipments_per_order", "shipments per order", "mean over filled orders"),
    ("mean_distance_km", "mean distance (km)", "ship-to to each shipping warehouse"),
    ("shipping_cost", "shipping cost", COST_MEANS),
)


def _figures(sides: Sequence[Side], priced: Sequence[Side]) -> dict[str, float | None]:
    filled = [s for s in sides if s.filled]
    km = [k for s in filled for k in s.km]
    return {
        "fill_rate": round(len(filled) / len(sides), 4) if sides else None,
        "split_rate": (
            round(sum(len(s.warehouses) > 1 for s in filled) / len(filled), 4) if filled else None
        ),
        "shipments_per_order": (
            round(mean(len(s.warehouses) for s in filled), 3) if filled else None
        ),
        "mean_distance_km": round(mean(km), 1) if km else None,
        "shipping_cost": round(sum(s.cost or 0.0 for s in priced), 2) if priced else None,
    }


def summarise(replays: Sequence[Replay]) -> dict[str, Any]:
    """The headline: orders replayed, decisions changed, each figure before → after."""
    both = [r for r in replays if r.before.cost is not None and r.after.cost is not None]
    before = _figures([r.before for r in replays], [r.before for r in both])
    after = _figures([r.after for r in replays], [r.after for r in both])
    figures: dict[str, Any] = {}
    for key, label, means in FIGURES:
        old, new = before[key], after[key]
        delta = None if old is None or new is None else round(new - old, 4)
        figures[key] = {"label": label, "before": old, "after": new, "delta": delta}
        figures[key]["means"] = means
    figures["shipping_cost"]["orders_priced"] = len(both)
    return {
        "orders_replayed": len(replays),
        "decisions_changed": sum(r.changed for r in replays),
        "figures": figures,
    }


def legacy_tally(sides: Sequence[Side]) -> dict[str, Any]:
    """The per-side figures the backtest answer has always carried under before/after (its
    old ``estimated_cost`` summed each side over different orders; the summary's
    ``shipping_cost`` compares like with like)."""
    filled = [s for s in sides if s.filled]
    km = [k for s in filled for k in s.km]
    return {
        "orders": len(sides),
        "unfillable": len(sides) - len(filled),
        "shipments_per_order": (
            round(mean(len(s.warehouses) for s in filled), 3) if filled else None
        ),
        "split_rate": (
            round(sum(len(s.warehouses) > 1 for s in filled) / len(filled), 4) if filled else None
        ),
        "mean_distance_km": round(mean(km), 1) if km else None,
    }


def change_of(replay: Replay) -> dict[str, Any]:
    """One changed order as the JSON answer lists it."""
    return {
        "order_id": replay.order_id,
        "external_id": replay.external_id,
        "stock": replay.stock,
        "decided_at": replay.decided_at.isoformat(),
        "before": {
            "policy": replay.policy,
            "outcome": replay.before.outcome,
            "warehouses": list(replay.before.warehouses),
            "shipping_cost": replay.before.cost,
        },
        "after": {
            "outcome": replay.after.outcome,
            "warehouses": list(replay.after.warehouses),
            "shipping_cost": replay.after.cost,
            "summary": replay.headline,
        },
    }


# --- for people


def _number(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    if key in ("fill_rate", "split_rate"):
        return f"{value * 100:.1f}%"
    if key == "shipments_per_order":
        return f"{value:.2f}"
    if key == "mean_distance_km":
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _delta(value: float | None, key: str) -> str:
    if value is None:
        return ""
    if key in ("fill_rate", "split_rate"):
        return f"{value * 100:+.1f} pt"
    if key == "shipments_per_order":
        return f"{value:+.2f}"
    if key == "mean_distance_km":
        return f"{value:+,.1f}"
    return f"{value:+,.2f}"


def summary_table(report: dict[str, Any]) -> str:
    """The summary as an aligned table, then what the cost means and where the detail is."""
    summary = report["summary"]
    rows = [("", "before", "after", "change")]
    rows.append(("orders replayed", "", str(summary["orders_replayed"]), ""))
    rows.append(("decisions changed", "", str(summary["decisions_changed"]), ""))
    for key, figure in summary["figures"].items():
        rows.append(
            (
                figure["label"],
                _number(figure["before"], key),
                _number(figure["after"], key),
                _delta(figure["delta"], key),
            )
        )
    widths = [max(len(row[n]) for row in rows) for n in range(4)]
    lines = [f"Backtest of {report['rule_set']}"]
    lines += [
        "  ".join(
            [
                row[0].ljust(widths[0]),
                *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)),
            ]
        ).rstrip()
        for row in rows
    ]
    cost = summary["figures"]["shipping_cost"]
    sources = report.get("stock_sources", {})
    notes = (
        f"Shipping cost over {cost['orders_priced']} orders: {cost['means']}.",
        f"Stock: as each decision saw it for {sources.get('decision_time', 0)} orders, today's "
        f"for {sources.get('current', 0)}; each order replayed at the time it was decided.",
    )
    lines.append("")
    lines += [wrapped for note in notes for wrapped in textwrap.wrap(note, width=100)]
    return "\n".join(lines) + "\n"


def changes_table(changes: Iterable[dict[str, Any]]) -> str:
    """Each changed order on one line: before → after."""
    lines = []
    for c in changes:
        before, after = c["before"], c["after"]
        old = "+".join(before["warehouses"]) or "-"
        new = "+".join(after["warehouses"]) or "-"
        lines.append(
            f"order {c['order_id']} ({c['external_id']}): {old} ({before['outcome']}) -> "
            f"{new} ({after['outcome']})"
        )
    return "\n".join(lines) + ("\n" if lines else "")


CSV_COLUMNS = (
    "order_id",
    "external_id",
    "decided_at",
    "stock",
    "before_policy",
    "before_outcome",
    "before_warehouses",
    "before_shipping_cost",
    "after_outcome",
    "after_warehouses",
    "after_shipping_cost",
    "after_summary",
)


def changes_csv(changes: Iterable[dict[str, Any]]) -> str:
    """The changed orders as CSV, one row each; warehouses joined with ``+``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in changes:
        before, after = c["before"], c["after"]
        writer.writerow(
            [
                c["order_id"],
                c["external_id"],
                c["decided_at"],
                c["stock"],
                before["policy"],
                before["outcome"],
                "+".join(before["warehouses"]),
                "" if before["shipping_cost"] is None else before["shipping_cost"],
                after["outcome"],
                "+".join(after["warehouses"]),
                "" if after["shipping_cost"] is None else after["shipping_cost"],
                after["summary"] or "",
            ]
        )
    return out.getvalue()


def changes_jsonl(changes: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(c, default=str) + "\n" for c in changes)
