"""returns: the channel's id of a return, and the return parcel's tracking

Revision ID: 0026
Revises: 0025

- ``return_authorisation.external_id``: the channel's own id of the return (a Shopify
  ``gid://shopify/Return/...``), set when the channel asked for it or once omniroute created
  it there; UNIQUE with the connector, so a channel's return is one RMA however often its
  webhooks come.
- ``return_authorisation.tracking_number`` / ``carrier``: the return parcel, recorded when the
  return is marked in transit.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("return_authorisation") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("tracking_number", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("carrier", sa.String(length=50), nullable=True))
        batch.create_unique_constraint(
            "uq_return_authorisation_external", ["connector_id", "external_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("return_authorisation") as batch:
        batch.drop_constraint("uq_return_authorisation_external", type_="unique")
        batch.drop_column("carrier")
        batch.drop_column("tracking_number")
        batch.drop_column("external_id")
