"""The console's dashboard figures: orders per state and channel, open exceptions per code
and how many are past their SLA. Counts only, each one grouped query.

Orders still in work are counted over all time; those done with (shipped, delivered,
cancelled) only when they changed within ``DONE_WINDOW`` of now. Done orders are nearly all
of a year's history, and counting them all read every order on each page view (190-390 ms
of PostgreSQL time on 200,000 orders, growing with the history); the window keeps each view
to the recent ones, read from the index ``(status, updated_at, channel)`` (migration 0015,
bench/RESULTS.md)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select

from omniroute.core.access import scope
from omniroute.core.exceptions import board
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.ports import HasSessions

DONE = ("shipped", "delivered", "partially_returned", "returned", "cancelled")
DONE_WINDOW = timedelta(days=30)
# Named, not "not done": an index reads a list of values, not what is outside one.
IN_WORK = tuple(s.value for s in OrderStatus if s.value not in DONE)


def figures(
    deps: HasSessions, *, now: datetime, connector_ids: Collection[int] | None = None
) -> dict[str, Any]:
    since = as_naive_utc(now - DONE_WINDOW)
    queries = [
        _per_channel_and_status(SalesOrder.status.in_(IN_WORK), connector_ids),
        _per_channel_and_status(
            and_(SalesOrder.status.in_(DONE), SalesOrder.updated_at >= since), connector_ids
        ),
    ]
    with unit_of_work(deps.sessions) as session:
        cells = [(c, s, int(n)) for q in queries for c, s, n in session.execute(q)]
    channels = sorted({c for c, _, _ in cells})
    statuses = sorted({s for _, s, _ in cells})
    table = {(c, s): n for c, s, n in cells}
    exceptions = board.counts_by_reason(
        deps, board.QueueFilter(), now=now, connector_ids=connector_ids
    )
    return {
        "channels": channels,
        "statuses": statuses,
        "orders": {f"{c}|{s}": n for (c, s), n in table.items()},
        "orders_total": sum(table.values()),
        "orders_by_status": {s: sum(table.get((c, s), 0) for c in channels) for s in statuses},
        "done_window_days": DONE_WINDOW.days,
        "exceptions": exceptions,
        "exceptions_open": sum(e["count"] for e in exceptions),
        "exceptions_late": sum(e["late"] for e in exceptions),
    }


def _per_channel_and_status(
    where: ColumnElement[bool], connector_ids: Collection[int] | None
) -> Select[str, str, int]:
    q = select(SalesOrder.channel, SalesOrder.status, func.count()).where(where)
    if connector_ids is not None:
        q = q.where(scope.orders_of(connector_ids))
    return q.group_by(SalesOrder.channel, SalesOrder.status)
