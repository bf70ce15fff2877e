"""Per-partner control number sequences for EDI documents we send

Revision ID: 0014
Revises: 0013

One row per (connector, scope) holding the last number issued: an X12 partner has the
scopes ``interchange`` (ISA13) and ``group`` (GS06), an EDIFACT partner ``interchange``
(UNB05). Numbers are taken with one UPDATE ... RETURNING in the transaction that writes the
document's outbox row, so they are never reused and strictly increase.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "edi_control_number",
        sa.Column(
            "connector_id",
            ID_TYPE,
            sa.ForeignKey("connector.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("scope", sa.String(length=40), primary_key=True),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("last_value >= 0", name="ck_edi_control_number_non_negative"),
    )


def downgrade() -> None:
    op.drop_table("edi_control_number")
