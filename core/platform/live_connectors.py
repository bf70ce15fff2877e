"""The connectors a process works with: the installed kinds, and a live instance per
connector row, rebuilt (and its secrets decrypted) only when the row changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from omniroute.connectors.base import ConnectorKind
from omniroute.core.platform.models import Connector
from omniroute.core.platform.registry import ConnectorCache, ConnectorRegistry
from omniroute.core.platform.security import SecretBox

# How long the webhook path trusts a connector row it has read. An update through the admin
# API forgets it at once in this process; other API processes see it within this time.
ROW_TTL_SECONDS = 2.0


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


class LiveConnectors:
    """What services ask of connectors: which kinds exist, the instance for a row, and the
    sealing of a row's secrets (the plaintext never leaves this process)."""

    def __init__(
        self,
        registry: ConnectorRegistry,
        cache: ConnectorCache,
        secret_box: SecretBox,
        engine: Engine,
    ) -> None:
        self._registry = registry
        self._cache = cache
        self._box = secret_box
        self._engine = engine

    @property
    def kinds(self) -> Mapping[str, type[ConnectorKind]]:
        return self._registry.kinds

    def kind(self, name: str) -> type[ConnectorKind]:
        """The class of a kind; LookupError naming why when it is unknown or broken."""
        return self._registry.get(name)

    def for_row(self, row: Connector) -> Any:
        return self.for_stored(row.id, row.kind, row.updated_at, row.config, row.secrets_encrypted)

    def for_stored(
        self,
        connector_id: int,
        kind: str,
        updated_at: datetime,
        config: dict[str, Any],
        sealed: bytes | None,
    ) -> Any:
        """The instance for a connector row read as columns (secrets still sealed)."""
        return self._cache.get(
            connector_id, kind, updated_at, config, lambda: self._box.open(sealed)
        )

    def webhook_target(self, connector_id: int) -> WebhookTarget | None:
        """The connector a webhook is for, from a short-lived cache; None if there is no such
        row. Read on a connection of its own: the webhook path opens no session."""

        def load() -> WebhookTarget | None:
            with self._engine.connect() as conn:
                row = conn.execute(_TARGET_COLUMNS.where(Connector.id == connector_id)).first()
            if row is None:
                return None
            kind, enabled, updated_at, config, sealed = row
            source = self.for_stored(connector_id, kind, updated_at, config, sealed)
            return WebhookTarget(kind=kind, enabled=bool(enabled), source=source)

        target: WebhookTarget | None = self._cache.row(connector_id, ROW_TTL_SECONDS, load)
        return target

    def forget(self, connector_id: int) -> None:
        """The row changed: build its instance afresh next time."""
        self._cache.forget(connector_id)

    def seal(self, secrets: dict[str, Any]) -> bytes:
        return self._box.seal(secrets)

    def open(self, sealed: bytes | None) -> dict[str, Any]:
        return self._box.open(sealed)
