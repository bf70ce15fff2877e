"""routing rules and warehouse routing attributes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_rule_set",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("effective_from", sa.DateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=True),
        sa.Column("copied_from", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule_set")),
        sa.UniqueConstraint("version", name=op.f("uq_routing_rule_set_version")),
    )
    with op.batch_alter_table("routing_rule_set", schema=None) as batch_op:
        batch_op.create_index(
            "ix_routing_rule_set_active", ["status", "effective_from"], unique=False
        )

    with op.batch_alter_table("fulfilment_order", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fulfilment_order_warehouse_day", ["warehouse_id", "created_at"], unique=False
        )

    with op.batch_alter_table("routing_decision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rule_set_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_routing_decision_rule_set_id_routing_rule_set"),
            "routing_rule_set",
            ["rule_set_id"],
            ["id"],
        )

    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "tags",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.add_column(
            sa.Column(
                "requires",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.add_column(sa.Column("weight_kg", sa.Float(), nullable=True))

    with op.batch_alter_table("warehouse", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "tags",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.add_column(
            sa.Column(
                "channels",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.add_column(sa.Column("daily_order_capacity", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cutoff_local_time", sa.String(length=5), nullable=True))
        batch_op.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC")
        )
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "rate_table",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("warehouse", schema=None) as batch_op:
        batch_op.drop_column("rate_table")
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
        batch_op.drop_column("timezone")
        batch_op.drop_column("cutoff_local_time")
        batch_op.drop_column("daily_order_capacity")
        batch_op.drop_column("channels")
        batch_op.drop_column("tags")

    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.drop_column("weight_kg")
        batch_op.drop_column("requires")
        batch_op.drop_column("tags")

    with op.batch_alter_table("routing_decision", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_routing_decision_rule_set_id_routing_rule_set"), type_="foreignkey"
        )
        batch_op.drop_column("rule_set_id")

    with op.batch_alter_table("fulfilment_order", schema=None) as batch_op:
        batch_op.drop_index("ix_fulfilment_order_warehouse_day")

    with op.batch_alter_table("routing_rule_set", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_rule_set_active")

    op.drop_table("routing_rule_set")
