"""Carrier tracking: the canonical status vocabulary, its order, and the carrier protocol.

Pure: no I/O, no clock. Carrier connectors map their own codes onto ``TrackingStatus`` and
keep the raw code beside it; the core folds events into a shipment's status with
``advances``.

The order of the statuses (``RANK``)::

    unknown < label_created < in_transit
            < out_for_delivery = available_for_pickup = failed_attempt
            < exception < returned_to_sender < delivered

- ``delivered`` and ``returned_to_sender`` are terminal: once a shipment is in either, no
  event moves it again (a scan after delivery, a late "in transit", a second "delivered").
- ``exception`` ranks above the last-mile statuses, so a problem is not hidden by a routine
  scan that follows it; it is left only for a terminal status.
- Within one rank, the event that happened later wins (a failed attempt, then out for
  delivery again the next day). Between ranks, the higher one wins whenever it happened:
  an older event arriving late never moves a shipment backwards.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from omniroute.connectors.base import PayloadError, PushReceipt


class TrackingStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    FAILED_ATTEMPT = "failed_attempt"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    DELIVERED = "delivered"


T = TrackingStatus
RANK: Mapping[TrackingStatus, int] = {
    T.UNKNOWN: 0,
    T.LABEL_CREATED: 1,
    T.IN_TRANSIT: 2,
    T.OUT_FOR_DELIVERY: 3,
    T.AVAILABLE_FOR_PICKUP: 3,
    T.FAILED_ATTEMPT: 3,
    T.EXCEPTION: 4,
    T.RETURNED_TO_SENDER: 5,
    T.DELIVERED: 6,
}
TERMINAL: frozenset[TrackingStatus] = frozenset({T.DELIVERED, T.RETURNED_TO_SENDER})


def advances(
    current: TrackingStatus,
    current_at: datetime | None,
    incoming: TrackingStatus,
    incoming_at: datetime,
) -> bool:
    """Whether an event (``incoming`` at ``incoming_at``) moves a shipment that is in
    ``current`` since ``current_at`` (None: no event yet). Times are comparable (all naive
    UTC or all aware)."""
    if current in TERMINAL:
        return False
    if current_at is None:
        return True
    if RANK[incoming] != RANK[current]:
        return RANK[incoming] > RANK[current]
    if incoming_at != current_at:
        return incoming_at > current_at
    # The same rank at the same instant: a fixed order, so the result does not depend on
    # which of the two arrived first.
    return incoming.value > current.value


@dataclass(frozen=True)
class TrackingEvent:
    """One checkpoint of a parcel as the carrier reported it."""

    status: TrackingStatus
    raw_status: str  # the carrier's own code(s), e.g. "in_transit/arrived_at_facility"
    occurred_at: datetime  # timezone-aware
    message: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class TrackingUpdate:
    """What one carrier delivery says about one parcel: its checkpoints, oldest first."""

    carrier: str  # the carrier's name as the source spells it ("FedEx", "fedex", "USPS")
    tracking_number: str
    events: tuple[TrackingEvent, ...]
    tracking_url: str | None = None


@dataclass(frozen=True)
class TrackingDelivery:
    """A parsed carrier webhook: ``update`` None means nothing to apply (another event type
    than tracking, a test delivery); the inbox row is marked ignored."""

    topic: str
    update: TrackingUpdate | None


@runtime_checkable
class TrackingSource(Protocol):
    """A carrier or tracking service that posts tracking webhooks (capability
    ``TRACKING_WEBHOOKS``). Intake verifies and stores the delivery like an order webhook;
    processing the inbox row calls ``parse_tracking`` on the stored body. Example::

        class MyCarrier:
            kind = "mycarrier"
            capabilities = frozenset({Capability.TRACKING_WEBHOOKS})

            def verify_webhook(self, headers, body): ...    # raise SignatureError
            def dedupe_key(self, headers, body): ...        # the carrier's event id
            def parse_tracking(self, headers, body):
                doc = decode_json(body)
                events = tuple(
                    TrackingEvent(STATUS[scan["code"]], scan["code"], parse_time(scan["at"], "at"))
                    for scan in doc["scans"]
                )
                return TrackingDelivery("scan", TrackingUpdate("mycarrier", doc["number"], events))
    """

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None: ...

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str: ...

    def parse_tracking(self, headers: Mapping[str, str], body: bytes) -> TrackingDelivery | None:
        """The tracking a stored delivery carries; raise ``PayloadError`` if it cannot be read.
        None only from a source that also sends orders: this delivery is an order event."""
        ...


#: The header a polled tracking answer is stored with: the number it was asked for.
TRACKING_NUMBER_HEADER = "x-tracking-number"


@runtime_checkable
class TrackingPoller(Protocol):
    """A carrier without webhooks, asked for its parcels' tracking (capability
    ``TRACKING_POLL``). The poll stores each answer raw as an inbox row (deduplicated by its
    content), and processing it calls ``parse_tracking`` as for a webhook delivery."""

    def poll_tracking(self, tracking_number: str) -> bytes | None:
        """The carrier's tracking of one parcel as it answered it (None: it does not know
        the number); raise ``TransientError`` to try the poll again later."""
        ...

    def parse_tracking(
        self, headers: Mapping[str, str], body: bytes
    ) -> TrackingDelivery | None: ...


@dataclass(frozen=True)
class TrackingNotice:
    """A shipment's tracking status changed: tell the channel its order came from."""

    external_order_id: str
    shipment_ref: str  # omniroute's shipment id, as the fulfilment push named it
    status: TrackingStatus
    occurred_at: datetime  # timezone-aware: when the carrier saw it
    idempotency_key: str
    carrier: str | None = None
    tracking_number: str | None = None  # as the warehouse confirmed it
    message: str | None = None
    location: str | None = None


