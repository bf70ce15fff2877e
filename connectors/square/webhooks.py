"""Square webhook intake: signature check, dedupe key and parsing of the raw body.

Square signs each notification with ``x-square-hmacsha256-signature``:
``base64(HMAC-SHA256(signature_key, notification_url + raw_body))``, where the notification URL
is the exact URL configured on the subscription. Order events carry only the order's id,
version, state and location, so parsing yields a hint for ``fetch_order``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from omniroute.connectors.base import PayloadError, SignatureError, WebhookEvent, keep_headers

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
#: Stored with the body: only what describes it; ``parse`` reads nothing but the body.
KEPT_HEADER_PREFIXES = ("content-type", "user-agent")

#: Order event types and the key of their payload under ``data.object``.
ORDER_EVENTS: Mapping[str, str] = {
    "order.created": "order_created",
    "order.updated": "order_updated",
    "order.fulfillment.updated": "order_fulfillment_updated",
}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value looked up case-insensitively in any mapping."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with a notification (its event type is in the body, not here)."""
    return keep_headers(headers, KEPT_HEADER_PREFIXES)


def sign(signature_key: bytes, notification_url: str, body: bytes) -> str:
    """The ``x-square-hmacsha256-signature`` value Square sends for ``body``."""
    message = notification_url.encode("utf-8") + body
    return base64.b64encode(hmac.new(signature_key, message, hashlib.sha256).digest()).decode()


def verify(
    signature_key: bytes, notification_url: str, body: bytes, header_value: str | None
) -> None:
    """Raise ``SignatureError`` unless ``header_value`` is Square's signature of ``body``."""
    if not signature_key:
        raise SignatureError("no webhook signature key is configured for this Square connector")
    if not notification_url:
        raise SignatureError(
            "no notification_url is configured; set it to the exact URL of the Square "
            "webhook subscription"
        )
    if header_value is None or not header_value.strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    try:
        received = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} is not valid base64") from None
    message = notification_url.encode("utf-8") + body
    expected = hmac.new(signature_key, message, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, received):
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match; check the signature key and that "
            "notification_url is exactly the subscription's URL"
        )


def dedupe_key(body: bytes) -> str:
    """Square's ``event_id`` from the body, else a digest of the body (never raises)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    event_id = document.get("event_id") if isinstance(document, dict) else None
    if isinstance(event_id, str) and event_id.strip():
        return event_id.strip()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse(body: bytes) -> WebhookEvent:
    """What a verified notification means: an order id to fetch, or nothing to do."""
    document = _decode(body)
    topic = document.get("type")
    if not isinstance(topic, str) or not topic:
        raise PayloadError("Square notification has no 'type'")
    object_key = ORDER_EVENTS.get(topic)
    if object_key is None:
        return WebhookEvent(topic=topic, order=None, external_id=None)
    return WebhookEvent(topic=topic, order=None, external_id=_order_id(document, object_key))


def _order_id(document: Mapping[str, Any], object_key: str) -> str:
    data = document.get("data")
    data = data if isinstance(data, dict) else {}
    event_object = data.get("object")
    details = event_object.get(object_key) if isinstance(event_object, dict) else None
    order_id = details.get("order_id") if isinstance(details, dict) else None
    if order_id is None:
        order_id = data.get("id")
    if not isinstance(order_id, str) or not order_id.strip():
        raise PayloadError(
            f"Square {document.get('type')} notification has no order id "
            f"(expected data.object.{object_key}.order_id or data.id)"
        )
    return order_id.strip()


def _decode(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise PayloadError(f"Square notification body is not UTF-8: {exc}") from exc
    except ValueError as exc:
        raise PayloadError(f"Square notification body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise PayloadError("Square notification body is nested too deeply") from None
    if not isinstance(document, dict):
        raise PayloadError(
            f"Square notification must be a JSON object, got {type(document).__name__}"
        )
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
