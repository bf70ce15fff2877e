"""WooCommerce webhook intake: signature check, set-up ping, dedupe key and parsing.

WooCommerce (``WC_Webhook::deliver``) POSTs ``trim(wp_json_encode(payload))`` and signs it with
``X-WC-Webhook-Signature: base64(HMAC-SHA256(secret, body))``; it also sends
``X-WC-Webhook-Topic`` (``order.updated``), ``-Resource`` (``order``), ``-Event``
(``updated``), ``-ID`` (the webhook) and ``-Delivery-ID``. For ``*.deleted`` topics the body is
only ``{"id": <id>}``; for the other order topics it is the REST v3 order object.

When a webhook is saved as active, ``WC_Webhook::deliver_ping`` POSTs the form body
``webhook_id=<n>`` with none of those headers (no signature): that is the ping.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from omniroute.connectors.base import PayloadError, SignatureError, WebhookEvent, keep_headers
from omniroute.connectors.woocommerce.mapping import extract_order

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
RESOURCE_HEADER = "X-WC-Webhook-Resource"
EVENT_HEADER = "X-WC-Webhook-Event"
DELIVERY_ID_HEADER = "X-WC-Webhook-Delivery-ID"
WEBHOOK_ID_HEADER = "X-WC-Webhook-ID"
#: Stored with the body: WooCommerce's own headers (its signature is dropped as secret-looking).
KEPT_HEADER_PREFIXES = ("x-wc-", "content-type", "user-agent")

ORDER_RESOURCE = "order"
DELETED_EVENT = "deleted"
#: The status WooCommerce gives a deleted (trashed) order; the mapping reads it as cancelled.
TRASH_STATUS = "trash"

_PING_BODY = re.compile(rb"webhook_id=\d+")
_DIGEST_CHARS = 32


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value looked up case-insensitively in any mapping (dict, starlette Headers)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _stripped(headers: Mapping[str, str], name: str) -> str:
    return (header(headers, name) or "").strip()


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with a delivery; ``parse`` reads topic, resource and event later."""
    return keep_headers(headers, KEPT_HEADER_PREFIXES)


def topic(headers: Mapping[str, str]) -> str | None:
    """The delivery's ``X-WC-Webhook-Topic`` as sent (``order.updated``), if any."""
    return header(headers, TOPIC_HEADER)


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-WC-Webhook-Signature`` value WooCommerce sends for ``body``."""
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode("ascii")


def verify(secret: bytes, body: bytes, header_value: str | None) -> None:
    """Raise ``SignatureError`` unless ``header_value`` is WooCommerce's signature of ``body``."""
    if not secret:
        raise SignatureError("no webhook secret is configured for this WooCommerce connector")
    if header_value is None or not header_value.strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    try:
        received = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} is not valid base64") from None
    expected = hmac.new(secret, body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, received):
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match the body; check the webhook secret"
        )


def is_ping(headers: Mapping[str, str], body: bytes) -> bool:
    """Whether this is the unsigned ``webhook_id=<n>`` ping sent when a webhook is saved."""
    if _stripped(headers, SIGNATURE_HEADER) or _stripped(headers, TOPIC_HEADER):
        return False
    return _PING_BODY.fullmatch(body.strip()) is not None


def topic_of(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """``(topic, resource, event)`` from the headers; a missing part is derived from the others."""
    topic = _stripped(headers, TOPIC_HEADER)
    resource = _stripped(headers, RESOURCE_HEADER)
    event = _stripped(headers, EVENT_HEADER)
    if topic and "." in topic and not (resource and event):
        head, _, tail = topic.partition(".")
        resource, event = resource or head, event or tail
    if not topic and resource and event:
        topic = f"{resource}.{event}"
    return topic.lower(), resource.lower(), event.lower()


def dedupe_key(headers: Mapping[str, str], body: bytes) -> str:
    """The delivery id plus a body digest; without a delivery id, topic + resource id + digest.

    The digest is part of the key because WooCommerce derives the delivery id from the webhook
    id and the current second only, so two orders sent by one webhook within the same second
    share a delivery id.
    """
    digest = hashlib.sha256(body).hexdigest()[:_DIGEST_CHARS]
    delivery_id = _stripped(headers, DELIVERY_ID_HEADER)
    if delivery_id:
        return f"delivery:{delivery_id}:{digest}"
    topic, _, _ = topic_of(headers)
    return f"{topic or 'unknown'}:{_resource_id(body) or '-'}:{digest}"


def _resource_id(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return _id_of(document)


def _id_of(document: Any) -> str | None:
    value = document.get("id") if isinstance(document, dict) else None
    if value is None or isinstance(value, bool | dict | list):
        return None
    return str(value).strip() or None


def parse(headers: Mapping[str, str], body: bytes) -> WebhookEvent:
    """What a verified delivery means: an order, an order id to fetch, or nothing to do."""
    topic, resource, event = topic_of(headers)
    if resource != ORDER_RESOURCE:
        return WebhookEvent(topic=topic or "unknown", order=None, external_id=None)
    document = decode(body)
    if event == DELETED_EVENT:
        return _deleted(topic, document)
    order = extract_order(document)
    return WebhookEvent(topic=topic, order=order, external_id=str(order["id"]))


def _deleted(topic: str, document: Any) -> WebhookEvent:
    if isinstance(document, dict) and isinstance(document.get("line_items"), list):
        # A plugin filtering woocommerce_webhook_payload may send the whole order; the hook
        # fires before the status changes, so mark it trashed here.
        order = {**extract_order(document), "status": TRASH_STATUS}
        return WebhookEvent(topic=topic, order=order, external_id=str(order["id"]))
    order_id = _id_of(document)
    if not order_id:
        raise PayloadError('WooCommerce order.deleted body has no order "id"')
    # Only the id is sent: the worker fetches the order, which a trash keeps with status
    # "trash" (mapped to cancelled).
    return WebhookEvent(topic=topic, order=None, external_id=order_id)


def decode(body: bytes) -> Any:
    """The JSON document of a webhook body; raises ``PayloadError``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"WooCommerce webhook body is not UTF-8: {exc}") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise PayloadError(f"WooCommerce webhook body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise PayloadError("WooCommerce webhook body is nested too deeply") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
