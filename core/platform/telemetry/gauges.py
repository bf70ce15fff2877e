"""Gauges read from the database when Prometheus scrapes: the backlog as the database has it.

The work rows are the truth in both deployments, so these figures are the same whichever
process serves them and survive every restart. One short read of indexed columns per scrape
at most: the result is kept ``ttl`` seconds, so several scrapers (or a fast one) cost one
read. The time is the clock's (time is an argument), the cache's age ``time.monotonic``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, case, func, literal, select
from sqlalchemy.exc import SQLAlchemyError

from omniroute.core.platform.clock import Clock
from omniroute.core.platform.models import (
    ConnectorHealth,
    InboundMessage,
    OrderException,
    OutboxMessage,
    StockAlert,
    StockLedger,
    SyncCursor,
)

log = logging.getLogger("omniroute.telemetry")

#: Inbox states that are work still to do or to look at ("done" and "ignored" are history).
INBOX_STATES = ("pending", "processing", "failed")
#: Outbox states counted: the backlog (pending, processing) and the dead letters.
OUTBOX_STATES = ("pending", "processing", "dead")
BACKLOG = ("pending", "processing")
#: Age buckets of open exceptions: (label, lower bound), youngest first.
EXCEPTION_AGES = (("lt_1h", 1), ("1h_4h", 4), ("4h_24h", 24))  # (label, younger than hours)
OLDEST_AGE = "gt_24h"
STOCK_KIND = "channel.stock"
STOCK_ALERT_KINDS = ("below_min", "above_max")


@dataclass(frozen=True)
class Reading:
    """What one scrape read; each field a list of (labels, value)."""

    inbox_count: list[tuple[tuple[str, ...], float]]
    inbox_age: list[tuple[tuple[str, ...], float]]
    outbox_backlog: list[tuple[tuple[str, ...], float]]
    outbox_age: list[tuple[tuple[str, ...], float]]
    outbox_dead: list[tuple[tuple[str, ...], float]]
    exceptions_open: list[tuple[tuple[str, ...], float]]
    connector_failures: list[tuple[tuple[str, ...], float]]
    stock_push_lag: float
    stock_alerts_open: list[tuple[tuple[str, ...], float]] = field(default_factory=list)


class DatabaseGauges(Collector):
    """A prometheus-client collector (register it on the registry ``/metrics`` serves)."""

    def __init__(
        self, engine: Engine, clock: Clock, *, ttl: float = 5.0, stock_cursor: str
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._ttl = ttl
        self._stock_cursor = stock_cursor
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:  # one scrape reads; one arriving meanwhile takes its result
            cached = self._cached
            if cached is not None and time.monotonic() - cached[0] < self._ttl:
                return cached[1]
            metrics = self._read_metrics()
            self._cached = (time.monotonic(), metrics)
            return metrics

    def _read_metrics(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "omniroute_database_gauges_up",
            "1 when the gauges read from the database were read at this scrape, else 0",
        )
        try:
            with self._engine.connect() as conn:
                reading = read(conn, self._clock.now(), stock_cursor=self._stock_cursor)
        except SQLAlchemyError:
            log.warning("metrics: the database gauges could not be read", exc_info=True)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families(reading)]


def read(conn: Connection, now: datetime, *, stock_cursor: str) -> Reading:
    """The figures, in a handful of grouped reads over indexed status columns."""
    inbox_count: dict[str, float] = dict.fromkeys(INBOX_STATES, 0.0)
    inbox_age: dict[str, float] = dict.fromkeys(INBOX_STATES, 0.0)
    for status, count, oldest in conn.execute(
        select(InboundMessage.status, func.count(), func.min(InboundMessage.received_at))
        .where(InboundMessage.status.in_(INBOX_STATES))
        .group_by(InboundMessage.status)
    ):
        inbox_count[status] = float(count)
        inbox_age[status] = _age(now, oldest)
    backlog: dict[str, float] = {}
    outbox_age: dict[str, float] = {}
    dead: dict[str, float] = {}
    for kind, status, count, oldest in conn.execute(
        select(
            OutboxMessage.kind,
            OutboxMessage.status,
            func.count(),
            func.min(OutboxMessage.created_at),
        )
        .where(OutboxMessage.status.in_(OUTBOX_STATES))
        .group_by(OutboxMessage.kind, OutboxMessage.status)
    ):
        if status == "dead":
            dead[kind] = float(count)
            continue
        backlog[kind] = backlog.get(kind, 0.0) + count
        outbox_age[kind] = max(outbox_age.get(kind, 0.0), _age(now, oldest))
    return Reading(
        inbox_count=[((s,), v) for s, v in inbox_count.items()],
        inbox_age=[((s,), v) for s, v in inbox_age.items()],
        outbox_backlog=[((k,), v) for k, v in sorted(backlog.items())],
        outbox_age=[((k,), v) for k, v in sorted(outbox_age.items())],
        outbox_dead=[((k,), v) for k, v in sorted(dead.items())],
        exceptions_open=_open_exceptions(conn, now),
        connector_failures=[
            ((str(connector_id),), float(failures))
            for connector_id, failures in conn.execute(
                select(ConnectorHealth.connector_id, ConnectorHealth.consecutive_failures).order_by(
                    ConnectorHealth.connector_id
                )
            )
        ],
        stock_push_lag=max(
            _unsynced_ledger_age(conn, now, stock_cursor), outbox_age.get(STOCK_KIND, 0.0)
        ),
        stock_alerts_open=_open_stock_alerts(conn),
    )


def _open_stock_alerts(conn: Connection) -> list[tuple[tuple[str, ...], float]]:
    """Open stock alerts by kind (both kinds always present, 0 when none)."""
    counts = dict.fromkeys(STOCK_ALERT_KINDS, 0.0)
    for kind, count in conn.execute(
        select(StockAlert.kind, func.count())
        .where(StockAlert.status == "open")
        .group_by(StockAlert.kind)
    ):
        counts[kind] = float(count)
    return [((kind,), value) for kind, value in counts.items()]


def _open_exceptions(conn: Connection, now: datetime) -> list[tuple[tuple[str, ...], float]]:
    """Open exceptions by reason and age bucket (every bucket of a reason that has any)."""
    bucket = case(
        *[
            (OrderException.first_seen_at > now - timedelta(hours=hours), literal(label))
            for label, hours in EXCEPTION_AGES
        ],
        else_=literal(OLDEST_AGE),
    ).label("age")
    labels = [label for label, _ in EXCEPTION_AGES] + [OLDEST_AGE]
    counts: dict[str, dict[str, float]] = {}
    for reason, label, count in conn.execute(
        select(OrderException.reason, bucket, func.count())
        .where(OrderException.status == "open")
        .group_by(OrderException.reason, bucket)
    ):
        by_age = counts.setdefault(reason, dict.fromkeys(labels, 0.0))
        by_age[label] += float(count)
    return [
        ((reason, label), value)
        for reason, by_age in sorted(counts.items())
        for label, value in by_age.items()
    ]


def _unsynced_ledger_age(conn: Connection, now: datetime, cursor_name: str) -> float:
    """Age of the oldest stock change the stock sync has not read yet (0: none)."""
    position = conn.execute(
        select(SyncCursor.position).where(SyncCursor.name == cursor_name)
    ).scalar()
    oldest = conn.execute(
        select(StockLedger.created_at)
        .where(StockLedger.id > (position or 0))
        .order_by(StockLedger.id)
        .limit(1)
    ).scalar()
    return _age(now, oldest)


def _age(now: datetime, then: datetime | None) -> float:
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())


def families(reading: Reading) -> Iterator[Metric]:
    """The reading as metric families: the names alerts.yml and the runbook use."""
    specs: list[tuple[str, str, list[str], list[tuple[tuple[str, ...], float]]]] = [
        (
            "omniroute_inbox_messages",
            "Inbox rows by state (work to do or to look at)",
            ["status"],
            reading.inbox_count,
        ),
        (
            "omniroute_inbox_oldest_age_seconds",
            "Age of the oldest inbox row in each state, from its arrival (0: none)",
            ["status"],
            reading.inbox_age,
        ),
        (
            "omniroute_outbox_backlog",
            "Outbox rows not yet sent (pending or being sent), by kind",
            ["kind"],
            reading.outbox_backlog,
        ),
        (
            "omniroute_outbox_oldest_age_seconds",
            "Age of the oldest unsent outbox row of each kind",
            ["kind"],
            reading.outbox_age,
        ),
        (
            "omniroute_outbox_dead_letters",
            "Outbox rows dead-lettered and not redriven, by kind",
            ["kind"],
            reading.outbox_dead,
        ),
        (
            "omniroute_exceptions_open",
            "Open exceptions by reason code and age bucket",
            ["reason", "age"],
            reading.exceptions_open,
        ),
        (
            "omniroute_connector_consecutive_failures",
            "Failed calls in a row to each connector's system (0 after a success)",
            ["connector_id"],
            reading.connector_failures,
        ),
        (
            "omniroute_stock_push_lag_seconds",
            "Age of the oldest stock change not yet told to the channels (0: all told)",
            [],
            [((), reading.stock_push_lag)],
        ),
        (
            "omniroute_stock_alerts_open",
            "Open stock alerts (a SKU at a warehouse across its min or max), by kind",
            ["kind"],
            reading.stock_alerts_open,
        ),
    ]
    for name, documentation, labels, samples in specs:
        family = GaugeMetricFamily(name, documentation, labels=labels)
        for label_values, value in samples:
            family.add_metric(list(label_values), value)
        yield family
