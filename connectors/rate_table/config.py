"""The validated configuration of a rate-table carrier (connector kind ``carrier_rates``).

Example (a carrier with two zones by distance, a remote area and two services)::

    {
      "carrier": "UPS", "currency": "USD", "warehouses": ["NYC", "LAX"],
      "zones": [
        {"name": "local", "max_km": 300},
        {"name": "national", "countries": ["US"]},
        {"name": "alaska", "postal_prefixes": ["995", "996"]}
      ],
      "services": [
        {"code": "ground", "service_level": "standard", "zones": {
          "local": {"transit_days": 1, "breaks": [{"max_kg": 1, "price": "6.00"},
                                                 {"max_kg": 5, "price": "8.50"}],
                    "per_kg_over": "1.10"},
          "national": {"transit_days": 4, "breaks": [{"max_kg": 5, "price": "12.00"}]}}}
      ],
      "surcharges": {"residential": "3.50", "remote": "15.00",
                     "remote_postal_prefixes": ["967", "968"], "fuel_percent": "12.5"}
    }

A zone is chosen for the ship-to in this order: the zone with the longest postal prefix that
starts the ship-to's postal code (in its ``countries``, if it names any); else the nearest
zone by ``max_km`` the warehouse-to-ship-to distance fits in; else a zone with neither
(a catch-all) whose countries hold the ship-to's. No zone: the carrier offers nothing.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_FROZEN = ConfigDict(extra="forbid", frozen=True)
Level = Literal["standard", "express", "same_day"]


def postal_key(text: str) -> str:
    """A postal code or prefix in the form they are compared in: upper case, no spaces."""
    return "".join(text.split()).upper()


class WeightBreak(BaseModel):
    """The price of a parcel weighing up to ``max_kg``."""

    model_config = _FROZEN
    max_kg: float = Field(gt=0, le=10_000)
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=4)


class ZonePrice(BaseModel):
    """A service in one zone: transit time and the price per parcel by weight."""

    model_config = _FROZEN
    transit_days: int = Field(ge=0, le=60, description="Business days from hand-over")
    breaks: list[WeightBreak] = Field(min_length=1)
    per_kg_over: Decimal | None = Field(
        default=None,
        ge=0,
        description="Per started kg beyond the last break; null: heavier parcels not taken",
    )

    @field_validator("breaks")
    @classmethod
    def _ascending(cls, value: list[WeightBreak]) -> list[WeightBreak]:
        weights = [b.max_kg for b in value]
        if any(a >= b for a, b in itertools.pairwise(weights)):
            raise ValueError("breaks must be in strictly increasing max_kg")
        return value


class Service(BaseModel):
    model_config = _FROZEN
    code: str = Field(min_length=1, max_length=64)
    service_level: Level = "standard"
    zones: dict[str, ZonePrice] = Field(min_length=1)


class Zone(BaseModel):
    model_config = _FROZEN
    name: str = Field(min_length=1, max_length=64)
    countries: list[str] = Field(default_factory=list, description="ISO 3166 alpha-2; [] any")
    postal_prefixes: list[str] = Field(default_factory=list)
    max_km: float | None = Field(default=None, gt=0)

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        return [c.strip().upper() for c in value]

    @field_validator("postal_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        keys = [postal_key(p) for p in value]
        if any(not k for k in keys):
            raise ValueError("a postal prefix must not be empty")
        return keys


class Surcharges(BaseModel):
    """Per shipment: ``residential`` when the ship-to is a home, ``remote`` when its postal
    code starts with one of ``remote_postal_prefixes``; ``fuel_percent`` of the base price
    plus those two."""

    model_config = _FROZEN
    residential: Decimal = Field(default=Decimal(0), ge=0)
    remote: Decimal = Field(default=Decimal(0), ge=0)
    remote_postal_prefixes: list[str] = Field(default_factory=list)
    fuel_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)

    @field_validator("remote_postal_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        return [postal_key(p) for p in value if postal_key(p)]


class RateTableConfig(BaseModel):
    model_config = _FROZEN
    carrier: str = Field(min_length=1, max_length=100, description="As tracking names it")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    warehouses: list[str] = Field(
        default_factory=list, description="Warehouse codes that may use it; [] every one"
    )
    zones: list[Zone] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    surcharges: Surcharges = Surcharges()

    @model_validator(mode="after")
    def _consistent(self) -> RateTableConfig:
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError("zone names must be unique")
        codes = [s.code for s in self.services]
        if len(set(codes)) != len(codes):
            raise ValueError("service codes must be unique")
        for service in self.services:
            unknown = sorted(set(service.zones) - set(names))
            if unknown:
                raise ValueError(f"service {service.code} prices unknown zones: {unknown}")
        return self


class NoSecrets(BaseModel):
    """A rate table has nothing secret."""

    model_config = _FROZEN
