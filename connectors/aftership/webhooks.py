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
from omniroute.connectors.base import PayloadError, keep_headers
from omniroute.connectors.carrier_webhooks import check_signature, event_dedupe_key
from omniroute.connectors.tracking import TrackingDelivery, decode_json

SIGNATURE_HEADER = "aftership-hmac-sha256"
TRACKING_EVENTS = frozenset({"tracking_update"})
KEPT_HEADER_PREFIXES = ("content-type", "user-agent")
DEDUPE_PREFIX = "as:"


def sign(secret: str, body: bytes) -> str:
    """The header value AfterShip sends for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise ``SignatureError`` unless ``aftership-hmac-sha256`` matches the body."""
    check_signature(headers, SIGNATURE_HEADER, lambda: sign(secret, body))


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return keep_headers(headers, KEPT_HEADER_PREFIXES)


def dedupe_key(body: bytes) -> str:
    """``as:`` + the event id; a body without one is keyed by its digest."""
    return event_dedupe_key(body, prefix=DEDUPE_PREFIX, id_field="event_id")


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
