"""Console users, their sessions and failed sign-ins; who closed an exception by hand and why;
orders found by their channel number

Revision ID: 0013
Revises: 0012

Nothing existing changes meaning: exceptions closed before this have no closer or note.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("id", ID_TYPE, primary_key=True),
        sa.Column("username", sa.String(length=100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("connector_ids", JSON_TYPE, nullable=True),
        sa.Column("warehouse_ids", JSON_TYPE, nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "console_session",
        sa.Column("id", ID_TYPE, primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("user_id", ID_TYPE, sa.ForeignKey("console_user.id"), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_console_session_user", "console_session", ["user_id"])
    op.create_table(
        "console_login_failure",
        sa.Column("id", ID_TYPE, primary_key=True),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_console_login_failure_user", "console_login_failure", ["username", "created_at"]
    )
    op.create_index(
        "ix_console_login_failure_ip", "console_login_failure", ["client_ip", "created_at"]
    )
    with op.batch_alter_table("order_exception") as batch:
        batch.add_column(sa.Column("closed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("close_note", sa.Text(), nullable=True))
    op.create_index("ix_sales_order_number", "sales_order", ["external_number"])


def downgrade() -> None:
    op.drop_index("ix_sales_order_number", table_name="sales_order")
    op.drop_column("order_exception", "close_note")
    op.drop_column("order_exception", "closed_by")
    op.drop_index("ix_console_login_failure_ip", table_name="console_login_failure")
    op.drop_index("ix_console_login_failure_user", table_name="console_login_failure")
    op.drop_table("console_login_failure")
    op.drop_index("ix_console_session_user", table_name="console_session")
    op.drop_table("console_session")
    op.drop_table("console_user")
