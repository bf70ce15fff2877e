"""Migration 0020 (returns) from 0019 and back, on SQLite and PostgreSQL: the three tables
with their unique keys and the check that a line never receives more than it expects."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import MetaData, create_engine, inspect
from sqlalchemy.exc import IntegrityError

from omniroute.core.platform.db import normalise_url
from omniroute.core.platform.migrate import alembic_config, upgrade
from tests.integration.test_exception_migration import empty_url  # noqa: F401

TABLES = {"return_authorisation", "return_line", "return_receipt"}


def test_0020_adds_the_return_tables_and_goes_back_down(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url, "0019")
    upgrade(empty_url, "0020")
    engine = create_engine(normalise_url(empty_url))
    try:
        found = inspect(engine)
        assert set(found.get_table_names()) >= TABLES
        assert {u["name"] for u in found.get_unique_constraints("return_receipt")} == {
            "uq_return_receipt_external"
        }
        assert {i["name"] for i in found.get_indexes("return_line")} >= {
            "ix_return_line_return",
            "ix_return_line_order_line",
        }
        meta = MetaData()
        meta.reflect(engine)
        line = meta.tables["return_line"]
        with engine.connect() as conn, pytest.raises(IntegrityError):
            # No parent rows needed: the CHECK fails first on both (SQLite does not enforce
            # foreign keys by default; PostgreSQL checks CHECK constraints before them).
            conn.execute(
                line.insert().values(
                    return_id=1, order_line_id=1, sku="A", quantity=1,
                    restocked_quantity=1, written_off_quantity=1,
                )
            )  # fmt: skip
    finally:
        engine.dispose()
    command.downgrade(alembic_config(empty_url), "0019")
    engine = create_engine(normalise_url(empty_url))
    try:
        assert not TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
