"""Routing types and the default plan: one warehouse when possible, else a greedy split."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

from omniroute.routing import strategies as st

POLICY_NAME: Final = "default.v1"

Stock = Mapping[tuple[int, str], int]


@dataclass(frozen=True)
class LineDemand:
    """One order line to allocate (or, in a shortfall, the units of it that are missing)."""

    line_id: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderDemand:
    """The order as the router sees it."""

    order_id: int
    lines: tuple[LineDemand, ...]


@dataclass(frozen=True)
class WarehouseCandidate:
    """A warehouse that may ship the order; a LOWER priority number is preferred."""

    warehouse_id: int
    code: str
    priority: int
    enabled: bool = True


class NoStockPolicy(StrEnum):
    """What to do when the order cannot be fully covered."""

    EXCEPTION = "exception"
    BACKORDER = "backorder"


@dataclass(frozen=True)
class RoutingPolicy:
    """Options of the default policy."""

    allow_split: bool = True
    allow_line_split: bool = True
    on_no_stock: NoStockPolicy = NoStockPolicy.EXCEPTION


class Outcome(StrEnum):
    """Kind of routing decision."""

    SINGLE = "single"
    SPLIT = "split"
    NO_STOCK = "no_stock"
    BACKORDER = "backorder"
    HOLD = "hold"
    REJECT = "reject"
    # An urgent order every warehouse with its stock could ship only on a later day.
    CUTOFF_MISSED = "cutoff_missed"


@dataclass(frozen=True)
class LineAllocation:
    """Units of one order line assigned to one warehouse."""

    line_id: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class Shipment:
    """Everything one warehouse ships for the order."""

    warehouse_id: int
    warehouse_code: str
    lines: tuple[LineAllocation, ...]


@dataclass(frozen=True)
class Promise:
    """What the plan promises: the local date by which every shipment leaves its warehouse
    (None: some warehouse never ships by its calendar) at the service level it was routed
    as; for an order held for the next shipping day, when the hold ends."""

    ship_by: date | None
    service_level: str
    hold_until: datetime | None = None  # aware; set only with Outcome.HOLD after a cut-off

    def to_json(self) -> dict[str, Any]:
        return {
            "ship_by": None if self.ship_by is None else self.ship_by.isoformat(),
            "service_level": self.service_level,
            "hold_until": None if self.hold_until is None else self.hold_until.isoformat(),
        }


@dataclass(frozen=True)
class RoutingResult:
    """The plan (shipments), what is missing, and a JSON-serialisable trace of why."""

    outcome: Outcome
    shipments: tuple[Shipment, ...]
    shortfall: tuple[LineDemand, ...]
    trace: dict[str, Any]
    promise: Promise | None = None  # with shipments, or a hold until the next shipping day


@dataclass(frozen=True)
class _Context:
    """Inputs of one plan call plus the whole-order facts every step reads."""

    order: OrderDemand
    warehouses: tuple[WarehouseCandidate, ...]
    stock: Stock
    policy: RoutingPolicy
    now: datetime
    needs: dict[str, int]  # sku -> units ordered, over all lines
    whole: dict[int, st.RankFacts]  # warehouse_id -> facts for the whole order
    ranked: tuple[st.RankFacts, ...]  # enabled warehouses, best first by SINGLE_CHAIN

    def take(self, wid: int, remaining: dict[int, int], split: bool) -> tuple[LineAllocation, ...]:
        """Allocate what warehouse ``wid`` can of ``remaining``, sharing each SKU's stock."""
        open_lines = [line for line in self.order.lines if remaining[line.line_id] > 0]
        if not split:
            # Largest lines first packs a SKU's shared stock better; the sort is stable.
            open_lines.sort(key=lambda line: -remaining[line.line_id])
        left: dict[str, int] = {}
        taken: dict[int, int] = {}
        for line in open_lines:
            have = left.get(line.sku, _available(self.stock, wid, line.sku))
            want = remaining[line.line_id]
            taken[line.line_id] = min(want, have) if split else (want if want <= have else 0)
            left[line.sku] = have - taken[line.line_id]
        return tuple(
            LineAllocation(line.line_id, line.sku, taken[line.line_id])
            for line in self.order.lines
            if taken.get(line.line_id, 0) > 0
        )


@dataclass(frozen=True)
class _Split:
    """Greedy split: shipments in pick order, units left per line, each loser's last lost pick."""

    shipments: tuple[Shipment, ...]
    missing: dict[int, int]
    losses: dict[int, str]


