"""The exception queue as the console shows it: filtered, oldest first, with each code's
SLA due time and whether it is late; counts per code; one exception with its raw payload.

Reads only; every change goes through ``queue`` (retry, close) and ``stock.warehouses``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.orm import aliased

from omniroute.core.access import scope
from omniroute.core.exceptions.opening import ExceptionStatus
from omniroute.core.exceptions.sla import DEFAULT_SLA, SLA, due_at
from omniroute.core.platform.clock import as_aware, as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import NotFound
from omniroute.core.platform.models import (
    Connector,
    FulfilmentOrder,
    InboundMessage,
    OrderException,
    OutboxMessage,
    SalesOrder,
    Warehouse,
)
from omniroute.core.platform.ports import HasSessions

MAX_PAGE = 200
# A raw payload larger than this is shown cut (the whole body stays in the inbox row).
MAX_SHOWN_BODY = 256 * 1024


@dataclass(frozen=True)
class QueueFilter:
    """``status`` None: any status. ``older_than``: first seen at least this long ago."""

    status: str | None = ExceptionStatus.OPEN
    reason: str | None = None
    connector_id: int | None = None
    older_than: timedelta | None = None
    late_only: bool = False
    # A name, UNASSIGNED for nobody's, or None: anyone's.
    assignee: str | None = None
    include_snoozed: bool = False
    # Only the exceptions of outbox rows that are dead letters now (not redriven yet).
    dead_letters_only: bool = False
    outbox_kind: str | None = None  # with dead_letters_only: only this kind's
    # Only those about a warehouse: its fulfilment orders' orders, or its outbox rows.
    warehouse_id: int | None = None


UNASSIGNED = "-"


def late(now: datetime) -> ColumnElement[bool]:
    """Open and first seen longer ago than its code's SLA."""
    per_code = [
        and_(OrderException.reason == code.value, OrderException.first_seen_at <= now - sla)
        for code, sla in SLA.items()
    ]
    other = and_(
        OrderException.reason.notin_([c.value for c in SLA]),
        OrderException.first_seen_at <= now - DEFAULT_SLA,
    )
    return and_(OrderException.status == ExceptionStatus.OPEN, or_(*per_code, other))


def _about_warehouse(warehouse_id: int) -> ColumnElement[bool]:
    """The exception's order has a fulfilment order at the warehouse, or its outbox row is
    about one of the warehouse's fulfilment orders."""
    held = select(FulfilmentOrder.order_id).where(FulfilmentOrder.warehouse_id == warehouse_id)
    sent = (
        select(OutboxMessage.id)
        .join(FulfilmentOrder, FulfilmentOrder.id == OutboxMessage.fulfilment_order_id)
        .where(FulfilmentOrder.warehouse_id == warehouse_id)
    )
    return or_(OrderException.order_id.in_(held), OrderException.outbox_message_id.in_(sent))


def warehouse_choices(
    deps: HasSessions, warehouse_ids: Collection[int] | None = None
) -> list[dict[str, Any]]:
    """The warehouses a filter may name (a scoped user's only), by code."""
    q = select(Warehouse.id, Warehouse.code).order_by(Warehouse.code)
    if warehouse_ids is not None:
        q = q.where(Warehouse.id.in_(sorted(warehouse_ids)) if warehouse_ids else false())
    with unit_of_work(deps.sessions) as session:
        return [{"id": i, "code": c} for i, c in session.execute(q)]


def _dead_letter(kind: str | None) -> ColumnElement[bool]:
    """The exception's outbox row is a dead letter now (of ``kind``, if given)."""
    dead = select(OutboxMessage.id).where(OutboxMessage.status == "dead")
    if kind:
        dead = dead.where(OutboxMessage.kind == kind)
    return OrderException.outbox_message_id.in_(dead)


