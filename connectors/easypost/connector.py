"""The EasyPost connector kind: tracker webhooks in (no calls out, so no client)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr

from omniroute.connectors.base import Capability, ConnectorRuntime
from omniroute.connectors.easypost import webhooks
from omniroute.connectors.tracking import TrackingDelivery


class EasyPostConfig(BaseModel):
    """Nothing to configure: EasyPost posts to omniroute's webhook URL."""

    model_config = ConfigDict(extra="forbid")


class EasyPostSecrets(BaseModel):
    """The secret set on the EasyPost webhook (``webhook_secret`` in its API)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    webhook_secret: SecretStr


class EasyPostConnector:
    """Takes EasyPost ``tracker.*`` events as tracking updates of shipments."""

    kind: ClassVar[str] = "easypost"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.TRACKING_WEBHOOKS})
    config_model: ClassVar[type[BaseModel]] = EasyPostConfig
    secrets_model: ClassVar[type[BaseModel]] = EasyPostSecrets

    def __init__(
        self,
        config: EasyPostConfig | Mapping[str, Any],
        secrets: EasyPostSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
    ) -> None:
        self.config = EasyPostConfig.model_validate(config)
        self.secrets = EasyPostSecrets.model_validate(secrets)
        self.runtime = runtime
        self._secret = self.secrets.webhook_secret.get_secret_value()

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        webhooks.verify(self._secret, headers, body)

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return webhooks.dedupe_key(body)

    def parse_tracking(self, headers: Mapping[str, str], body: bytes) -> TrackingDelivery:
        return webhooks.parse(body)

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return webhooks.kept_headers(headers)

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None:
        return None  # the event's description is in the body
