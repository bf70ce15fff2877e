"""AfterShip Tracking webhooks: verify the signature, read the event id, parse the tracking.

AfterShip signs the raw body with HMAC-SHA256 under the account's webhook secret and sends
the digest base64-encoded in ``aftership-hmac-sha256``. The body::

    {"event": "tracking_update", "event_id": "<uuid>", "is_tracking_first_tag": false,
     "msg": {<tracking object: slug, tracking_number, tag, subtag, checkpoints[]>}, "ts": 1}

``tracking_update`` events become tracking updates; other events (an estimated delivery
date revised, a pending-time alert) are acknowledged and ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from omniroute.connectors.aftership.mapping import tracking_update
from omniroute.connectors.base import PayloadError, SignatureError, header_value, keep_headers
from omniroute.connectors.tracking import TrackingDelivery, decode_json

SIGNATURE_HEADER = "aftership-hmac-sha256"
TRACKING_EVENTS = frozenset({"tracking_update"})
KEPT_HEADER_PREFIXES = ("content-type", "user-agent")
DEDUPE_PREFIX = "as:"
_MAX_ID_CHARS = 200


def sign(secret: str, body: bytes) -> str:
    """The header value AfterShip sends for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise ``SignatureError`` unless ``aftership-hmac-sha256`` matches the body."""
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
    """``as:`` + the event id; a body without one is keyed by its digest."""
    try:
        doc = decode_json(body)
    except PayloadError:
        doc = None
    event_id = doc.get("event_id") if isinstance(doc, dict) else None
    if not isinstance(event_id, str) or not event_id.strip():
        return DEDUPE_PREFIX + "sha256:" + hashlib.sha256(body).hexdigest()
    event_id = event_id.strip()
    if len(event_id) > _MAX_ID_CHARS:
        return DEDUPE_PREFIX + "sha256-id:" + hashlib.sha256(event_id.encode()).hexdigest()
    return DEDUPE_PREFIX + event_id


def parse(body: bytes) -> TrackingDelivery:
    doc = decode_json(body)
    if not isinstance(doc, dict):
        raise PayloadError(f"AfterShip webhook must be a JSON object, got {type(doc).__name__}")
    event = doc.get("event")
    if not isinstance(event, str) or not event:
        raise PayloadError('AfterShip webhook needs an "event" such as "tracking_update"')
    if event not in TRACKING_EVENTS:
        return TrackingDelivery(event, None)
    msg = doc.get("msg")
    if not isinstance(msg, dict):
        raise PayloadError(f'"{event}" needs the tracking as its "msg" object')
    return TrackingDelivery(event, tracking_update(msg))
