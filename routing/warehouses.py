"""Warehouse and SKU profiles as the router sees them, and a form prepared once for many decisions.

:func:`prepare_warehouses` turns a list of :class:`WarehouseProfile` into a
:class:`WarehouseSet`: the same profiles (it is a sequence of them, usable wherever the list
was), plus what every decision would otherwise work out again per warehouse: the location in
radians and its cosine, the rate table sorted by distance, the location level's name, the
distinct shipping calendars (a warehouse's ship date is worked out once per calendar and
decision, see :func:`ship_days`), and every field as a column (:class:`Columns`) with what the
filters and the ranking ask of all the warehouses at once. Between decisions a set also
remembers what depends only on itself and a few inputs: its distances from each ship-to, the
ship dates of the last minute, and a ranking that no per-order criterion can change (bounded;
each is the very same answer worked out afresh). ``decide`` accepts either; given a plain list
it prepares it for that one decision. A caller that routes many orders against
the same warehouses keeps the set and passes it again::

    houses = prepare_warehouses(profiles, reuse=houses)  # the old set if nothing changed
    decide(replace(request, warehouses=houses))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, NamedTuple, overload
from zoneinfo import ZoneInfo

from omniroute.routing.geo import GeoPoint, PreparedPoint, distances_km, prepare_point
from omniroute.routing.ranking import distances_in_tenths


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
    closed_weekdays: frozenset[int] = frozenset()  # local weekdays it never ships, Mon=0
    holidays: frozenset[date] = frozenset()  # local dates it does not ship
    # Units of every SKU held back from a channel: (connector kind or name, units), sorted.
    channel_buffers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class SkuProfile:
    requires: frozenset[str] = frozenset()  # warehouse capabilities needed (cold-chain, ...)
    weight_kg: float | None = None


# What a warehouse's ship date depends on besides the time, one key per calendar: its time
# zone, cut-off ("HH:MM" or None), closed weekdays and holidays; or only the time zone when
# it has none of the others (most warehouses: a str hashes from its cache). Built for every
# warehouse of every decision given a list, so kept cheap: no NamedTuple.
Shipping = str | tuple[str, str | None, frozenset[int], frozenset[date]]
NO_DAYS: frozenset[Any] = frozenset()


class ShipDay(NamedTuple):
    """When a warehouse ships an order decided now, and why not today if it does not."""

    date: date | None  # its local date; None: closed every weekday, it never ships
    days: float | None  # days from its local today (the ship_date criterion)
    iso: str | None  # ``date`` for the trace
    late: str | None  # why not today (a missed cut-off or a closed day); None: today
    cause: str | None = None  # "cutoff_missed" or "calendar" when ``late``


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
    limited: bool  # has a cut-off time or closed days (checked for urgent orders only)
    shipping: Shipping
    buffers: tuple[tuple[str, int], ...]  # the profile's channel_buffers


def site(w: WarehouseProfile) -> Site:
    """The prepared form of one warehouse."""
    location, capacity, bands = w.location, w.capacity_left, w.rate_table
    limited = bool(w.cutoff_local_time or w.closed_weekdays or w.holidays)
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
            limited,
            (w.timezone, w.cutoff_local_time, w.closed_weekdays, w.holidays)
            if limited
            else w.timezone,
            w.channel_buffers,
        ),
    )


def _reach(band: RateBand) -> float:
    return band.max_km


class Columns(NamedTuple):
    """Some sites' fields a column each (``Site`` order), and what the hot path asks of them."""

    profiles: tuple[WarehouseProfile, ...]
    ids: tuple[int, ...]
    codes: tuple[str, ...]
    priorities: tuple[float, ...]
    points: tuple[PreparedPoint | None, ...]
    bands: tuple[tuple[RateBand, ...], ...]
    levels: tuple[str | None, ...]
    open: tuple[bool, ...]
    capacities: tuple[float | None, ...]
    channels: tuple[frozenset[str], ...]
    limited: tuple[bool, ...]
    shipping: tuple[Shipping, ...]
    buffers: tuple[tuple[tuple[str, int], ...], ...]
    by_code: tuple[int, ...]  # positions sorted by (code, id): the ranking's last tie-breaks
    located: bool  # every site has a location
    priced: bool  # some site has a rate table
    capped: bool  # some site has a capacity limit
    buffered: bool  # some site holds stock back from some channel
    all_open: bool  # every site is enabled with capacity left
    any_channels: bool  # some site serves only some channels
    any_limited: bool  # some site has a cut-off or closed days
    integral: bool  # every priority is an int (so finite, boosted or not)


