"""Live connector instances for connector rows, decrypting secrets only when rebuilt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from omniroute.core.bootstrap import Context
from omniroute.core.platform.models import Connector

# How long the webhook path trusts a connector row it has read. An update through the admin
# API forgets it at once in this process; other API processes see it within this time.
ROW_TTL_SECONDS = 2.0


def instance_for(ctx: Context, row: Connector) -> Any:
    return ctx.connectors.get(
        row.id,
        row.kind,
        row.updated_at,
        row.config,
        lambda: ctx.secret_box.open(row.secrets_encrypted),
    )


@dataclass(frozen=True)
class WebhookTarget:
    kind: str
    enabled: bool
    source: Any


_TARGET_COLUMNS = select(
    Connector.kind,
    Connector.enabled,
    Connector.updated_at,
    Connector.config,
    Connector.secrets_encrypted,
)


def webhook_target(ctx: Context, connector_id: int) -> WebhookTarget | None:
    """The connector a webhook is for, from a short-lived cache; None if there is no such row."""

    def load() -> WebhookTarget | None:
        with ctx.engine.connect() as conn:
            row = conn.execute(_TARGET_COLUMNS.where(Connector.id == connector_id)).first()
        if row is None:
            return None
        kind, enabled, updated_at, config, sealed = row
        source = ctx.connectors.get(
            connector_id, kind, updated_at, config, lambda: ctx.secret_box.open(sealed)
        )
        return WebhookTarget(kind=kind, enabled=bool(enabled), source=source)

    target: WebhookTarget | None = ctx.connectors.row(connector_id, ROW_TTL_SECONDS, load)
    return target
