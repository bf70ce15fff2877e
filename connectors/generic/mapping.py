"""The generic channel's orders are already canonical: validate them and take a copy.

No declarative spec is needed (the sender writes order.v1 itself), so this module only checks
the schema and the few length limits the order tables put on identifiers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from omniroute.mapping import MappingError, validate_order

#: Longest ``external_id`` / ``external_number`` the order table stores.
MAX_EXTERNAL_ID = 128
#: Longest ``channel`` name the order table stores.
MAX_CHANNEL = 64


def to_canonical(order: Mapping[str, Any]) -> dict[str, Any]:
    """A validated copy of a canonical order; raises ``mapping.MappingError``."""
    validate_order(order)
    _check_length(order, "external_id", MAX_EXTERNAL_ID)
    _check_length(order, "external_number", MAX_EXTERNAL_ID)
    _check_length(order, "channel", MAX_CHANNEL)
    return copy.deepcopy(dict(order))


def _check_length(order: Mapping[str, Any], field: str, limit: int) -> None:
    value = order.get(field)
    if isinstance(value, str) and len(value) > limit:
        raise MappingError(f"at most {limit} characters allowed, got {len(value)}", path=field)