def plan(
    order: OrderDemand,
    warehouses: Sequence[WarehouseCandidate],
    stock: Mapping[tuple[int, str], int],
    policy: RoutingPolicy,
    now: datetime,
) -> RoutingResult:
    """Decide which warehouses ship ``order`` from a stock snapshot; pure and deterministic."""
    _validate(order, warehouses)
    ctx = _context(order, tuple(warehouses), stock, policy, now)
    if ctx.ranked and ctx.ranked[0].fills:
        return _single(ctx)
    attempt = _split(ctx) if policy.allow_split else None
    if attempt is not None and not any(attempt.missing.values()):
        return _split_result(ctx, attempt)
    return _no_stock(ctx, attempt)


def _validate(order: OrderDemand, warehouses: Sequence[WarehouseCandidate]) -> None:
    if not order.lines:
        raise ValueError(f"order {order.order_id} has no lines")
    if any(line.quantity <= 0 for line in order.lines):
        raise ValueError(f"order {order.order_id}: every line quantity must be positive")
    if len({line.line_id for line in order.lines}) != len(order.lines):
        raise ValueError(f"order {order.order_id}: duplicate line_id")
    if len({w.warehouse_id for w in warehouses}) != len(warehouses):
        raise ValueError("duplicate warehouse_id among candidate warehouses")


def _available(stock: Stock, warehouse_id: int, sku: str) -> int:
    return max(0, stock.get((warehouse_id, sku), 0))


def _context(
    order: OrderDemand,
    warehouses: tuple[WarehouseCandidate, ...],
    stock: Stock,
    policy: RoutingPolicy,
    now: datetime,
) -> _Context:
    needs: dict[str, int] = {}
    for line in order.lines:
        needs[line.sku] = needs.get(line.sku, 0) + line.quantity
    whole: dict[int, st.RankFacts] = {}
    for w in warehouses:
        have = {sku: _available(stock, w.warehouse_id, sku) for sku in needs}
        coverable = sum(min(have[sku], need) for sku, need in needs.items())
        whole[w.warehouse_id] = st.RankFacts(
            w.warehouse_id, w.code, w.priority, sum(have.values()), coverable, sum(needs.values())
        )
    ranked = st.rank([whole[w.warehouse_id] for w in warehouses if w.enabled], st.SINGLE_CHAIN)
    return _Context(order, warehouses, stock, policy, now, needs, whole, tuple(ranked))


def _single(ctx: _Context) -> RoutingResult:
    best = ctx.ranked[0]
    lines = tuple(LineAllocation(ln.line_id, ln.sku, ln.quantity) for ln in ctx.order.lines)
    verdicts = {best.warehouse_id: st.verdict_single_winner(best)}
    for loser in ctx.ranked[1:]:
        verdicts[loser.warehouse_id] = st.verdict_lost(loser, best, st.SINGLE_CHAIN)
    fillers = sum(1 for facts in ctx.ranked if facts.fills)
    summary = (
        f"Ship the whole order from {best.code} (priority {best.priority}), the best-ranked "
        f"of {fillers} warehouse(s) able to fill it."
    )
    shipment = Shipment(best.warehouse_id, best.code, lines)
    return _result(ctx, Outcome.SINGLE, (shipment,), (), verdicts=verdicts, summary=summary)


def _split(ctx: _Context) -> _Split:
    """Greedy set cover: repeatedly take the warehouse covering most still-open units."""
    remaining = {line.line_id: line.quantity for line in ctx.order.lines}
    pool = list(ctx.ranked)
    shipments: list[Shipment] = []
    losses: dict[int, str] = {}
    while any(remaining.values()) and pool:
        open_units = sum(remaining.values())
        offers = {
            f.warehouse_id: ctx.take(f.warehouse_id, remaining, ctx.policy.allow_line_split)
            for f in pool
        }
        facts = [
            replace(f, units_coverable=_units(offers[f.warehouse_id]), units_needed=open_units)
            for f in pool
        ]
        best, *others = st.rank(facts, st.SPLIT_CHAIN)
        if best.units_coverable == 0:
            break
        for loser in (f for f in others if f.units_coverable > 0):
            why = st.explain_loss(loser, best, st.SPLIT_CHAIN)
            losses[loser.warehouse_id] = f"{why} at pick {len(shipments) + 1}"
        pool = [f for f in pool if f.warehouse_id != best.warehouse_id]
        shipments.append(Shipment(best.warehouse_id, best.code, offers[best.warehouse_id]))
        for alloc in offers[best.warehouse_id]:
            remaining[alloc.line_id] -= alloc.quantity
    return _Split(tuple(shipments), remaining, losses)


