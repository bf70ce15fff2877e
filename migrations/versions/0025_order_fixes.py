"""a person's fixes of an order (address, quantities)

Revision ID: 0025
Revises: 0024

- ``sales_order.fixes``: what the channel sent and what a person saved instead
  (core/orders/fixes); a replay of the same channel values keeps the fixes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sales_order",
        sa.Column("fixes", sa.JSON().with_variant(JSONB(), "postgresql")),
    )


def downgrade() -> None:
    op.drop_column("sales_order", "fixes")
