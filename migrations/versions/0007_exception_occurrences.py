"""one exception per subject and reason: subject, occurrences, first/last seen, last retry

Revision ID: 0007
Revises: 0006

A recurring problem is counted on its subject's exception instead of opening another row
(core/exceptions/opening.py). Existing rows are backfilled: seen once, first and last at
their ``created_at``; their subject from the row they point at (the outbox row, else the
order, else the inbox row), and for ``invalid_payload`` the connector and SHA-256 of the
inbox row's body, computed here as ``opening.payload_subject`` does. Rows opened before
for the same subject stay as they are (their history is kept; a new occurrence counts on
the open one, else on the newest retried one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("order_exception") as batch:
        batch.add_column(sa.Column("subject", sa.String(100), nullable=True))
        batch.add_column(sa.Column("occurrences", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("first_seen_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_retried_at", sa.DateTime(), nullable=True))
    _backfill()
    with op.batch_alter_table("order_exception") as batch:
        batch.alter_column("occurrences", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("first_seen_at", existing_type=sa.DateTime(), nullable=False)
        batch.alter_column("last_seen_at", existing_type=sa.DateTime(), nullable=False)
    op.create_index("ix_order_exception_subject", "order_exception", ["subject", "reason"])


def downgrade() -> None:
    op.drop_index("ix_order_exception_subject", table_name="order_exception")
    with op.batch_alter_table("order_exception") as batch:
        for column in ("last_retried_at", "last_seen_at", "first_seen_at", "occurrences"):
            batch.drop_column(column)
        batch.drop_column("subject")


def _backfill() -> None:
    exc = sa.table(
        "order_exception",
        sa.column("id", sa.BigInteger()),
        sa.column("reason", sa.String()),
        sa.column("order_id", sa.BigInteger()),
        sa.column("inbound_message_id", sa.BigInteger()),
        sa.column("outbox_message_id", sa.BigInteger()),
        sa.column("subject", sa.String()),
        sa.column("occurrences", sa.Integer()),
        sa.column("first_seen_at", sa.DateTime()),
        sa.column("last_seen_at", sa.DateTime()),
        sa.column("created_at", sa.DateTime()),
    )
    inbox = sa.table(
        "inbound_message",
        sa.column("id", sa.BigInteger()),
        sa.column("connector_id", sa.BigInteger()),
        sa.column("body", sa.LargeBinary()),
    )

    def key(prefix: str, column: sa.ColumnClause[sa.BigInteger]) -> sa.ColumnElement[str]:
        return sa.literal(prefix) + sa.cast(column, sa.String())

    conn = op.get_bind()
    conn.execute(
        exc.update().values(
            occurrences=1,
            first_seen_at=exc.c.created_at,
            last_seen_at=exc.c.created_at,
            subject=sa.case(
                (exc.c.outbox_message_id.is_not(None), key("outbox:", exc.c.outbox_message_id)),
                (exc.c.order_id.is_not(None), key("order:", exc.c.order_id)),
                (exc.c.inbound_message_id.is_not(None), key("inbound:", exc.c.inbound_message_id)),
                else_=sa.null(),
            ),
        )
    )
    # A bad payload's subject is what was delivered; SQLite has no SHA-256, so in Python.
    payloads = (
        sa.select(exc.c.id, inbox.c.connector_id, inbox.c.body)
        .join(inbox, inbox.c.id == exc.c.inbound_message_id)
        .where(exc.c.reason == "invalid_payload", exc.c.outbox_message_id.is_(None))
        .order_by(exc.c.id)
    )
    set_subject = (
        exc.update().where(exc.c.id == sa.bindparam("row_id")).values(subject=sa.bindparam("s"))
    )
    after = 0
    while True:
        rows = conn.execute(payloads.where(exc.c.id > after).limit(BATCH)).all()
        if not rows:
            break
        conn.execute(
            set_subject,
            [
                {"row_id": row_id, "s": f"payload:{cid}:{hashlib.sha256(body).hexdigest()}"}
                for row_id, cid, body in rows
            ],
        )
        after = rows[-1][0]
