"""What carriers that only post tracking webhooks share: the connector, the signature check
and the dedupe key (EasyPost and AfterShip; each kind supplies its header, signing rule,
event id field and parser in its own ``webhooks`` module)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, SecretStr

from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    PayloadError,
    SignatureError,
    header_value,
)
from omniroute.connectors.tracking import TrackingDelivery, decode_json

_MAX_ID_CHARS = 200


def check_signature(headers: Mapping[str, str], header: str, expected: Callable[[], str]) -> None:
    """Raise ``SignatureError`` unless ``header`` holds ``expected()`` (constant time)."""
    given = (header_value(headers, header) or "").strip()
    if not given:
        raise SignatureError(f"missing {header} header")
    if not hmac.compare_digest(expected().encode(), given.encode()):
        raise SignatureError(f"{header} does not match the body; check the webhook secret")


def event_dedupe_key(body: bytes, *, prefix: str, id_field: str) -> str:
    """``prefix`` + the event's id; a body without one is keyed by its digest, and an id too
    long for the column by the digest of the id."""
    try:
        doc = decode_json(body)
    except PayloadError:
        doc = None
    event_id = doc.get(id_field) if isinstance(doc, dict) else None
    if not isinstance(event_id, str) or not event_id.strip():
        return prefix + "sha256:" + hashlib.sha256(body).hexdigest()
    event_id = event_id.strip()
    if len(event_id) > _MAX_ID_CHARS:
        return prefix + "sha256-id:" + hashlib.sha256(event_id.encode()).hexdigest()
    return prefix + event_id


class CarrierWebhooks(Protocol):
    """A carrier kind's ``webhooks`` module, as the shared connector calls it."""

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes) -> None: ...

    def dedupe_key(self, body: bytes) -> str: ...

    def parse(self, body: bytes) -> TrackingDelivery: ...

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]: ...


class NoConfig(BaseModel):
    """Nothing to configure: the carrier posts to omniroute's webhook URL."""

    model_config = ConfigDict(extra="forbid")


class WebhookSecret(BaseModel):
    """The carrier account's webhook signing secret."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    webhook_secret: SecretStr


class CarrierWebhookConnector:
    """A carrier that posts tracking webhooks and is never called (so it has no client).

    A kind sets ``kind``, ``webhooks`` (its module) and, for its own descriptions, its config
    and secrets models."""

    kind: ClassVar[str]
    webhooks: ClassVar[CarrierWebhooks]
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.TRACKING_WEBHOOKS})
    config_model: ClassVar[type[BaseModel]] = NoConfig
    secrets_model: ClassVar[type[BaseModel]] = WebhookSecret

    def __init__(
        self,
        config: BaseModel | Mapping[str, Any],
        secrets: BaseModel | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
    ) -> None:
        self.config = self.config_model.model_validate(config)
        self.secrets = self.secrets_model.model_validate(secrets)
        self.runtime = runtime
        self._secret: str = self.secrets.webhook_secret.get_secret_value()  # type: ignore[attr-defined]

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        self.webhooks.verify(self._secret, headers, body)

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return self.webhooks.dedupe_key(body)

    def parse_tracking(self, headers: Mapping[str, str], body: bytes) -> TrackingDelivery:
        return self.webhooks.parse(body)

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return self.webhooks.kept_headers(headers)

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None:
        return None  # the event's name is in the body