@runtime_checkable
class TrackingSink(Protocol):
    """A channel that takes delivery status of the shipments it was told of (capability
    ``TRACKING_PUSH``). Statuses it has no word for are skipped, not refused. Example::

        def push_tracking(self, notice):
            status = MY_STATUS.get(notice.status)
            if status is None:
                return PushReceipt(external_ref=None, attempts=0)
            self.client.add_event(notice.external_order_id, notice.tracking_number, status)
            return PushReceipt(external_ref=None, attempts=1)
    """

    def push_tracking(self, notice: TrackingNotice) -> PushReceipt: ...


def normalise_tracking_number(number: str) -> str:
    """The form tracking numbers are matched in: no whitespace, upper case."""
    return "".join(number.split()).upper()


def normalise_carrier(name: str | None) -> str:
    """The form carrier names are compared in: letters and digits only, lower case
    ("FedEx", "fedex", "Fed Ex" are one carrier)."""
    return "".join(ch for ch in (name or "").lower() if ch.isalnum())


def event_key(carrier: str, tracking_number: str, event: TrackingEvent) -> str:
    """A stable key of one checkpoint: the same scan sent again (every EasyPost and
    AfterShip delivery repeats the whole history) has the same key."""
    return event_keys(carrier, tracking_number, (event,))[0]


def event_keys(carrier: str, tracking_number: str, events: Sequence[TrackingEvent]) -> list[str]:
    """``event_key`` of each of one parcel's checkpoints (its names normalised once)."""
    head = f"{normalise_carrier(carrier)}\x1f{normalise_tracking_number(tracking_number)}\x1f"
    return [
        "trk:"
        + hashlib.sha256(
            (
                f"{head}{event.occurred_at.astimezone(UTC).isoformat()}\x1f{event.raw_status}"
                f"\x1f{event.message or ''}\x1f{event.location or ''}"
            ).encode()
        ).hexdigest()
        for event in events
    ]


def decode_json(body: bytes) -> Any:
    """A webhook body as JSON; ``PayloadError`` saying why it is not."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadError(f"webhook body is not UTF-8: {exc}") from exc
    except ValueError as exc:
        raise PayloadError(f"webhook body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise PayloadError("webhook body is nested too deeply") from None


def parse_time(value: Any, where: str) -> datetime:
    """An ISO 8601 time as an aware datetime; one without an offset is taken as UTC (some
    carriers send local times without one, and there is nothing better to assume)."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{where} must be an ISO 8601 time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{where} is not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def text_or_none(value: Any, limit: int) -> str | None:
    """A non-empty string cut to ``limit`` characters, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def required_text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise PayloadError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return str(value).strip()


def with_summary(
    events: list[TrackingEvent], summary: TrackingEvent | None
) -> tuple[TrackingEvent, ...]:
    """The checkpoints oldest first, plus the tracker's overall status as one more event when
    it ranks above every checkpoint (a tracker marked delivered whose last scan is missing)."""
    ordered = sorted(events, key=lambda e: e.occurred_at)
    if summary is not None and all(RANK[summary.status] > RANK[e.status] for e in ordered):
        ordered.append(summary)
    return tuple(ordered)
