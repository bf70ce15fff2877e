"""EasyPost webhooks: verify the HMAC signature, read the event id, parse tracker events.

EasyPost signs the raw body with HMAC-SHA256 under the webhook secret and sends
``X-Hmac-Signature: hmac-sha256-hex=<hex digest>``. Its client libraries normalise the
secret to Unicode NFKD and encode it as UTF-8 before using it as the key; so does this
module, so a secret with accented characters verifies the same way.

The body is an Event: ``{"id": "evt_...", "description": "tracker.updated", "result":
<Tracker>, ...}``. Tracker events (``tracker.created``, ``tracker.updated``) carry the
whole tracking history each time; other descriptions are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping

from omniroute.connectors.base import PayloadError, keep_headers
from omniroute.connectors.carrier_webhooks import check_signature, event_dedupe_key
from omniroute.connectors.easypost.mapping import tracker_update
from omniroute.connectors.tracking import TrackingDelivery, decode_json

SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="
TRACKER_EVENTS = frozenset({"tracker.created", "tracker.updated"})
KEPT_HEADER_PREFIXES = ("content-type", "user-agent")
DEDUPE_PREFIX = "ep:"


def signing_key(secret: str) -> bytes:
    return unicodedata.normalize("NFKD", secret).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """The header value EasyPost sends for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(signing_key(secret), body, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise ``SignatureError`` unless ``X-Hmac-Signature`` matches the body."""
    check_signature(headers, SIGNATURE_HEADER, lambda: sign(secret, body))


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return keep_headers(headers, KEPT_HEADER_PREFIXES)


def dedupe_key(body: bytes) -> str:
    """``ep:`` + the Event id; a body without one is keyed by its digest."""
    return event_dedupe_key(body, prefix=DEDUPE_PREFIX, id_field="id")


def parse(body: bytes) -> TrackingDelivery:
    doc = decode_json(body)
    if not isinstance(doc, dict):
        raise PayloadError(f"EasyPost event must be a JSON object, got {type(doc).__name__}")
    description = doc.get("description")
    if not isinstance(description, str) or not description:
        raise PayloadError('EasyPost event needs a "description" such as "tracker.updated"')
    if description not in TRACKER_EVENTS:
        return TrackingDelivery(description, None)
    result = doc.get("result")
    if not isinstance(result, dict):
        raise PayloadError(f'"{description}" needs the Tracker as its "result" object')
    return TrackingDelivery(description, tracker_update(result))
