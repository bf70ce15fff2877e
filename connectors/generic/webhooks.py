"""Standard Webhooks intake (https://www.standardwebhooks.com, spec 1.0.0): verify and parse.

The sender signs ``{webhook-id}.{webhook-timestamp}.{raw body}`` with HMAC-SHA256; the key is
the secret with its ``whsec_`` prefix removed, base64-decoded. ``webhook-signature`` carries
one or more space-separated ``v1,<base64 signature>`` entries (several during a secret
rotation); one match is enough. ``webhook-timestamp`` is integer unix seconds and must lie
within the tolerance (5 minutes by default) of our clock, which stops replays.

The body is the spec's recommended envelope, with a canonical order (order.v1) as its data::

    {"type": "order.created", "timestamp": "2026-11-27T10:00:00Z", "data": {<canonical order>}}

``type`` is ``order.created``, ``order.updated`` or ``order.cancelled`` (the order is marked
cancelled whatever its ``cancelled`` field says); any other type is acknowledged and ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from omniroute.connectors.base import PayloadError, SignatureError, WebhookEvent, keep_headers

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
#: Stored with the body: the Standard Webhooks id and timestamp (the signature is dropped as
#: secret-looking); ``parse`` reads nothing but the body.
KEPT_HEADER_PREFIXES = ("webhook-", "content-type", "user-agent")
SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's secret prefix, not a secret
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = timedelta(minutes=5)

ORDER_CREATED = "order.created"
ORDER_UPDATED = "order.updated"
ORDER_CANCELLED = "order.cancelled"
ORDER_TYPES = frozenset({ORDER_CREATED, ORDER_UPDATED, ORDER_CANCELLED})

DEDUPE_PREFIX = "wh:"
_MAX_ID_CHARS = 200  # inbox dedupe keys are at most 255 characters
_MIN_KEY_BYTES = 1


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value looked up case-insensitively in any mapping (dict, starlette Headers)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with a delivery (its event type is in the body, not here)."""
    return keep_headers(headers, KEPT_HEADER_PREFIXES)


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional); raises ValueError."""
    text = secret.strip()
    if text.startswith(SECRET_PREFIX):
        text = text[len(SECRET_PREFIX) :]
    padded = text + "=" * (-len(text) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret must be whsec_ followed by base64") from None
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError("the webhook secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature a Standard Webhooks sender puts in ``webhook-signature``."""
    digest = _digest(key, msg_id, timestamp, body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def verify(
    key: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> None:
    """Raise ``SignatureError`` unless the headers carry a fresh, matching v1 signature."""
    msg_id = _required(headers, ID_HEADER)
    stamp = _required(headers, TIMESTAMP_HEADER)
    signatures = _required(headers, SIGNATURE_HEADER)
    timestamp = _timestamp(stamp)
    age = now.timestamp() - timestamp
    if abs(age) > tolerance.total_seconds():
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {int(age)} s away from our clock (at most "
            f"{int(tolerance.total_seconds())} s allowed); check the sender's clock"
        )
    expected = _digest(key, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in _v1_digests(signatures)):
        raise SignatureError(
            f"no {SIGNATURE_HEADER} entry matches the body; check the webhook secret"
        )


def _required(headers: Mapping[str, str], name: str) -> str:
    value = header(headers, name)
    if value is None or not value.strip():
        raise SignatureError(f"missing {name} header")
    return value.strip()


def _timestamp(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be integer unix seconds")
    return int(value)


def _v1_digests(header_value: str) -> list[bytes]:
    """The decoded ``v1,`` entries; other schemes (``v1a``) and malformed entries are skipped."""
    digests = []
    for entry in header_value.split():
        version, sep, value = entry.partition(",")
        if not sep or version != SIGNATURE_VERSION:
            continue
        try:
            digests.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return digests


def dedupe_key(headers: Mapping[str, str], body: bytes) -> str:
    """``wh:`` + the webhook id (the spec's idempotency key), else a digest of the body."""
    msg_id = (header(headers, ID_HEADER) or "").strip()
    if not msg_id:
        return DEDUPE_PREFIX + "sha256:" + hashlib.sha256(body).hexdigest()
    if len(msg_id) > _MAX_ID_CHARS:
        return DEDUPE_PREFIX + "sha256-id:" + hashlib.sha256(msg_id.encode()).hexdigest()
    return DEDUPE_PREFIX + msg_id


def parse(body: bytes) -> WebhookEvent:
    """The event a verified body carries; order events give the canonical order as ``order``."""
    envelope = _decode(body)
    if not isinstance(envelope, dict):
        raise PayloadError(f"webhook body must be a JSON object, got {type(envelope).__name__}")
    event_type = envelope.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise PayloadError('webhook body needs a "type" string such as "order.created"')
    if event_type not in ORDER_TYPES:
        return WebhookEvent(topic=event_type, order=None)
    order = envelope.get("data")
    if not isinstance(order, dict):
        raise PayloadError(f'"{event_type}" needs the canonical order as its "data" object')
    if event_type == ORDER_CANCELLED:
        order = {**order, "cancelled": True}
    external_id = order.get("external_id")
    return WebhookEvent(
        topic=event_type,
        order=order,
        external_id=external_id if isinstance(external_id, str) else None,
    )


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise PayloadError(f"webhook body is not UTF-8: {exc}") from exc
    except ValueError as exc:
        raise PayloadError(f"webhook body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise PayloadError("webhook body is nested too deeply") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
