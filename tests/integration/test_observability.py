"""Observability in the embedded deployment: the gauges read from the database, /metrics,
and one correlation id from the webhook to the warehouse's request header."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy import create_engine, event, select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    ConnectorHealth,
    InboundMessage,
    OrderException,
    OutboxMessage,
    SalesOrder,
    StockLedger,
    SyncCursor,
)
from omniroute.core.platform.security import Role
from omniroute.core.platform.telemetry.gauges import DatabaseGauges, read
from omniroute.core.platform.telemetry.logs import JsonFormatter
from omniroute.core.stock.sync import CURSOR
from omniroute.worker.embedded import EmbeddedRunner
from tests.integration.builders import World, build_world, order_body, signed_headers, stock

NOW = datetime(2026, 3, 2, 12, 0, 0)


class FixedClock:
    def now(self) -> datetime:
        return NOW


def _ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def _inbox(world: World, n: int, status: str, age: float) -> InboundMessage:
    return InboundMessage(
        connector_id=world.shopify_id,
        dedupe_key=f"k-{status}-{n}",
        body=b"{}",
        status=status,
        received_at=_ago(age),
        next_attempt_at=_ago(age),
    )


def _outbox(n: int, kind: str, status: str, age: float) -> OutboxMessage:
    return OutboxMessage(
        kind=kind,
        idempotency_key=f"o-{n}",
        payload={},
        status=status,
        created_at=_ago(age),
        next_attempt_at=_ago(age),
    )


def _exception(reason: str, status: str, age: float) -> OrderException:
    return OrderException(
        reason=reason, status=status, first_seen_at=_ago(age), last_seen_at=_ago(age)
    )


@pytest.fixture
def backlog(ctx: Context) -> World:
    """Work in every state the gauges count, and some they must not."""
    world = build_world(ctx, "http://127.0.0.1:9")
    with unit_of_work(ctx.sessions) as s:
        s.add_all(
            [
                _inbox(world, 1, "pending", 600),
                _inbox(world, 2, "pending", 20),
                _inbox(world, 3, "processing", 30),
                _inbox(world, 4, "failed", 7200),
                _inbox(world, 5, "done", 99999),
                _outbox(1, "wms.release", "pending", 120),
                _outbox(2, "wms.release", "processing", 10),
                _outbox(3, "wms.release", "dead", 5000),
                _outbox(4, "channel.stock", "pending", 50),
                _outbox(5, "channel.fulfilment", "sent", 9999),
                _exception("unknown_sku", "open", 5 * 3600),
                _exception("unknown_sku", "open", 1800),
                _exception("unknown_sku", "open", 1900),
                _exception("wms_rejected", "open", 3 * 86400),
                _exception("bad_address", "resolved", 60),
                ConnectorHealth(
                    connector_id=world.wms_id, consecutive_failures=3, rate_limit_wait_seconds=0
                ),
            ]
        )
        s.add(SyncCursor(name=CURSOR, position=0))
        s.flush()
        s.add(
            StockLedger(
                warehouse_id=world.warehouse_ids["EAST"],
                sku="A",
                reason="count",
                created_at=_ago(300),
            )
        )
    return world


def test_the_gauges_say_what_the_work_rows_say(ctx: Context, backlog: World) -> None:
    with ctx.engine.connect() as conn:
        reading = read(conn, NOW, stock_cursor=CURSOR)
    assert dict(reading.inbox_count) == {("pending",): 2, ("processing",): 1, ("failed",): 1}
    assert dict(reading.inbox_age) == {("pending",): 600, ("processing",): 30, ("failed",): 7200}
    assert dict(reading.outbox_backlog) == {("channel.stock",): 1, ("wms.release",): 2}
    assert dict(reading.outbox_age) == {("channel.stock",): 50, ("wms.release",): 120}
    assert dict(reading.outbox_dead) == {("wms.release",): 1}
    assert dict(reading.exceptions_open) == {
        ("unknown_sku", "lt_1h"): 2,
        ("unknown_sku", "1h_4h"): 0,
        ("unknown_sku", "4h_24h"): 1,
        ("unknown_sku", "gt_24h"): 0,
        ("wms_rejected", "lt_1h"): 0,
        ("wms_rejected", "1h_4h"): 0,
        ("wms_rejected", "4h_24h"): 0,
        ("wms_rejected", "gt_24h"): 1,
    }
    assert dict(reading.connector_failures) == {(str(backlog.wms_id),): 3}
    assert reading.stock_push_lag == 300  # the unsynced ledger row is older than the push


def test_the_stock_lag_is_the_oldest_push_once_the_sync_has_read_the_ledger(
    ctx: Context, backlog: World
) -> None:
    with unit_of_work(ctx.sessions) as s:
        s.get_one(SyncCursor, CURSOR).position = s.scalar(select(StockLedger.id))
    with ctx.engine.connect() as conn:
        assert read(conn, NOW, stock_cursor=CURSOR).stock_push_lag == 50


def test_a_scrape_within_the_ttl_reads_nothing(ctx: Context, backlog: World) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    registry = CollectorRegistry()
    registry.register(DatabaseGauges(ctx.engine, FixedClock(), ttl=3600, stock_cursor=CURSOR))
    event.listen(ctx.engine, "before_cursor_execute", seen)
    try:
        first = generate_latest(registry).decode()
        read_once = len(statements)
        second = generate_latest(registry).decode()
    finally:
        event.remove(ctx.engine, "before_cursor_execute", seen)
    assert read_once > 0
    assert len(statements) == read_once and second == first
    assert "omniroute_database_gauges_up 1.0" in first
    assert 'omniroute_outbox_dead_letters{kind="wms.release"} 1.0' in first
    assert 'omniroute_exceptions_open{age="gt_24h",reason="wms_rejected"} 1.0' in first
    assert 'omniroute_inbox_oldest_age_seconds{status="pending"} 600.0' in first
    assert "omniroute_stock_push_lag_seconds 300.0" in first


def test_a_database_that_cannot_be_read_says_so_and_the_scrape_still_answers(
    tmp_path: Any,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/none.db")
    registry = CollectorRegistry()
    registry.register(DatabaseGauges(engine, FixedClock(), ttl=0, stock_cursor=CURSOR))
    text = generate_latest(registry).decode()
    assert "omniroute_database_gauges_up 0.0" in text
    assert "omniroute_inbox_messages" not in text


class _JsonLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def relay_log() -> Iterator[_JsonLines]:
    handler = _JsonLines()
    logger = logging.getLogger("omniroute.outbox")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_one_correlation_id_from_the_webhook_to_the_warehouse(
    ctx: Context, wms: FakeWms, relay_log: _JsonLines
) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "A", 5)
    runner = EmbeddedRunner(ctx, workers=1)
    ctx.dispatcher = runner
    tasks_before = _sample("omniroute_tasks_total", task="process_inbound", outcome="ok")
    accepted_before = _sample(
        "omniroute_intake_total", connector_id=str(world.shopify_id), outcome="accepted"
    )
    body = order_body(8101, [("A", 2)])
    with TestClient(create_app(ctx, on_startup=runner.start, on_shutdown=runner.stop)) as client:
        answer = client.post(
            f"/webhooks/{world.shopify_id}",
            content=body,
            headers={**signed_headers(body), "X-Request-ID": "shop-req-8101"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-correlation-id"] == "shop-req-8101"
        assert runner.wait_idle(30)
        metrics = client.get("/metrics").text
        # An API request binds its own id: the cancel it asks of the warehouse carries it.
        with unit_of_work(ctx.sessions) as s:
            order_id = s.scalars(select(SalesOrder.id)).one()
        token = create_token(ctx, role=Role.OPS, name="ops")
        cancelled = client.post(
            f"/api/v1/orders/{order_id}/cancel",
            json={"reason": "customer asked"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "ops-cancel-1"},
        )
        assert cancelled.status_code == 202, cancelled.text
        assert runner.wait_idle(30)

    with unit_of_work(ctx.sessions) as s:
        inbound = s.scalars(select(InboundMessage)).one()
        outbox = {row.kind: row.correlation_id for row in s.scalars(select(OutboxMessage))}
    assert inbound.correlation_id == outbox["wms.release"] == "shop-req-8101"
    assert outbox["wms.cancel"] == "ops-cancel-1"
    release, cancel = wms.requests
    assert release.headers["x-correlation-id"] == "shop-req-8101"
    assert cancel.path.endswith("/cancel")
    assert cancel.headers["x-correlation-id"] == "ops-cancel-1"
    (line,) = [entry for entry in relay_log.lines if "released" in entry["message"]]
    assert line["correlation_id"] == "shop-req-8101"
    assert line["order_id"] == inbound.order_id
    assert line["connector_id"] == world.shopify_id
    assert line["task"] == "process_inbound"

    # The same names as the Celery deployment's /metrics: counters from the worker threads,
    # gauges from the database.
    # At least once: the sweeper (grace 0 in tests) may nudge the row a second time.
    assert _sample("omniroute_tasks_total", task="process_inbound", outcome="ok") >= (
        tasks_before + 1
    )
    assert _sample(
        "omniroute_intake_total", connector_id=str(world.shopify_id), outcome="accepted"
    ) == (accepted_before + 1)
    assert 'omniroute_tasks_total{outcome="ok",task="process_inbound"}' in metrics
    assert "omniroute_routing_seconds_count" in metrics
    assert 'omniroute_inbox_messages{status="pending"} 0.0' in metrics
    assert "omniroute_database_gauges_up 1.0" in metrics


def test_rows_written_without_a_callers_id_get_their_own(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    with TestClient(create_app(ctx)) as client:
        body = order_body(8102, [("A", 1)])
        answer = client.post(
            f"/webhooks/{world.shopify_id}", content=body, headers=signed_headers(body)
        )
        body2 = order_body(8103, [("A", 1)])
        client.post(f"/webhooks/{world.shopify_id}", content=body2, headers=signed_headers(body2))
    with unit_of_work(ctx.sessions) as s:
        ids = list(s.scalars(select(InboundMessage.correlation_id).order_by(InboundMessage.id)))
    assert answer.headers["x-correlation-id"] == ids[0]
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)
