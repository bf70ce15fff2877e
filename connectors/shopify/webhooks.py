"""Shopify webhook intake: signature check, dedupe key and parsing of the raw body.

Shopify signs each delivery with ``X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(secret, body))``
over the exact bytes it sent, so everything here works on the raw body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from omniroute.connectors.base import (
    ChannelReturn,
    PayloadError,
    SignatureError,
    WebhookEvent,
    keep_headers,
)
from omniroute.connectors.shopify import returns
from omniroute.connectors.shopify.risk import order_of_risk_event

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
DEFAULT_TOPIC = "orders/create"
#: The topics omniroute takes orders from: each body is the whole order object. Any other
#: topic (products/update, customers/create, app/uninstalled, draft_orders/create,
#: orders/delete, which carries only an id...) is acknowledged and stored, then ignored.
ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
#: ``returns/*`` topics (``connectors.shopify.returns.TOPICS``) carry a return, read by
#: ``return_event``; ``parse`` treats them as not an order.
#: Shopify adds a fraud assessment to an order: the body names the order, which is read again
#: with its risk (``connectors.shopify.risk``).
RISK_TOPIC = "orders/risk_assessment_changed"
#: Stored with the body: Shopify's own headers (its HMAC is dropped as secret-looking).
KEPT_HEADER_PREFIXES = ("x-shopify-", "content-type", "user-agent")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value looked up case-insensitively in any mapping (dict, starlette Headers)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with a delivery; ``parse`` reads its topic from them later."""
    return keep_headers(headers, KEPT_HEADER_PREFIXES)


def topic(headers: Mapping[str, str]) -> str | None:
    """The delivery's ``X-Shopify-Topic`` as sent (``orders/create``), if any."""
    return header(headers, TOPIC_HEADER)


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for ``body``."""
    digest = hmac.new(secret, body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: bytes, body: bytes, header_value: str | None) -> None:
    """Raise ``SignatureError`` unless ``header_value`` is Shopify's signature of ``body``."""
    if not secret:
        raise SignatureError("no webhook secret is configured for this Shopify connector")
    if header_value is None or not header_value.strip():
        raise SignatureError(f"missing {HMAC_HEADER} header")
    try:
        received = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{HMAC_HEADER} is not valid base64") from None
    expected = hmac.new(secret, body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, received):
        raise SignatureError(f"{HMAC_HEADER} does not match the body; check the webhook secret")


def dedupe_key(headers: Mapping[str, str], body: bytes) -> str:
    """Shopify's webhook id, else its event id, else a digest of the body."""
    for name in (WEBHOOK_ID_HEADER, EVENT_ID_HEADER):
        value = header(headers, name)
        if value is not None and value.strip():
            return value.strip()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse(headers: Mapping[str, str], body: bytes) -> WebhookEvent:
    """The event a verified body carries: its topic and the bare Shopify order object, or
    nothing to do for a topic that is not one of ``ORDER_TOPICS`` (its body is not read)."""
    topic = (header(headers, TOPIC_HEADER) or "").strip() or DEFAULT_TOPIC
    if topic.lower() == RISK_TOPIC:
        return WebhookEvent(topic=topic, order=None, external_id=order_of_risk_event(_decode(body)))
    if topic.lower() not in ORDER_TOPICS:
        return WebhookEvent(topic=topic, order=None, external_id=None)
    order = extract_order(_decode(body))
    return WebhookEvent(topic=topic, order=order, external_id=str(order["id"]))


def return_event(
    topic: str | None, headers: Mapping[str, str], body: bytes
) -> ChannelReturn | None:
    """The return a ``returns/*`` delivery tells of; None for any other topic."""
    topic = (topic or header(headers, TOPIC_HEADER) or "").strip().lower()
    if topic not in returns.TOPICS:
        return None
    return returns.return_event(topic, _decode(body))


def _decode(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"Shopify webhook body is not UTF-8: {exc}") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise PayloadError(f"Shopify webhook body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise PayloadError("Shopify webhook body is nested too deeply") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def extract_order(document: Any) -> dict[str, Any]:
    """The order object of a webhook body, or of a REST response wrapped as ``{"order": ...}``."""
    if not isinstance(document, dict):
        raise PayloadError(
            f"Shopify order payload must be a JSON object, got {type(document).__name__}"
        )
    order: dict[str, Any] = document
    wrapped = order.get("order")
    if not _looks_like_order(order) and isinstance(wrapped, dict):
        order = wrapped
    if not _looks_like_order(order):
        raise PayloadError(
            "Shopify payload is not an order: expected an object with 'id' and 'line_items' "
            '(or one wrapped as {"order": {...}})'
        )
    return order


def _looks_like_order(document: Mapping[str, Any]) -> bool:
    return document.get("id") is not None and isinstance(document.get("line_items"), list)
