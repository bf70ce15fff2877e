"""The console's dashboard figures: orders per state and channel, open exceptions per code
and how many are past their SLA. Counts only, each one grouped query."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from omniroute.core.access import scope
from omniroute.core.exceptions import board
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.ports import HasSessions


def figures(
    deps: HasSessions, *, now: datetime, connector_ids: Collection[int] | None = None
) -> dict[str, Any]:
    q = select(SalesOrder.channel, SalesOrder.status, func.count()).group_by(
        SalesOrder.channel, SalesOrder.status
    )
    if connector_ids is not None:
        q = q.where(scope.orders_of(connector_ids))
    with unit_of_work(deps.sessions) as session:
        cells = [(channel, status, int(n)) for channel, status, n in session.execute(q)]
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
        "exceptions": exceptions,
        "exceptions_open": sum(e["count"] for e in exceptions),
        "exceptions_late": sum(e["late"] for e in exceptions),
    }
