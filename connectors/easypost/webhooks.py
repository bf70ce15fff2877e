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

from omniroute.connectors.base import PayloadError, SignatureError, header_value, keep_headers
from omniroute.connectors.easypost.mapping import tracker_update
from omniroute.connectors.tracking import TrackingDelivery, decode_json

SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="
TRACKER_EVENTS = frozenset({"tracker.created", "tracker.updated"})
KEPT_HEADER_PREFIXES = ("content-type", "user-agent")
DEDUPE_PREFIX = "ep:"
_MAX_ID_CHARS = 200


def signing_key(secret: str) -> bytes:
    return unicodedata.normalize("NFKD", secret).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """The header value EasyPost sends for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(signing_key(secret), body, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise ``SignatureError`` unless ``X-Hmac-Signature`` matches the body."""
    given = (header_value(headers, SIGNATURE_HEADER) or "").strip()
    if not given:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not hmac.compare_digest(sign(secret, body).encode(), given.encode()):
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match the body; check the webhook secret"
        )


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return keep_headers(headers, KEPT_HEADER_PREFIXES)


def dedupe_key(body: bytes) -> str:
    """``ep:`` + the Event id; a body without one is keyed by its digest."""
    try:
        doc = decode_json(body)
    except PayloadError:
        doc = None
    event_id = doc.get("id") if isinstance(doc, dict) else None
    if not isinstance(event_id, str) or not event_id.strip():
        return DEDUPE_PREFIX + "sha256:" + hashlib.sha256(body).hexdigest()
    event_id = event_id.strip()
    if len(event_id) > _MAX_ID_CHARS:
        return DEDUPE_PREFIX + "sha256-id:" + hashlib.sha256(event_id.encode()).hexdigest()
    return DEDUPE_PREFIX + event_id


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
