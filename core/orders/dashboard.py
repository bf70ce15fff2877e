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

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.orm import Session

from omniroute.core.access import scope
from omniroute.core.exceptions import board
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    Connector,
    ConnectorHealth,
    FulfilmentLine,
    FulfilmentOrder,
    OrderEvent,
    OrderException,
    OrderLine,
    SalesOrder,
)
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


# The charts: each a few windowed, grouped queries over indexed columns.
HOURS = 24
RATE_WINDOW = timedelta(days=30)
# Open exceptions by how long ago they were first seen: (label, at least this old).
AGE_BUCKETS = (
    ("under 1 h", timedelta(0)),
    ("1 to 4 h", timedelta(hours=1)),
    ("4 to 24 h", timedelta(hours=4)),
    ("1 to 3 days", timedelta(days=1)),
    ("over 3 days", timedelta(days=3)),
)
# The rates and cycle times are read over at most this many of the window's orders (the
# newest): each order costs index lookups of its lines, fulfilment orders and events, so
# the whole window (tens of thousands of orders) would cost a second (bench/RESULTS.md).
RATE_SAMPLE = 2_000
CYCLE_SAMPLE = 2_000
NOT_LIVE = ("cancelled", "rejected", "withdrawn")  # fulfilment orders that ship nothing


def charts(
    deps: HasSessions, *, now: datetime, connector_ids: Collection[int] | None = None
) -> dict[str, Any]:
    """Orders per hour over the last 24 hours, open exceptions by age, the fill, split and
    backorder rates and the order cycle time (created → shipped, p50/p90) over 30 days."""
    naive_now = as_naive_utc(now)
    assert naive_now is not None  # noqa: S101 - now is given
    with unit_of_work(deps.sessions) as session:
        per_hour = _orders_per_hour(session, naive_now, connector_ids)
        ages = _exception_ages(session, now, naive_now, connector_ids)
        rates = _rates(session, naive_now - RATE_WINDOW, connector_ids)
        cycle = _cycle_hours(session, naive_now - RATE_WINDOW, connector_ids)
        resolve = _resolve_hours(session, naive_now - RATE_WINDOW, connector_ids)
        on_time, promised = _on_time(session, naive_now - RATE_WINDOW, connector_ids)
        connectors = _connector_health(session, connector_ids)
    return {
        "per_hour": per_hour,
        "exception_ages": ages,
        "rates": rates,
        "cycle": {
            "count": len(cycle),
            "p50": percentile(cycle, 50),
            "p90": percentile(cycle, 90),
            "sampled": len(cycle) >= CYCLE_SAMPLE,
        },
        "resolve": {
            "count": len(resolve),
            "p50": percentile(resolve, 50),
            "p90": percentile(resolve, 90),
            "sampled": len(resolve) >= CYCLE_SAMPLE,
        },
        "on_time": {"rate": _ratio(on_time, promised), "on_time": on_time, "promised": promised},
        "connectors": connectors,
        "rate_window_days": RATE_WINDOW.days,
    }


def hour_slots(now: datetime, hours: int = HOURS) -> list[datetime]:
    """The start of each of the last ``hours`` whole hours, the current one last (pure)."""
    top = now.replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=h) for h in range(hours - 1, -1, -1)]


