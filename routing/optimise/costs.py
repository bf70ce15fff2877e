"""What one shipment costs under a rule set's objective, warehouse by warehouse.

A plan's objective is the sum over its shipments of ``fixed`` (the weights of a shipment, its
rate band's base price, its distance and the share of the warehouse's remaining capacity it
takes) plus, for every unit shipped, ``per_kg`` of its warehouse times the unit's weight (the
rate band's price per kg). Unknown values (a warehouse or ship-to with no place, no rate band
reaching that far) count as the worst known one, so that they never look attractive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from omniroute.routing.rule_model import Objective
from omniroute.routing.warehouses import RateBand


@dataclass(frozen=True)
class Costs:
    """The objective's coefficients, by warehouse position (the same positions as the stock
    rows the search reads), and each SKU's weight in kg."""

    objective: Objective
    fixed: tuple[float, ...]
    per_kg: tuple[float, ...]
    kg: Mapping[str, float]

    def unit(self, n: int, sku: str) -> float:
        """What one unit of ``sku`` shipped from warehouse ``n`` adds to the objective."""
        return self.per_kg[n] * self.kg.get(sku, 0.0)


def uniform_costs(objective: Objective, warehouses: int) -> Costs:
    """Costs of an objective that weighs shipments only: the same for every warehouse."""
    return Costs(objective, (objective.shipments,) * warehouses, (0.0,) * warehouses, {})


def shipment_costs(
    objective: Objective,
    *,
    distance_km: Sequence[float | None],
    bands: Sequence[tuple[RateBand, ...]],
    capacity_left: Sequence[float | None],
    kg: Mapping[str, float],
) -> Costs:
    """The coefficients of ``objective`` for warehouses with these distances to the ship-to
    (km; None: unknown), rate tables and capacities left today (None: no limit)."""
    known_km = [km for km in distance_km if km is not None]
    far = max(known_km, default=0.0)
    prices = [_band(b, km) for b, km in zip(bands, distance_km, strict=True)]
    known = [p for p in prices if p is not None]
    dearest = (max((p[0] for p in known), default=0.0), max((p[1] for p in known), default=0.0))
    fixed: list[float] = []
    per_kg: list[float] = []
    for km, price, cap in zip(distance_km, prices, capacity_left, strict=True):
        base, kg_price = dearest if price is None else price
        share = 0.0 if cap is None else 1.0 / max(cap, 1.0)
        fixed.append(
            objective.shipments
            + objective.cost * base
            + objective.distance_km * (far if km is None else km)
            + objective.capacity * share
        )
        per_kg.append(objective.cost * kg_price)
    return Costs(objective, tuple(fixed), tuple(per_kg), dict(kg))


def _band(bands: tuple[RateBand, ...], km: float | None) -> tuple[float, float] | None:
    """(base, per kg) of the first band reaching ``km`` (bands sorted by ``max_km``)."""
    if km is None:
        return None
    for band in bands:
        if km <= band.max_km:
            return band.base, band.per_kg
    return None
