"""Migration 0022 (ERP postings and feeds) goes up over a database at 0021, matches the
models' tables, and goes back down; SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from omniroute.core.platform.db import normalise_url
from omniroute.core.platform.migrate import alembic_config, upgrade
from omniroute.core.platform.models import ErpFeed, ErpPosting
from tests.integration.test_exception_migration import empty_url  # noqa: F401

TABLES = {"erp_posting", "erp_feed"}


def _tables(url: str) -> dict[str, set[str]]:
    engine = create_engine(normalise_url(url))
    found = inspect(engine)
    tables = {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names()}
    indexes = (
        {i["name"] for i in found.get_indexes("erp_posting")} if "erp_posting" in tables else set()
    )
    engine.dispose()
    return tables | {"_indexes": indexes}


def test_0022_up_and_down(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url, "0021")
    assert not TABLES & set(_tables(empty_url))
    command.upgrade(alembic_config(empty_url), "0022")
    tables = _tables(empty_url)
    assert tables["erp_posting"] == set(ErpPosting.__table__.c.keys())
    assert tables["erp_feed"] == set(ErpFeed.__table__.c.keys())
    assert tables["_indexes"] >= {
        "ix_erp_posting_order",
        "ix_erp_posting_shipment",
        "ix_erp_posting_reference",
        "ix_erp_posting_document",
    }
    command.downgrade(alembic_config(empty_url), "0021")
    assert not TABLES & set(_tables(empty_url))
    command.upgrade(alembic_config(empty_url), "0022")
    assert set(_tables(empty_url)) >= TABLES
