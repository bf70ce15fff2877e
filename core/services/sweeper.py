"""The sweeper: finds work whose nudge was lost or whose worker died, and nudges it again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from core.bootstrap import Context
from core.clock import utcnow
from core.db import unit_of_work
from core.dispatch import Task
from core.models import InboundMessage, OutboxMessage, SalesOrder
from core.states import OrderStatus


def find_due_work(ctx: Context, *, now: datetime | None = None) -> list[tuple[Task, int]]:
    """Rows that are due and not being worked on, or whose claim went stale."""
    now = now or utcnow()
    s = ctx.settings
    grace_before = now - timedelta(seconds=s.sweep_grace)
    stale_before = now - timedelta(seconds=s.claim_timeout)
    with unit_of_work(ctx.sessions) as session:
        inbound = session.scalars(
            _due(InboundMessage, now, grace_before, stale_before).limit(s.sweep_batch)
        )
        outbox = session.scalars(
            _due(OutboxMessage, now, grace_before, stale_before).limit(s.sweep_batch)
        )
        # Validated but never routed: the worker died between the two steps.
        orders = session.scalars(
            select(SalesOrder.id)
            .where(
                SalesOrder.status == OrderStatus.VALIDATED, SalesOrder.updated_at <= grace_before
            )
            .order_by(SalesOrder.id)
            .limit(s.sweep_batch)
        )
        return [
            *((Task.PROCESS_INBOUND, i) for i in inbound),
            *((Task.ROUTE_ORDER, i) for i in orders),
            *((Task.DELIVER_OUTBOX, i) for i in outbox),
        ]


def _due(model: Any, now: datetime, grace_before: datetime, stale_before: datetime) -> Any:
    # A fresh row (no attempt yet) was nudged when it was written: wait out the grace period
    # before assuming that nudge was lost. A retry is due as soon as its time comes.
    return (
        select(model.id)
        .where(
            or_(
                and_(
                    model.status == "pending",
                    model.attempts == 0,
                    model.next_attempt_at <= grace_before,
                ),
                and_(model.status == "pending", model.attempts > 0, model.next_attempt_at <= now),
                and_(model.status == "processing", model.claimed_at < stale_before),
            )
        )
        .order_by(model.next_attempt_at, model.id)
    )


def sweep(ctx: Context, *, now: datetime | None = None) -> int:
    """Enqueue everything due; how many tasks were enqueued."""
    work = find_due_work(ctx, now=now or utcnow())
    for task, row_id in work:
        ctx.dispatcher.enqueue(task, row_id)
    return len(work)
