"""Backtest: replay a rule set over stored orders and compare with what actually decided them.

Each order is replayed at the time its stored decision was made: the clock the router used
(the trace's ``decided_at``), else, for a decision stored without it, the decision row's
``created_at``. So day and time-window conditions, warehouse calendars and cut-offs are judged
as they were then, not at the time of the backtest. Only orders with a stored decision are
replayed; the backtest's own ``now`` serves to read today's warehouses.

Stock is what the stored decision saw (``routing_decision.stock_snapshot``) where it was kept;
else today's, with each order's own reservations added back so an order does not compete with
itself. Channel buffers, calendar settings, capacity left and the rest of the warehouses are
today's. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from statistics import mean
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.core.order_routing import route
from omniroute.core.order_routing.inputs import parse_rules, snapshot_stock
from omniroute.core.order_routing.route import build_request
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    RoutingDecision,
    SalesOrder,
)
from omniroute.routing.engine import RoutingRequest, decide
from omniroute.routing.geo import distance_km

FILLED = {"single", "split", "partial_release"}  # partial: shipped what stock covered
DETAIL_LIMIT = 200
DECISION_TIME, CURRENT = "decision_time", "current"  # where an order's replayed stock came from


class Deps(route.Deps, Protocol):
    """What a backtest uses (it writes nothing)."""


@dataclass
class _Tally:
    orders: int = 0
    unfillable: int = 0
    shipments: list[int] = field(default_factory=list)
    distances: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)

    def add(self, outcome: str, codes: list[str], request: RoutingRequest) -> None:
        self.orders += 1
        if outcome not in FILLED:
            self.unfillable += 1
            return
        self.shipments.append(len(codes))
        by_code = {w.code: w for w in request.warehouses}
        for code in codes:
            w = by_code.get(code)
            if w is not None and w.location is not None and request.ship_to is not None:
                self.distances.append(distance_km(request.ship_to, w.location))

    def report(self) -> dict[str, Any]:
        filled = len(self.shipments)
        return {
            "orders": self.orders,
            "unfillable": self.unfillable,
            "shipments_per_order": round(mean(self.shipments), 3) if filled else None,
            "split_rate": round(sum(n > 1 for n in self.shipments) / filled, 4) if filled else None,
            "mean_distance_km": round(mean(self.distances), 1) if self.distances else None,
            "estimated_cost": round(sum(self.costs), 2) if self.costs else None,
        }


def backtest(
    deps: Deps,
    document: dict[str, Any],
    *,
    last: int = 100,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Compare ``document`` with the decisions stored for recent routed orders."""
    now = now or deps.clock.now()
    rules = parse_rules(document)
    label = f"{document.get('name', 'draft')} (backtest)"
    before, after = _Tally(), _Tally()
    changed: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = []
    session = deps.sessions()
    try:
        for order, decision in _decided_orders(session, last, since, until):
            request, _ = build_request(deps, session, order, now)
            if decision.stock_snapshot is not None:
                source, stock = DECISION_TIME, snapshot_stock(decision.stock_snapshot)
            else:
                source, stock = CURRENT, _with_own_reservations(session, order, request)
            decided_at = decision_time(decision)
            sources.append(
                {"order_id": order.id, "stock": source, "decided_at": decided_at.isoformat()}
            )
            request = replace(
                request, stock=stock, rule_set=rules, rule_set_label=label, now=decided_at
            )
            result = decide(request)
            old_codes = [s["warehouse_code"] for s in decision.plan]
            new_codes = [s.warehouse_code for s in result.shipments]
            before.add(decision.outcome, old_codes, request)
            after.add(result.outcome.value, new_codes, request)
            _add_cost(before, result.trace, old_codes)
            _add_cost(after, result.trace, new_codes)
            if sorted(old_codes) != sorted(new_codes) or decision.outcome != result.outcome.value:
                changed.append(
                    {
                        "order_id": order.id,
                        "stock": source,
                        "before": {
                            "policy": decision.policy,
                            "outcome": decision.outcome,
                            "warehouses": old_codes,
                        },
                        "after": {
                            "outcome": result.outcome.value,
                            "warehouses": new_codes,
                            "summary": result.trace.get("summary"),
                        },
                    }
                )
    finally:
        session.rollback()
        session.close()
    return {
        "rule_set": label,
        "stock": "as each decision saw it where kept (decision_time), else current with the "
        "order's own reservations added back (current)",
        "stock_sources": {
            kind: sum(item["stock"] == kind for item in sources)
            for kind in (DECISION_TIME, CURRENT)
        },
        "clock": "each order at the time its stored decision was made (decided_at)",
        "stock_by_order": sources[:DETAIL_LIMIT],
        "orders": before.orders,
        "changed_decisions": len(changed),
        "before": before.report(),
        "after": after.report(),
        "changes": changed[:DETAIL_LIMIT],
    }


def decision_time(decision: RoutingDecision) -> datetime:
    """When ``decision`` was made, aware: the router's clock from its trace, else the row's
    creation time (stored naive, in UTC)."""
    stamp = decision.trace.get("decided_at") if isinstance(decision.trace, dict) else None
    if isinstance(stamp, str):
        try:
            parsed = datetime.fromisoformat(stamp)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    created = decision.created_at
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


def _decided_orders(
    session: Session, last: int, since: datetime | None, until: datetime | None
) -> Iterable[tuple[SalesOrder, RoutingDecision]]:
    latest = select(RoutingDecision).order_by(
        RoutingDecision.order_id.desc(), RoutingDecision.id.desc()
    )
    if since is not None:
        latest = latest.where(RoutingDecision.created_at >= since)
    if until is not None:
        latest = latest.where(RoutingDecision.created_at < until)
    seen: set[int] = set()
    for decision in session.scalars(latest.limit(last * 4)):
        if decision.order_id in seen:
            continue
        seen.add(decision.order_id)
        order = session.get(SalesOrder, decision.order_id)
        if order is not None and order.lines:
            yield order, decision
        if len(seen) >= last:
            return


def _with_own_reservations(
    session: Session, order: SalesOrder, request: RoutingRequest
) -> dict[tuple[int, str], int]:
    stock = dict(request.stock)
    rows = session.execute(
        select(FulfilmentOrder.warehouse_id, FulfilmentLine.sku, FulfilmentLine.quantity)
        .join(FulfilmentLine, FulfilmentLine.fulfilment_order_id == FulfilmentOrder.id)
        .where(FulfilmentOrder.order_id == order.id)
    )
    for warehouse_id, sku, quantity in rows:
        stock[(warehouse_id, sku)] = stock.get((warehouse_id, sku), 0) + quantity
    return stock


def _add_cost(tally: _Tally, trace: dict[str, Any], codes: list[str]) -> None:
    scores = {c["code"]: c.get("scores", {}) for c in trace.get("candidates", [])}
    for code in codes:
        cost = scores.get(code, {}).get("shipping_cost")
        if cost is not None:
            tally.costs.append(float(cost))
