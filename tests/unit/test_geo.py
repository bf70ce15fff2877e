"""The offline geocoder: each fallback level on real bundled data, distances, and loading."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from omniroute.routing import geo
from omniroute.routing.geo import (
    Geocoder,
    GeoLevel,
    GeoPoint,
    OfflineGeocoder,
    StaticGeocoder,
    distance_km,
)


@pytest.fixture(scope="module")
def geocoder() -> OfflineGeocoder:
    offline = OfflineGeocoder()
    offline.warm()
    return offline


def point(lat: float, lon: float) -> GeoPoint:
    return GeoPoint(lat, lon, GeoLevel.CITY, "test")


def assert_near(found: GeoPoint | None, lat: float, lon: float, level: GeoLevel) -> GeoPoint:
    assert found is not None
    assert found.level is level
    assert (found.lat, found.lon) == pytest.approx((lat, lon), abs=0.2)
    return found


@pytest.mark.parametrize(
    ("zip_code", "lat", "lon"),
    [("10001", 40.75, -73.99), ("90001", 33.97, -118.25), ("60601", 41.89, -87.62)],
)
def test_us_zip_is_placed_at_its_centroid(
    geocoder: OfflineGeocoder, zip_code: str, lat: float, lon: float
) -> None:
    found = geocoder.locate(country="US", postal_code=zip_code)
    assert assert_near(found, lat, lon, GeoLevel.POSTAL_CODE).label == f"US {zip_code}"


@pytest.mark.parametrize("zip_code", ["10001-1234", "100011234", " 10001 1234 ", "10001"])
def test_zip_plus_four_is_normalised(geocoder: OfflineGeocoder, zip_code: str) -> None:
    found = geocoder.locate(country="us", postal_code=zip_code)
    assert assert_near(found, 40.75, -73.99, GeoLevel.POSTAL_CODE).label == "US 10001"


def test_territory_zip_codes_answer_to_either_country(geocoder: OfflineGeocoder) -> None:
    for country in ("PR", "US"):
        found = geocoder.locate(country=country, postal_code="00901")
        assert assert_near(found, 18.47, -66.10, GeoLevel.POSTAL_CODE).label == "PR 00901"


def test_unknown_zip_falls_back_city_then_state_then_country(geocoder: OfflineGeocoder) -> None:
    def at(**address: str) -> GeoPoint | None:
        return geocoder.locate(country="US", postal_code="00000", **address)

    assert_near(at(city="Chicago", region="IL"), 41.85, -87.65, GeoLevel.CITY)
    state = at(city="Nowhereville", region="Illinois")
    assert assert_near(state, 41.64, -88.09, GeoLevel.REGION).label == "IL, US"
    country = at(city="Nowhereville")
    assert country == geocoder.locate(country="US")
    assert country is not None
    assert country.level is GeoLevel.COUNTRY
    assert country.label == "US"


def test_postal_codes_outside_the_us_are_not_read_as_zip_codes(geocoder: OfflineGeocoder) -> None:
    found = geocoder.locate(country="DE", postal_code="10115")
    assert found is not None
    assert found.level is GeoLevel.COUNTRY
    berlin = geocoder.locate(country="DE", postal_code="10115", city="Berlin")
    assert_near(berlin, 52.52, 13.41, GeoLevel.CITY)


@pytest.mark.parametrize(
    ("country", "city", "near", "label"),
    [
        ("CA", "Toronto", (43.71, -79.40), "Toronto, CA"),
        ("CA", "montreal", (45.51, -73.59), "Montréal, CA"),
        ("CN", "Shanghai", (31.22, 121.46), "Shanghai, CN"),
        ("CN", "GUANGZHOU", (23.12, 113.25), "Guangzhou, CN"),
        ("CN", "上海", (31.22, 121.46), "Shanghai, CN"),
        ("DE", "München", (48.14, 11.58), "Munich, DE"),
        ("DE", "Munich", (48.14, 11.58), "Munich, DE"),
        ("DE", "Muenchen", (48.14, 11.58), "Munich, DE"),
        ("DE", "Cologne", (50.93, 6.95), "Köln, DE"),
        ("US", "st louis", (38.63, -90.20), "St. Louis, US"),
        ("US", "Holtsville", (40.82, -73.05), "Holtsville, US"),  # too small for geonames: ZIPs
    ],
)
def test_city_names_match_whatever_the_case_accents_or_language(
    geocoder: OfflineGeocoder, country: str, city: str, near: tuple[float, float], label: str
) -> None:
    found = geocoder.locate(country=country, city=city)
    assert assert_near(found, *near, GeoLevel.CITY).label == label


def test_shared_city_names_prefer_the_most_populous_unless_the_region_says_otherwise(
    geocoder: OfflineGeocoder,
) -> None:
    assert_near(geocoder.locate(country="US", city="Springfield"), 37.22, -93.30, GeoLevel.CITY)
    oregon = geocoder.locate(country="US", city="Springfield", region="OR")
    assert_near(oregon, 44.05, -123.02, GeoLevel.CITY)
    assert_near(geocoder.locate(country="CN", city="Suzhou"), 31.30, 120.60, GeoLevel.CITY)
    anhui = geocoder.locate(country="CN", city="Suzhou", region="Anhui")
    assert_near(anhui, 33.64, 116.98, GeoLevel.CITY)


def test_a_known_region_without_that_city_places_the_region(geocoder: OfflineGeocoder) -> None:
    found = geocoder.locate(country="CA", city="Toronto", region="BC")
    assert found is not None
    assert (found.level, found.label) == (GeoLevel.REGION, "BC, CA")
    unknown_region = geocoder.locate(country="CA", city="Toronto", region="Atlantis")
    assert_near(unknown_region, 43.71, -79.40, GeoLevel.CITY)


@pytest.mark.parametrize(
    ("country", "region", "label", "near"),
    [
        ("CA", "ON", "ON, CA", (43.7, -79.4)),
        ("CA", "Ontario", "ON, CA", (43.7, -79.4)),
        ("CA", "CA-ON", "ON, CA", (43.7, -79.4)),
        ("CA", "Québec", "QC, CA", (45.5, -73.6)),
        ("US", "ny", "NY, US", (40.7, -74.0)),
        ("US", "New York", "NY, US", (40.7, -74.0)),
        ("CN", "Guangdong", "GD, CN", (23.1, 113.3)),
        ("DE", "Bayern", "BY, DE", (48.1, 11.6)),
        ("GB", "ENG", "ENG, GB", (51.5, -0.1)),
    ],
)
def test_region_centroid_is_the_population_weighted_mean_of_its_cities(
    geocoder: OfflineGeocoder, country: str, region: str, label: str, near: tuple[float, float]
) -> None:
    found = geocoder.locate(country=country, region=region, city="No Such Place")
    assert found is not None
    assert (found.level, found.label) == (GeoLevel.REGION, label)
    assert distance_km(found, point(*near)) < 300


def test_country_centroid_is_the_last_resort(geocoder: OfflineGeocoder) -> None:
    germany = geocoder.locate(country="DE", city="No Such Place", region="No Such Land")
    assert germany is not None
    assert (germany.level, germany.label) == (GeoLevel.COUNTRY, "DE")
    assert 47 < germany.lat < 55
    assert 6 < germany.lon < 15
    britain = geocoder.locate(country=" uk ")
    assert britain is not None
    assert (britain.level, britain.label) == (GeoLevel.COUNTRY, "GB")


def test_centroids_average_across_the_antimeridian() -> None:
    centroid = geo._Centroid()
    centroid.add(-17.0, 179.0, 1)
    centroid.add(-17.0, -179.0, 1)
    middle = centroid.point(GeoLevel.COUNTRY, "FJ")
    assert abs(middle.lon) == pytest.approx(180.0)
    assert middle.lat == pytest.approx(-17.0, abs=0.01)


@pytest.mark.parametrize(
    "address",
    [
        {"country": "XX", "postal_code": "10001", "city": "Toronto"},
        {"country": None, "postal_code": "10001", "city": "London"},
        {"country": "", "city": "Shanghai"},
        {"country": "not a country"},
    ],
)
def test_unknown_country_places_nothing(geocoder: OfflineGeocoder, address: Any) -> None:
    assert geocoder.locate(**address) is None


# Two warehouses per country, each placed the way ops would enter it.
WAREHOUSES = {
    "CN": {"SHA": {"city": "Shanghai"}, "CAN": {"city": "Guangzhou"}},
    "US": {"NYC": {"postal_code": "10001"}, "LAX": {"postal_code": "90001"}},
}


@pytest.mark.parametrize(
    ("country", "ship_to", "nearest"),
    [
        ("CN", {"city": "Suzhou"}, "SHA"),
        ("CN", {"city": "Hangzhou"}, "SHA"),
        ("CN", {"city": "Shenzhen"}, "CAN"),
        ("CN", {"city": "Nowhere", "region": "Guangdong"}, "CAN"),
        ("US", {"postal_code": "02108"}, "NYC"),  # Boston
        ("US", {"postal_code": "94103-1234"}, "LAX"),  # San Francisco
    ],
)
def test_nearest_warehouse_wins(
    geocoder: OfflineGeocoder, country: str, ship_to: dict[str, str], nearest: str
) -> None:
    destination = geocoder.locate(country=country, **ship_to)
    assert destination is not None
    km = {}
    for name, address in WAREHOUSES[country].items():
        warehouse = geocoder.locate(country=country, **address)
        assert warehouse is not None
        km[name] = distance_km(warehouse, destination)
    assert min(km, key=km.__getitem__) == nearest


def test_distance_km_known_pairs() -> None:
    nyc, la = point(40.7128, -74.0060), point(34.0522, -118.2437)
    assert distance_km(nyc, la) == pytest.approx(3936, rel=0.01)
    assert distance_km(la, nyc) == pytest.approx(distance_km(nyc, la))
    assert distance_km(point(51.5074, -0.1278), point(48.8566, 2.3522)) == pytest.approx(
        344, rel=0.01
    )
    assert distance_km(nyc, nyc) == 0.0
    assert distance_km(point(0, 0), point(0, 180)) == pytest.approx(
        geo.EARTH_RADIUS_KM * math.pi, rel=1e-9
    )


def test_static_geocoder() -> None:
    static = StaticGeocoder(
        {
            ("US", "10001"): (40.75, -73.99),
            ("CN", None, "Shanghai"): (31.2, 121.5),
            ("GB", "SW1A 1AA"): (51.5, -0.14),
        }
    )
    assert isinstance(static, Geocoder)
    assert static.locate(country="US", postal_code="10001-1234") == GeoPoint(
        40.75, -73.99, GeoLevel.POSTAL_CODE, "US 10001"
    )
    assert static.locate(country="uk", postal_code="sw1a 1aa") == GeoPoint(
        51.5, -0.14, GeoLevel.POSTAL_CODE, "GB SW1A 1AA"
    )
    assert static.locate(country="cn", postal_code="200000", city="SHANGHAI") == GeoPoint(
        31.2, 121.5, GeoLevel.CITY, "Shanghai, CN"
    )
    assert static.locate(country="CN", city="Guangzhou") is None
    assert static.locate(country=None, postal_code="10001") is None
    with pytest.raises(ValueError, match="country"):
        StaticGeocoder({("US",): (0.0, 0.0)})


def test_offline_geocoder_is_a_geocoder() -> None:
    assert isinstance(OfflineGeocoder(), Geocoder)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args))
        raise OSError("network use in routing.geo")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert attempts == []


def test_fresh_instance_loads_once_across_threads_without_network(
    monkeypatch: pytest.MonkeyPatch, no_network: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    builds: list[float] = []

    def counted_build() -> geo._Index:
        started = time.perf_counter()
        index = geo._build_without_gc()
        builds.append(time.perf_counter() - started)
        return index

    monkeypatch.setattr(geo, "_SHARED_INDEX", geo._LazyIndex(counted_build))
    fresh = OfflineGeocoder()
    start = threading.Barrier(2)
    results: list[GeoPoint | None] = []

    def locate() -> None:
        start.wait()
        results.append(fresh.locate(country="CN", city="Shanghai"))

    threads = [threading.Thread(target=locate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(builds) == 1
    assert len(results) == 2
    assert results[0] == results[1]
    assert_near(results[0], 31.22, 121.46, GeoLevel.CITY)
    OfflineGeocoder().locate(country="US", postal_code="10001")
    assert len(builds) == 1  # every instance shares the one index
    with capsys.disabled():
        print(f"\n[geo] warm-up (fresh load of bundled data): {builds[0]:.2f} s")


def test_locate_is_fast_after_warm_up(
    geocoder: OfflineGeocoder, capsys: pytest.CaptureFixture[str]
) -> None:
    addresses: dict[str, dict[str, str]] = {
        "zip": {"country": "US", "postal_code": "10001-1234"},
        "city": {"country": "CN", "city": "Shanghai"},
        "city+region": {"country": "US", "city": "Springfield", "region": "OR"},
        "region": {"country": "CA", "city": "Nowhere", "region": "Ontario"},
    }
    figures = []
    for name, address in addresses.items():
        calls = 5000
        started = time.perf_counter()
        for _ in range(calls):
            geocoder.locate(**address)
        micros = (time.perf_counter() - started) / calls * 1e6
        figures.append(f"{name} {micros:.1f} µs")
        assert micros < 100  # the target is under 20 µs; the bound leaves room for a slow CI
    with capsys.disabled():
        print(f"\n[geo] locate() per call: {', '.join(figures)}")
