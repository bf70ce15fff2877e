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

The answer starts with a ``summary`` (``order_routing.backtest_report``): orders replayed,
decisions changed, and fill rate, split rate, shipments per order, mean distance and
estimated shipping cost before and after, each with its change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.core.order_routing import route
from omniroute.core.order_routing.backtest_report import (
    Replay,
    Side,
    change_of,
    legacy_tally,
    summarise,
)
from omniroute.core.order_routing.inputs import parse_rules, snapshot_stock
from omniroute.core.order_routing.route import build_request
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    RoutingDecision,
    SalesOrder,
)
from omniroute.routing.engine import RoutingRequest, decide, shipping_cost
from omniroute.routing.geo import distance_km

DETAIL_LIMIT = 200
DECISION_TIME, CURRENT = "decision_time", "current"  # where an order's replayed stock came from


class Deps(route.Deps, Protocol):
    """What a backtest uses (it writes nothing)."""


def _side(outcome: str, codes: Sequence[str], request: RoutingRequest) -> Side:
    by_code = {w.code: w for w in request.warehouses}
    sites = [by_code.get(code) for code in codes]
    km = tuple(
        distance_km(request.ship_to, w.location)
        for w in sites
        if w is not None and w.location is not None and request.ship_to is not None
    )
    side = Side(outcome, tuple(codes), km, None)
    if not side.filled or not codes:
        return side
    costs = [None if w is None else shipping_cost(request, w) for w in sites]
    priced = [c for c in costs if c is not None]
    return replace(side, cost=round(sum(priced), 2) if len(priced) == len(costs) else None)


def replay_orders(
    deps: Deps,
    document: dict[str, Any],
    *,
    last: int = 100,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> list[Replay]:
    """Each recent routed order with its stored decision and the replay of ``document``."""
    now = now or deps.clock.now()
    rules = parse_rules(document)
    label = _label(document)
    replays: list[Replay] = []
    session = deps.sessions()
    try:
        for order, decision in _decided_orders(session, last, since, until):
            request, _ = build_request(deps, session, order, now)
            if decision.stock_snapshot is not None:
                source, stock = DECISION_TIME, snapshot_stock(decision.stock_snapshot)
            else:
                source, stock = CURRENT, _with_own_reservations(session, order, request)
            decided_at = decision_time(decision)
            request = replace(
                request, stock=stock, rule_set=rules, rule_set_label=label, now=decided_at
            )
            result = decide(request)
            old_codes = [s["warehouse_code"] for s in decision.plan]
            new_codes = [s.warehouse_code for s in result.shipments]
            replays.append(
                Replay(
                    order_id=order.id,
                    external_id=order.external_id,
                    stock=source,
                    decided_at=decided_at,
                    before=_side(decision.outcome, old_codes, request),
                    after=_side(result.outcome.value, new_codes, request),
                    policy=decision.policy,
                    headline=result.trace.get("summary"),
                )
            )
    finally:
        session.rollback()
        session.close()
    return replays


def _label(document: dict[str, Any]) -> str:
    return f"{document.get('name', 'draft')} (backtest)"


def backtest(
    deps: Deps,
    document: dict[str, Any],
    *,
    last: int = 100,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    detail_limit: int | None = DETAIL_LIMIT,
) -> dict[str, Any]:
    """Compare ``document`` with the decisions stored for recent routed orders: the summary
    first, then the detail (``detail_limit`` changed orders and stock sources; None: all)."""
    replays = replay_orders(deps, document, last=last, since=since, until=until, now=now)
    changed = [change_of(r) for r in replays if r.changed]
    sources = [
        {"order_id": r.order_id, "stock": r.stock, "decided_at": r.decided_at.isoformat()}
        for r in replays
    ]
    cut = slice(None) if detail_limit is None else slice(detail_limit)
    return {
        "summary": summarise(replays),
        "rule_set": _label(document),
        "stock": "as each decision saw it where kept (decision_time), else current with the "
        "order's own reservations added back (current)",
        "stock_sources": {
            kind: sum(r.stock == kind for r in replays) for kind in (DECISION_TIME, CURRENT)
        },
        "clock": "each order at the time its stored decision was made (decided_at)",
        "stock_by_order": sources[cut],
        "orders": len(replays),
        "changed_decisions": len(changed),
        "before": legacy_tally([r.before for r in replays]),
        "after": legacy_tally([r.after for r in replays]),
        "changes": changed[cut],
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
