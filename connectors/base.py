"""Connector protocols, capability flags and the two errors every connector raises.

A connector kind is a class registered under the ``omniroute.connectors`` entry-point group.
It declares ``kind`` (the registry key), ``capabilities``, ``config_model`` and
``secrets_model`` (pydantic models; the API validates against them and publishes their JSON
Schemas), and implements the small protocols below that match its capabilities.

Example, a channel that only receives webhooks::

    class MyShop:
        kind = "myshop"
        capabilities = frozenset({Capability.ORDER_WEBHOOKS})
        config_model = MyShopConfig
        secrets_model = MyShopSecrets

        def __init__(self, config: MyShopConfig, secrets: MyShopSecrets) -> None: ...
        def verify_webhook(self, headers, body) -> None: ...       # raise SignatureError
        def dedupe_key(self, headers, body) -> str: ...
        def parse_webhook(self, headers, body) -> WebhookEvent: ...
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel


class Capability(enum.StrEnum):
    ORDER_WEBHOOKS = "order_webhooks"
    ORDER_POLLING = "order_polling"
    FULFILMENT_RELEASE = "fulfilment_release"
    FULFILMENT_PUSH = "fulfilment_push"
    STOCK_PUSH = "stock_push"


class ConnectorError(Exception):
    """Base of the errors a connector raises; ``reason`` is a machine-readable code."""

    reason = "connector_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TransientError(ConnectorError):
    """Retry later with backoff; ``retry_after`` (seconds) is the remote's hint, if it gave one."""

    reason = "transient"

    def __init__(
        self, message: str, *, retry_after: float | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Retrying will not help: dead-letter the work and open an exception."""

    reason = "permanent"


class SignatureError(ConnectorError):
    """The webhook's signature is missing or does not match the raw body."""

    reason = "bad_signature"


class PayloadError(ConnectorError):
    """The payload cannot be parsed into the channel's order shape."""

    reason = "invalid_payload"


@dataclass(frozen=True)
class WebhookEvent:
    """What a channel webhook means once parsed: a topic and the channel's order object."""

    topic: str
    order: Mapping[str, Any] | None
    external_id: str | None = None


@dataclass(frozen=True)
class ReleaseLine:
    line_id: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class ReleaseRequest:
    """A fulfilment order as handed to a warehouse system."""

    fulfilment_order_id: int
    order_id: int
    order_reference: str
    warehouse_code: str
    ship_to: Mapping[str, Any]
    lines: tuple[ReleaseLine, ...]
    idempotency_key: str
    service_level: str = "standard"
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReleaseReceipt:
    external_ref: str | None
    status_code: int
    attempts: int


@runtime_checkable
class OrderSource(Protocol):
    """A channel that delivers orders by webhook."""

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None: ...

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str: ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """The channel's order object as a canonical order (mapping/schemas/order.v1.json)."""
        ...


@runtime_checkable
class WarehouseAdapter(Protocol):
    """A WMS that accepts fulfilment orders."""

    def release(self, request: ReleaseRequest) -> ReleaseReceipt: ...


@dataclass(frozen=True)
class ConnectorRuntime:
    """Process-wide knobs every connector instance gets from settings."""

    allow_private_urls: bool = False
    http_timeout: float = 10.0
    retry_attempts: int = 3
    retry_max_wait: float = 5.0


class ConnectorKind(Protocol):
    """The class-level contract of a registered connector kind."""

    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    config_model: ClassVar[type[BaseModel]]
    secrets_model: ClassVar[type[BaseModel]]

    def __init__(self, config: Any, secrets: Any, *, runtime: ConnectorRuntime) -> None: ...
