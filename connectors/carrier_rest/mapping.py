"""The JSON a REST carrier is sent and answers, both ways; pure.

Rates: ``POST <rates_path>`` with ``{"reference", "warehouse_code", "origin", "destination",
"parcels": [{"weight_kg"}], "distance_km"}``, answered ``{"quotes": [{"carrier", "service",
"service_level", "transit_days", "amount", "currency"}]}`` (``carrier`` defaults to the
connector's; ``service_level`` to standard). A quote that cannot be read is skipped, not
guessed; an answer with no ``quotes`` list is a ``PermanentError``.

Booking: ``POST <shipments_path>`` with ``Idempotency-Key`` and ``{"reference", "carrier",
"service", "quoted_amount", "currency", "origin", "destination", "ship_to", "parcels"}``,
answered 2xx (or 409 ``{"duplicate": true, ...}`` for a key it already booked) with
``{"tracking_number", "label_ref" or "label_url", "amount", "currency"}``.

Tracking (a carrier without webhooks, polled): ``GET <tracking_path>`` with the parcel's
number in place of ``{tracking_number}``, answered ``{"tracking_number", "carrier",
"tracking_url", "events": [{"status", "occurred_at", "message", "location"}]}``; 404 for a
number it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from omniroute.connectors.base import PayloadError, PermanentError
from omniroute.connectors.carriers import (
    SERVICE_LEVEL_RANK,
    Address,
    Booking,
    BookingRequest,
    Quote,
    RateRequest,
    cents,
)
from omniroute.connectors.tracking import (
    TrackingEvent,
    TrackingStatus,
    TrackingUpdate,
    parse_time,
)


def address_json(address: Address) -> dict[str, Any]:
    return {
        "country": address.country,
        "postal_code": address.postal_code,
        "region": address.region,
        "city": address.city,
        "residential": address.residential,
    }


def rates_payload(request: RateRequest) -> dict[str, Any]:
    return {
        "reference": request.reference,
        "warehouse_code": request.warehouse_code,
        "origin": address_json(request.origin),
        "destination": address_json(request.destination),
        "parcels": [{"weight_kg": p.weight_kg} for p in request.parcels],
        "distance_km": request.distance_km,
    }


def booking_payload(request: BookingRequest, quote: Quote) -> dict[str, Any]:
    return {
        **rates_payload(request.rates),
        "carrier": quote.carrier,
        "service": request.service,
        "quoted_amount": str(quote.amount),
        "currency": quote.currency,
        "ship_to": dict(request.ship_to),
    }


def read_quotes(doc: Any, default_carrier: str) -> tuple[Quote, ...]:
    if not isinstance(doc, dict) or not isinstance(doc.get("quotes"), list):
        raise PermanentError("carrier rates answer has no quotes list", reason="bad_answer")
    quotes = (_quote(item, default_carrier) for item in doc["quotes"])
    return tuple(q for q in quotes if q is not None)


def _quote(item: Any, default_carrier: str) -> Quote | None:
    if not isinstance(item, dict):
        return None
    service, currency = item.get("service"), item.get("currency")
    days, amount = item.get("transit_days"), _amount(item.get("amount"))
    level = item.get("service_level", "standard")
    carrier = item.get("carrier") or default_carrier
    if (
        not isinstance(service, str)
        or not service
        or not isinstance(currency, str)
        or len(currency) != 3
        or isinstance(days, bool)
        or not isinstance(days, int)
        or days < 0
        or amount is None
        or level not in SERVICE_LEVEL_RANK
        or not isinstance(carrier, str)
    ):
        return None
    return Quote(carrier, service, level, days, amount, currency.upper())


def read_booking(doc: Any, quote: Quote, service: str) -> Booking:
    if not isinstance(doc, dict):
        raise PermanentError("carrier booking answer is not a JSON object", reason="bad_answer")
    number = doc.get("tracking_number")
    if not isinstance(number, str) or not number.strip():
        raise PermanentError("carrier booking answer has no tracking_number", reason="bad_answer")
    label = doc.get("label_ref") or doc.get("label_url")
    amount = _amount(doc.get("amount"))
    currency = doc.get("currency")
    return Booking(
        carrier=str(doc.get("carrier") or quote.carrier),
        service=str(doc.get("service") or service),
        tracking_number=number.strip(),
        label_ref=label if isinstance(label, str) and label else None,
        amount=quote.amount if amount is None else amount,
        currency=currency.upper()
        if isinstance(currency, str) and len(currency) == 3
        else quote.currency,
    )


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return cents(amount) if amount.is_finite() and amount >= 0 else None


def read_tracking(
    doc: Any, number: str, default_carrier: str, status_map: Mapping[str, str]
) -> TrackingUpdate:
    """A tracking answer (``{"tracking_number", "carrier"?, "tracking_url"?, "events": [{"status",
    "occurred_at", "message"?, "location"?}]}``) in the canonical vocabulary: a status is the
    carrier's code looked up in ``status_map`` (case-insensitive), else a canonical name as
    it is, else ``unknown`` (its raw code kept)."""
    if not isinstance(doc, dict):
        raise PayloadError("carrier tracking answer is not a JSON object")
    events = doc.get("events")
    if not isinstance(events, list):
        raise PayloadError("carrier tracking answer has no events list")
    mapped = {code.lower(): status for code, status in status_map.items()}
    read = []
    for n, item in enumerate(events):
        if not isinstance(item, dict):
            raise PayloadError(f"events[{n}] is not an object")
        raw = str(item.get("status") or "").strip()
        if not raw:
            raise PayloadError(f"events[{n}] has no status")
        name = mapped.get(raw.lower(), raw.lower())
        status = TrackingStatus(name) if name in _CANONICAL else TrackingStatus.UNKNOWN
        read.append(
            TrackingEvent(
                status,
                raw,
                parse_time(item.get("occurred_at"), f"events[{n}].occurred_at"),
                _text(item.get("message")),
                _text(item.get("location")),
            )
        )
    url = doc.get("tracking_url")
    return TrackingUpdate(
        str(doc.get("carrier") or default_carrier or "carrier"),
        str(doc.get("tracking_number") or number),
        tuple(read),
        url if isinstance(url, str) and url else None,
    )


_CANONICAL = frozenset(s.value for s in TrackingStatus)


def _text(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) and value else None