def columns(sites: Sequence[Site]) -> Columns:
    """The columns of ``sites``."""
    fields = tuple(zip(*sites, strict=True)) or ((),) * len(Site._fields)
    ids, codes = list(fields[1]), list(fields[2])  # a list's __getitem__ is the faster key
    # Two stable passes on plain keys: the same order as sorting on (code, id), cheaper.
    by_code = sorted(range(len(sites)), key=ids.__getitem__)
    by_code.sort(key=codes.__getitem__)
    return Columns._make(
        (
            *fields,  # Site's fields, in order
            tuple(by_code),
            None not in fields[4],
            any(fields[5]),
            fields[8].count(None) < len(sites),
            any(fields[12]),
            all(fields[7]),
            any(fields[9]),
            any(fields[10]),
            all(type(w.priority) is int for w in fields[0]),
        )
    )


class WarehouseSet(Sequence[WarehouseProfile]):
    """Candidate warehouses prepared once (see the module docs); a sequence of the profiles.

    It also remembers the distances of its warehouses from the last ``MAX_PLACES`` ship-tos
    it was asked about (orders to one postal code share them); they depend on nothing else.
    """

    __slots__ = (
        "_km",
        "_ranked",
        "_ships",
        "_tenths",
        "calendars",
        "columns",
        "profiles",
        "sites",
    )

    MAX_PLACES = 2048  # ship-tos remembered per kind of distance; past that, forgotten at once

    def __init__(self, profiles: Iterable[WarehouseProfile]) -> None:
        self.profiles: tuple[WarehouseProfile, ...] = tuple(profiles)
        self.sites: tuple[Site, ...] = tuple(map(site, self.profiles))
        self.calendars: tuple[Shipping, ...] = tuple({s.shipping: None for s in self.sites})
        self.columns: Columns = columns(self.sites)
        self._tenths: dict[tuple[float, float], list[float | None]] = {}
        self._km: dict[tuple[float, float], list[float | None]] = {}
        # Rankings settled before any per-order criterion (ranking.settled_order), by
        # ship-to, ranking chain and boosts; None: they do not settle it.
        self._ranked: dict[Hashable, tuple[int, ...] | None] = {}
        # The ship dates of the last minute asked about: (its start, its end, the dates).
        self._ships: tuple[datetime, datetime, dict[Shipping, ShipDay]] | None = None

    def distances_in_tenths(self, to: GeoPoint) -> list[float | None]:
        """``ranking.distances_in_tenths`` from ``to`` to every site (in ``sites`` order),
        remembered. The list is shared: read it, never change it."""
        key = (to.lat, to.lon)
        found = self._tenths.get(key)
        if found is None:
            found = distances_in_tenths(prepare_point(to), self.columns.points)
            _remember(self._tenths, key, found, self.MAX_PLACES)
        return found

    def ranked(
        self, key: Hashable, settle: Callable[[], list[int] | None]
    ) -> tuple[int, ...] | None:
        """The ranking of all the warehouses that ``settle`` gives (None: not settled),
        remembered under ``key``: what it depends on (ship-to, ranking chain, boosts)."""
        try:
            return self._ranked[key]
        except KeyError:
            found = settle()
            order = None if found is None else tuple(found)
            if len(self._ranked) >= self.MAX_PLACES:
                self._ranked.clear()
            self._ranked[key] = order
            return order

    def distances_km(self, to: GeoPoint) -> list[float | None]:
        """``geo.distances_km`` from ``to`` to every site (in ``sites`` order), remembered
        and shared like :meth:`distances_in_tenths`."""
        key = (to.lat, to.lon)
        found = self._km.get(key)
        if found is None:
            found = distances_km(prepare_point(to), self.columns.points)
            _remember(self._km, key, found, self.MAX_PLACES)
        return found

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


def _remember(
    memo: dict[tuple[float, float], list[float | None]],
    key: tuple[float, float],
    value: list[float | None],
    most: int,
) -> None:
    if len(memo) >= most:
        memo.clear()  # cheaper than keeping an order of use; a ship-to's figures come back
    memo[key] = value


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


