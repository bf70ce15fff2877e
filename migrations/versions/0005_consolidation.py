"""consolidation groups: orders of one customer and address held to leave together

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_ONLY = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "consolidation",
        sa.Column("id", ID, nullable=False),
        sa.Column("merge_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("hold_until", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consolidation")),
    )
    op.create_index("ix_consolidation_merge_key", "consolidation", ["merge_key"])
    op.create_index("ix_consolidation_due", "consolidation", ["status", "hold_until"])
    # One open group per key: two workers holding orders of one customer at once cannot
    # both open one (the loser's insert does nothing and it joins the winner's group).
    op.create_index(
        "uq_consolidation_open_key",
        "consolidation",
        ["merge_key"],
        unique=True,
        sqlite_where=OPEN_ONLY,
        postgresql_where=OPEN_ONLY,
    )
    # A consolidated fulfilment order names only its oldest order: the fulfilment orders of
    # an order are found through their lines.
    op.create_index("ix_fulfilment_line_order_line", "fulfilment_line", ["order_line_id"])
    for table in ("sales_order", "fulfilment_order"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("consolidation_id", ID, nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_consolidation_id_consolidation"),
                "consolidation",
                ["consolidation_id"],
                ["id"],
            )
            batch_op.create_index(f"ix_{table}_consolidation", ["consolidation_id"])


def downgrade() -> None:
    for table in ("fulfilment_order", "sales_order"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_consolidation")
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_consolidation_id_consolidation"), type_="foreignkey"
            )
            batch_op.drop_column("consolidation_id")
    op.drop_index("ix_fulfilment_line_order_line", table_name="fulfilment_line")
    op.drop_index("uq_consolidation_open_key", table_name="consolidation")
    op.drop_index("ix_consolidation_due", table_name="consolidation")
    op.drop_index("ix_consolidation_merge_key", table_name="consolidation")
    op.drop_table("consolidation")
