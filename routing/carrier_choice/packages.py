"""The parcels of a fulfilment order, from its lines' SKU weights.

A unit weighs its SKU's ``weight_kg``; a SKU without one weighs ``DEFAULT_UNIT_KG`` (0.5 kg,
a small boxed item: a documented guess, noted in the trace, so a missing weight under-quotes
heavy goods visibly rather than failing the shipment). Units fill parcels in line order up to
``MAX_PARCEL_KG`` (30 kg, the common parcel-carrier limit); a unit heavier than that travels
alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from omniroute.routing.carrier_choice.quotes import Parcel

DEFAULT_UNIT_KG: Final = 0.5
MAX_PARCEL_KG: Final = 30.0


@dataclass(frozen=True, slots=True)
class PackLine:
    sku: str
    quantity: int
    weight_kg: float | None  # per unit; None: unknown


@dataclass(frozen=True, slots=True)
class Packing:
    parcels: tuple[Parcel, ...]
    unweighed_skus: tuple[str, ...]  # SKUs that got DEFAULT_UNIT_KG


def pack(
    lines: Iterable[PackLine],
    *,
    default_unit_kg: float = DEFAULT_UNIT_KG,
    max_parcel_kg: float = MAX_PARCEL_KG,
) -> Packing:
    parcels: list[float] = []
    current = 0.0
    unweighed: dict[str, None] = {}
    for line in lines:
        unit = line.weight_kg
        if unit is None or unit < 0:
            unweighed[line.sku] = None
            unit = default_unit_kg
        for _ in range(max(line.quantity, 0)):
            if current > 0 and current + unit > max_parcel_kg:
                parcels.append(current)
                current = 0.0
            current += unit
    if current > 0 or not parcels:
        parcels.append(current)
    return Packing(tuple(Parcel(round(w, 6)) for w in parcels), tuple(unweighed))
