"""Migration 0007 over a database that already has exceptions (written at 0006): the new
columns are backfilled so the rows keep working with ``open_exception``; SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, create_engine, select, text

from omniroute.core.bootstrap import bootstrap
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.platform.db import normalise_url, unit_of_work
from omniroute.core.platform.migrate import alembic_config, upgrade
from omniroute.core.platform.models import InboundMessage, OrderException
from tests.conftest import PG_URL, make_settings

BAD = b'{"id": 5, "line_items": "not a list"}'
AT = datetime(2024, 3, 1, 12, 0, 0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, not migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"omniroute_mig_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _insert(engine: Engine, meta: MetaData, table: str, **values: Any) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(meta.tables[table].insert().values(**values)).inserted_primary_key[0]
        )


def _rows_at_0006(url: str) -> dict[str, int]:
    """What a database at 0006 may hold: exceptions of every kind of subject, and none."""
    engine = create_engine(normalise_url(url))
    meta = MetaData()
    meta.reflect(engine)
    assert "occurrences" not in meta.tables["order_exception"].c
    shop = _insert(
        engine, meta, "connector", kind="shopify", name="shop", config={}, enabled=True,
        created_at=AT, updated_at=AT,
    )  # fmt: skip
    work = {"attempts": 0, "next_attempt_at": AT}
    bad = _insert(
        engine, meta, "inbound_message", connector_id=shop, dedupe_key="hook-1", headers={},
        body=BAD, status="failed", received_at=AT, **work,
    )  # fmt: skip
    stuck = _insert(
        engine, meta, "inbound_message", connector_id=shop, dedupe_key="hook-2", headers={},
        body=b"{}", status="failed", received_at=AT, **work,
    )  # fmt: skip
    order = _insert(
        engine, meta, "sales_order", connector_id=shop, external_id="77", channel="shopify",
        status="exception", currency="USD", service_level="standard", canonical={},
        created_at=AT, updated_at=AT,
    )  # fmt: skip
    dead = _insert(
        engine, meta, "outbox_message", kind="wms.release", idempotency_key="k-1", payload={},
        status="dead", created_at=AT, **work,
    )  # fmt: skip
    ids = {}
    for name, reason, status, subject in [
        ("payload", "invalid_payload", "open", {"inbound_message_id": bad}),
        ("processing", "processing_error", "retried", {"inbound_message_id": stuck}),
        ("dead", "wms_rejected", "open", {"outbox_message_id": dead, "order_id": order}),
        ("no_stock", "no_stock", "resolved", {"order_id": order}),
        ("count", "stock_discrepancy", "open", {}),
    ]:
        ids[name] = _insert(
            engine, meta, "order_exception", reason=reason, status=status, detail={"n": name},
            retries=1 if status == "retried" else 0, created_at=AT, **subject,
        )  # fmt: skip
    ids["connector"], ids["order"] = shop, order
    engine.dispose()
    return ids


def test_0007_backfills_exceptions_written_at_0006(empty_url: str) -> None:
    upgrade(empty_url, "0006")
    ids = _rows_at_0006(empty_url)
    upgrade(empty_url)

    ctx = bootstrap(make_settings(empty_url))
    try:
        with unit_of_work(ctx.sessions) as s:
            rows = {r.id: r for r in s.scalars(select(OrderException))}
        assert {r.occurrences for r in rows.values()} == {1}
        assert {(r.first_seen_at, r.last_seen_at) for r in rows.values()} == {(AT, AT)}
        assert {r.detail["n"] for r in rows.values()} == {
            "payload", "processing", "dead", "no_stock", "count",
        }  # fmt: skip
        processing = rows[ids["processing"]]
        assert processing.retries == 1 and processing.last_retried_at is None

        with unit_of_work(ctx.sessions) as s:
            # The same bad body under another webhook id joins the migrated exception.
            again = InboundMessage(
                connector_id=ids["connector"], dedupe_key="hook-3", headers={}, body=BAD
            )
            s.add(again)
            s.flush()
            payload = open_exception(
                s, Reason.INVALID_PAYLOAD, detail={"n": "payload"}, inbound_message_id=again.id
            )
            # A retried one that fails again reopens; a resolved one stays closed.
            processing = open_exception(
                s,
                Reason.PROCESSING_ERROR,
                detail={"n": "processing"},
                inbound_message_id=rows[ids["processing"]].inbound_message_id,
            )
            no_stock = open_exception(s, Reason.NO_STOCK, detail={}, order_id=ids["order"])
            got = (payload.id, payload.occurrences, processing.id, processing.status)
            inbound = payload.detail["inbound_message_ids"]
            assert no_stock.id not in ids.values()
        assert got == (ids["payload"], 2, ids["processing"], "open")
        assert inbound == [rows[ids["payload"]].inbound_message_id, again.id]
    finally:
        ctx.close()

    cfg = alembic_config(empty_url)
    command.downgrade(cfg, "0006")
    upgrade(empty_url)
