"""Migration 0010 over a database at 0009: orders that may still be released get their
note, gift message, attributes and line properties from their canonical JSON, so their
release carries them; released ones are left alone. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alembic import command
from sqlalchemy import MetaData, create_engine, select

from omniroute.core.bootstrap import bootstrap
from omniroute.core.platform.db import normalise_url, unit_of_work
from omniroute.core.platform.migrate import alembic_config, upgrade
from omniroute.core.platform.models import OrderLine, SalesOrder
from tests.conftest import make_settings
from tests.integration.test_exception_migration import _insert, empty_url  # noqa: F401

AT = datetime(2024, 3, 1, 12, 0, 0)
ENGRAVED = [{"name": "Custom Engraving", "value": "Happy Birthday"}]
CANONICAL: dict[str, Any] = {
    "note": "Please ring the bell",
    "gift_message": "For you!",
    "attributes": [{"name": "colour", "value": "green"}],
    "lines": [
        {"external_line_id": "1", "quantity": 1, "properties": ENGRAVED},
        {"external_line_id": "2", "quantity": 1, "gift_message": "Enjoy", "properties": []},
    ],
}


def _orders_at_0009(url: str) -> dict[str, int]:
    engine = create_engine(normalise_url(url))
    meta = MetaData()
    meta.reflect(engine)
    assert "properties" not in meta.tables["order_line"].c
    shop = _insert(
        engine, meta, "connector", kind="shopify", name="shop", config={}, enabled=True,
        created_at=AT, updated_at=AT,
    )  # fmt: skip
    ids = {}
    for status in ("validated", "released"):
        ids[status] = order = _insert(
            engine, meta, "sales_order", connector_id=shop, external_id=status,
            channel="shopify", status=status, currency="USD", service_level="standard",
            canonical=CANONICAL, created_at=AT, updated_at=AT,
        )  # fmt: skip
        for no in (1, 2):
            _insert(engine, meta, "order_line", order_id=order, line_no=no, quantity=1)
    engine.dispose()
    return ids


def test_0008_fills_in_orders_that_may_still_be_released(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url, "0009")
    ids = _orders_at_0009(empty_url)
    upgrade(empty_url)

    ctx = bootstrap(make_settings(empty_url))
    try:
        with unit_of_work(ctx.sessions) as s:
            waiting = s.get_one(SalesOrder, ids["validated"])
            assert (waiting.note, waiting.gift_message) == ("Please ring the bell", "For you!")
            assert waiting.attributes == [{"name": "colour", "value": "green"}]
            lines = s.scalars(
                select(OrderLine).where(OrderLine.order_id == waiting.id).order_by(OrderLine.id)
            ).all()
            assert [(ln.properties, ln.gift_message) for ln in lines] == [
                (ENGRAVED, None),
                (None, "Enjoy"),
            ]
            released = s.get_one(SalesOrder, ids["released"])
            assert (released.note, released.attributes) == (None, None)
            kept = s.scalars(select(OrderLine.properties).where(OrderLine.order_id == released.id))
            assert list(kept) == [None, None]
    finally:
        ctx.close()

    # Down again with the rows in place (other tables reference both), and back up.
    command.downgrade(alembic_config(empty_url), "0009")
    upgrade(empty_url)
