"""Order polling: read each polling connector's orders modified since its cursor into the inbox.

Webhooks are hints; polling is the reconciliation that catches what they missed. A run asks
the channel for orders modified after the cursor minus an overlap window (orders the channel
commits late, clocks that disagree), follows page tokens, and stores every order version in
the inbox under ``poll:<id>:<updated_at>``, so re-reading the overlap costs a duplicate-key
no-op, never a duplicate order. Each page commits its rows and the next page token together:
a run killed mid-way resumes from the page it had reached.

A record the connector could not read (``OrderPage.rejected``) does not stop the run: it is
kept as a failed inbox row of its own, its raw JSON under ``poll-rejected:<id>:<digest>``
(read again, it is the same no-op), with an ``invalid_payload`` exception, and the rest of
the page comes in. Retrying that exception processes the stored record like any polled row.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omniroute.connectors.base import (
    POLLED_TOPIC,
    Capability,
    ChannelOrder,
    ConnectorError,
    OrderPage,
    OrderPoller,
    RejectedRecord,
    TransientError,
    enabled_capabilities,
)
from omniroute.connectors.ratelimit import total_wait_seconds
from omniroute.connectors.tracking import TrackingPoller
from omniroute.core.channels import health as connector_health
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.intake import tracking_polls
from omniroute.core.platform.clock import as_aware, as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import (
    Connector,
    ConnectorCursor,
    ConnectorHealth,
    InboundMessage,
)
from omniroute.core.platform.ports import HasConnectors, HasDispatcher, HasSettings, Store
from omniroute.core.platform.sql import insert_ignoring_conflict

log = logging.getLogger("omniroute.polling")

MAX_BACKOFF_SECONDS = 3600.0


class Deps(Store, HasSettings, HasDispatcher, HasConnectors, Protocol):
    """What polling a channel uses."""


@dataclass(frozen=True)
class PollResult:
    connector_id: int
    pages: int = 0
    orders_seen: int = 0
    new_messages: int = 0
    finished: bool = False
    rejected: int = 0  # records the channel sent that could not be read (kept aside)
    skipped: str | None = None
    error: str | None = None


# Polled: a channel for its orders, a carrier without webhooks for its parcels' tracking.
POLLING = frozenset({Capability.ORDER_POLLING, Capability.TRACKING_POLL})


def polling_kinds(deps: Deps) -> list[str]:
    return sorted(
        kind for kind, kind_cls in deps.connectors.kinds.items() if POLLING & kind_cls.capabilities
    )


def enqueue_due_polls(deps: Deps, *, now: datetime | None = None) -> int:
    """Nudge a poll for every enabled polling connector that is due; how many were nudged.

    Taking the turn moves ``next_poll_at`` on by the poll interval in the same statement, so
    several sweepers never nudge the same connector twice for one turn.
    """
    now = now or deps.clock.now()
    kinds = polling_kinds(deps)
    if not kinds:
        return 0
    nudged: list[int] = []
    with unit_of_work(deps.sessions) as session:
        rows = list(
            session.scalars(
                select(Connector).where(Connector.enabled.is_(True), Connector.kind.in_(kinds))
            )
        )
        for row in rows:
            if not _polls(deps, row):
                continue
            connector_id = row.id
            _ensure_cursor(session, connector_id)
            if _take_turn(session, connector_id, now, deps.settings.poll_interval):
                nudged.append(connector_id)
    for connector_id in nudged:
        deps.dispatcher.enqueue(Task.POLL_CONNECTOR, connector_id)
    return len(nudged)


def _polls(deps: Deps, row: Connector) -> bool:
    """Whether this connector, as configured, can be polled (a bad config cannot)."""
    try:
        source = deps.connectors.for_row(row)
    except Exception:  # reported by the poll itself; the sweeper must go on
        log.warning("connector %s cannot be built", row.id, exc_info=True)
        return False
    return bool(POLLING & enabled_capabilities(source))


def _ensure_cursor(session: Session, connector_id: int) -> None:
    if session.get(ConnectorCursor, connector_id) is not None:
        return
    table: Any = ConnectorCursor.__table__
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        module.insert(table)
        .values(connector_id=connector_id, last_run_orders=0)
        .on_conflict_do_nothing(index_elements=["connector_id"])
    )


def _take_turn(session: Session, connector_id: int, now: datetime, interval: float) -> bool:
    result = session.execute(
        update(ConnectorCursor)
        .where(
            ConnectorCursor.connector_id == connector_id,
            or_(ConnectorCursor.next_poll_at.is_(None), ConnectorCursor.next_poll_at <= now),
        )
        .values(next_poll_at=now + timedelta(seconds=interval))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def poll_connector(deps: Deps, connector_id: int, *, now: datetime | None = None) -> PollResult:
    """Run (or resume) one poll of a connector, up to ``poll_max_pages`` pages."""
    now = now or deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        connector = session.get(Connector, connector_id)
        if connector is None or not connector.enabled:
            return PollResult(connector_id, skipped="connector missing or disabled")
        source = deps.connectors.for_row(connector)
        capabilities = enabled_capabilities(source)
        if Capability.TRACKING_POLL in capabilities and isinstance(source, TrackingPoller):
            tracked = True
        elif Capability.ORDER_POLLING in capabilities and isinstance(source, OrderPoller):
            tracked = False
        else:
            return PollResult(connector_id, skipped=f"connector {connector.name} does not poll")
        _ensure_cursor(session, connector_id)
        if not _claim(session, connector_id, now, deps.settings.claim_timeout):
            return PollResult(connector_id, skipped="another poll of this connector is running")
    if tracked:
        return _poll_tracking(deps, cast(TrackingPoller, source), connector_id, now)
    order_source = cast(OrderPoller, source)
    waited_before = total_wait_seconds(order_source)
    try:
        result = _run_pages(deps, order_source, connector_id, now)
    except ConnectorError as exc:
        waited = total_wait_seconds(order_source) - waited_before
        _record_failure(deps, connector_id, exc, now, waited)
        log.warning("poll of connector %s failed: %s", connector_id, exc)
        return PollResult(connector_id, error=f"{exc.reason}: {exc}")
    except Exception:
        _release(deps, connector_id, next_poll_at=None)
        raise
    with unit_of_work(deps.sessions) as session:
        connector_health.record_success(
            session,
            connector_id,
            now=deps.clock.now(),
            rate_limit_wait=total_wait_seconds(order_source) - waited_before,
        )
    if not result.finished:
        deps.dispatcher.enqueue(Task.POLL_CONNECTOR, connector_id)  # go on with the next pages
    return result


def _poll_tracking(
    deps: Deps, source: TrackingPoller, connector_id: int, now: datetime
) -> PollResult:
    """One tracking turn of a carrier; a failure is retried at the next turn (it counts in
    the carrier's health but never disables it: its bookings do not depend on tracking)."""
    next_turn = now + timedelta(seconds=deps.settings.poll_interval)
    try:
        result = tracking_polls.poll_parcels(deps, source, connector_id, now)
    except ConnectorError as exc:
        with unit_of_work(deps.sessions) as session:
            connector_health.record_failure(
                session, connector_id, f"{exc.reason}: {exc}", now=now, disable_after=None
            )
        _release(deps, connector_id, next_poll_at=next_turn)
        log.warning("tracking poll of connector %s failed: %s", connector_id, exc)
        return PollResult(connector_id, error=f"{exc.reason}: {exc}")
    except Exception:
        _release(deps, connector_id, next_poll_at=None)
        raise
    with unit_of_work(deps.sessions) as session:
        connector_health.record_success(session, connector_id, now=deps.clock.now())
    _release(deps, connector_id, next_poll_at=next_turn)
    for inbound_id in result.stored:
        deps.dispatcher.enqueue(Task.PROCESS_INBOUND, inbound_id)
    return PollResult(
        connector_id,
        orders_seen=result.asked,
        new_messages=len(result.stored),
        finished=True,
    )


def _claim(session: Session, connector_id: int, now: datetime, claim_timeout: float) -> bool:
    stale = now - timedelta(seconds=claim_timeout)
    result = session.execute(
        update(ConnectorCursor)
        .where(
            ConnectorCursor.connector_id == connector_id,
            or_(ConnectorCursor.claimed_at.is_(None), ConnectorCursor.claimed_at < stale),
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _run_pages(deps: Deps, source: OrderPoller, connector_id: int, now: datetime) -> PollResult:
    pages = seen = new = rejected = 0
    for _ in range(deps.settings.poll_max_pages):
        after, token = _start_or_resume(deps, connector_id, now)
        page = source.pull_orders(as_aware(after), token, now=as_aware(now))  # type: ignore[arg-type]
        new_ids = _store_page(deps, connector_id, page, now)
        for inbound_id in new_ids:
            deps.dispatcher.enqueue(Task.PROCESS_INBOUND, inbound_id)
        pages += 1
        seen += len(page.orders)
        new += len(new_ids)
        rejected += len(page.rejected)
        if page.next_page_token is None:
            return PollResult(connector_id, pages, seen, new, finished=True, rejected=rejected)
    _release(deps, connector_id, next_poll_at=now)
    return PollResult(connector_id, pages, seen, new, finished=False, rejected=rejected)


def _start_or_resume(deps: Deps, connector_id: int, now: datetime) -> tuple[datetime, str | None]:
    """The run's lower bound and the page to read; starts a run if none is in progress."""
    settings = deps.settings
    with unit_of_work(deps.sessions) as session:
        cursor = session.get_one(ConnectorCursor, connector_id, with_for_update=True)
        if cursor.run_after is None:
            start = cursor.updated_after or now - timedelta(seconds=settings.poll_initial_lookback)
            cursor.run_after = start - timedelta(seconds=settings.poll_overlap)
            cursor.run_started_at = now
            cursor.page_token = None
            cursor.run_high_water = None
            cursor.last_run_orders = 0
        return cursor.run_after, cursor.page_token


def _store_page(deps: Deps, connector_id: int, page: OrderPage, now: datetime) -> list[int]:
    """Commit the page's orders to the inbox together with the cursor's next position."""
    new_ids: list[int] = []
    with unit_of_work(deps.sessions) as session:
        for order in page.orders:
            inbound_id = _insert_polled(session, connector_id, order, now)
            if inbound_id is not None:
                new_ids.append(inbound_id)
        for record in page.rejected:
            _keep_rejected(session, connector_id, record, now)
        cursor = session.get_one(ConnectorCursor, connector_id, with_for_update=True)
        newest = max((_naive(o.updated_at) for o in page.orders), default=None)
        if newest is not None and (cursor.run_high_water is None or newest > cursor.run_high_water):
            cursor.run_high_water = newest
        cursor.last_run_orders = (cursor.last_run_orders or 0) + len(page.orders)
        cursor.page_token = page.next_page_token
        if page.next_page_token is None:
            _finish_run(deps, cursor, now)
    return new_ids


def _finish_run(deps: Deps, cursor: ConnectorCursor, now: datetime) -> None:
    # The next run starts from what this run has vouched for: the newest order it saw, or
    # the moment it started if that is later (quiet channels must not re-read forever).
    marks = [m for m in (cursor.updated_after, cursor.run_high_water, cursor.run_started_at) if m]
    cursor.updated_after = max(marks) if marks else None
    cursor.run_after = None
    cursor.run_high_water = None
    cursor.run_started_at = None
    cursor.page_token = None
    cursor.last_run_at = now
    cursor.claimed_at = None
    cursor.next_poll_at = now + timedelta(seconds=deps.settings.poll_interval)


def _insert_polled(
    session: Session, connector_id: int, order: ChannelOrder, now: datetime
) -> int | None:
    updated = _naive(order.updated_at)
    body = json.dumps(order.payload, separators=(",", ":"), default=str).encode("utf-8")
    return insert_ignoring_conflict(
        session,
        InboundMessage.__table__,  # type: ignore[arg-type]
        {
            "connector_id": connector_id,
            "dedupe_key": f"poll:{order.external_id}:{updated.isoformat()}"[:255],
            "topic": POLLED_TOPIC,
            "headers": {},
            "body": body,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "received_at": now,
        },
        ["connector_id", "dedupe_key"],
    )


def _keep_rejected(
    session: Session, connector_id: int, record: RejectedRecord, now: datetime
) -> None:
    """A record the poll could not read: a failed inbox row with an invalid_payload exception
    (once: the overlap reads it again under the same key while it stays the same)."""
    body = json.dumps(record.raw, separators=(",", ":"), default=str).encode("utf-8")
    canonical = json.dumps(record.raw, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    name = (record.external_id or "-")[:160]
    inbound_id = insert_ignoring_conflict(
        session,
        InboundMessage.__table__,  # type: ignore[arg-type]
        {
            "connector_id": connector_id,
            "dedupe_key": f"poll-rejected:{name}:{digest}",
            "topic": POLLED_TOPIC,
            "headers": {},
            "body": body,
            "status": "failed",
            "attempts": 0,
            "last_error": record.reason[:2000],
            "next_attempt_at": now,
            "received_at": now,
            "processed_at": now,
        },
        ["connector_id", "dedupe_key"],
    )
    if inbound_id is None:
        return
    detail: dict[str, Any] = {"message": record.reason, "source": "poll"}
    if record.external_id is not None:
        detail["external_id"] = record.external_id
    open_exception(session, Reason.INVALID_PAYLOAD, detail=detail, inbound_message_id=inbound_id)
    log.warning(
        "connector %s: polled record %s kept as invalid_payload: %s",
        connector_id,
        record.external_id,
        record.reason,
    )


def _naive(value: datetime) -> datetime:
    converted = as_naive_utc(value)
    assert converted is not None  # noqa: S101 - a ChannelOrder always has updated_at
    return converted


def _record_failure(
    deps: Deps, connector_id: int, exc: ConnectorError, now: datetime, waited: float
) -> None:
    retry_after = exc.retry_after if isinstance(exc, TransientError) else None
    with unit_of_work(deps.sessions) as session:
        health_failures = connector_health.record_failure(
            session,
            connector_id,
            f"{exc.reason}: {exc}",
            now=now,
            disable_after=deps.settings.connector_disable_after_failures,
            rate_limit_wait=waited,
        )
        cursor = session.get_one(ConnectorCursor, connector_id, with_for_update=True)
        failures = _failures(session, connector_id)
        delay = retry_after or min(deps.settings.poll_interval * 2**failures, MAX_BACKOFF_SECONDS)
        cursor.claimed_at = None
        cursor.next_poll_at = now + timedelta(seconds=delay)
    if health_failures:
        log.error("connector %s disabled after repeated poll failures", connector_id)


def _failures(session: Session, connector_id: int) -> int:
    health = session.get(ConnectorHealth, connector_id)
    return min(health.consecutive_failures if health else 0, 10)


def _release(deps: Deps, connector_id: int, *, next_poll_at: datetime | None) -> None:
    with unit_of_work(deps.sessions) as session:
        cursor = session.get_one(ConnectorCursor, connector_id, with_for_update=True)
        cursor.claimed_at = None
        if next_poll_at is not None:
            cursor.next_poll_at = next_poll_at
