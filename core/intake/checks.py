"""Business checks on a canonical order before it may be routed (pure)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from omniroute.core.order_state.ship_to import POSTAL_PATTERNS, Problem, check_ship_to
from omniroute.mapping import alias_to_map

__all__ = ["POSTAL_PATTERNS", "Problem", "check_order", "check_ship_to"]


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
    return check_ship_to(order.get("ship_to") or {})
