"""Business checks on a canonical order before it may be routed (pure)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from omniroute.mapping import alias_to_map

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


def check_order(order: Mapping[str, Any], known_skus: Collection[str]) -> list[Problem]:
    return [*_check_lines(order, known_skus), *_check_address(order)]


def _check_lines(order: Mapping[str, Any], known_skus: Collection[str]) -> list[Problem]:
    problems = []
    for i, line in enumerate(order.get("lines") or []):
        qty = line.get("quantity")
        if not isinstance(qty, int) or qty <= 0:
            problems.append(
                Problem(
                    "bad_quantity",
                    f"lines[{i}].quantity",
                    f"quantity must be a positive whole number, got {qty!r}",
                )
            )
        if not line.get("requires_shipping", True):
            continue  # digital goods and gift cards: no warehouse, no catalogue SKU needed
        sku = line.get("sku")
        if not sku or sku not in known_skus:
            problems.append(_unknown_sku(i, line))
    return problems


def _unknown_sku(index: int, line: Mapping[str, Any]) -> Problem:
    """What to map, exactly: an alias of the line's channel SKU, or of its variant."""
    alias = alias_to_map(line)
    named = f"line {line.get('external_line_id')!r} ({line.get('title') or 'no title'})"
    if alias is None:
        message = f"{named} has no SKU, channel SKU or variant id to map"
    elif line.get("channel_sku"):
        message = (
            f"{named}: SKU {line['channel_sku']!r} is not in the catalogue and has no alias; "
            f"add the alias {alias!r} for this channel (POST /api/v1/sku-aliases)"
        )
    else:
        message = (
            f"{named} has no SKU and its variant {line.get('variant_id')!r} is not mapped; "
            f"add the alias {alias!r} for this channel (POST /api/v1/sku-aliases), or list "
            "the SKU for this channel with that variant id as its channel_ref"
        )
    return Problem("unknown_sku", f"lines[{index}].sku", message, alias)


def _check_address(order: Mapping[str, Any]) -> list[Problem]:
    lines = order.get("lines") or []
    if not any(line.get("requires_shipping", True) for line in lines):
        return []
    ship_to = order.get("ship_to") or {}
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