def columns_of(warehouses: Sequence[WarehouseProfile], sites: Sequence[Site]) -> Columns:
    """The columns of ``sites`` (those of ``warehouses``): kept from a WarehouseSet, else now."""
    if isinstance(warehouses, WarehouseSet):
        return warehouses.columns
    return columns(sites)


def channel_buffer(buffers: Mapping[str, int], kind: str, name: str) -> int:
    """Units held back from a channel: the entry for its connector name, else for its kind."""
    units = buffers.get(name)
    return buffers.get(kind, 0) if units is None else units


def held_back(site: Site, kind: str, name: str) -> int:
    """Units ``site`` holds back from the channel of connector kind ``kind``, named ``name``."""
    return channel_buffer(dict(site.buffers), kind, name) if site.buffers else 0


def ship_days(
    warehouses: Sequence[WarehouseProfile], sites: Iterable[Site], now: datetime
) -> dict[Shipping, ShipDay]:
    """The ship date of every calendar among ``sites`` for an order decided at ``now``."""
    if not isinstance(warehouses, WarehouseSet):
        minute = now.replace(second=0, microsecond=0)
        return {key: _ship_day_in(key, minute) for key in {s.shipping: None for s in sites}}
    last = warehouses._ships
    # Orders decided in the same minute share it (see _ship_day_in). Only for a fixed UTC
    # offset, where the minute's bounds compare like its local fields (no fold to mind).
    if (
        last is not None
        and type(now.tzinfo) is timezone
        and last[0].tzinfo is now.tzinfo
        and last[0] <= now < last[1]
    ):
        return last[2]
    minute = now.replace(second=0, microsecond=0)
    ships = {key: _ship_day_in(key, minute) for key in warehouses.calendars}
    if type(now.tzinfo) is timezone:
        warehouses._ships = (minute, minute + ONE_MINUTE, ships)
    return ships


ONE_MINUTE = timedelta(minutes=1)


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@functools.lru_cache(maxsize=4096)
def _ship_day_in(key: Shipping, minute: datetime) -> ShipDay:
    # Cut-offs are whole minutes and so are UTC offsets (but some before ~1970): the ship
    # date is the same all through a minute, so orders of the same minute share it.
    return ship_day(key, minute)


def ship_day(key: Shipping, now: datetime) -> ShipDay:
    """When a warehouse with this calendar ships an order decided at ``now`` (aware).

    Today (its local date) when it is open today and before its cut-off; else its next open
    day. Closed weekdays and holidays are local dates in its time zone.
    """
    zone, cutoff, closed, holidays = (key, None, NO_DAYS, NO_DAYS) if isinstance(key, str) else key
    local = now.astimezone(ZoneInfo(zone))
    today = local.date()
    late = None
    cause = "calendar"
    if today.weekday() in closed:
        late = f"closed on {WEEKDAYS[today.weekday()]}s by its calendar"
    elif today in holidays:
        late = f"closed today ({today.isoformat()}, a holiday in its calendar)"
    elif cutoff and local.time() >= _clock(cutoff):
        late, cause = f"missed today's {cutoff} cut-off ({zone})", "cutoff_missed"
    if late is None:
        return ShipDay(today, 0.0, today.isoformat(), None)
    if len(closed) >= len(WEEKDAYS):
        return ShipDay(None, None, None, "closed every day by its calendar", cause)
    day = today + timedelta(days=1)
    # Each holiday can hide at most one open weekday, so this always finds one.
    for _ in range(len(WEEKDAYS) * (len(holidays) + 1)):
        if day.weekday() not in closed and day not in holidays:
            break
        day += timedelta(days=1)
    return ShipDay(day, float((day - today).days), day.isoformat(), late, cause)


def day_begins(key: Shipping, day: date) -> datetime:
    """When ``day`` begins (local midnight) for a warehouse with this calendar, in UTC."""
    zone = key if isinstance(key, str) else key[0]
    return datetime.combine(day, time(0), ZoneInfo(zone)).astimezone(UTC)


def _clock(hh_mm: str) -> time:
    hours, minutes = hh_mm.split(":")
    return time(int(hours), int(minutes))
