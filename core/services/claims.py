"""Claiming a unit of work (an inbox or outbox row) so only one worker runs it at a time.

A claim is a conditional UPDATE: a row is taken when it is pending and due, or when another
worker's claim has gone stale (that worker died). Claims are committed on their own, so a
crash after the claim only delays the row until the sweeper finds the stale claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session


def claim(
    session: Session, model: Any, row_id: int, *, now: datetime, claim_timeout: float
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
