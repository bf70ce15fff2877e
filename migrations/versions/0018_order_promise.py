"""the promise the router made for an order, and the end of a hold after a missed cut-off

Revision ID: 0018
Revises: 0017

``promised_ship_by`` is the local date by which the order's warehouses ship it and
``promised_service_level`` the level it was routed as (lower than ordered after a
downgrade), both from the latest routing decision with a plan. ``hold_until`` is when an
order held after a missed cut-off (hold code ``cutoff_missed``) is routed again by the
sweeper; indexed for that look-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales_order") as batch:
        batch.add_column(sa.Column("promised_ship_by", sa.Date(), nullable=True))
        batch.add_column(sa.Column("promised_service_level", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("hold_until", sa.DateTime(), nullable=True))
    op.create_index("ix_sales_order_hold_until", "sales_order", ["hold_until"])


def downgrade() -> None:
    op.drop_index("ix_sales_order_hold_until", table_name="sales_order")
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), as in 0010.
    for column in ("hold_until", "promised_service_level", "promised_ship_by"):
        op.drop_column("sales_order", column)
