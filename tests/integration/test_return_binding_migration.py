"""Migration 0026 (a return's channel id, unique per connector, and its parcel) goes up, down
and up again; SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from omniroute.core.platform.db import normalise_url
from omniroute.core.platform.migrate import alembic_config, upgrade
from tests.integration.test_exception_migration import empty_url  # noqa: F401

ADDED = {"external_id", "tracking_number", "carrier"}


def _shape(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(normalise_url(url))
    found = inspect(engine)
    columns = {c["name"] for c in found.get_columns("return_authorisation")}
    uniques = {str(u["name"]) for u in found.get_unique_constraints("return_authorisation")}
    engine.dispose()
    return columns, uniques


def test_0026_up_down_up(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url)
    columns, uniques = _shape(empty_url)
    assert columns >= ADDED
    assert "uq_return_authorisation_external" in uniques
    command.downgrade(alembic_config(empty_url), "0025")
    columns, uniques = _shape(empty_url)
    assert not ADDED & columns
    assert "uq_return_authorisation_external" not in uniques
    upgrade(empty_url)
    assert _shape(empty_url)[0] >= ADDED
