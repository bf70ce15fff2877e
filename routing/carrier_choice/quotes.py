"""What carriers are asked for and answer: addresses, parcels, quotes, bookings. Pure value
types shared by the choice (here) and the carrier connectors (``connectors/carriers.py``
re-exports them with the protocols a carrier kind implements). Money is ``Decimal`` in the
quote's currency, rounded to cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")

#: Service levels from the least to the most urgent; a service meets an order's level when
#: its own ranks at least as high (an express service may carry a standard order).
SERVICE_LEVEL_RANK = {"standard": 0, "express": 1, "same_day": 2}


def cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half up to cents."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Address:
    """Where a shipment goes from or to; ``residential`` matters only for the ship-to."""

    country: str
    postal_code: str = ""
    region: str | None = None
    city: str | None = None
    residential: bool = False


@dataclass(frozen=True, slots=True)
class Parcel:
    """One package: its weight in kg (never negative)."""

    weight_kg: float


@dataclass(frozen=True, slots=True)
class RateRequest:
    """Quotes asked for one shipment. ``distance_km``: warehouse to ship-to, when the caller
    could place both (zones by distance need it; zones by postal prefix do not)."""

    reference: str  # e.g. "fo-42": the fulfilment order the quotes are for
    warehouse_code: str
    origin: Address
    destination: Address
    parcels: tuple[Parcel, ...]
    distance_km: float | None = None

    @property
    def weight_kg(self) -> float:
        return sum(p.weight_kg for p in self.parcels)


@dataclass(frozen=True, slots=True)
class Quote:
    """One service a carrier offers for a shipment, and what it costs."""

    carrier: str  # the carrier's name, as tracking events also name it ("UPS")
    service: str  # the carrier's service code ("ground")
    service_level: str  # the level it meets: standard, express, same_day
    transit_days: int  # business days from hand-over to delivery
    amount: Decimal
    currency: str
    zone: str | None = None
    breakdown: tuple[tuple[str, Decimal], ...] = ()  # ("base", 8.40), ("fuel", 0.84), ...

    def to_json(self) -> dict[str, object]:
        return {
            "carrier": self.carrier,
            "service": self.service,
            "service_level": self.service_level,
            "transit_days": self.transit_days,
            "amount": str(self.amount),
            "currency": self.currency,
            "zone": self.zone,
            "breakdown": {name: str(value) for name, value in self.breakdown},
        }


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """Book ``service`` for a shipment; the carrier must dedupe on ``idempotency_key``."""

    rates: RateRequest
    service: str
    idempotency_key: str
    ship_to: dict[str, object]  # the order's ship-to as the carrier needs it on the label


@dataclass(frozen=True, slots=True)
class Booking:
    """What the carrier answered a booking with."""

    carrier: str
    service: str
    tracking_number: str
    label_ref: str | None
    amount: Decimal
    currency: str
