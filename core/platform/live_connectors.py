"""The connectors a process works with: the kinds installed (discovered through the
``omniroute.connectors`` entry-point group), and a live instance per connector row, rebuilt
(and its secrets decrypted) only when the row changes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Protocol

from sqlalchemy import Engine, select

from omniroute.connectors.base import (
    Capability,
    ConnectorKind,
    ConnectorRuntime,
    enabled_capabilities,
)
from omniroute.core.platform.models import Connector
from omniroute.core.platform.security import SecretBox

log = logging.getLogger("omniroute.registry")

GROUP = "omniroute.connectors"


@dataclass
class ConnectorRegistry:
    kinds: dict[str, type[ConnectorKind]] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    @classmethod
    def discover(cls) -> ConnectorRegistry:
        registry = cls()
        for ep in entry_points(group=GROUP):
            try:
                kind_cls = ep.load()
                registry.add(kind_cls)
            except Exception as exc:
                registry.broken[ep.name] = f"{type(exc).__name__}: {exc}"
                log.error("connector kind %s failed to load: %s", ep.name, exc)
        return registry

    def add(self, kind_cls: type[ConnectorKind]) -> None:
        self.kinds[kind_cls.kind] = kind_cls

    def get(self, kind: str) -> type[ConnectorKind]:
        try:
            return self.kinds[kind]
        except KeyError:
            if kind in self.broken:
                raise LookupError(
                    f"connector kind {kind!r} is broken: {self.broken[kind]}"
                ) from None
            raise LookupError(f"unknown connector kind {kind!r}") from None


class ConnectorCache:
    """Live connector instances, rebuilt when their row changes (keyed by id and updated_at)."""

    def __init__(self, registry: ConnectorRegistry, runtime: ConnectorRuntime) -> None:
        self._registry = registry
        self._runtime = runtime
        self._lock = threading.Lock()
        self._items: dict[int, tuple[datetime, Any]] = {}
        # Short-lived views of connector rows (for the webhook path), and a generation per id
        # that ``forget`` bumps, so a load that raced an update is not stored.
        self._rows: dict[int, tuple[float, Any]] = {}
        self._generations: dict[int, int] = {}

    def get(
        self,
        connector_id: int,
        kind: str,
        updated_at: datetime,
        config: dict[str, Any],
        open_secrets: Callable[[], dict[str, Any]],
    ) -> Any:
        """The live instance for this connector row; secrets are decrypted only on a rebuild."""
        with self._lock:
            hit = self._items.get(connector_id)
            if hit is not None and hit[0] == updated_at:
                return hit[1]
        instance = self.build(kind, config, open_secrets())
        with self._lock:
            old = self._items.get(connector_id)
            self._items[connector_id] = (updated_at, instance)
        if old is not None and old[1] is not instance:
            close = getattr(old[1], "close", None)
            if callable(close):
                close()
        return instance

    def build(self, kind: str, config: dict[str, Any], secrets: dict[str, Any]) -> Any:
        kind_cls = self._registry.get(kind)
        return kind_cls(
            kind_cls.config_model.model_validate(config),
            kind_cls.secrets_model.model_validate(secrets),
            runtime=self._runtime,
        )

    def row(self, connector_id: int, ttl: float, load: Callable[[], Any]) -> Any:
        """What ``load`` returned for this id less than ``ttl`` seconds ago, or a fresh load.

        ``None`` (no such row) is not kept.
        """
        now = time.monotonic()
        with self._lock:
            hit = self._rows.get(connector_id)
            if hit is not None and hit[0] > now:
                return hit[1]
            generation = self._generations.get(connector_id, 0)
        value = load()
        if value is not None:
            with self._lock:
                if self._generations.get(connector_id, 0) == generation:
                    self._rows[connector_id] = (now + ttl, value)
        return value

    def forget(self, connector_id: int) -> None:
        with self._lock:
            self._items.pop(connector_id, None)
            self._rows.pop(connector_id, None)
            self._generations[connector_id] = self._generations.get(connector_id, 0) + 1


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


class ConnectorColumns(Protocol):
    """What builds a connector's instance: a ``Connector`` row, or its columns read as such."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def secrets_encrypted(self) -> bytes | None: ...


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

    def can(self, row: ConnectorColumns, capability: Capability) -> bool:
        """Whether the row's kind is installed and its instance, as configured, can do this."""
        return row.kind in self.kinds and capability in enabled_capabilities(self.for_row(row))

    def for_row(self, row: ConnectorColumns) -> Any:
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
