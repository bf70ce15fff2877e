"""Backtests replay each order at the time its stored decision was made, not at today's clock."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlalchemy import update

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.order_routing import rule_sets
from omniroute.core.order_routing.backtest import backtest
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import RoutingDecision
from tests.integration.builders import build_world, stock
from tests.integration.test_calendars_buffers import (
    decision,
    next_saturday,
    place,
    shipped_from,
    shopify_order,
)

# In business hours (UTC) WEST is preferred; otherwise EAST wins on priority (1 against 2).
BUSINESS_HOURS = {
    "name": "business-hours",
    "timezone": "UTC",
    "default": {"ranking": ["priority"]},
    "rules": [
        {
            "id": "west-by-day",
            "when": {"field": "local_time", "op": "between", "value": ["09:00", "17:00"]},
            "then": {"priority_boost": {"WEST": 5}},
        }
    ],
}


def test_an_order_decided_inside_a_time_window_replays_the_same_outside_it(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    stock(ctx, east, "A", 5)
    stock(ctx, west, "A", 5)
    draft = rule_sets.create_draft(ctx, BUSINESS_HOURS, notes=None, actor="test")
    rule_sets.publish(ctx, draft.id, effective_from=utcnow() - timedelta(minutes=1), actor="test")
    afternoon = next_saturday()  # 15:00 UTC: inside the window
    evening = afternoon + timedelta(hours=5)  # 20:00 UTC: outside it

    order_id = place(ctx, world, shopify_order(931, [("A", 1)]), afternoon)
    assert shipped_from(ctx, order_id) == [west]
    assert decision(ctx, order_id).trace["decided_at"] == afternoon.replace(tzinfo=UTC).isoformat()

    report = backtest(ctx, BUSINESS_HOURS, last=10, now=evening)
    assert (report["orders"], report["changed_decisions"]) == (1, 0)
    assert report["stock_by_order"][0]["decided_at"] == afternoon.replace(tzinfo=UTC).isoformat()

    # The same rules judged at the evening's clock would have chosen EAST: the window matters.
    later = place(ctx, world, shopify_order(932, [("A", 1)]), evening)
    assert shipped_from(ctx, later) == [east]

    # A decision stored without the router's clock replays at the row's creation time.
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(RoutingDecision, decision(ctx, order_id).id)
        trace = {k: v for k, v in row.trace.items() if k != "decided_at"}
        s.execute(
            update(RoutingDecision)
            .where(RoutingDecision.id == row.id)
            .values(trace=trace, created_at=afternoon)
        )
    kept = backtest(ctx, BUSINESS_HOURS, last=10, now=evening)
    assert (kept["orders"], kept["changed_decisions"]) == (2, 0)
    with unit_of_work(ctx.sessions) as s:
        s.execute(
            update(RoutingDecision).where(RoutingDecision.id == row.id).values(created_at=evening)
        )
    moved = backtest(ctx, BUSINESS_HOURS, last=10, now=afternoon)
    assert moved["changed_decisions"] == 1
    change = moved["changes"][0]
    assert change["order_id"] == order_id
    assert (change["before"]["warehouses"], change["after"]["warehouses"]) == (["WEST"], ["EAST"])
