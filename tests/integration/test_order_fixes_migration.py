"""Migration 0025 (``sales_order.fixes``, a person's fixes of an order) goes up, down and
up again; SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from omniroute.core.platform.db import normalise_url
from omniroute.core.platform.migrate import alembic_config, upgrade
from tests.integration.test_exception_migration import empty_url  # noqa: F401


def _columns(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    names = {c["name"] for c in inspect(engine).get_columns("sales_order")}
    engine.dispose()
    return names


def test_0025_up_down_up(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url)
    assert "fixes" in _columns(empty_url)
    command.downgrade(alembic_config(empty_url), "0024")
    assert "fixes" not in _columns(empty_url)
    upgrade(empty_url)
    assert "fixes" in _columns(empty_url)
