"""Live connector instances for connector rows, decrypting secrets only when rebuilt."""

from __future__ import annotations

from typing import Any

from core.bootstrap import Context
from core.models import Connector


def instance_for(ctx: Context, row: Connector) -> Any:
    return ctx.connectors.get(
        row.id,
        row.kind,
        row.updated_at,
        row.config,
        lambda: ctx.secret_box.open(row.secrets_encrypted),
    )
