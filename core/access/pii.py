"""Masking personal data for people whose role lacks ``pii:read`` (pure).

Walks any JSON-like value and replaces, by key, e-mails, phones, people's names and street
lines; a ``name`` (or ``company``) is a person's only inside an address or customer (its
parent's key, or a sibling key such as ``address1`` or ``first_name``), so a product's
name and an order's ``name`` (Shopify's order number) are kept. Any e-mail address inside
other text is masked too.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "•••"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

# Keys compared without case, '_', '-' or spaces.
_ALWAYS = {
    "email",
    "customeremail",
    "contactemail",
    "buyeremail",
    "phone",
    "phonenumber",
    "mobile",
    "telephone",
    "firstname",
    "lastname",
    "fullname",
    "buyername",
    "customername",
    "recipientname",
    "address1",
    "address2",
    "address3",
    "addressline1",
    "addressline2",
    "addressline3",
    "street",
    "street1",
    "street2",
    "streetaddress",
    "line1",
    "line2",
    "line3",
}
_IN_PERSON = {"name", "company", "attention", "latitude", "longitude"}
_PERSON_PARENTS = {
    "shipto",
    "billto",
    "shippingaddress",
    "billingaddress",
    "defaultaddress",
    "address",
    "addresses",
    "customer",
    "buyer",
    "buyerinfo",
    "recipient",
    "shipping",
    "billing",
    "contact",
    "destination",
}
_PERSON_SIBLINGS = {"address1", "firstname", "lastname", "street", "line1"}


def _norm(key: object) -> str:
    return re.sub(r"[\s_\-]", "", str(key)).lower()


def mask_pii(value: Any, *, parent: str = "") -> Any:
    """A copy of ``value`` with personal data masked."""
    if isinstance(value, dict):
        keys = {_norm(k) for k in value}
        personal = _norm(parent) in _PERSON_PARENTS or bool(keys & _PERSON_SIBLINGS)
        out: dict[Any, Any] = {}
        for key, item in value.items():
            norm = _norm(key)
            if (
                item not in (None, "")
                and (norm in _ALWAYS or (personal and norm in _IN_PERSON))
                and not isinstance(item, dict | list)
            ):
                out[key] = MASK
            else:
                out[key] = mask_pii(item, parent=str(key))
        return out
    if isinstance(value, list):
        return [mask_pii(item, parent=parent) for item in value]
    if isinstance(value, str):
        return _EMAIL.sub(MASK, value)
    return value
