"""API tokens with an owner, scopes, expiry and last use; audit rows with their token, client
IP and before/after; indexes for the audit API's filters

Revision ID: 0012
Revises: 0011

Existing tokens keep working unchanged: no owner, no scope (every connector and warehouse),
no expiry. Existing audit rows have no token, IP or before/after.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

COLUMN = tuple[str, sa.types.TypeEngine[Any]]
TOKEN_COLUMNS: tuple[COLUMN, ...] = (
    ("owner", sa.String(length=200)),
    ("created_by", sa.String(length=200)),
    ("expires_at", sa.DateTime()),
    ("last_used_at", sa.DateTime()),
    ("connector_ids", JSON_TYPE),
    ("warehouse_ids", JSON_TYPE),
)
AUDIT_COLUMNS: tuple[COLUMN, ...] = (
    ("token_id", ID_TYPE),
    ("client_ip", sa.String(length=45)),
    ("before", JSON_TYPE),
    ("after", JSON_TYPE),
)
INDEXES = (
    ("ix_audit_log_entity", ["entity", "entity_id", "id"]),
    ("ix_audit_log_actor", ["actor", "id"]),
    ("ix_audit_log_created", ["created_at"]),
)


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        for name, type_ in TOKEN_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        for name, type_ in AUDIT_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    for name, columns in INDEXES:
        op.create_index(name, "audit_log", columns)


def downgrade() -> None:
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="audit_log")
    # Plain DROP COLUMN (SQLite 3.35 and later), as 0010 does: no table copy.
    for name, _ in reversed(AUDIT_COLUMNS):
        op.drop_column("audit_log", name)
    for name, _ in reversed(TOKEN_COLUMNS):
        op.drop_column("api_token", name)
