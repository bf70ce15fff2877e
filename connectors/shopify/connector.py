"""The Shopify connector kind: order webhooks in, mapped to canonical orders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.base import Capability, ConnectorRuntime, WebhookEvent
from connectors.shopify import webhooks
from connectors.shopify.mapping import to_canonical


class ShopifyConfig(BaseModel):
    """Where the shop is; only needed for calls to the Admin API."""

    model_config = ConfigDict(extra="forbid")

    shop_domain: str | None = None
    api_base_url: str | None = None
    api_version: str = "2024-07"


class ShopifySecrets(BaseModel):
    """The app's webhook signing secret and, for Admin API calls, its access token."""

    model_config = ConfigDict(extra="forbid")

    webhook_secret: SecretStr = Field(min_length=1)
    access_token: SecretStr | None = None


class ShopifyConnector:
    """Receives ``orders/*`` webhooks from one Shopify shop."""

    kind: ClassVar[str] = "shopify"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ORDER_WEBHOOKS})
    config_model: ClassVar[type[BaseModel]] = ShopifyConfig
    secrets_model: ClassVar[type[BaseModel]] = ShopifySecrets

    def __init__(
        self,
        config: ShopifyConfig | Mapping[str, Any],
        secrets: ShopifySecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
    ) -> None:
        self.config = ShopifyConfig.model_validate(config)
        self.secrets = ShopifySecrets.model_validate(secrets)
        self.runtime = runtime

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        secret = self.secrets.webhook_secret.get_secret_value().encode("utf-8")
        webhooks.verify(secret, body, webhooks.header(headers, webhooks.HMAC_HEADER))

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return webhooks.dedupe_key(headers, body)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return webhooks.parse(headers, body)

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        return to_canonical(order)
