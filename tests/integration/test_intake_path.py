"""The webhook intake path on SQLite and PostgreSQL: the inbox insert (driver statement on
PostgreSQL), the connector row cache's time limit, and the 200 body."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, func
from sqlalchemy import update as sql_update

from omniroute.api.webhook_intake import _accepted_body, _json
from omniroute.core.bootstrap import Context
from omniroute.core.intake.webhooks import IntakeResult, receive_webhook
from omniroute.core.platform import live_connectors
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import make_engine, unit_of_work
from omniroute.core.platform.errors import Conflict
from omniroute.core.platform.inbox_insert import driver_insert, insert_committed
from omniroute.core.platform.models import Connector, InboundMessage
from tests.integration.builders import build_world, order_body, signed_headers


def inbox_values(connector_id: int, key: str) -> dict[str, Any]:
    return {
        "connector_id": connector_id,
        "dedupe_key": key,
        "topic": "orders/create",
        "headers": {"x-shopify-topic": "orders/create"},
        "body": b'{"id": 1}',
        "status": "pending",
        "attempts": 0,
    }


def test_the_inbox_insert_commits_once_per_dedupe_key(ctx: Context) -> None:
    world = build_world(ctx, "http://127.0.0.1:9")
    key = str(uuid.uuid4())
    before = utcnow()
    first = insert_committed(ctx.engine, inbox_values(world.shopify_id, key))
    assert first is not None
    assert insert_committed(ctx.engine, inbox_values(world.shopify_id, key)) is None
    # Visible from another connection: committed, not left in an open transaction.
    with unit_of_work(ctx.sessions) as s:
        row = s.get(InboundMessage, first)
        assert row is not None
        assert (row.status, row.attempts, row.topic) == ("pending", 0, "orders/create")
        assert row.headers == {"x-shopify-topic": "orders/create"}
        assert row.body == b'{"id": 1}'
        assert row.received_at >= before.replace(microsecond=0)
        assert row.next_attempt_at >= before.replace(microsecond=0)

    # The pooled connection goes back as the rest of the code expects it: in a transaction
    # that a rollback undoes (one pooled connection, so the next checkout is the same one).
    engine = make_engine(ctx.settings.database_url, pool_size=1)
    try:
        assert insert_committed(engine, inbox_values(world.shopify_id, "other")) is not None
        with engine.connect() as conn:
            conn.execute(sql_update(InboundMessage).values(attempts=7))
            conn.rollback()
    finally:
        engine.dispose()
    with unit_of_work(ctx.sessions) as s:
        assert s.get(InboundMessage, first).attempts == 0  # type: ignore[union-attr]


def test_an_unknown_connector_fails_the_insert_and_the_pool_still_works(ctx: Context) -> None:
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        insert_committed(ctx.engine, inbox_values(987_654, "k"))
    world = build_world(ctx, "http://127.0.0.1:9")
    assert insert_committed(ctx.engine, inbox_values(world.shopify_id, "k")) is not None


def test_the_driver_statement_is_used_only_for_defaults_it_can_evaluate() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # not connected
    metadata = MetaData()
    plain = Table(
        "plain",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("connector_id", Integer),
        Column("dedupe_key", String),
        Column("status", String, default="pending"),
        Column("at", DateTime, default=utcnow),
    )
    statement = driver_insert(engine, plain, ("connector_id", "dedupe_key"))
    assert statement is not None
    assert "ON CONFLICT (connector_id, dedupe_key) DO NOTHING RETURNING plain.id" in statement.sql
    params = statement.params({"connector_id": 1, "dedupe_key": "a"})
    assert params["status"] == "pending" and isinstance(params["at"], datetime)

    by_database = Table(
        "by_database",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("connector_id", Integer),
        Column("dedupe_key", String),
        Column("at", DateTime, default=func.now()),
    )
    assert driver_insert(engine, by_database, ("connector_id", "dedupe_key")) is None

    def from_context(context: Any) -> str:
        return str(context.get_current_parameters()["dedupe_key"])

    by_context = Table(
        "by_context",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("connector_id", Integer),
        Column("dedupe_key", String),
        Column("copy", String, default=from_context),
    )
    assert driver_insert(engine, by_context, ("connector_id", "dedupe_key")) is None


def test_a_connector_disabled_elsewhere_is_refused_once_its_cached_row_expires(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = 0.3
    monkeypatch.setattr(live_connectors, "ROW_TTL_SECONDS", ttl)
    world = build_world(ctx, "http://127.0.0.1:9")
    body = order_body(1, [("A", 1)])
    assert receive_webhook(ctx, world.shopify_id, signed_headers(body), body).status == "accepted"
    # Another API process disables it: this one's cache is not told.
    with unit_of_work(ctx.sessions) as s:
        s.execute(
            sql_update(Connector).where(Connector.id == world.shopify_id).values(enabled=False)
        )
    body = order_body(2, [("A", 1)])
    assert receive_webhook(ctx, world.shopify_id, signed_headers(body), body).status == "accepted"
    time.sleep(ttl + 0.05)
    with pytest.raises(Conflict) as refused:
        receive_webhook(ctx, world.shopify_id, signed_headers(body), body)
    assert refused.value.code == "connector_disabled"


def test_intake_stores_the_headers_and_topic_the_connector_declares(ctx: Context) -> None:
    world = build_world(ctx, "http://127.0.0.1:9")
    body = order_body(3, [("A", 1)])
    headers = {
        **signed_headers(body, webhook_id="wh-3"),
        "User-Agent": "Shopify-Captain-Hook",
        "Authorization": "Bearer not-kept",
        "X-Forwarded-For": "203.0.113.9",
        "Webhook-Id": "not-shopify's",
    }
    inbound_id = receive_webhook(ctx, world.shopify_id, headers, body).inbound_id
    with unit_of_work(ctx.sessions) as s:
        row = s.get(InboundMessage, inbound_id)
        assert row is not None
        assert row.topic == "orders/create"
        assert row.headers == {
            "content-type": "application/json",
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": "wh-3",
            "user-agent": "Shopify-Captain-Hook",
        }


@pytest.mark.parametrize("topic", ["poll", "import"])
def test_a_webhook_never_takes_the_topic_of_a_body_omniroute_wrote(
    ctx: Context, topic: str
) -> None:
    world = build_world(ctx, "http://127.0.0.1:9")
    body = order_body(4, [("A", 1)])
    headers = signed_headers(body, topic=topic)
    inbound_id = receive_webhook(ctx, world.shopify_id, headers, body).inbound_id
    with unit_of_work(ctx.sessions) as s:
        row = s.get(InboundMessage, inbound_id)
        assert row is not None
        assert (row.topic, row.headers["x-shopify-topic"]) == (f"webhook:{topic}", topic)


@pytest.mark.parametrize(
    "result",
    [IntakeResult(12, False), IntakeResult(None, True), IntakeResult(None, False)],
    ids=["accepted", "duplicate", "ignored"],
)
def test_the_200_body_is_the_json_the_handler_always_wrote(result: IntakeResult) -> None:
    expected = {"status": result.status, "inbound_id": result.inbound_id}
    assert _accepted_body(result) == _json({**expected, "duplicate": result.duplicate})
