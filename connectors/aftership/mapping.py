"""AfterShip delivery statuses (tags) and sub-statuses (subtags) to the canonical vocabulary.

The tag decides, except for the subtags listed in ``SUBTAG`` (``Exception_011``: the
parcel is back with its sender). The raw code is kept as ``tag/subtag``. Checkpoint times
without an offset are taken as UTC (``connectors.tracking.parse_time``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omniroute.connectors.base import PayloadError
from omniroute.connectors.tracking import (
    TrackingEvent,
    TrackingStatus,
    TrackingUpdate,
    parse_time,
    required_text,
    text_or_none,
    with_summary,
)

T = TrackingStatus

TAG: Mapping[str, TrackingStatus] = {
    "Pending": T.UNKNOWN,
    "InfoReceived": T.LABEL_CREATED,
    "InTransit": T.IN_TRANSIT,
    "OutForDelivery": T.OUT_FOR_DELIVERY,
    "AvailableForPickup": T.AVAILABLE_FOR_PICKUP,
    "AttemptFail": T.FAILED_ATTEMPT,
    "Exception": T.EXCEPTION,
    # No news for the tracking's whole life in AfterShip: someone should look at it.
    "Expired": T.EXCEPTION,
    "Delivered": T.DELIVERED,
}

SUBTAG: Mapping[str, TrackingStatus] = {
    "Exception_011": T.RETURNED_TO_SENDER,  # returned to sender (010 is still on its way back)
}

MESSAGE_CHARS = 1000
LOCATION_CHARS = 300


def canonical_status(tag: Any, subtag: Any) -> tuple[TrackingStatus, str]:
    """The canonical status of an AfterShip tag and subtag, and the raw code kept."""
    code = tag if isinstance(tag, str) else ""
    raw = code if not isinstance(subtag, str) or not subtag else f"{code}/{subtag}"
    if isinstance(subtag, str) and subtag in SUBTAG:
        return SUBTAG[subtag], raw
    return TAG.get(code, T.UNKNOWN), raw or "unknown"


def tracking_update(tracking: Mapping[str, Any], where: str = "msg") -> TrackingUpdate:
    """An AfterShip tracking object (a webhook's ``msg``, or ``data.tracking`` of GET
    /trackings) as a tracking update."""
    number = required_text(tracking, "tracking_number", where)
    carrier = required_text(tracking, "slug", where)
    checkpoints = tracking.get("checkpoints") or []
    if not isinstance(checkpoints, list):
        raise PayloadError(f"{where}.checkpoints must be a list")
    events = [_checkpoint(c, f"{where}.checkpoints[{i}]") for i, c in enumerate(checkpoints)]
    status, raw = canonical_status(tracking.get("tag"), tracking.get("subtag"))
    stamp = tracking.get("updated_at") or tracking.get("last_updated_at")
    summary = None
    if stamp:
        summary = TrackingEvent(
            status,
            raw,
            parse_time(stamp, f"{where}.updated_at"),
            message=text_or_none(tracking.get("subtag_message"), MESSAGE_CHARS),
        )
    link = tracking.get("courier_tracking_link") or tracking.get("aftership_tracking_url")
    return TrackingUpdate(
        carrier=carrier,
        tracking_number=number,
        events=with_summary(events, summary),
        tracking_url=text_or_none(link, 1000),
    )


def _checkpoint(checkpoint: Any, where: str) -> TrackingEvent:
    if not isinstance(checkpoint, Mapping):
        raise PayloadError(f"{where} must be an object")
    status, raw = canonical_status(checkpoint.get("tag"), checkpoint.get("subtag"))
    return TrackingEvent(
        status=status,
        raw_status=raw,
        occurred_at=parse_time(checkpoint.get("checkpoint_time"), f"{where}.checkpoint_time"),
        message=text_or_none(checkpoint.get("message"), MESSAGE_CHARS),
        location=_location(checkpoint),
    )


def _location(checkpoint: Mapping[str, Any]) -> str | None:
    if isinstance(checkpoint.get("location"), str) and checkpoint["location"].strip():
        return str(checkpoint["location"]).strip()[:LOCATION_CHARS]
    parts = [checkpoint.get(k) for k in ("city", "state", "zip", "country_iso3")]
    text = ", ".join(str(p).strip() for p in parts if isinstance(p, str) and p.strip())
    return text[:LOCATION_CHARS] or None
