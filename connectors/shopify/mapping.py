"""Shopify order object → canonical order.

The declarative spec ``mapping/specs/shopify.json`` says it all (names are joined and the
service level derived by named transforms), so this module only names the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mapping import map_order

SPEC_NAME = "shopify"


def to_canonical(order: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical order (mapping/schemas/order.v1.json); raises ``mapping.MappingError``."""
    return map_order(SPEC_NAME, order)