def _units(allocations: tuple[LineAllocation, ...]) -> int:
    return sum(alloc.quantity for alloc in allocations)


def _split_result(ctx: _Context, attempt: _Split) -> RoutingResult:
    picks = len(attempt.shipments)
    open_units = sum(ctx.needs.values())
    verdicts: dict[int, str] = {}
    for n, shipment in enumerate(attempt.shipments, start=1):
        covered = _units(shipment.lines)
        verdicts[shipment.warehouse_id] = st.verdict_split_pick(n, picks, covered, open_units)
        open_units -= covered
    for facts in ctx.ranked:
        if facts.warehouse_id not in verdicts:
            lost = attempt.losses.get(facts.warehouse_id)
            verdicts[facts.warehouse_id] = st.verdict_split_loser(facts, lost)
    codes = ", ".join(s.warehouse_code for s in attempt.shipments)
    summary = f"No single warehouse can fill the order; split across {picks}: {codes}."
    return _result(ctx, Outcome.SPLIT, attempt.shipments, (), verdicts=verdicts, summary=summary)


def _no_stock(ctx: _Context, attempt: _Split | None) -> RoutingResult:
    missing = {line.line_id: line.quantity for line in ctx.order.lines}
    if attempt is not None:
        missing = attempt.missing
    elif ctx.ranked:
        # Without splitting, what is missing is what the closest single warehouse lacks.
        closest = st.rank(list(ctx.ranked), st.SPLIT_CHAIN)[0]
        for alloc in ctx.take(closest.warehouse_id, dict(missing), split=True):
            missing[alloc.line_id] -= alloc.quantity
    shortfall = tuple(
        LineDemand(line.line_id, line.sku, missing[line.line_id])
        for line in ctx.order.lines
        if missing[line.line_id] > 0
    )
    backorder = ctx.policy.on_no_stock is NoStockPolicy.BACKORDER
    verdicts = {facts.warehouse_id: st.verdict_cannot_fill(facts) for facts in ctx.ranked}
    head = "Backordered" if backorder else "Cannot route (exception)"
    summary = f"{head}: {_no_stock_reason(ctx)}."
    outcome = Outcome.BACKORDER if backorder else Outcome.NO_STOCK
    return _result(ctx, outcome, (), shortfall, verdicts=verdicts, summary=summary)


def _no_stock_reason(ctx: _Context) -> str:
    if not ctx.ranked:
        return "no enabled warehouse to ship from"
    short = [
        f"{sku} (short {need - have})"
        for sku, need in ctx.needs.items()
        if (have := sum(_available(ctx.stock, f.warehouse_id, sku) for f in ctx.ranked)) < need
    ]
    if short:
        return "not enough stock across all enabled warehouses for " + ", ".join(short)
    if not ctx.policy.allow_split:
        return "no single warehouse can fill the order and splitting is not allowed"
    return "no single warehouse can fill the order and no split was found without splitting lines"


def _result(
    ctx: _Context,
    outcome: Outcome,
    shipments: tuple[Shipment, ...],
    shortfall: tuple[LineDemand, ...],
    *,
    verdicts: dict[int, str],
    summary: str,
) -> RoutingResult:
    ranks = {facts.warehouse_id: n for n, facts in enumerate(ctx.ranked, start=1)}
    last = len(ranks) + 1  # disabled warehouses go after every ranked one
    ordered = sorted(
        ctx.warehouses, key=lambda w: (ranks.get(w.warehouse_id, last), w.code, w.warehouse_id)
    )
    removed = "removed: warehouse is disabled"
    policy = ctx.policy
    trace = {
        "policy": POLICY_NAME,
        "decided_at": ctx.now.isoformat(),
        "outcome": outcome.value,
        "strategy": outcome.value if shipments else "none",
        "options": {
            "allow_split": policy.allow_split,
            "allow_line_split": policy.allow_line_split,
            "on_no_stock": policy.on_no_stock.value,
        },
        "candidates": [
            st.describe(
                ctx.whole[w.warehouse_id],
                enabled=w.enabled,
                rank_no=ranks.get(w.warehouse_id),
                verdict=verdicts.get(w.warehouse_id, removed),
            )
            for w in ordered
        ],
        "chosen": [s.warehouse_code for s in shipments],
        "shipments": len(shipments),
        "shortfall": [
            {"line_id": d.line_id, "sku": d.sku, "missing": d.quantity} for d in shortfall
        ],
        "summary": summary,
    }
    return RoutingResult(outcome, shipments, shortfall, trace)
