"""The decision's result and its JSON-ready trace: why each warehouse won, lost or was removed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from routing.allocate import LineDemand, Outcome, RoutingResult, Shipment
from routing.geo import GeoPoint
from routing.rules import Evaluation, NoStockAction
from routing.search import SearchResult
from routing.warehouses import ShipDay, Shipping, Site, held_back


class ScoreColumns(NamedTuple):
    """The eligible warehouses' values on each ranking criterion; None: unknown."""

    priority: list[float]
    distance: list[float | None]
    stock_depth: list[float]
    shipping_cost: list[float | None]
    capacity_headroom: list[float | None]
    ship_date: list[float | None]  # days until it ships; None: never

    def infinite(self) -> bool:
        """Whether any value is infinite: only a rate band's price can be, or a priority or
        capacity given as a float (distances and stock depths are always finite)."""
        return any(
            math.inf in column or -math.inf in column
            for column in (self.priority, self.shipping_cost, self.capacity_headroom)
        )


# One warehouse's values, in ScoreColumns order.
Scores = tuple[float, float | None, float, float | None, float | None, float | None]
NO_STOCK_OUTCOME = {
    NoStockAction.EXCEPTION: Outcome.NO_STOCK,
    NoStockAction.BACKORDER: Outcome.BACKORDER,
    NoStockAction.HOLD: Outcome.HOLD,
    NoStockAction.REJECT: Outcome.REJECT,
}


@dataclass(frozen=True)
class Verdicts:
    """Every warehouse considered: the eligible ones (their scores, the SKUs each may not
    ship with why, and the ranking), then the removed ones by code with the filter's reason;
    for each, its ship date and the units it holds back from the order's channel."""

    eligible: Sequence[Site]
    scores: ScoreColumns  # in ``eligible`` order
    blocked: dict[int, dict[str, str]]  # by position in ``eligible``; absent: none blocked
    order: Sequence[int]  # positions in ``eligible``, best-ranked first
    removed: Sequence[tuple[Site, str]]
    ships: Mapping[Shipping, ShipDay]  # by each site's ``shipping``
    channel: tuple[str, str]  # the order's connector kind and name


@dataclass(frozen=True)
class Stock:
    """Usable units of each order SKU per eligible warehouse (``rows`` in any order)."""

    skus: tuple[str, ...]
    rows: Sequence[tuple[int, ...]]


def build_result(
    lines: Sequence[LineDemand],
    *,
    label: str,
    now: datetime,
    ship_to: GeoPoint | None,
    evaluation: Evaluation,
    search: SearchResult,
    shipments: tuple[Shipment, ...],
    policy_block: str | None,
    verdicts: Verdicts,
    stock: Stock,
) -> RoutingResult:
    rules = evaluation.outcome
    if shipments:
        outcome = Outcome.SINGLE if len(shipments) == 1 else Outcome.SPLIT
        shortfall: list[LineDemand] = []
        summary = _plan_summary(shipments, search)
    else:
        outcome = NO_STOCK_OUTCOME[rules.on_no_stock]
        shortfall = _shortfall(lines, stock)
        summary = _no_plan_summary(evaluation, shortfall, policy_block, verdicts)
    trace = {
        "policy": label,
        "decided_at": now.isoformat(),
        "outcome": outcome.value,
        "rules": {"matched": list(evaluation.matched), "steps": list(evaluation.steps)},
        "ship_to": None
        if ship_to is None
        else {"level": ship_to.level.value, "label": ship_to.label},
        "ranking": list(rules.ranking),
        "split": {
            "mode": rules.split.mode.value,
            "max_shipments": rules.split.max_shipments,
            "allow_line_split": rules.split.allow_line_split,
        },
        "search": {
            "method": search.method,
            "proven_minimal": search.proven_minimal,
            "nodes": search.nodes,
        },
        "candidates": _candidates(verdicts, {s.warehouse_id for s in shipments}),
        "chosen": [s.warehouse_code for s in shipments],
        "shipments": len(shipments),
        "shortfall": [
            {"line_id": d.line_id, "sku": d.sku, "missing": d.quantity} for d in shortfall
        ],
        "summary": summary,
    }
    return RoutingResult(
        outcome=outcome, shipments=shipments, shortfall=tuple(shortfall), trace=trace
    )


