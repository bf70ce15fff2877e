"""The Acme connector kind: signed order webhooks in, through its own mapping spec.

Acme's scheme (made up for the test, different from every built-in channel's):

- ``X-Acme-Signature: sha256=<hex HMAC-SHA256(signing secret, raw body)>``;
- ``X-Acme-Event``: what happened; ``order.placed`` carries an order, any other is ignored;
- ``X-Acme-Delivery``: the delivery's id, the same on every retry of it.

The body is ``{"order": {...}}``; ``mapping_spec.json`` beside this module maps the order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    PayloadError,
    SignatureError,
    WebhookEvent,
    header_value,
    keep_headers,
)
from omniroute.mapping import load_spec, map_order

SIGNATURE_HEADER = "X-Acme-Signature"
EVENT_HEADER = "X-Acme-Event"
DELIVERY_HEADER = "X-Acme-Delivery"
ORDER_EVENT = "order.placed"
SIGNATURE_SCHEME = "sha256="

#: What the inbox row keeps: Acme's own headers (the signature is dropped as secret-looking).
KEPT_HEADER_PREFIXES = ("x-acme-", "content-type")


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Acme-Signature`` value Acme sends for ``body``."""
    return SIGNATURE_SCHEME + hmac.new(secret, body, hashlib.sha256).hexdigest()


class AcmeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcmeSecrets(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    signing_secret: SecretStr = Field(min_length=1)


class AcmeConnector:
    """One Acme store: verifies, names and parses its webhooks, and maps its orders."""

    kind: ClassVar[str] = "acme"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ORDER_WEBHOOKS})
    config_model: ClassVar[type[BaseModel]] = AcmeConfig
    secrets_model: ClassVar[type[BaseModel]] = AcmeSecrets

    def __init__(
        self,
        config: AcmeConfig | Mapping[str, Any],
        secrets: AcmeSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
    ) -> None:
        self.config = AcmeConfig.model_validate(config)
        secret = AcmeSecrets.model_validate(secrets).signing_secret.get_secret_value()
        self._secret = secret.encode("utf-8")
        self.runtime = runtime

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        received = (header_value(headers, SIGNATURE_HEADER) or "").strip()
        if not received.startswith(SIGNATURE_SCHEME):
            raise SignatureError(f"missing or malformed {SIGNATURE_HEADER} header")
        if not hmac.compare_digest(sign(self._secret, body).encode(), received.encode()):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        delivery = (header_value(headers, DELIVERY_HEADER) or "").strip()
        if delivery:
            return f"acme:{delivery}"
        return "acme-body:" + hashlib.sha256(body).hexdigest()

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return keep_headers(headers, KEPT_HEADER_PREFIXES)

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None:
        return header_value(headers, EVENT_HEADER)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        event = (header_value(headers, EVENT_HEADER) or "").strip()
        if event != ORDER_EVENT:
            return WebhookEvent(topic=event or "unknown", order=None)
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise PayloadError(f"Acme webhook body is not JSON: {exc}") from exc
        order = document.get("order") if isinstance(document, dict) else None
        if not isinstance(order, dict):
            raise PayloadError('an Acme order.placed body needs an "order" object')
        return WebhookEvent(topic=event, order=order, external_id=str(order.get("ref")))

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        return map_order(load_spec("acme_connector", "mapping_spec.json"), order)
