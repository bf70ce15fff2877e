"""Exceptions can be assigned to a person and snoozed until a time

Revision ID: 0015
Revises: 0014

The queue hides a snoozed exception until its time comes (its SLA keeps running) and
filters by assignee; the index serves "open, assigned to X, oldest first".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_exception") as batch:
        batch.add_column(sa.Column("assignee", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("assigned_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("snoozed_until", sa.DateTime(), nullable=True))
    op.create_index("ix_order_exception_assignee", "order_exception", ["status", "assignee", "id"])


def downgrade() -> None:
    op.drop_index("ix_order_exception_assignee", table_name="order_exception")
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): batch mode would copy the
    # table and drop it, which foreign keys pointing at it refuse.
    for column in ("snoozed_until", "assigned_at", "assignee"):
        op.drop_column("order_exception", column)