def _candidates(verdicts: Verdicts, chosen: set[int]) -> list[dict[str, Any]]:
    eligible, blocked, columns = verdicts.eligible, verdicts.blocked, verdicts.scores
    kind, name = verdicts.channel
    dates = _ship_dates(eligible, verdicts.ships)
    scores: list[Scores] = list(zip(*columns, strict=True))
    if columns.infinite():
        scores = [tuple(map(_finite, values)) for values in scores]  # type: ignore[misc]  # same shape
    entries = []
    for rank, n in enumerate(verdicts.order, start=1):
        s = eligible[n]
        priority, distance, depth, cost, capacity, days = scores[n]
        entries.append(
            {
                "warehouse_id": s.warehouse_id,
                "code": s.code,
                "eligible": True,
                "removed_by": None,
                "rank": rank,
                "scores": {
                    "priority": priority,
                    "distance": distance,
                    "stock_depth": depth,
                    "shipping_cost": cost,
                    "capacity_headroom": capacity,
                    "ship_date": days,
                },
                "location": s.level,
                "cannot_ship": blocked.get(n, {}),
                "ship_date": dates[n],
                "channel_buffer": held_back(s, kind, name) if s.buffers else 0,
                "verdict": f"chosen: ranked {rank}"
                if s.warehouse_id in chosen
                else f"lost: ranked {rank}; the plan needed no shipment from it",
            }
        )
    entries += [
        {
            "warehouse_id": s.warehouse_id,
            "code": s.code,
            "eligible": False,
            "removed_by": reason,
            "rank": None,
            "scores": {},
            "location": s.level,
            "cannot_ship": {},
            "ship_date": verdicts.ships[s.shipping].iso,
            "channel_buffer": held_back(s, kind, name) if s.buffers else 0,
            "verdict": f"removed: {reason}",
        }
        for s, reason in verdicts.removed
    ]
    return entries


def _ship_dates(sites: Sequence[Site], ships: Mapping[Shipping, ShipDay]) -> list[str | None]:
    """Each site's ship date for the trace; one calendar for all (the usual case): no lookups."""
    if len(ships) == 1:
        return [next(iter(ships.values())).iso] * len(sites)
    return [ships[s.shipping].iso for s in sites]


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def _shortfall(lines: Sequence[LineDemand], stock: Stock) -> list[LineDemand]:
    pooled = dict(zip(stock.skus, map(sum, zip(*stock.rows, strict=True)), strict=False))
    missing = []
    for line in lines:
        take = min(pooled.get(line.sku, 0), line.quantity)
        pooled[line.sku] = pooled.get(line.sku, 0) - take
        if take < line.quantity:
            missing.append(LineDemand(line.line_id, line.sku, line.quantity - take))
    return missing


def _plan_summary(shipments: tuple[Shipment, ...], search: SearchResult) -> str:
    codes = ", ".join(s.warehouse_code for s in shipments)
    proof = "proven minimal" if search.proven_minimal else f"{search.method} (not proven minimal)"
    if len(shipments) == 1:
        return f"Ship the whole order from {codes}."
    return f"Split into {len(shipments)} shipments from {codes}; {proof}."


def _no_plan_summary(
    evaluation: Evaluation,
    shortfall: list[LineDemand],
    policy_block: str | None,
    verdicts: Verdicts,
) -> str:
    action = evaluation.outcome.on_no_stock.value
    if not verdicts.eligible:
        return f"No warehouse is eligible for this order; {action}."
    if policy_block:
        return f"{policy_block}; {action}."
    if shortfall:
        short = ", ".join(f"{d.sku} (short {d.quantity})" for d in shortfall)
        return f"Not enough stock in the eligible warehouses: {short}; {action}."
    return f"The split policy allows no plan with the stock there is; {action}."
