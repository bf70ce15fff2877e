"""release policy per connector, and why an order is held

Revision ID: 0008
Revises: 0007

``connector.release_policy`` (JSON, null: the defaults of core/intake/release_policy) says
which of a channel's orders may go to a warehouse; ``sales_order.hold_code`` and
``hold_reason`` say why one is held, and ``holds_waived`` which holds a person released it
from. Existing rows keep null: defaults, nothing held, nothing waived.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


# Nullable columns without defaults: a plain ADD COLUMN on both databases. (A batch
# operation would copy sales_order on SQLite, which its foreign keys refuse.)
def upgrade() -> None:
    op.add_column("connector", sa.Column("release_policy", JSON, nullable=True))
    op.add_column("sales_order", sa.Column("hold_code", sa.String(40), nullable=True))
    op.add_column("sales_order", sa.Column("hold_reason", sa.String(500), nullable=True))
    op.add_column("sales_order", sa.Column("holds_waived", JSON, nullable=True))


def downgrade() -> None:
    for column in ("holds_waived", "hold_reason", "hold_code"):
        op.drop_column("sales_order", column)
    op.drop_column("connector", "release_policy")
