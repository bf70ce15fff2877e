"""Correlation ids on the rows that carry work

Revision ID: 0017
Revises: 0016

The id that follows one order through the logs, from its webhook (the caller's X-Request-ID,
X-Correlation-ID or traceparent, else a new one) through the inbox row, the task, routing
and the outbox row, to the warehouse (sent as X-Correlation-ID). Kept on the rows so it
survives the queue; rows from before this revision have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("inbound_message", "outbox_message")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("correlation_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): batch mode would copy the
    # table and drop it, which foreign keys pointing at inbound_message refuse.
    for table in TABLES:
        op.drop_column(table, "correlation_id")
