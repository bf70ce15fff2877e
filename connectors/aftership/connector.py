"""The AfterShip connector kind: tracking webhooks in (no calls out, so no client)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr

from omniroute.connectors.aftership import webhooks
from omniroute.connectors.base import Capability, ConnectorRuntime
from omniroute.connectors.tracking import TrackingDelivery


class AfterShipConfig(BaseModel):
    """Nothing to configure: AfterShip posts to omniroute's webhook URL."""

    model_config = ConfigDict(extra="forbid")


class AfterShipSecrets(BaseModel):
    """The webhook secret of the AfterShip account (Settings > Webhooks)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    webhook_secret: SecretStr


class AfterShipConnector:
    """Takes AfterShip ``tracking_update`` events as tracking updates of shipments."""

    kind: ClassVar[str] = "aftership"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.TRACKING_WEBHOOKS})
    config_model: ClassVar[type[BaseModel]] = AfterShipConfig
    secrets_model: ClassVar[type[BaseModel]] = AfterShipSecrets

    def __init__(
        self,
        config: AfterShipConfig | Mapping[str, Any],
        secrets: AfterShipSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
    ) -> None:
        self.config = AfterShipConfig.model_validate(config)
        self.secrets = AfterShipSecrets.model_validate(secrets)
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
        return None  # the event's name is in the body
