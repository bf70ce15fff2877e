"""stock thresholds, stock alerts and replenishment suggestions

Revision ID: 0023
Revises: 0022

- ``stock_threshold``: per warehouse and SKU, min/max in units or days of cover, lead
  time, review period, pack size, MOQ, and the last forecast's daily rate.
- ``stock_alert``: a crossing of a threshold, open until available is back; a partial
  unique index keeps one open alert per (warehouse, SKU, kind).
- ``replenishment_suggestion``: the purchase and transfer lines of a replenishment run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stock_threshold",
        sa.Column("id", ID, primary_key=True),
        sa.Column("warehouse_id", ID, sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("sku", sa.String(128), sa.ForeignKey("sku.code"), nullable=False),
        sa.Column("min_units", sa.Integer()),
        sa.Column("max_units", sa.Integer()),
        sa.Column("min_days", sa.Float()),
        sa.Column("max_days", sa.Float()),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("review_period_days", sa.Integer(), nullable=False),
        sa.Column("pack_size", sa.Integer(), nullable=False),
        sa.Column("moq", sa.Integer(), nullable=False),
        sa.Column("forecast_daily", sa.Float()),
        sa.Column("forecast_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("warehouse_id", "sku", name="uq_stock_threshold_key"),
    )
    op.create_index("ix_stock_threshold_sku", "stock_threshold", ["sku"])
    op.create_table(
        "stock_alert",
        sa.Column("id", ID, primary_key=True),
        sa.Column("warehouse_id", ID, sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("cleared_at", sa.DateTime()),
        sa.Column("cleared_available", sa.Integer()),
    )
    op.create_index(
        "uq_stock_alert_open",
        "stock_alert",
        ["warehouse_id", "sku", "kind"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_stock_alert_status", "stock_alert", ["status", "id"])
    op.create_table(
        "replenishment_suggestion",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("warehouse_id", ID, sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("from_warehouse_id", ID, sa.ForeignKey("warehouse.id")),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("need", sa.Integer(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("min_units", sa.Integer(), nullable=False),
        sa.Column("max_units", sa.Integer(), nullable=False),
        sa.Column("forecast_daily", sa.Float(), nullable=False),
        sa.Column("horizon_demand", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_replenishment_suggestion_status", "replenishment_suggestion", ["status", "id"]
    )
    op.create_index("ix_replenishment_suggestion_run", "replenishment_suggestion", ["run_id"])


def downgrade() -> None:
    op.drop_table("replenishment_suggestion")
    op.drop_table("stock_alert")
    op.drop_table("stock_threshold")
