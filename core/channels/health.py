"""Connector health: the outcome of each call a connector makes, and the health view."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from omniroute.connectors.base import IMPORTED_TOPIC, POLLED_TOPIC
from omniroute.core.platform.clock import as_aware
from omniroute.core.platform.metrics import CONNECTOR_ERRORS
from omniroute.core.platform.models import (
    Connector,
    ConnectorCursor,
    ConnectorHealth,
    InboundMessage,
)
from omniroute.core.platform.sql import insert_ignoring_conflict_stmt, table_of

ERROR_CHARS = 2000
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _count_error(connector_id: int, error: str) -> None:
    """The failure in the connector errors counter, by the reason code the error text
    starts with (``outbox.describe``: "<reason>: <message>"); "other" when it has none."""
    reason = error.split(":", 1)[0]
    CONNECTOR_ERRORS.labels(
        str(connector_id), reason if _REASON.fullmatch(reason) else "other"
    ).inc()


NOT_WEBHOOKS = (POLLED_TOPIC, IMPORTED_TOPIC)


def _row(session: Session, connector_id: int) -> ConnectorHealth:
    health = session.get(ConnectorHealth, connector_id, with_for_update=True)
    if health is None:
        health = ConnectorHealth(
            connector_id=connector_id, consecutive_failures=0, rate_limit_wait_seconds=0.0
        )
        session.add(health)
    return health


def record_success(
    session: Session, connector_id: int, *, now: datetime, rate_limit_wait: float = 0.0
) -> None:
    health = _row(session, connector_id)
    health.last_success_at = now
    health.consecutive_failures = 0
    health.rate_limit_wait_seconds = (health.rate_limit_wait_seconds or 0.0) + rate_limit_wait


def record_failure(
    session: Session,
    connector_id: int,
    error: str,
    *,
    now: datetime,
    disable_after: int | None,
    rate_limit_wait: float = 0.0,
) -> bool:
    """Count a failed call; after ``disable_after`` in a row the connector is disabled
    (None: never, for calls the connector's main work does not depend on).

    True when this failure disabled it.
    """
    _count_error(connector_id, error)
    health = _row(session, connector_id)
    health.last_error_at = now
    health.last_error = error[:ERROR_CHARS]
    health.consecutive_failures = (health.consecutive_failures or 0) + 1
    health.rate_limit_wait_seconds = (health.rate_limit_wait_seconds or 0.0) + rate_limit_wait
    if disable_after is None or health.consecutive_failures < disable_after:
        return False
    connector = session.get_one(Connector, connector_id, with_for_update=True)
    if not connector.enabled:
        return False
    connector.enabled = False
    health.disabled_at = now
    health.disabled_reason = (
        f"disabled after {health.consecutive_failures} failures in a row; last: {error}"
    )[:ERROR_CHARS]
    return True


def clear_disabled(session: Session, connector_id: int) -> None:
    """Ops re-enabled the connector: start counting failures afresh."""
    health = session.get(ConnectorHealth, connector_id, with_for_update=True)
    if health is not None:
        health.consecutive_failures = 0
        health.disabled_at = None
        health.disabled_reason = None


# --- outcomes recorded with what was read beside the work (no read of their own) ---------------

#: While nothing fails, a success is written at most this often (``note_success``).
SUCCESS_REFRESH = timedelta(seconds=60)


@dataclass(frozen=True)
class Seen:
    """A connector's health as the statement that read the work it concerns read it too
    (an outer join), so that recording the outcome needs no read, and no lock, of its own."""

    row: bool  # a connector_health row exists
    consecutive_failures: int = 0
    last_success_at: datetime | None = None


_HEALTH = table_of(ConnectorHealth).c
_RESET = (
    update(table_of(ConnectorHealth))
    .where(_HEALTH.connector_id == bindparam("health_of"))
    .values(consecutive_failures=0, last_success_at=bindparam("at"))
)
_COUNT_FAILURE = (
    update(table_of(ConnectorHealth))
    .where(_HEALTH.connector_id == bindparam("health_of"))
    .values(
        consecutive_failures=func.coalesce(_HEALTH.consecutive_failures, 0) + 1,
        last_error_at=bindparam("at"),
        last_error=bindparam("error"),
    )
)


def note_success(session: Session, connector_id: int, seen: Seen, *, now: datetime) -> None:
    """A successful call, as ``record_success`` says it, written only when that changes
    what ops see: the count was not zero, there is no row yet, or the last success recorded
    is ``SUCCESS_REFRESH`` old. So a busy connector's successes cost no statement, and take
    no lock on its one health row; ``last_success_at`` lags by up to ``SUCCESS_REFRESH``.

    ``seen`` is read before the call went out: a failure recorded meanwhile (a call that
    failed while this one was in flight) is reset by the next success instead.
    """
    if not seen.row:
        _make_row(session, connector_id, last_success_at=now)
        return
    fresh = seen.last_success_at is not None and now - seen.last_success_at < SUCCESS_REFRESH
    if seen.consecutive_failures == 0 and fresh:
        return
    session.execute(_RESET, {"health_of": connector_id, "at": now})


def count_failure(
    session: Session, connector_id: int, error: str, seen: Seen, *, now: datetime
) -> None:
    """A failed call counted as ``record_failure`` counts it, but never disabling the
    connector (the caller decides that). One UPDATE that adds one, so failures recorded at
    the same moment by several workers all count, and none waits to read the row first."""
    _count_error(connector_id, error)
    if not seen.row:
        _make_row(session, connector_id)
    session.execute(
        _COUNT_FAILURE, {"health_of": connector_id, "at": now, "error": error[:ERROR_CHARS]}
    )


def _make_row(session: Session, connector_id: int, **values: object) -> None:
    """The connector's health row, unless another transaction has just made it."""
    # The mapped class as target: the table has no ``id`` for the helper to return.
    stmt = insert_ignoring_conflict_stmt(
        session.get_bind().dialect.name, ConnectorHealth, ["connector_id"]
    )
    session.execute(
        stmt,
        {
            "connector_id": connector_id,
            "consecutive_failures": 0,
            "rate_limit_wait_seconds": 0.0,
            **values,
        },
    )


@dataclass(frozen=True)
class HealthView:
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    rate_limit_wait_seconds: float
    disabled_at: datetime | None
    disabled_reason: str | None
    last_webhook_at: datetime | None
    poll_cursor: datetime | None
    last_poll_at: datetime | None
    next_poll_at: datetime | None
    poll_in_progress: bool
    lag_seconds: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "last_success_at": as_aware(self.last_success_at),
            "last_error_at": as_aware(self.last_error_at),
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds, 3),
            "disabled_at": as_aware(self.disabled_at),
            "disabled_reason": self.disabled_reason,
            "last_webhook_at": as_aware(self.last_webhook_at),
            "poll_cursor": as_aware(self.poll_cursor),
            "last_poll_at": as_aware(self.last_poll_at),
            "next_poll_at": as_aware(self.next_poll_at),
            "poll_in_progress": self.poll_in_progress,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 1),
        }


