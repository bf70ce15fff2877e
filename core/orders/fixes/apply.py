"""Putting a person's fixes on a version of an order from its channel (pure).

``fixes`` as kept on the order::

    {"ship_to": {"channel": {...}, "fixed": {...}},
     "quantities": {"<external line id>": {"channel": 3, "fixed": 2}}}

A fixed quantity of 0 takes the line out of the order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def keep_fixes(fixes: Mapping[str, Any] | None, canonical: dict[str, Any]) -> bool:
    """Apply the fixes whose channel value ``canonical`` still carries; True if any was."""
    if not fixes:
        return False
    kept = False
    address = fixes.get("ship_to")
    if address and canonical.get("ship_to") == address.get("channel"):
        canonical["ship_to"] = dict(address["fixed"])
        kept = True
    quantities: Mapping[str, Any] = fixes.get("quantities") or {}
    if quantities:
        lines = []
        for line in canonical.get("lines") or []:
            fix = quantities.get(str(line.get("external_line_id")))
            if fix is not None and line.get("quantity") == fix["channel"]:
                kept = True
                if fix["fixed"] > 0:
                    lines.append({**line, "quantity": fix["fixed"]})
            else:
                lines.append(line)
        canonical["lines"] = lines
    return kept


def fixed_parts(canonical: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """What a fix may change: a version whose fixed parts differ from the stored order's is
    a change to apply, not a redelivery."""
    found = canonical or {}
    return found.get("ship_to"), found.get("lines")
