"""returns: return authorisations (RMAs), their lines and the warehouse's receipts

Revision ID: 0020
Revises: 0019

``return_authorisation`` is one RMA of one order to one warehouse (unique ``rma_number``);
``return_line`` the units of an order line expected back and what came of those received
(restocked or written off, never more than expected); ``return_receipt`` a warehouse's
confirmation, unique per RMA and the warehouse's own reference (a repeat is a no-op).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "return_authorisation",
        sa.Column("id", ID, nullable=False),
        sa.Column("rma_number", sa.String(length=40), nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("connector_id", ID, nullable=False),
        sa.Column("warehouse_id", ID, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _fk("return_authorisation", "order_id", "sales_order"),
        _fk("return_authorisation", "connector_id", "connector"),
        _fk("return_authorisation", "warehouse_id", "warehouse"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_authorisation")),
        sa.UniqueConstraint("rma_number", name=op.f("uq_return_authorisation_rma_number")),
    )
    op.create_index("ix_return_authorisation_order", "return_authorisation", ["order_id"])
    op.create_index("ix_return_authorisation_status", "return_authorisation", ["status", "id"])
    op.create_table(
        "return_line",
        sa.Column("id", ID, nullable=False),
        sa.Column("return_id", ID, nullable=False),
        sa.Column("order_line_id", ID, nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("restocked_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("written_off_quantity", sa.Integer(), server_default="0", nullable=False),
        _fk("return_line", "return_id", "return_authorisation"),
        _fk("return_line", "order_line_id", "order_line"),
        sa.CheckConstraint(
            "restocked_quantity + written_off_quantity <= quantity",
            name=op.f("ck_return_line_received_at_most"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_line")),
    )
    op.create_index("ix_return_line_return", "return_line", ["return_id"])
    op.create_index("ix_return_line_order_line", "return_line", ["order_line_id"])
    op.create_table(
        "return_receipt",
        sa.Column("id", ID, nullable=False),
        sa.Column("return_id", ID, nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("return_receipt", "return_id", "return_authorisation"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_receipt")),
        sa.UniqueConstraint("return_id", "external_ref", name="uq_return_receipt_external"),
    )


def downgrade() -> None:
    op.drop_table("return_receipt")
    op.drop_index("ix_return_line_order_line", table_name="return_line")
    op.drop_index("ix_return_line_return", table_name="return_line")
    op.drop_table("return_line")
    op.drop_index("ix_return_authorisation_status", table_name="return_authorisation")
    op.drop_index("ix_return_authorisation_order", table_name="return_authorisation")
    op.drop_table("return_authorisation")