def percentile(values: list[float], pct: float) -> float | None:
    """The nearest-rank percentile of ``values`` (pure); None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


def _scoped(q: Any, connector_ids: Collection[int] | None) -> Any:
    return q if connector_ids is None else q.where(scope.orders_of(connector_ids))


def _hour_of(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.date_trunc("hour", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def _orders_per_hour(
    session: Session, now: datetime, connector_ids: Collection[int] | None
) -> list[dict[str, Any]]:
    slots = hour_slots(now)
    hour = _hour_of(session, SalesOrder.created_at)
    q = _scoped(
        select(hour, func.count()).where(SalesOrder.created_at >= slots[0]).group_by(hour),
        connector_ids,
    )
    counts = {str(h): int(n) for h, n in session.execute(q)}
    return [{"hour": s, "count": counts.get(s.strftime("%Y-%m-%d %H"), 0)} for s in slots]


def _exception_ages(
    session: Session, now: datetime, naive_now: datetime, connector_ids: Collection[int] | None
) -> list[dict[str, Any]]:
    where = board.conditions(board.QueueFilter(status="open"), now, connector_ids)
    bucket = case(
        *[
            (OrderException.first_seen_at <= naive_now - start, i)
            for i, (_, start) in reversed(list(enumerate(AGE_BUCKETS)))
        ],
        else_=0,
    )
    late = board.late(now)
    q = (
        select(bucket, func.count(), func.sum(case((late, 1), else_=0)))
        .where(*where)
        .group_by(bucket)
    )
    found = {int(b): (int(n), int(x or 0)) for b, n, x in session.execute(q)}
    return [
        {"label": label, "count": found.get(i, (0, 0))[0], "late": found.get(i, (0, 0))[1]}
        for i, (label, _) in enumerate(AGE_BUCKETS)
    ]


def _rates(
    session: Session, since: datetime, connector_ids: Collection[int] | None
) -> dict[str, Any]:
    """Over the newest ``RATE_SAMPLE`` orders created since ``since`` (not cancelled):
    units placed with a warehouse per unit ordered (fill), orders in more than one live
    fulfilment order per order in any (split), orders ever backordered per order
    (backorder). One statement: each order's figures are index lookups by its id."""
    recent = _scoped(
        select(SalesOrder.id)
        .where(SalesOrder.created_at >= since, SalesOrder.status != OrderStatus.CANCELLED)
        .order_by(SalesOrder.created_at.desc())
        .limit(RATE_SAMPLE),
        connector_ids,
    ).subquery()
    order_id = recent.c.id
    live = FulfilmentOrder.status.notin_(NOT_LIVE)
    ordered = (
        select(func.sum(OrderLine.quantity)).where(OrderLine.order_id == order_id)
    ).scalar_subquery()
    placed = (
        select(func.sum(FulfilmentLine.quantity))
        .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
        .join(FulfilmentOrder, FulfilmentOrder.id == FulfilmentLine.fulfilment_order_id)
        .where(OrderLine.order_id == order_id, live)
    ).scalar_subquery()
    shipments = (
        select(func.count()).where(FulfilmentOrder.order_id == order_id, live)
    ).scalar_subquery()
    backordered = (
        select(OrderEvent.id)
        .where(OrderEvent.order_id == order_id, OrderEvent.to_status == OrderStatus.BACKORDERED)
        .exists()
    )
    orders, units_ordered, units_placed, routed, split, back = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(ordered), 0),
            func.coalesce(func.sum(placed), 0),
            func.coalesce(func.sum(case((shipments > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(case((shipments > 1, 1), else_=0)), 0),
            func.coalesce(func.sum(case((backordered, 1), else_=0)), 0),
        ).select_from(recent)
    ).one()
    return {
        "orders": int(orders),
        "sampled": int(orders) >= RATE_SAMPLE,
        "fill": _ratio(int(units_placed), int(units_ordered)),
        "split": _ratio(int(split), int(routed)),
        "backorder": _ratio(int(back), int(orders)),
        "units_ordered": int(units_ordered),
        "units_placed": int(units_placed),
        "routed": int(routed),
        "split_orders": int(split),
        "backordered": int(back),
    }


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _cycle_hours(
    session: Session, since: datetime, connector_ids: Collection[int] | None
) -> list[float]:
    """Hours from created to shipped of the newest ``CYCLE_SAMPLE`` orders created since
    ``since`` that shipped (read backwards from the created-at index)."""
    shipped_event = (OrderEvent.order_id == SalesOrder.id) & (
        OrderEvent.to_status == OrderStatus.SHIPPED
    )
    shipped_at = (select(func.min(OrderEvent.created_at)).where(shipped_event)).scalar_subquery()
    q = _scoped(
        select(SalesOrder.created_at, shipped_at)
        .where(SalesOrder.created_at >= since, select(OrderEvent.id).where(shipped_event).exists())
        .order_by(SalesOrder.created_at.desc())
        .limit(CYCLE_SAMPLE),
        connector_ids,
    )
    return [
        max(0.0, (shipped - created).total_seconds() / 3600)
        for created, shipped in session.execute(q)
    ]


def _resolve_hours(
    session: Session, since: datetime, connector_ids: Collection[int] | None
) -> list[float]:
    """Hours from first seen to closed of the newest ``CYCLE_SAMPLE`` exceptions closed
    (resolved or dismissed) since ``since``, read backwards by id."""
    q = (
        select(OrderException.first_seen_at, OrderException.resolved_at)
        .where(
            OrderException.status.in_(("resolved", "dismissed")),
            OrderException.resolved_at >= since,
        )
        .order_by(OrderException.id.desc())
        .limit(CYCLE_SAMPLE)
    )
    if connector_ids is not None:
        q = q.where(scope.exceptions_of(connector_ids))
    return [
        max(0.0, (closed - seen).total_seconds() / 3600)
        for seen, closed in session.execute(q)
        if closed is not None and seen is not None
    ]


def _on_time(
    session: Session, since: datetime, connector_ids: Collection[int] | None
) -> tuple[int, int]:
    """Of the newest ``CYCLE_SAMPLE`` orders created since ``since`` that shipped and had a
    promised ship-by date: how many shipped by it (the UTC date of their first shipped event
    on or before the promised date), and how many there were."""
    shipped_event = (OrderEvent.order_id == SalesOrder.id) & (
        OrderEvent.to_status == OrderStatus.SHIPPED
    )
    shipped_at = (select(func.min(OrderEvent.created_at)).where(shipped_event)).scalar_subquery()
    q = _scoped(
        select(SalesOrder.promised_ship_by, shipped_at)
        .where(
            SalesOrder.created_at >= since,
            SalesOrder.promised_ship_by.is_not(None),
            select(OrderEvent.id).where(shipped_event).exists(),
        )
        .order_by(SalesOrder.created_at.desc())
        .limit(CYCLE_SAMPLE),
        connector_ids,
    )
    rows = [(promised, shipped) for promised, shipped in session.execute(q) if shipped]
    return sum(shipped.date() <= promised for promised, shipped in rows), len(rows)


def _connector_health(
    session: Session, connector_ids: Collection[int] | None
) -> list[dict[str, Any]]:
    """Each connector (a scoped user's only) with its health: enabled, failures in a row,
    the last error and success."""
    q = (
        select(
            Connector.id,
            Connector.name,
            Connector.kind,
            Connector.enabled,
            ConnectorHealth.consecutive_failures,
            ConnectorHealth.last_error,
            ConnectorHealth.last_success_at,
        )
        .outerjoin(ConnectorHealth, ConnectorHealth.connector_id == Connector.id)
        .order_by(Connector.name)
        .limit(200)
    )
    if connector_ids is not None:
        q = q.where(Connector.id.in_(sorted(connector_ids)))
    return [
        {
            "id": i,
            "name": name,
            "kind": kind,
            "enabled": bool(enabled),
            "failures": int(failures or 0),
            "last_error": error,
            "last_success_at": success,
            "healthy": bool(enabled) and not failures,
        }
        for i, name, kind, enabled, failures, error, success in session.execute(q)
    ]
