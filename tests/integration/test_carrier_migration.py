"""Migration 0021 over a database at 0020: the carrier_booking table and the order's
deliver-by and late-risk columns appear, and it goes back down. SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import MetaData, create_engine

from omniroute.core.platform.db import normalise_url
from omniroute.core.platform.migrate import alembic_config, upgrade
from tests.integration.test_exception_migration import empty_url  # noqa: F401


def _tables(url: str) -> MetaData:
    engine = create_engine(normalise_url(url))
    meta = MetaData()
    meta.reflect(engine)
    engine.dispose()
    return meta


def test_0021_adds_bookings_and_the_deliver_by_promise(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url, "0020")
    before = _tables(empty_url)
    assert "carrier_booking" not in before.tables
    assert "promised_deliver_by" not in before.tables["sales_order"].c

    upgrade(empty_url, "0021")
    after = _tables(empty_url)
    booking = after.tables["carrier_booking"]
    assert {"fulfilment_order_id", "tracking_number", "amount", "currency", "deliver_by"} <= set(
        booking.c.keys()
    )
    assert {"promised_deliver_by", "late_risk_at"} <= set(after.tables["sales_order"].c.keys())
    assert {i.name for i in booking.indexes} >= {
        "ix_carrier_booking_booked_at",
        "ix_carrier_booking_order",
    }

    command.downgrade(alembic_config(empty_url), "0020")
    back = _tables(empty_url)
    assert "carrier_booking" not in back.tables
    assert "late_risk_at" not in back.tables["sales_order"].c
