"""The key under which orders consolidate: the same customer, address and service level.

Pure. The customer is the lower-cased e-mail address, else the digits of the customer's
phone number (7 or more); an order with neither is not consolidated, since a name alone does
not tell two customers apart. The address is its lines, city, postal code and country,
compared without case or extra spaces (postal codes without any spaces). The service level
is part of the key so that an express order never waits for, or ships as, a standard one.
Orders from different channels share a key when these agree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

_SPACES = re.compile(r"\s+")
MIN_PHONE_DIGITS = 7


def _text(value: Any) -> str:
    return _SPACES.sub(" ", str(value or "")).strip().casefold()


def customer_identity(email: str | None, phone: str | None) -> str | None:
    """``email:<address>`` or ``phone:<digits>``; None when the customer cannot be told."""
    address = _text(email)
    if address:
        return f"email:{address}"
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) >= MIN_PHONE_DIGITS:
        return f"phone:{digits}"
    return None


def address_identity(ship_to: Mapping[str, Any] | None) -> str | None:
    """The normalised ship-to address; None when it has no street line or no country."""
    if not ship_to:
        return None
    parts = [_text(ship_to.get(k)) for k in ("address1", "address2", "city")]
    postal = _text(ship_to.get("postal_code")).replace(" ", "")
    country = _text(ship_to.get("country"))
    if not parts[0] or not country:
        return None
    return "|".join([*parts, postal, country])


def merge_key(
    *,
    email: str | None,
    phone: str | None,
    ship_to: Mapping[str, Any] | None,
    service_level: str,
) -> str | None:
    """A SHA-256 hex digest of customer, address and service level; None: never merge."""
    customer = customer_identity(email, phone)
    address = address_identity(ship_to)
    if customer is None or address is None:
        return None
    text = "\n".join((customer, address, _text(service_level) or "standard"))
    return hashlib.sha256(text.encode()).hexdigest()
