"""Quotes from a rate table: pure arithmetic over its validated configuration.

Per parcel, the price of the first weight break the parcel fits in; beyond the last break,
that break's price plus ``per_kg_over`` for each started kg over it (no ``per_kg_over``: the
service does not take the parcel, and is not quoted). The shipment's base is the sum over
its parcels; surcharges (residential, remote) are per shipment; fuel is a percentage of base
plus surcharges. Every part is rounded to cents, and the total is their sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from omniroute.connectors.carriers import Address, Quote, RateRequest, cents
from omniroute.connectors.rate_table.config import (
    RateTableConfig,
    Service,
    Zone,
    ZonePrice,
    postal_key,
)

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class RateTable:
    """A configuration made ready to quote: zones sorted for the look-ups."""

    config: RateTableConfig
    by_prefix: tuple[tuple[str, Zone], ...]  # longest prefix first
    by_distance: tuple[Zone, ...]  # smallest max_km first
    catch_all: tuple[Zone, ...]

    @classmethod
    def of(cls, config: RateTableConfig) -> RateTable:
        prefixed = [(p, z) for z in config.zones for p in z.postal_prefixes]
        return cls(
            config,
            tuple(sorted(prefixed, key=lambda pz: -len(pz[0]))),
            tuple(sorted((z for z in config.zones if z.max_km), key=lambda z: z.max_km or 0.0)),
            tuple(z for z in config.zones if not z.postal_prefixes and z.max_km is None),
        )

    def zone_for(self, destination: Address, distance_km: float | None) -> Zone | None:
        """The zone the ship-to falls in (see ``config``'s module docs), None if none."""
        country = destination.country.strip().upper()
        postal = postal_key(destination.postal_code)
        if postal:
            for prefix, zone in self.by_prefix:
                if postal.startswith(prefix) and _in(zone, country):
                    return zone
        if distance_km is not None:
            for zone in self.by_distance:
                if distance_km <= (zone.max_km or 0.0) and _in(zone, country):
                    return zone
        return next((z for z in self.catch_all if _in(z, country)), None)

    def quote(self, request: RateRequest) -> tuple[Quote, ...]:
        """Every service offered for the shipment, in the table's order."""
        zone = self.zone_for(request.destination, request.distance_km)
        if zone is None or not request.parcels:
            return ()
        quotes = []
        for service in self.config.services:
            price = service.zones.get(zone.name)
            if price is None:
                continue
            quote = self._priced(service, zone, price, request)
            if quote is not None:
                quotes.append(quote)
        return tuple(quotes)

    def _priced(
        self, service: Service, zone: Zone, price: ZonePrice, request: RateRequest
    ) -> Quote | None:
        parcels = [parcel_price(price, p.weight_kg) for p in request.parcels]
        if any(p is None for p in parcels):
            return None
        base = cents(sum((p for p in parcels if p is not None), Decimal(0)))
        parts: list[tuple[str, Decimal]] = [("base", base)]
        extra = self.config.surcharges
        if request.destination.residential and extra.residential:
            parts.append(("residential", cents(extra.residential)))
        postal = postal_key(request.destination.postal_code)
        if (
            postal
            and extra.remote
            and any(postal.startswith(p) for p in extra.remote_postal_prefixes)
        ):
            parts.append(("remote", cents(extra.remote)))
        if extra.fuel_percent:
            subtotal = sum((amount for _, amount in parts), Decimal(0))
            parts.append(("fuel", cents(subtotal * extra.fuel_percent / _HUNDRED)))
        return Quote(
            carrier=self.config.carrier,
            service=service.code,
            service_level=service.service_level,
            transit_days=price.transit_days,
            amount=sum((amount for _, amount in parts), Decimal(0)),
            currency=self.config.currency,
            zone=zone.name,
            breakdown=tuple(parts),
        )


def parcel_price(price: ZonePrice, weight_kg: float) -> Decimal | None:
    """One parcel's price in a zone; None when it is heavier than the service takes."""
    for weight_break in price.breaks:
        if weight_kg <= weight_break.max_kg:
            return weight_break.price
    if price.per_kg_over is None:
        return None
    last = price.breaks[-1]
    # A tiny float excess (2.0000000001 kg) is not a started kilogram.
    over = math.ceil(round(weight_kg - last.max_kg, 6))
    return last.price + price.per_kg_over * over


def _in(zone: Zone, country: str) -> bool:
    return not zone.countries or country in zone.countries
