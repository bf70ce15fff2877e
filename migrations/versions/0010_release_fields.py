"""what the warehouse needs of an order: its note, gift message and attributes, and each
line's properties and gift message, as columns read with every release

Revision ID: 0010
Revises: 0009

A WMS release is one joined read, a row per line (core/fulfilment/release.py). Picking
these out of the order's canonical JSON there would parse the whole document once per
line (quadratic in the lines), so each order version writes them to columns instead
(core/intake/processing.py). Orders that may still be released (not yet released,
shipped or cancelled) are filled in from their canonical JSON here; the others keep NULL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")
BATCH = 500
NOT_RELEASED = ("received", "validated", "exception", "on_hold", "backordered", "routed")


def upgrade() -> None:
    with op.batch_alter_table("sales_order") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("gift_message", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attributes", JSON_TYPE, nullable=True))
    with op.batch_alter_table("order_line") as batch:
        batch.add_column(sa.Column("properties", JSON_TYPE, nullable=True))
        batch.add_column(sa.Column("gift_message", sa.Text(), nullable=True))
    _backfill()


def downgrade() -> None:
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): batch mode would copy
    # and drop both tables, which rows of other tables reference (a foreign key failure).
    for table, column in (
        ("order_line", "gift_message"),
        ("order_line", "properties"),
        ("sales_order", "attributes"),
        ("sales_order", "gift_message"),
        ("sales_order", "note"),
    ):
        op.drop_column(table, column)


def _backfill() -> None:
    orders = sa.table(
        "sales_order",
        sa.column("id", sa.BigInteger()),
        sa.column("status", sa.String()),
        sa.column("canonical", JSON_TYPE),
        sa.column("note", sa.Text()),
        sa.column("gift_message", sa.Text()),
        sa.column("attributes", JSON_TYPE),
    )
    lines = sa.table(
        "order_line",
        sa.column("order_id", sa.BigInteger()),
        sa.column("line_no", sa.Integer()),
        sa.column("properties", JSON_TYPE),
        sa.column("gift_message", sa.Text()),
    )
    read = (
        sa.select(orders.c.id, orders.c.canonical)
        .where(orders.c.status.in_(NOT_RELEASED))
        .order_by(orders.c.id)
    )
    set_order = (
        orders.update()
        .where(orders.c.id == sa.bindparam("row_id"))
        .values(
            note=sa.bindparam("n"), gift_message=sa.bindparam("g"), attributes=sa.bindparam("a")
        )
    )
    set_line = (
        lines.update()
        .where(lines.c.order_id == sa.bindparam("row_id"), lines.c.line_no == sa.bindparam("no"))
        .values(properties=sa.bindparam("p"), gift_message=sa.bindparam("g"))
    )
    conn = op.get_bind()
    after = 0
    while True:
        rows = conn.execute(read.where(orders.c.id > after).limit(BATCH)).all()
        if not rows:
            break
        order_values, line_values = [], []
        for row_id, canonical in rows:
            doc = _document(canonical)
            order_values.append(
                {
                    "row_id": row_id,
                    "n": doc.get("note"),
                    "g": doc.get("gift_message"),
                    "a": doc.get("attributes") or None,
                }
            )
            for no, line in enumerate(doc.get("lines") or [], start=1):
                if isinstance(line, dict) and (line.get("properties") or line.get("gift_message")):
                    line_values.append(
                        {
                            "row_id": row_id,
                            "no": no,
                            "p": line.get("properties") or None,
                            "g": line.get("gift_message"),
                        }
                    )
        conn.execute(set_order, order_values)
        if line_values:
            conn.execute(set_line, line_values)
        after = rows[-1][0]


def _document(canonical: Any) -> dict[str, Any]:
    if isinstance(canonical, str):  # a driver that hands JSON back as text
        canonical = json.loads(canonical)
    return canonical if isinstance(canonical, dict) else {}
