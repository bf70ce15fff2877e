"""indexes for the console's connector page: a connector's inbox newest first, and the
open exception of each inbox message

Revision ID: 0024
Revises: 0023

- ``inbound_message (connector_id, id)``: the connector page lists its raw inbox newest
  first in keyset pages; without it a connector's messages are all read and sorted (the
  dedupe constraint's index leads with ``connector_id`` but is ordered by ``dedupe_key``).
- ``order_exception (inbound_message_id)``: the exception a failed inbox message is replayed
  through, looked up for the page's messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_inbound_message_connector", "inbound_message", ["connector_id", "id"]),
    ("ix_order_exception_inbound", "order_exception", ["inbound_message_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
