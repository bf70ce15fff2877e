"""Connector kinds, discovered through the ``omniroute.connectors`` entry-point group."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

from omniroute.connectors.base import ConnectorKind, ConnectorRuntime

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
