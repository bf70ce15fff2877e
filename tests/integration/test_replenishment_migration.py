"""Migration 0023 (stock thresholds, alerts, suggestions) goes up, down and up again;
SQLite and PostgreSQL. The open-alert index is partial: one open alert per pair, any number
of cleared ones."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from omniroute.core.platform.db import normalise_url
from omniroute.core.platform.migrate import alembic_config, upgrade
from tests.integration.test_exception_migration import empty_url  # noqa: F401

TABLES = {"stock_threshold", "stock_alert", "replenishment_suggestion"}
AT = datetime(2024, 3, 1, 12, 0, 0)


def _tables(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_0023_up_down_up(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url)
    assert _tables(empty_url) >= TABLES
    engine = create_engine(normalise_url(empty_url))
    alert = (
        "INSERT INTO stock_alert (warehouse_id, sku, kind, status, available, threshold, "
        "raised_at) VALUES (1, 'A', 'below_min', :status, 0, 1, :at)"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO warehouse (code, name, address, country, postal_code, priority, "
                "enabled, tags, channels, timezone, rate_table, calendar, channel_buffers, "
                "created_at, updated_at) VALUES ('W', 'W', '{}', 'US', '1', 1, true, '[]', "
                "'[]', 'UTC', '[]', '{}', '{}', :at, :at)"
            ),
            {"at": AT},
        )
        for status in ("cleared", "cleared", "open"):
            conn.execute(text(alert), {"status": status, "at": AT})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(alert), {"status": "open", "at": AT})
    engine.dispose()
    command.downgrade(alembic_config(empty_url), "0023-1")
    assert not TABLES & _tables(empty_url)
    upgrade(empty_url)
    assert _tables(empty_url) >= TABLES
