"""The AfterShip connector kind: tracking webhooks in (no calls out, so no client)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from omniroute.connectors.aftership import webhooks
from omniroute.connectors.carrier_webhooks import (
    CarrierWebhookConnector,
    CarrierWebhooks,
    NoConfig,
    WebhookSecret,
)


class AfterShipConfig(NoConfig):
    """Nothing to configure: AfterShip posts to omniroute's webhook URL."""


class AfterShipSecrets(WebhookSecret):
    """The webhook secret of the AfterShip account (Settings > Webhooks)."""


class AfterShipConnector(CarrierWebhookConnector):
    """Takes AfterShip ``tracking_update`` events as tracking updates of shipments."""

    kind: ClassVar[str] = "aftership"
    webhooks: ClassVar[CarrierWebhooks] = webhooks
    config_model: ClassVar[type[BaseModel]] = AfterShipConfig
    secrets_model: ClassVar[type[BaseModel]] = AfterShipSecrets
