"""Routing rule-set versions can be withdrawn: when, by whom and why

Revision ID: 0016
Revises: 0015

A withdrawn version never routes an order from ``withdrawn_at`` on: a scheduled one never
takes effect, an active one hands over to the version in force before it (or the default).
Existing versions are not withdrawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("withdrawn_at", sa.DateTime()),
    ("withdrawn_by", sa.String(length=200)),
    ("withdraw_reason", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("routing_rule_set") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): batch mode would copy the
    # table and drop it, which foreign keys pointing at it refuse.
    for name, _ in reversed(COLUMNS):
        op.drop_column("routing_rule_set", name)
