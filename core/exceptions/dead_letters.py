"""Dead letters as ops inspect them: outbox rows that failed for good, with what was to be
sent, the last error, and the exception each opened (retrying that exception redrives the
row: ``queue.retry_exception``; every one matching at once: ``bulk.apply``).

Reads only. A caller limited to connectors sees only their rows.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select

from omniroute.core.platform.clock import as_aware
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import Connector, OrderException, OutboxMessage
from omniroute.core.platform.ports import HasSessions

MAX_PAGE = 200


def _dead(kind: str | None, connector_ids: Collection[int] | None) -> list[Any]:
    found: list[Any] = [OutboxMessage.status == "dead"]
    if kind:
        found.append(OutboxMessage.kind == kind)
    if connector_ids is not None:
        found.append(OutboxMessage.connector_id.in_(sorted(connector_ids)))
    return found


def list_dead_letters(
    deps: HasSessions,
    *,
    kind: str | None = None,
    connector_ids: Collection[int] | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Dead letters by id (oldest first); page on with ``after_id``. Each with its newest
    exception (id and status) when it opened one."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}")
    newest = (
        select(func.max(OrderException.id))
        .where(OrderException.outbox_message_id == OutboxMessage.id)
        .correlate(OutboxMessage)
        .scalar_subquery()
    )
    q = (
        select(OutboxMessage, Connector.name, newest)
        .outerjoin(Connector, Connector.id == OutboxMessage.connector_id)
        .where(OutboxMessage.id > after_id, *_dead(kind, connector_ids))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    with unit_of_work(deps.sessions) as session:
        rows = session.execute(q).all()
        ids = [r[2] for r in rows if r[2] is not None]
        states = dict(
            session.execute(
                select(OrderException.id, OrderException.status).where(OrderException.id.in_(ids))
            ).all()
        )
    return [
        {
            "id": msg.id,
            "kind": msg.kind,
            "connector_id": msg.connector_id,
            "connector": name,
            "fulfilment_order_id": msg.fulfilment_order_id,
            "attempts": msg.attempts,
            "last_error": msg.last_error,
            "created_at": as_aware(msg.created_at),
            "payload": msg.payload,
            "exception_id": exception_id,
            "exception_status": states.get(exception_id),
        }
        for msg, name, exception_id in rows
    ]


def dead_letter_kinds(
    deps: HasSessions, connector_ids: Collection[int] | None = None
) -> list[tuple[str, int]]:
    """How many dead letters of each kind there are now."""
    q = (
        select(OutboxMessage.kind, func.count())
        .where(*_dead(None, connector_ids))
        .group_by(OutboxMessage.kind)
        .order_by(OutboxMessage.kind)
    )
    with unit_of_work(deps.sessions) as session:
        return [(str(k), int(n)) for k, n in session.execute(q)]
