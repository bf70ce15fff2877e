"""carrier bookings (rate shopping's choice, label, tracking number, freight cost) and the
deliver-by promise of an order

Revision ID: 0021
Revises: 0020

``carrier_booking``: one row per fulfilment order booked with a carrier (unique), with the
carrier, service, tracking number, label reference, freight cost as a decimal string and
its currency, the delivery date promised, and the choice's trace (every quote and why each
loser lost). Indexed by booking time for the freight report. ``sales_order`` gets
``promised_deliver_by`` (the latest delivery date of its bookings) and ``late_risk_at``
(when its ``late_risk`` exception was opened: once per order); indexed for the sweeper.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "carrier_booking",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "fulfilment_order_id",
            ID,
            sa.ForeignKey("fulfilment_order.id"),
            nullable=False,
        ),
        sa.Column(
            "order_id",
            ID,
            sa.ForeignKey("sales_order.id"),
            nullable=False,
        ),
        sa.Column(
            "warehouse_id",
            ID,
            sa.ForeignKey("warehouse.id"),
            nullable=False,
        ),
        sa.Column(
            "connector_id",
            ID,
            sa.ForeignKey("connector.id"),
            nullable=False,
        ),
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("service_level", sa.String(length=20), nullable=False),
        sa.Column("tracking_number", sa.String(length=200), nullable=False),
        sa.Column("label_ref", sa.String(length=1000), nullable=True),
        sa.Column("amount", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("transit_days", sa.Integer(), nullable=False),
        sa.Column("deliver_by", sa.Date(), nullable=False),
        sa.Column("choice", JSON, nullable=False),
        sa.Column("booked_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("fulfilment_order_id", name="uq_carrier_booking_fulfilment_order"),
    )
    op.create_index("ix_carrier_booking_booked_at", "carrier_booking", ["booked_at"])
    op.create_index("ix_carrier_booking_order", "carrier_booking", ["order_id"])
    with op.batch_alter_table("sales_order") as batch:
        batch.add_column(sa.Column("promised_deliver_by", sa.Date(), nullable=True))
        batch.add_column(sa.Column("late_risk_at", sa.DateTime(), nullable=True))
    op.create_index("ix_sales_order_deliver_by", "sales_order", ["promised_deliver_by"])


def downgrade() -> None:
    op.drop_index("ix_sales_order_deliver_by", table_name="sales_order")
    for column in ("late_risk_at", "promised_deliver_by"):
        op.drop_column("sales_order", column)
    op.drop_index("ix_carrier_booking_order", table_name="carrier_booking")
    op.drop_index("ix_carrier_booking_booked_at", table_name="carrier_booking")
    op.drop_table("carrier_booking")
