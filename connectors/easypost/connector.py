"""The EasyPost connector kind: tracker webhooks in (no calls out, so no client)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from omniroute.connectors.carrier_webhooks import (
    CarrierWebhookConnector,
    CarrierWebhooks,
    NoConfig,
    WebhookSecret,
)
from omniroute.connectors.easypost import webhooks


class EasyPostConfig(NoConfig):
    """Nothing to configure: EasyPost posts to omniroute's webhook URL."""


class EasyPostSecrets(WebhookSecret):
    """The secret set on the EasyPost webhook (``webhook_secret`` in its API)."""


class EasyPostConnector(CarrierWebhookConnector):
    """Takes EasyPost ``tracker.*`` events as tracking updates of shipments."""

    kind: ClassVar[str] = "easypost"
    webhooks: ClassVar[CarrierWebhooks] = webhooks
    config_model: ClassVar[type[BaseModel]] = EasyPostConfig
    secrets_model: ClassVar[type[BaseModel]] = EasyPostSecrets
