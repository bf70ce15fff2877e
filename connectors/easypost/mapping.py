"""EasyPost tracker statuses to the canonical vocabulary (pure).

A Tracker and each of its ``tracking_details`` carry a ``status`` and a finer
``status_detail``. The status decides, except where a detail says more (a parcel "in
transit" whose detail is ``arrived_at_pickup_location`` waits at a pickup point). The raw
code is kept as ``status/status_detail``.
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

STATUS: Mapping[str, TrackingStatus] = {
    "unknown": T.UNKNOWN,
    "pre_transit": T.LABEL_CREATED,
    "in_transit": T.IN_TRANSIT,
    "out_for_delivery": T.OUT_FOR_DELIVERY,
    "available_for_pickup": T.AVAILABLE_FOR_PICKUP,
    "delivered": T.DELIVERED,
    "return_to_sender": T.RETURNED_TO_SENDER,
    "failure": T.EXCEPTION,
    "error": T.EXCEPTION,
    "cancelled": T.EXCEPTION,
}

# Details that say more than their status, for statuses still on the way.
DETAIL: Mapping[str, TrackingStatus] = {
    "arrived_at_pickup_location": T.AVAILABLE_FOR_PICKUP,
    "delivery_attempted": T.FAILED_ATTEMPT,
    "attempted_delivery": T.FAILED_ATTEMPT,
    "address_correction": T.EXCEPTION,
    "damaged": T.EXCEPTION,
    "delivery_exception": T.EXCEPTION,
    "lost": T.EXCEPTION,
    "refused": T.EXCEPTION,
    "return_to_sender": T.RETURNED_TO_SENDER,
}
_REFINED = frozenset({T.IN_TRANSIT, T.OUT_FOR_DELIVERY, T.UNKNOWN})

MESSAGE_CHARS = 1000
LOCATION_CHARS = 300


def canonical_status(status: Any, detail: Any) -> tuple[TrackingStatus, str]:
    """The canonical status of an EasyPost status and detail, and the raw code kept."""
    code = status if isinstance(status, str) else ""
    raw = code if not isinstance(detail, str) or not detail else f"{code}/{detail}"
    mapped = STATUS.get(code, T.UNKNOWN)
    if mapped in _REFINED and isinstance(detail, str) and detail in DETAIL:
        mapped = DETAIL[detail]
    return mapped, raw or "unknown"


def tracker_update(tracker: Mapping[str, Any]) -> TrackingUpdate:
    """A Tracker object (webhook ``result`` or GET /trackers/:id) as a tracking update."""
    where = "result"
    number = required_text(tracker, "tracking_code", where)
    carrier = required_text(tracker, "carrier", where)
    details = tracker.get("tracking_details") or []
    if not isinstance(details, list):
        raise PayloadError(f"{where}.tracking_details must be a list")
    events = [_detail(d, f"{where}.tracking_details[{i}]") for i, d in enumerate(details)]
    status, raw = canonical_status(tracker.get("status"), tracker.get("status_detail"))
    summary = None
    if tracker.get("updated_at"):
        summary = TrackingEvent(
            status, raw, parse_time(tracker["updated_at"], f"{where}.updated_at")
        )
    return TrackingUpdate(
        carrier=carrier,
        tracking_number=number,
        events=with_summary(events, summary),
        tracking_url=text_or_none(tracker.get("public_url"), 1000),
    )


def _detail(detail: Any, where: str) -> TrackingEvent:
    if not isinstance(detail, Mapping):
        raise PayloadError(f"{where} must be an object")
    status, raw = canonical_status(detail.get("status"), detail.get("status_detail"))
    return TrackingEvent(
        status=status,
        raw_status=raw,
        occurred_at=parse_time(detail.get("datetime"), f"{where}.datetime"),
        message=text_or_none(detail.get("message") or detail.get("description"), MESSAGE_CHARS),
        location=_location(detail.get("tracking_location")),
    )


def _location(location: Any) -> str | None:
    if not isinstance(location, Mapping):
        return None
    parts = []
    for key in ("city", "state", "zip", "country"):
        part = location.get(key)
        if isinstance(part, str) and (part := part.strip()):
            parts.append(part)
    return ", ".join(parts)[:LOCATION_CHARS] or None
