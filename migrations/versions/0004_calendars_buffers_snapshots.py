"""warehouse calendars and channel buffers, decision-time stock snapshots

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("warehouse", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calendar", JSON, nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("channel_buffers", JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("routing_decision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stock_snapshot", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_decision", schema=None) as batch_op:
        batch_op.drop_column("stock_snapshot")
    with op.batch_alter_table("warehouse", schema=None) as batch_op:
        batch_op.drop_column("channel_buffers")
        batch_op.drop_column("calendar")
