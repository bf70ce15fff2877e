"""The generic connector kind: Standard Webhooks order events and CSV/JSON order uploads, and
tracking events (``tracking.updated``) for carriers without a connector of their own.

For phone orders, stores and any system without its own connector. Nothing is called on the
remote side, so there is no client and no rate limit here; a sender signs its webhooks with
the connector's ``whsec_`` secret, and staff upload files through ``/api/v1/orders/import``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from omniroute.connectors.base import Capability, ConnectorRuntime, SignatureError, WebhookEvent
from omniroute.connectors.generic import tracking, upload, webhooks
from omniroute.connectors.generic.mapping import MAX_CHANNEL, to_canonical
from omniroute.connectors.tracking import TrackingDelivery


def _utcnow() -> datetime:
    return datetime.now(UTC)


class GenericWebhookConfig(BaseModel):
    """The replay window for webhooks, and what uploaded CSV rows may leave out."""

    model_config = ConfigDict(extra="forbid")

    timestamp_tolerance_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="How far webhook-timestamp may be from our clock (Standard Webhooks: 5 min).",
    )
    default_channel: str = Field(
        default="generic",
        min_length=1,
        max_length=MAX_CHANNEL,
        description="The channel of uploaded CSV orders that have no channel column.",
    )
    default_currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code for uploaded CSV orders without a currency.",
    )
    default_country: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code for CSV ship-to addresses without a country.",
    )


class GenericWebhookSecrets(BaseModel):
    """The Standard Webhooks signing secret (``whsec_`` + base64); none means uploads only."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    webhook_secret: SecretStr | None = None

    @field_validator("webhook_secret")
    @classmethod
    def _decodable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            webhooks.decode_secret(value.get_secret_value())  # message never holds the secret
        return value


class GenericWebhookConnector:
    """Receives signed canonical orders and parses uploaded order files for one source."""

    kind: ClassVar[str] = "generic_webhook"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ORDER_WEBHOOKS, Capability.TRACKING_WEBHOOKS}
    )
    config_model: ClassVar[type[BaseModel]] = GenericWebhookConfig
    secrets_model: ClassVar[type[BaseModel]] = GenericWebhookSecrets

    def __init__(
        self,
        config: GenericWebhookConfig | Mapping[str, Any],
        secrets: GenericWebhookSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = GenericWebhookConfig.model_validate(config)
        self.secrets = GenericWebhookSecrets.model_validate(secrets)
        self.runtime = runtime
        self.clock = clock
        secret = self.secrets.webhook_secret
        self._key = None if secret is None else webhooks.decode_secret(secret.get_secret_value())

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        if self._key is None:
            raise SignatureError(
                "this generic connector has no webhook_secret; set one to accept webhooks"
            )
        tolerance = timedelta(seconds=self.config.timestamp_tolerance_seconds)
        webhooks.verify(self._key, headers, body, now=self.clock(), tolerance=tolerance)

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return webhooks.dedupe_key(headers, body)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return webhooks.parse(body)

    def parse_tracking(self, headers: Mapping[str, str], body: bytes) -> TrackingDelivery | None:
        """A ``tracking.updated`` event (``connectors.generic.tracking``); None for the rest."""
        return tracking.parse_tracking(body)

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return webhooks.kept_headers(headers)

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None:
        return None  # the event type is the body's "type"

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        return to_canonical(order)

    def parse_upload(self, body: bytes, media_type: str) -> upload.ParsedUpload:
        """Orders and row errors of an uploaded CSV or JSON file; raises ``PayloadError``."""
        defaults = upload.UploadDefaults(
            channel=self.config.default_channel,
            currency=self.config.default_currency,
            country=self.config.default_country,
        )
        return upload.parse_upload(body, media_type, defaults)
