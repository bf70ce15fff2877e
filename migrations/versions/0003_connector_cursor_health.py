"""connector poll cursors, connector health, shipments, channel listings

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "connector_cursor",
        sa.Column("connector_id", ID, nullable=False),
        sa.Column("updated_after", sa.DateTime(), nullable=True),
        sa.Column("run_after", sa.DateTime(), nullable=True),
        sa.Column("page_token", sa.Text(), nullable=True),
        sa.Column("run_high_water", sa.DateTime(), nullable=True),
        sa.Column("run_started_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_orders", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connector.id"],
            name=op.f("fk_connector_cursor_connector_id_connector"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connector_id", name=op.f("pk_connector_cursor")),
    )
    op.create_table(
        "connector_health",
        sa.Column("connector_id", ID, nullable=False),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("rate_limit_wait_seconds", sa.Float(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connector.id"],
            name=op.f("fk_connector_health_connector_id_connector"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connector_id", name=op.f("pk_connector_health")),
    )

    with op.batch_alter_table("fulfilment_line", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shipped_quantity", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "shipment",
        sa.Column("id", ID, nullable=False),
        sa.Column("fulfilment_order_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("tracking_number", sa.String(length=200), nullable=True),
        sa.Column("tracking_url", sa.String(length=1000), nullable=True),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("shipped_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fulfilment_order_id"],
            ["fulfilment_order.id"],
            name=op.f("fk_shipment_fulfilment_order_id_fulfilment_order"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["sales_order.id"], name=op.f("fk_shipment_order_id_sales_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment")),
        sa.UniqueConstraint("fulfilment_order_id", "external_ref", name="uq_shipment_external"),
    )
    with op.batch_alter_table("shipment", schema=None) as batch_op:
        batch_op.create_index("ix_shipment_order", ["order_id"], unique=False)
    op.create_table(
        "channel_listing",
        sa.Column("id", ID, nullable=False),
        sa.Column("connector_id", ID, nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("channel_ref", sa.String(length=200), nullable=False),
        sa.Column("buffer", sa.Integer(), nullable=False),
        sa.Column("pushed_available", sa.Integer(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("buffer >= 0", name=op.f("ck_channel_listing_buffer_non_negative")),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connector.id"],
            name=op.f("fk_channel_listing_connector_id_connector"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku"], ["sku.code"], name=op.f("fk_channel_listing_sku_sku")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_listing")),
        sa.UniqueConstraint("connector_id", "sku", name="uq_channel_listing_sku"),
    )
    op.create_table(
        "sync_cursor",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_cursor")),
    )


def downgrade() -> None:
    op.drop_table("sync_cursor")
    op.drop_table("channel_listing")
    with op.batch_alter_table("shipment", schema=None) as batch_op:
        batch_op.drop_index("ix_shipment_order")
    op.drop_table("shipment")
    with op.batch_alter_table("fulfilment_line", schema=None) as batch_op:
        batch_op.drop_column("shipped_quantity")
    op.drop_table("connector_health")
    op.drop_table("connector_cursor")
