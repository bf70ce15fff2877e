"""Tracking on the generic signed webhook: a ``tracking.updated`` event (pure).

Signed and enveloped like the order events (``connectors.generic.webhooks``); its data is
one parcel and its checkpoints in omniroute's canonical statuses::

    {"type": "tracking.updated", "timestamp": "2026-11-27T10:00:00Z",
     "data": {"carrier": "ups", "tracking_number": "1Z999AA10123456784",
              "tracking_url": "https://...",                     (optional)
              "events": [{"status": "in_transit",                (connectors.tracking)
                          "occurred_at": "2026-11-27T09:12:00Z", (ISO 8601, offset or UTC)
                          "raw_status": "IT",                    (optional: the sender's code)
                          "message": "Departed facility",        (optional)
                          "location": "Leeds, GB"}]}}            (optional)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omniroute.connectors.base import PayloadError
from omniroute.connectors.tracking import (
    TrackingDelivery,
    TrackingEvent,
    TrackingStatus,
    TrackingUpdate,
    decode_json,
    parse_time,
    required_text,
    text_or_none,
)

TRACKING_UPDATED = "tracking.updated"
_MARKER = TRACKING_UPDATED.encode()
MAX_EVENTS = 500


def parse_tracking(body: bytes) -> TrackingDelivery | None:
    """The tracking a generic webhook carries; None when it is not a tracking event."""
    if _MARKER not in body:  # cheap: an order event is not decoded twice
        return None
    envelope = decode_json(body)
    if not isinstance(envelope, dict) or envelope.get("type") != TRACKING_UPDATED:
        return None
    data = envelope.get("data")
    if not isinstance(data, Mapping):
        raise PayloadError(f'"{TRACKING_UPDATED}" needs the parcel as its "data" object')
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise PayloadError("data.events must be a non-empty list of checkpoints")
    if len(events) > MAX_EVENTS:
        raise PayloadError(f"data.events has {len(events)} checkpoints; at most {MAX_EVENTS}")
    update = TrackingUpdate(
        carrier=required_text(data, "carrier", "data"),
        tracking_number=required_text(data, "tracking_number", "data"),
        events=tuple(
            sorted(
                (_event(e, f"data.events[{i}]") for i, e in enumerate(events)),
                key=lambda e: e.occurred_at,
            )
        ),
        tracking_url=text_or_none(data.get("tracking_url"), 1000),
    )
    return TrackingDelivery(TRACKING_UPDATED, update)


def _event(event: Any, where: str) -> TrackingEvent:
    if not isinstance(event, Mapping):
        raise PayloadError(f"{where} must be an object")
    status = event.get("status")
    try:
        canonical = TrackingStatus(status if isinstance(status, str) else "")
    except ValueError:
        allowed = ", ".join(s.value for s in TrackingStatus)
        raise PayloadError(f"{where}.status must be one of {allowed}; got {status!r}") from None
    raw = text_or_none(event.get("raw_status"), 200) or canonical.value
    return TrackingEvent(
        status=canonical,
        raw_status=raw,
        occurred_at=parse_time(event.get("occurred_at"), f"{where}.occurred_at"),
        message=text_or_none(event.get("message"), 1000),
        location=text_or_none(event.get("location"), 300),
    )
