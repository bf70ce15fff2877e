"""ERP postings and feeds: what was posted to an ERP and what it answered; when its stock
and item master are read next

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "erp_posting",
        sa.Column("id", Id, nullable=False),
        sa.Column("connector_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("outbox_message_id", Id, nullable=False),
        sa.Column("order_id", Id, nullable=True),
        sa.Column("shipment_id", Id, nullable=True),
        sa.Column("document_reference", sa.String(length=200), nullable=False),
        sa.Column("erp_reference", sa.String(length=200), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"], ["connector.id"], name=op.f("fk_erp_posting_connector_id_connector")
        ),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"],
            ["outbox_message.id"],
            name=op.f("fk_erp_posting_outbox_message_id_outbox_message"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["sales_order.id"], name=op.f("fk_erp_posting_order_id_sales_order")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipment.id"], name=op.f("fk_erp_posting_shipment_id_shipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_posting")),
        sa.UniqueConstraint("outbox_message_id", name=op.f("uq_erp_posting_outbox_message_id")),
    )
    op.create_index("ix_erp_posting_order", "erp_posting", ["order_id", "kind"])
    op.create_index("ix_erp_posting_shipment", "erp_posting", ["shipment_id"])
    op.create_index("ix_erp_posting_reference", "erp_posting", ["connector_id", "erp_reference"])
    op.create_index("ix_erp_posting_document", "erp_posting", ["document_reference"])
    op.create_table(
        "erp_feed",
        sa.Column("connector_id", Id, nullable=False),
        sa.Column("feed", sa.String(length=20), nullable=False),
        sa.Column("next_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_result", JSONType, nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connector.id"],
            name=op.f("fk_erp_feed_connector_id_connector"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connector_id", "feed", name=op.f("pk_erp_feed")),
    )


def downgrade() -> None:
    op.drop_table("erp_feed")
    op.drop_index("ix_erp_posting_document", table_name="erp_posting")
    op.drop_index("ix_erp_posting_reference", table_name="erp_posting")
    op.drop_index("ix_erp_posting_shipment", table_name="erp_posting")
    op.drop_index("ix_erp_posting_order", table_name="erp_posting")
    op.drop_table("erp_posting")
