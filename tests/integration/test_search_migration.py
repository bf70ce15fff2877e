"""Migration 0019 over a database at 0018: orders get ``customer_name`` from their canonical
customer, else their ship-to name; the search indexes exist; and it goes back down.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from alembic import command
from sqlalchemy import MetaData, create_engine, text

from omniroute.core.platform.db import normalise_url
from omniroute.core.platform.migrate import alembic_config, upgrade
from tests.integration.test_exception_migration import _insert, empty_url  # noqa: F401

AT = datetime(2024, 3, 1, 12, 0, 0)
NEW_INDEXES = {
    ("sales_order", "ix_sales_order_customer_email"),
    ("sales_order", "ix_sales_order_customer_name"),
    ("sales_order", "ix_sales_order_created"),
    ("sales_order", "ix_sales_order_status_id"),
    ("sales_order", "ix_sales_order_status_window"),
    ("order_line", "ix_order_line_sku"),
    ("order_exception", "ix_order_exception_status_reason"),
}


def _indexes(url: str) -> set[tuple[str, str]]:
    """(table, index) of every index, expression indexes included (reflection skips those
    on SQLite)."""
    engine = create_engine(normalise_url(url))
    query = (
        "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'"
        if engine.dialect.name == "postgresql"
        else "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'"
    )
    with engine.connect() as conn:
        found = {(str(t), str(n)) for t, n in conn.execute(text(query))}
    engine.dispose()
    return found


def test_0019_names_the_customers_and_adds_the_search_indexes(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url, "0018")
    engine = create_engine(normalise_url(empty_url))
    meta = MetaData()
    meta.reflect(engine)
    assert "customer_name" not in meta.tables["sales_order"].c
    shop = _insert(
        engine, meta, "connector", kind="shopify", name="shop", config={}, enabled=True,
        created_at=AT, updated_at=AT,
    )  # fmt: skip
    canonicals = {
        "named": {"customer": {"name": "Ana Silva"}, "ship_to": {"name": "Front Desk"}},
        "ship_to_only": {"customer": {"email": "x@example.org"}, "ship_to": {"name": "Li Chen"}},
        "nameless": {"lines": []},
    }
    for external_id, canonical in canonicals.items():
        _insert(
            engine, meta, "sales_order", connector_id=shop, external_id=external_id,
            channel="shopify", status="received", currency="USD", service_level="standard",
            canonical=canonical, ship_to=canonical.get("ship_to"), created_at=AT, updated_at=AT,
        )  # fmt: skip
    engine.dispose()

    upgrade(empty_url)

    engine = create_engine(normalise_url(empty_url))
    with engine.connect() as conn:
        names = dict(conn.execute(text("SELECT external_id, customer_name FROM sales_order")).all())
    engine.dispose()
    assert names == {"named": "Ana Silva", "ship_to_only": "Li Chen", "nameless": None}
    indexes = _indexes(empty_url)
    assert indexes >= NEW_INDEXES
    assert ("sales_order", "ix_sales_order_status") not in indexes

    command.downgrade(alembic_config(empty_url), "0018")
    back = _indexes(empty_url)
    assert not back & NEW_INDEXES and ("sales_order", "ix_sales_order_status") in back
