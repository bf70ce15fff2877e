"""The router as it was before the fast paths: a straightforward reading kept as an oracle.

``decide`` here is routing.engine.decide as of commit 53a805a (filters, scores, ranking and
trace one warehouse at a time, with dicts), and ``evaluate`` is routing.rules.evaluate as of
the same commit (every condition walked through its ``matches``/``explain``). The fast
engine must give the very same plan and trace; see test_engine_fast_paths.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from omniroute.routing.allocate import LineDemand, Outcome, RoutingResult, Shipment
from omniroute.routing.conditions import OrderFacts
from omniroute.routing.engine import DEFAULT_RULES, URGENT_LEVELS, RoutingRequest, WarehouseProfile
from omniroute.routing.geo import distance_km
from omniroute.routing.rules import Evaluation, NoStockAction, RuleOutcome, RuleSet, SplitMode
from omniroute.routing.search import SearchLimits, SearchResult, min_split

NO_STOCK_OUTCOME = {
    NoStockAction.EXCEPTION: Outcome.NO_STOCK,
    NoStockAction.BACKORDER: Outcome.BACKORDER,
    NoStockAction.HOLD: Outcome.HOLD,
    NoStockAction.REJECT: Outcome.REJECT,
}
SMALLER_IS_BETTER = frozenset({"priority", "distance", "shipping_cost"})


def evaluate(rule_set: RuleSet, facts: OrderFacts, now: datetime) -> Evaluation:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    local_now = now.astimezone(ZoneInfo(rule_set.timezone))
    outcome = rule_set.default
    matched: list[str] = []
    steps: list[dict[str, Any]] = []
    for rule in rule_set.rules:
        hit = rule.when.matches(facts, local_now)
        step: dict[str, Any] = {
            "rule": rule.id,
            "matched": hit,
            "why": rule.when.explain(facts, local_now),
        }
        steps.append(step)
        if hit:
            outcome = rule.then.over(outcome)
            matched.append(rule.id)
            step.update({"applied": list(rule.then.stated()), "continue": rule.continue_after})
            if not rule.continue_after:
                break
    return Evaluation(outcome, tuple(matched), tuple(steps))


@dataclass
class _Candidate:
    profile: WarehouseProfile
    removed_by: str | None = None
    blocked_skus: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)
    rank: int | None = None


def decide(req: RoutingRequest) -> RoutingResult:
    if not req.order.lines:
        raise ValueError("an order without lines cannot be routed")
    evaluation = evaluate(req.rule_set or DEFAULT_RULES, req.facts, req.now)
    outcome = evaluation.outcome
    candidates = [_filter(req, outcome, w) for w in _ordered(req.warehouses)]
    eligible = [c for c in candidates if c.removed_by is None]
    stock = _usable_stock(req, eligible)
    order_skus = tuple(sorted({line.sku for line in req.order.lines}))
    weight = _order_weight(req)
    boosts = dict(outcome.priority_boost)
    for c in eligible:
        c.scores = _scores(req, c, stock, order_skus=order_skus, weight=weight, boosts=boosts)
    ranked = sorted(eligible, key=lambda c: _rank_key(outcome.ranking, c))
    for position, c in enumerate(ranked, start=1):
        c.rank = position
    search = min_split(
        req.order.lines,
        [c.profile.warehouse_id for c in ranked],
        stock,
        _limits(outcome, req.node_budget),
    )
    shipments, policy_block = _shipments(req, outcome, search, ranked)
    return _result(
        req,
        evaluation=evaluation,
        candidates=candidates,
        search=search,
        shipments=shipments,
        policy_block=policy_block,
        stock=stock,
    )


def _ordered(warehouses: Sequence[WarehouseProfile]) -> list[WarehouseProfile]:
    return sorted(warehouses, key=lambda w: (w.code, w.warehouse_id))


def _filter(req: RoutingRequest, outcome: RuleOutcome, w: WarehouseProfile) -> _Candidate:
    c = _Candidate(profile=w)
    sel = outcome.warehouses
    if not w.enabled:
        c.removed_by = "disabled"
    elif sel.include and w.code not in sel.include:
        c.removed_by = "not in the rule's warehouse list"
    elif w.code in sel.exclude:
        c.removed_by = "excluded by the rule"
    elif missing := [t for t in sel.require_tags if t not in w.tags]:
        c.removed_by = f"lacks required tag(s) {', '.join(missing)}"
    elif banned := [t for t in sel.exclude_tags if t in w.tags]:
        c.removed_by = f"has excluded tag(s) {', '.join(banned)}"
    elif w.channels and not ({req.facts.channel, req.channel_name} & w.channels):
        c.removed_by = f"does not serve channel {req.channel_name}"
    elif w.capacity_left is not None and w.capacity_left <= 0:
        c.removed_by = "no capacity left today"
    elif req.facts.service_level in URGENT_LEVELS and _missed_cutoff(w, req.now):
        c.removed_by = (
            f"missed today's {w.cutoff_local_time} cut-off ({w.timezone}) "
            f"for a {req.facts.service_level} order"
        )
    return c


def _missed_cutoff(w: WarehouseProfile, now: datetime) -> bool:
    if not w.cutoff_local_time:
        return False
    hours, minutes = (int(p) for p in w.cutoff_local_time.split(":"))
    local = now.astimezone(ZoneInfo(w.timezone))
    return local.time() >= time(hours, minutes)


def _usable_stock(req: RoutingRequest, eligible: list[_Candidate]) -> dict[tuple[int, str], int]:
    stock: dict[tuple[int, str], int] = {}
    needs = {line.sku: _requirements(req, line.sku) for line in req.order.lines}
    skus = sorted(needs)
    source = req.stock
    for c in eligible:
        wid, tags = c.profile.warehouse_id, c.profile.tags
        for sku in skus:
            need = needs[sku]
            if need and not need <= tags:
                c.blocked_skus[sku] = f"needs {', '.join(sorted(need - tags))}"
                continue
            units = source.get((wid, sku), 0)
            if units > 0:
                stock[(wid, sku)] = units
    return stock


def _requirements(req: RoutingRequest, sku: str) -> frozenset[str]:
    profile = req.skus.get(sku)
    return frozenset() if profile is None else profile.requires


def _order_weight(req: RoutingRequest) -> float:
    total = 0.0
    for line in req.order.lines:
        profile = req.skus.get(line.sku)
        if profile is not None and profile.weight_kg:
            total += profile.weight_kg * line.quantity
    return total


def _scores(
    req: RoutingRequest,
    c: _Candidate,
    stock: Mapping[tuple[int, str], int],
    *,
    order_skus: tuple[str, ...],
    weight: float,
    boosts: Mapping[str, int],
) -> dict[str, float | None]:
    w = c.profile
    km = (
        distance_km(req.ship_to, w.location)
        if req.ship_to is not None and w.location is not None
        else None
    )
    wid = w.warehouse_id
    depth = sum(stock.get((wid, sku), 0) for sku in order_skus)
    return {
        "priority": float(w.priority - boosts.get(w.code, 0)),
        "distance": None if km is None else round(km, 1),
        "stock_depth": float(depth),
        "shipping_cost": _cost(w, km, weight),
        "capacity_headroom": None if w.capacity_left is None else float(w.capacity_left),
    }


def _cost(w: WarehouseProfile, km: float | None, weight: float) -> float | None:
    if km is None or not w.rate_table:
        return None
    for band in sorted(w.rate_table, key=lambda b: b.max_km):
        if km <= band.max_km:
            return round(band.base + band.per_kg * weight, 2)
    return None


def _rank_key(chain: Sequence[str], c: _Candidate) -> tuple[Any, ...]:
    key: list[Any] = []
    for criterion in chain:
        if criterion not in c.scores:
            continue
        value = c.scores[criterion]
        if value is None:
            key.append((1, 0.0))
        else:
            key.append((0, value if criterion in SMALLER_IS_BETTER else -value))
    return (*key, c.profile.code, c.profile.warehouse_id)


def _limits(outcome: RuleOutcome, node_budget: int) -> SearchLimits:
    split = outcome.split
    max_shipments = 1 if split.mode == SplitMode.SHIP_COMPLETE else split.max_shipments
    return SearchLimits(
        max_shipments=max_shipments,
        allow_line_split=split.allow_line_split,
        ship_alone_skus=frozenset(split.ship_alone_skus),
        keep_together=tuple(frozenset(g) for g in split.keep_together),
        node_budget=node_budget,
    )


def _shipments(
    req: RoutingRequest, outcome: RuleOutcome, search: SearchResult, ranked: list[_Candidate]
) -> tuple[tuple[Shipment, ...], str | None]:
    if not search.feasible:
        return (), None
    codes = {c.profile.warehouse_id: c.profile.code for c in ranked}
    shipments = tuple(
        Shipment(warehouse_id=wid, warehouse_code=codes[wid], lines=lines)
        for wid, lines in search.shipments
    )
    minimum = outcome.split.min_value_per_extra_shipment
    value = req.facts.order_value
    if minimum is not None and len(shipments) > 1 and value is not None:
        needed = minimum * (len(shipments) - 1)
        if value < needed:
            return (), (
                f"{len(shipments)} shipments need an order value of at least {needed} "
                f"({minimum} per extra shipment); the order is worth {value}"
            )
    return shipments, None


def _shortfall(req: RoutingRequest, stock: Mapping[tuple[int, str], int]) -> list[LineDemand]:
    pooled: dict[str, int] = {}
    for (_, sku), units in stock.items():
        pooled[sku] = pooled.get(sku, 0) + units
    missing = []
    for line in req.order.lines:
        take = min(pooled.get(line.sku, 0), line.quantity)
        pooled[line.sku] = pooled.get(line.sku, 0) - take
        if take < line.quantity:
            missing.append(LineDemand(line.line_id, line.sku, line.quantity - take))
    return missing


def _result(
    req: RoutingRequest,
    *,
    evaluation: Evaluation,
    candidates: list[_Candidate],
    search: SearchResult,
    shipments: tuple[Shipment, ...],
    policy_block: str | None,
    stock: Mapping[tuple[int, str], int],
) -> RoutingResult:
    chosen = {s.warehouse_id for s in shipments}
    if shipments:
        outcome = Outcome.SINGLE if len(shipments) == 1 else Outcome.SPLIT
        shortfall: list[LineDemand] = []
        summary = _plan_summary(shipments, search)
    else:
        outcome = NO_STOCK_OUTCOME[evaluation.outcome.on_no_stock]
        shortfall = _shortfall(req, stock)
        summary = _no_plan_summary(evaluation, shortfall, policy_block, candidates)
    trace = {
        "policy": req.rule_set_label,
        "decided_at": req.now.isoformat(),
        "outcome": outcome.value,
        "rules": {"matched": list(evaluation.matched), "steps": list(evaluation.steps)},
        "order_value": {
            "value": None if req.facts.order_value is None else str(req.facts.order_value),
            "currency": req.facts.currency,
            "source": req.facts.order_value_source
            if req.facts.order_value is not None
            else "missing",
        },
        "ship_to": None
        if req.ship_to is None
        else {"level": req.ship_to.level.value, "label": req.ship_to.label},
        "ranking": list(evaluation.outcome.ranking),
        "split": {
            "mode": evaluation.outcome.split.mode.value,
            "max_shipments": evaluation.outcome.split.max_shipments,
            "allow_line_split": evaluation.outcome.split.allow_line_split,
        },
        "search": {
            "method": search.method,
            "proven_minimal": search.proven_minimal,
            "nodes": search.nodes,
        },
        "candidates": [_candidate_trace(c, chosen) for c in _trace_order(candidates)],
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


def _trace_order(candidates: list[_Candidate]) -> list[_Candidate]:
    return sorted(candidates, key=lambda c: (c.rank is None, c.rank or 0, c.profile.code))


def _candidate_trace(c: _Candidate, chosen: set[int]) -> dict[str, Any]:
    w = c.profile
    if c.removed_by is not None:
        verdict = f"removed: {c.removed_by}"
    elif w.warehouse_id in chosen:
        verdict = f"chosen: ranked {c.rank}"
    else:
        verdict = f"lost: ranked {c.rank}; the plan needed no shipment from it"
    return {
        "warehouse_id": w.warehouse_id,
        "code": w.code,
        "eligible": c.removed_by is None,
        "removed_by": c.removed_by,
        "rank": c.rank,
        "scores": {k: (None if v is None or math.isinf(v) else v) for k, v in c.scores.items()},
        "location": None if w.location is None else w.location.level.value,
        "cannot_ship": c.blocked_skus,
        "verdict": verdict,
    }


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
    candidates: list[_Candidate],
) -> str:
    action = evaluation.outcome.on_no_stock.value
    if not any(c.removed_by is None for c in candidates):
        return f"No warehouse is eligible for this order; {action}."
    if policy_block:
        return f"{policy_block}; {action}."
    if shortfall:
        short = ", ".join(f"{d.sku} (short {d.quantity})" for d in shortfall)
        return f"Not enough stock in the eligible warehouses: {short}; {action}."
    return f"The split policy allows no plan with the stock there is; {action}."
