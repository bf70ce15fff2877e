"""order search by customer, SKU and date; indexes for a year of history

Revision ID: 0019
Revises: 0018

Measured on a million-order database (bench/big_database.py, bench/RESULTS.md):

- ``sales_order.customer_name`` (the canonical order's customer name, else its ship-to
  name) is kept as a column so a name prefix search is an index range scan on both
  databases; existing orders get it from their canonical JSON here.
- Customer search: ``lower(customer_email)`` and ``lower(customer_name)`` (with
  ``text_pattern_ops`` on PostgreSQL, whose collation is not C, so ``LIKE 'prefix%'`` can use
  it), each followed by ``id`` for the newest-first keyset page.
- SKU search: ``order_line (sku, order_id)``.
- Date range: ``sales_order (created_at, id)``.
- The order lists per status page by id: ``sales_order (status, id)``.
- The dashboard counts open orders over all time and closed ones over a recent window of
  ``updated_at``: ``sales_order (status, updated_at, channel)`` answers it from the index
  alone; it replaces ``(status, updated_at)``, whose readers it serves as well.
- The exception queue filtered by code: ``order_exception (status, reason, id)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLAIN = (
    ("ix_order_line_sku", "order_line", ["sku", "order_id"]),
    ("ix_sales_order_created", "sales_order", ["created_at", "id"]),
    ("ix_sales_order_status_id", "sales_order", ["status", "id"]),
    ("ix_sales_order_status_window", "sales_order", ["status", "updated_at", "channel"]),
    ("ix_order_exception_status_reason", "order_exception", ["status", "reason", "id"]),
)


def _backfill_names() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE sales_order SET customer_name = left(coalesce("
            "canonical->'customer'->>'name', ship_to->>'name'), 200)"
        )
    else:
        op.execute(
            "UPDATE sales_order SET customer_name = substr(coalesce("
            "json_extract(canonical, '$.customer.name'), json_extract(ship_to, '$.name')), 1, 200)"
        )


def upgrade() -> None:
    op.add_column("sales_order", sa.Column("customer_name", sa.String(200), nullable=True))
    _backfill_names()
    pg = op.get_bind().dialect.name == "postgresql"
    ops = " text_pattern_ops" if pg else ""
    for column in ("email", "name"):
        op.execute(
            f"CREATE INDEX ix_sales_order_customer_{column} "
            f"ON sales_order (lower(customer_{column}){ops}, id)"
        )
    for name, table, columns in PLAIN:
        op.create_index(name, table, columns)
    op.drop_index("ix_sales_order_status", table_name="sales_order")


def downgrade() -> None:
    op.create_index("ix_sales_order_status", "sales_order", ["status", "updated_at"])
    for name, table, _ in reversed(PLAIN):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_sales_order_customer_name", table_name="sales_order")
    op.drop_index("ix_sales_order_customer_email", table_name="sales_order")
    # Not batch mode: on SQLite that copies sales_order and drops it, which its foreign keys
    # refuse once other rows point at orders; SQLite 3.35+ drops a column in place.
    op.execute("ALTER TABLE sales_order DROP COLUMN customer_name")
