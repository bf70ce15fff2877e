"""Claiming a unit of work (an inbox or outbox row) so only one worker runs it at a time.

A claim is a conditional UPDATE: a row is taken when it is pending and due, or when another
worker's claim has gone stale (that worker died). Claims are committed on their own, so a
crash after the claim only delays the row until the sweeper finds the stale claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, text, update
from sqlalchemy.orm import Session

from core.models import WorkItem


def claim(
    session: Session, model: type[WorkItem], row_id: int, *, now: datetime, claim_timeout: float
) -> bool:
    stale_before = now - timedelta(seconds=claim_timeout)
    result = session.execute(
        update(model)
        .where(
            model.id == row_id,
            or_(
                and_(model.status == "pending", model.next_attempt_at <= now),
                and_(model.status == "processing", model.claimed_at < stale_before),
            ),
        )
        .values(status="processing", claimed_at=now, nudged_at=None, attempts=model.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def relax_durability(session: Session) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    Only for a transaction whose loss in a database crash costs time, never data: a claim
    (and the reads that go with it). If it is lost, the row is pending again and is done
    again (the claims and the outbox idempotency key make that harmless), and any later
    durable commit flushes the WAL up to and including it. Never for a transaction that
    records something another system was told or that acknowledges a webhook.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
