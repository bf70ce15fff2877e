"""The checks of an order's shipping address (pure): the same for an order the channel
sent (core/intake/checks.py) and an address a person fixed (core/orders/address_fix.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Postal code shapes for the countries we see most; other countries only need a value.
POSTAL_PATTERNS: dict[str, re.Pattern[str]] = {
    "US": re.compile(r"^\d{5}(-?\d{4})?$"),
    "CA": re.compile(r"^[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d$"),
    "GB": re.compile(r"^[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}$"),
    "DE": re.compile(r"^\d{5}$"),
    "FR": re.compile(r"^\d{5}$"),
    "NL": re.compile(r"^\d{4} ?[A-Za-z]{2}$"),
    "CN": re.compile(r"^\d{6}$"),
    "JP": re.compile(r"^\d{3}-?\d{4}$"),
    "AU": re.compile(r"^\d{4}$"),
}


@dataclass(frozen=True)
class Problem:
    reason: str  # an exception reason code
    field: str
    message: str
    # unknown_sku: the alias that would map the line (its channel SKU, else variant:<id>)
    alias: str | None = None

    def as_dict(self) -> dict[str, str]:
        found = {"reason": self.reason, "field": self.field, "message": self.message}
        return found if self.alias is None else found | {"alias": self.alias}


def check_ship_to(ship_to: Mapping[str, Any]) -> list[Problem]:
    """The address checks of an order that ships (country, postal code shape, street)."""
    country = (ship_to.get("country") or "").strip().upper()
    postal = (ship_to.get("postal_code") or "").strip()
    if not country:
        return [Problem("bad_address", "ship_to.country", "the shipping address has no country")]
    if not postal:
        return [
            Problem("bad_address", "ship_to.postal_code", "the shipping address has no postal code")
        ]
    pattern = POSTAL_PATTERNS.get(country)
    if pattern is not None and not pattern.match(postal):
        return [
            Problem(
                "bad_address",
                "ship_to.postal_code",
                f"{postal!r} is not a valid postal code for {country}",
            )
        ]
    if not any(str(ship_to.get(part) or "").strip() for part in ("address1", "address2")):
        return [Problem("bad_address", "ship_to.address1", "the shipping address has no street")]
    return []
