"""cancellations after release: the cancellation table and fulfilment_line.cancelled_quantity

Revision ID: 0009
Revises: 0008

A cancel of units a warehouse holds is asked of its WMS through the outbox (``wms.cancel``)
and recorded in ``cancellation`` with its outcome; the units the warehouse confirmed it will
not ship are counted on their fulfilment line (``cancelled_quantity``, 0 for existing rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cancellation",
        sa.Column("id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("fulfilment_order_id", ID, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("notify_channel", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("units_cancelled", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fulfilment_order_id"],
            ["fulfilment_order.id"],
            name=op.f("fk_cancellation_fulfilment_order_id_fulfilment_order"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["sales_order.id"], name=op.f("fk_cancellation_order_id_sales_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancellation")),
    )
    op.create_index("ix_cancellation_fulfilment_order", "cancellation", ["fulfilment_order_id"])
    op.create_index("ix_cancellation_order", "cancellation", ["order_id", "status"])
    with op.batch_alter_table("fulfilment_line") as batch:
        batch.add_column(
            sa.Column("cancelled_quantity", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("fulfilment_line") as batch:
        batch.drop_column("cancelled_quantity")
    op.drop_index("ix_cancellation_order", table_name="cancellation")
    op.drop_index("ix_cancellation_fulfilment_order", table_name="cancellation")
    op.drop_table("cancellation")
