"""Carriers and TMSs that quote and book: the protocols a carrier kind implements, and the
value types they take and return (defined in the pure ``routing.carrier_choice.quotes``).

A carrier is asked for quotes for one shipment (the parcels of a fulfilment order, from a
warehouse to a ship-to address) and answers one ``Quote`` per service it offers there, or
none. Booking asks the chosen carrier for a label of one of those services; the answer is a
``Booking`` (label reference, tracking number, the cost charged).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from omniroute.routing.carrier_choice.quotes import (
    CENT,
    SERVICE_LEVEL_RANK,
    Address,
    Booking,
    BookingRequest,
    Parcel,
    Quote,
    RateRequest,
    cents,
)

__all__ = [
    "CENT",
    "SERVICE_LEVEL_RANK",
    "Address",
    "Booking",
    "BookingRequest",
    "CarrierBooking",
    "CarrierRating",
    "Parcel",
    "Quote",
    "RateRequest",
    "cents",
]


@runtime_checkable
class CarrierRating(Protocol):
    """A carrier that quotes (capability ``CARRIER_RATES``). Example::

        class MyCarrier:
            def quote(self, request):
                if request.destination.country != "US":
                    return ()
                return (Quote("MyCarrier", "ground", "standard", 3, Decimal("7.50"), "USD"),)

    Raise ``TransientError``/``PermanentError`` when the carrier cannot answer; an empty
    tuple means "no service for this shipment"."""

    def serves(self, warehouse_code: str) -> bool:
        """Whether this carrier is configured for that warehouse."""
        ...

    def quote(self, request: RateRequest) -> tuple[Quote, ...]: ...


@runtime_checkable
class CarrierBooking(Protocol):
    """A carrier that books what it quoted (capability ``CARRIER_BOOKING``)."""

    def book(self, request: BookingRequest, quote: Quote) -> Booking: ...