def health_view(session: Session, connector_id: int, *, now: datetime) -> HealthView:
    """What ops see: last success and error, failures, rate-limit waits, poll lag."""
    health = session.get(ConnectorHealth, connector_id)
    cursor = session.get(ConnectorCursor, connector_id)
    last_webhook = session.scalar(
        select(InboundMessage.received_at)
        .where(
            InboundMessage.connector_id == connector_id,
            or_(InboundMessage.topic.is_(None), InboundMessage.topic.not_in(NOT_WEBHOOKS)),
        )
        .order_by(InboundMessage.id.desc())
        .limit(1)
    )
    # Lag: how old the newest data a finished poll has vouched for is.
    lag = None
    if cursor is not None and cursor.last_run_at is not None:
        lag = max((now - cursor.last_run_at).total_seconds(), 0.0)
    return HealthView(
        last_success_at=health.last_success_at if health else None,
        last_error_at=health.last_error_at if health else None,
        last_error=health.last_error if health else None,
        consecutive_failures=health.consecutive_failures if health else 0,
        rate_limit_wait_seconds=health.rate_limit_wait_seconds if health else 0.0,
        disabled_at=health.disabled_at if health else None,
        disabled_reason=health.disabled_reason if health else None,
        last_webhook_at=last_webhook,
        poll_cursor=cursor.updated_after if cursor else None,
        last_poll_at=cursor.last_run_at if cursor else None,
        next_poll_at=cursor.next_poll_at if cursor else None,
        poll_in_progress=bool(cursor and cursor.run_after is not None),
        lag_seconds=lag,
    )
