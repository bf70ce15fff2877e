"""carrier tracking: the tracking_event table and a shipment's tracking status columns

Revision ID: 0011
Revises: 0010

Carrier webhooks (EasyPost, AfterShip, the generic webhook) come through the inbox; each
checkpoint is a ``tracking_event`` row, unique by its key (a redelivered history is not
stored twice), kept with no shipment while none has its tracking number. A shipment gets
its canonical status, when that status happened, when it was delivered and its newest
event's time, and ``tracking_key``: the tracking number as it is matched (no whitespace,
upper case), filled in here for existing shipments.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("shipment", sa.Column("tracking_key", sa.String(length=200), nullable=True))
    op.add_column(
        "shipment",
        sa.Column("status", sa.String(length=32), server_default="unknown", nullable=False),
    )
    op.add_column("shipment", sa.Column("status_at", sa.DateTime(), nullable=True))
    op.add_column("shipment", sa.Column("delivered_at", sa.DateTime(), nullable=True))
    op.add_column("shipment", sa.Column("last_event_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE shipment SET tracking_key = UPPER(REPLACE(REPLACE(REPLACE(REPLACE("
        "tracking_number, ' ', ''), CHR(9), ''), CHR(10), ''), CHR(13), '')) "
        "WHERE tracking_number IS NOT NULL"
        if op.get_bind().dialect.name == "postgresql"
        else "UPDATE shipment SET tracking_key = UPPER(REPLACE(REPLACE(REPLACE(REPLACE("
        "tracking_number, ' ', ''), CHAR(9), ''), CHAR(10), ''), CHAR(13), '')) "
        "WHERE tracking_number IS NOT NULL"
    )
    op.create_index("ix_shipment_tracking_key", "shipment", ["tracking_key"])
    op.create_table(
        "tracking_event",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("shipment_id", ID, nullable=True),
        sa.Column("connector_id", ID, nullable=False),
        sa.Column("inbound_message_id", ID, nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("tracking_number", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("raw_status", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("unmatched_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipment.id"], name=op.f("fk_tracking_event_shipment_id_shipment")
        ),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connector.id"],
            name=op.f("fk_tracking_event_connector_id_connector"),
        ),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_message.id"],
            name=op.f("fk_tracking_event_inbound_message_id_inbound_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_event")),
        sa.UniqueConstraint("event_key", name=op.f("uq_tracking_event_key")),
    )
    op.create_index("ix_tracking_event_shipment", "tracking_event", ["shipment_id", "occurred_at"])
    op.create_index("ix_tracking_event_number", "tracking_event", ["tracking_number"])


def downgrade() -> None:
    op.drop_index("ix_tracking_event_number", table_name="tracking_event")
    op.drop_index("ix_tracking_event_shipment", table_name="tracking_event")
    op.drop_table("tracking_event")
    op.drop_index("ix_shipment_tracking_key", table_name="shipment")
    for column in ("last_event_at", "delivered_at", "status_at", "status", "tracking_key"):
        op.drop_column("shipment", column)
