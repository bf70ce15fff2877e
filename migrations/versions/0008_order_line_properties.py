"""order lines keep what the buyer chose and their gift message, for the WMS release

Revision ID: 0008
Revises: 0007

A line's properties (a grind, an engraving, a modifier: canonical ``lines[].properties``)
and its gift message (Amazon's per item) are read with every release of the line, in the
one joined read of the release (core/fulfilment/release.py), so they are columns of
``order_line`` rather than picked out of the order's canonical JSON per line. Lines written
before this revision have neither (NULL: released without properties).
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

JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("order_line") as batch:
        batch.add_column(sa.Column("properties", JSON_TYPE, nullable=True))
        batch.add_column(sa.Column("gift_message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_line") as batch:
        batch.drop_column("gift_message")
        batch.drop_column("properties")
