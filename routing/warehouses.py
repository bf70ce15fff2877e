"""Warehouse and SKU profiles as the router sees them, and a form prepared once for many decisions.

:func:`prepare_warehouses` turns a list of :class:`WarehouseProfile` into a
:class:`WarehouseSet`: the same profiles (it is a sequence of them, usable wherever the list
was), plus what every decision would otherwise work out again per warehouse: the location in
radians and its cosine, the rate table sorted by distance, the location level's name.
``decide`` accepts either; given a plain list it prepares it for that one decision. A caller
that routes many orders against the same warehouses keeps the set and passes it again::

    houses = prepare_warehouses(profiles, reuse=houses)  # the old set if nothing changed
    decide(replace(request, warehouses=houses))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, overload

from routing.geo import GeoPoint, PreparedPoint, prepare_point


@dataclass(frozen=True)
class RateBand:
    """Shipping price up to ``max_km`` from the warehouse: ``base`` + ``per_kg`` x weight."""

    max_km: float
    base: float
    per_kg: float


@dataclass(frozen=True)
class WarehouseProfile:
    warehouse_id: int
    code: str
    priority: int
    enabled: bool = True
    tags: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()  # connector kinds or names served; empty = all
    location: GeoPoint | None = None
    capacity_left: int | None = None  # orders it can still take today; None = no limit
    cutoff_local_time: str | None = None  # "HH:MM" in ``timezone``
    timezone: str = "UTC"
    rate_table: tuple[RateBand, ...] = ()


@dataclass(frozen=True)
class SkuProfile:
    requires: frozenset[str] = frozenset()  # warehouse capabilities needed (cold-chain, ...)
    weight_kg: float | None = None


class Site(NamedTuple):
    """One warehouse's profile and the facts about it that do not change between decisions."""

    profile: WarehouseProfile
    warehouse_id: int
    code: str
    priority: float
    point: PreparedPoint | None
    bands: tuple[RateBand, ...]  # sorted by max_km
    level: str | None  # the location's GeoLevel value, for the trace
    open: bool  # enabled and not out of capacity
    capacity: float | None  # capacity_left as a score; None = no limit
    channels: frozenset[str]
    cutoff: bool  # has a cut-off time (checked for urgent orders only)


def site(w: WarehouseProfile) -> Site:
    """The prepared form of one warehouse."""
    location, capacity, bands = w.location, w.capacity_left, w.rate_table
    # tuple.__new__: a NamedTuple's own __new__ is Python code, ~3x slower per warehouse.
    return tuple.__new__(
        Site,
        (
            w,
            w.warehouse_id,
            w.code,
            float(w.priority),
            None if location is None else prepare_point(location),
            tuple(sorted(bands, key=_reach)) if len(bands) > 1 else bands,
            None if location is None else location.level._value_,  # .value is slow
            w.enabled and (capacity is None or capacity > 0),
            None if capacity is None else float(capacity),
            w.channels,
            bool(w.cutoff_local_time),
        ),
    )


def _reach(band: RateBand) -> float:
    return band.max_km


class WarehouseSet(Sequence[WarehouseProfile]):
    """Candidate warehouses prepared once (see the module docs); a sequence of the profiles."""

    __slots__ = ("profiles", "sites")

    def __init__(self, profiles: Iterable[WarehouseProfile]) -> None:
        self.profiles: tuple[WarehouseProfile, ...] = tuple(profiles)
        self.sites: tuple[Site, ...] = tuple(map(site, self.profiles))

    @overload
    def __getitem__(self, index: int) -> WarehouseProfile: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[WarehouseProfile]: ...

    def __getitem__(self, index: int | slice) -> WarehouseProfile | Sequence[WarehouseProfile]:
        return self.profiles[index]

    def __len__(self) -> int:
        return len(self.profiles)

    def __iter__(self) -> Iterator[WarehouseProfile]:
        return iter(self.profiles)

    def __repr__(self) -> str:
        return f"WarehouseSet({list(self.profiles)!r})"


def prepare_warehouses(
    profiles: Iterable[WarehouseProfile], *, reuse: WarehouseSet | None = None
) -> WarehouseSet:
    """``profiles`` prepared for routing; ``reuse`` itself when it holds equal profiles."""
    given = tuple(profiles)
    if reuse is not None and reuse.profiles == given:
        return reuse
    return WarehouseSet(given)


def sites_of(warehouses: Sequence[WarehouseProfile]) -> tuple[Site, ...]:
    """The prepared sites of ``warehouses``: kept from a WarehouseSet, else worked out now."""
    if isinstance(warehouses, WarehouseSet):
        return warehouses.sites
    return tuple(map(site, warehouses))
