"""Migration 0024 (the console's inbox indexes) goes up and back down, on SQLite and
PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from omniroute.core.platform.migrate import alembic_config, upgrade
from tests.integration.test_exception_migration import empty_url  # noqa: F401
from tests.integration.test_search_migration import _indexes

NEW_INDEXES = {
    ("inbound_message", "ix_inbound_message_connector"),
    ("order_exception", "ix_order_exception_inbound"),
}


def test_0024_adds_the_inbox_indexes_and_goes_back(empty_url: str) -> None:  # noqa: F811
    config = alembic_config(empty_url)
    below = ScriptDirectory.from_config(config).get_revision("0024").down_revision
    assert isinstance(below, str)
    upgrade(empty_url, below)
    assert not _indexes(empty_url) & NEW_INDEXES
    upgrade(empty_url, "0024")
    assert _indexes(empty_url) >= NEW_INDEXES
    command.downgrade(config, below)
    assert not _indexes(empty_url) & NEW_INDEXES
