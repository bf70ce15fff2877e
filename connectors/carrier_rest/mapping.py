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
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from omniroute.connectors.base import PermanentError
from omniroute.connectors.carriers import (
    SERVICE_LEVEL_RANK,
    Address,
    Booking,
    BookingRequest,
    Quote,
    RateRequest,
    cents,
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