def _conditions(
    where: QueueFilter, now: datetime, connector_ids: Collection[int] | None, *, by_reason: bool
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if connector_ids is not None:
        found.append(scope.exceptions_of(connector_ids))
    if where.status is not None:
        found.append(OrderException.status == where.status)
    if by_reason and where.reason is not None:
        found.append(OrderException.reason == where.reason)
    if where.connector_id is not None:
        found.append(scope.exception_connector() == where.connector_id)
    if where.older_than is not None:
        found.append(OrderException.first_seen_at <= now - where.older_than)
    if where.late_only:
        found.append(late(now))
    return found + _sorting(where, now)


def _sorting(where: QueueFilter, now: datetime) -> list[ColumnElement[bool]]:
    """Whose it is, whether it sleeps, and whether it is a dead letter's."""
    found: list[ColumnElement[bool]] = []
    if where.assignee == UNASSIGNED:
        found.append(OrderException.assignee.is_(None))
    elif where.assignee is not None:
        found.append(OrderException.assignee == where.assignee)
    if where.dead_letters_only:
        found.append(_dead_letter(where.outbox_kind))
    if where.warehouse_id is not None:
        found.append(_about_warehouse(where.warehouse_id))
    if not where.include_snoozed:
        naive_now = as_naive_utc(now)
        found.append(
            or_(OrderException.snoozed_until.is_(None), OrderException.snoozed_until <= naive_now)
        )
    return found


def conditions(
    where: QueueFilter, now: datetime, connector_ids: Collection[int] | None = None
) -> list[ColumnElement[bool]]:
    """The WHERE of everything ``where`` matches for a caller limited to ``connector_ids``."""
    return _conditions(where, now, connector_ids, by_reason=True)


def list_queue(
    deps: HasSessions,
    where: QueueFilter,
    *,
    now: datetime,
    after_id: int = 0,
    limit: int = 50,
    connector_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Exceptions by id (oldest first); page on with ``after_id`` = the last id shown."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}")
    connector = scope.exception_connector().label("connector_id")
    # An alias: the connector's subquery names sales_order itself and must not correlate.
    order = aliased(SalesOrder)
    q = (
        select(OrderException, connector, order.external_number, order.status)
        .outerjoin(order, order.id == OrderException.order_id)
        .where(
            OrderException.id > after_id, *_conditions(where, now, connector_ids, by_reason=True)
        )
        .order_by(OrderException.id)
        .limit(limit)
    )
    with unit_of_work(deps.sessions) as session:
        rows = session.execute(q).all()
        names = _connector_names(session, {r[1] for r in rows if r[1] is not None})
    return [
        {
            **_row(exc, now),
            "connector_id": connector_id,
            "connector": names.get(connector_id),
            "order_number": number,
            "order_status": order_status,
        }
        for exc, connector_id, number, order_status in rows
    ]


def _connector_names(session: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    q = select(Connector.id, Connector.name).where(Connector.id.in_(sorted(ids)))
    return {i: n for i, n in session.execute(q)}


def _row(exc: OrderException, now: datetime) -> dict[str, Any]:
    due = due_at(exc.reason, exc.first_seen_at)
    asleep = exc.snoozed_until is not None and exc.snoozed_until > (as_naive_utc(now) or now)
    return {
        "id": exc.id,
        "reason": exc.reason,
        "status": exc.status,
        "order_id": exc.order_id,
        "inbound_message_id": exc.inbound_message_id,
        "outbox_message_id": exc.outbox_message_id,
        "occurrences": exc.occurrences,
        "retries": exc.retries,
        "first_seen_at": as_aware(exc.first_seen_at),
        "last_seen_at": as_aware(exc.last_seen_at),
        "resolved_at": as_aware(exc.resolved_at),
        "due_at": as_aware(due),
        "late": exc.status == ExceptionStatus.OPEN and due <= now,
        "detail": exc.detail or {},
        "closed_by": exc.closed_by,
        "close_note": exc.close_note,
        "assignee": exc.assignee,
        "assigned_at": as_aware(exc.assigned_at),
        "snoozed_until": as_aware(exc.snoozed_until) if asleep else None,
    }


def counts_by_reason(
    deps: HasSessions,
    where: QueueFilter,
    *,
    now: datetime,
    connector_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Per code, under the filter (its own code filter aside): how many, and how many late."""
    late_now = late(now)
    q = (
        select(
            OrderException.reason,
            func.count(),
            func.sum(case((late_now, 1), else_=0)),
        )
        .where(*_conditions(where, now, connector_ids, by_reason=False))
        .group_by(OrderException.reason)
        .order_by(OrderException.reason)
    )
    with unit_of_work(deps.sessions) as session:
        return [
            {"reason": reason, "count": int(count), "late": int(late_count or 0)}
            for reason, count, late_count in session.execute(q)
        ]


def exception_record(
    deps: HasSessions,
    exception_id: int,
    *,
    now: datetime,
    connector_ids: Collection[int] | None = None,
) -> dict[str, Any]:
    """One exception with its channel and the raw body of its inbox row, pretty-printed
    when it is JSON. Outside ``connector_ids`` it does not exist (NotFound)."""
    q = select(OrderException, scope.exception_connector().label("connector_id")).where(
        OrderException.id == exception_id
    )
    if connector_ids is not None:
        q = q.where(scope.exceptions_of(connector_ids) if connector_ids else false())
    with unit_of_work(deps.sessions) as session:
        found = session.execute(q).first()
        if found is None:
            raise NotFound(f"exception {exception_id} does not exist")
        exc, connector_id = found
        inbound = (
            session.get(InboundMessage, exc.inbound_message_id)
            if exc.inbound_message_id is not None
            else None
        )
        names = _connector_names(session, {connector_id} if connector_id is not None else set())
        return {
            **_row(exc, now),
            "connector_id": connector_id,
            "connector": names.get(connector_id) if connector_id is not None else None,
            "inbound": None if inbound is None else _inbound(inbound),
        }


def _inbound(msg: InboundMessage) -> dict[str, Any]:
    body = bytes(msg.body or b"")
    shown = body[:MAX_SHOWN_BODY]
    parsed: Any = None
    try:
        parsed = json.loads(body) if len(body) <= MAX_SHOWN_BODY else None
    except ValueError:
        parsed = None
    return {
        "id": msg.id,
        "topic": msg.topic,
        "received_at": as_aware(msg.received_at),
        "status": msg.status,
        "size": len(body),
        "json": parsed,
        "text": None if parsed is not None else shown.decode("utf-8", errors="replace"),
        "cut": len(body) > MAX_SHOWN_BODY,
    }


def connector_choices(
    deps: HasSessions, connector_ids: Collection[int] | None = None
) -> list[dict[str, Any]]:
    """The connectors a filter may name (a scoped user's only), by name."""
    q = select(Connector.id, Connector.name, Connector.kind).order_by(Connector.name)
    if connector_ids is not None:
        q = q.where(Connector.id.in_(sorted(connector_ids)) if connector_ids else false())
    with unit_of_work(deps.sessions) as session:
        return [{"id": i, "name": n, "kind": k} for i, n, k in session.execute(q)]
