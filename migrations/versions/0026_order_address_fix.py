"""a person's fix of an order's shipping address

Revision ID: 0026
Revises: 0023

- ``sales_order.address_fix``: the ship-to the channel sent and the one a person saved
  instead (core/orders/address_fix.py); a replay of the same channel address keeps the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0026"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sales_order",
        sa.Column("address_fix", sa.JSON().with_variant(JSONB(), "postgresql")),
    )


def downgrade() -> None:
    op.drop_column("sales_order", "address_fix")
