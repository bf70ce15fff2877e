"""The built-in rate-table carrier: zones, weight breaks, surcharges, checked by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from omniroute.connectors.carriers import Address, BookingRequest, Parcel, RateRequest
from omniroute.connectors.rate_table.config import RateTableConfig
from omniroute.connectors.rate_table.connector import RateTableConnector

CONFIG = {
    "carrier": "UPS",
    "currency": "USD",
    "warehouses": ["NYC"],
    "zones": [
        {"name": "local", "max_km": 300},
        {"name": "regional", "max_km": 1500},
        {"name": "national", "countries": ["US"]},
        {"name": "alaska", "postal_prefixes": ["995", "996"]},
    ],
    "services": [
        {
            "code": "ground",
            "service_level": "standard",
            "zones": {
                "local": {
                    "transit_days": 1,
                    "breaks": [{"max_kg": 1, "price": "6.00"}, {"max_kg": 5, "price": "8.50"}],
                    "per_kg_over": "1.10",
                },
                "regional": {"transit_days": 3, "breaks": [{"max_kg": 5, "price": "10.00"}]},
                "national": {"transit_days": 5, "breaks": [{"max_kg": 5, "price": "12.00"}]},
                "alaska": {"transit_days": 7, "breaks": [{"max_kg": 5, "price": "30.00"}]},
            },
        },
        {
            "code": "express",
            "service_level": "express",
            "zones": {
                "local": {"transit_days": 1, "breaks": [{"max_kg": 5, "price": "15.00"}]},
                "national": {"transit_days": 2, "breaks": [{"max_kg": 5, "price": "25.00"}]},
            },
        },
    ],
    "surcharges": {
        "residential": "3.50",
        "remote": "15.00",
        "remote_postal_prefixes": ["967"],
        "fuel_percent": "10",
    },
}


def request(
    *weights: float, postal: str = "10001", km: float | None = 100.0, home: bool = False
) -> RateRequest:
    return RateRequest(
        reference="fo-1",
        warehouse_code="NYC",
        origin=Address("US", "10001"),
        destination=Address("US", postal, residential=home),
        parcels=tuple(Parcel(w) for w in weights),
        distance_km=km,
    )


def test_local_zone_two_parcels_with_fuel() -> None:
    quotes = RateTableConnector(CONFIG).quote(request(0.8, 3.0))
    ground = next(q for q in quotes if q.service == "ground")
    # base 6.00 + 8.50 = 14.50; fuel 10 % = 1.45; total 15.95
    assert ground.zone == "local"
    assert ground.amount == Decimal("15.95")
    assert dict(ground.breakdown) == {"base": Decimal("14.50"), "fuel": Decimal("1.45")}
    assert ground.transit_days == 1
    assert ground.currency == "USD"


def test_per_kg_beyond_last_break_counts_started_kilograms() -> None:
    (ground,) = RateTableConnector(CONFIG).quote(request(7.2))
    # 8.50 + ceil(7.2 - 5) = 3 kg x 1.10 = 11.80; fuel 1.18; total 12.98
    assert ground.amount == Decimal("12.98")


def test_exact_break_weight_is_that_break() -> None:
    ground = RateTableConnector(CONFIG).quote(request(5.0))[0]
    assert dict(ground.breakdown)["base"] == Decimal("8.50")


def test_heavier_than_a_service_takes_drops_that_service() -> None:
    quotes = RateTableConnector(CONFIG).quote(request(6.0))
    assert [q.service for q in quotes] == ["ground"]  # express has no per_kg_over


def test_residential_and_remote_surcharges_take_fuel_too() -> None:
    quotes = RateTableConnector(CONFIG).quote(request(1.0, postal="96701", km=None, home=True))
    ground = next(q for q in quotes if q.service == "ground")
    # national (catch-all, no distance): 12.00 + residential 3.50 + remote 15.00 = 30.50;
    # fuel 3.05; total 33.55
    assert ground.zone == "national"
    assert ground.amount == Decimal("33.55")
    assert [name for name, _ in ground.breakdown] == ["base", "residential", "remote", "fuel"]


def test_postal_prefix_wins_over_distance() -> None:
    quotes = RateTableConnector(CONFIG).quote(request(1.0, postal="99501", km=50.0))
    assert [(q.zone, q.service, q.amount) for q in quotes] == [
        ("alaska", "ground", Decimal("33.00"))
    ]


def test_distance_picks_the_smallest_zone_that_fits() -> None:
    table = RateTableConnector(CONFIG).table
    assert table.zone_for(Address("US", "30301"), 300.0).name == "local"  # type: ignore[union-attr]
    assert table.zone_for(Address("US", "30301"), 300.1).name == "regional"  # type: ignore[union-attr]
    assert table.zone_for(Address("US", "30301"), 5000).name == "national"  # type: ignore[union-attr]


def test_no_zone_no_quote() -> None:
    foreign = RateRequest(
        "fo-1", "NYC", Address("US"), Address("CA", "H2X 1Y4"), (Parcel(1.0),), 5000.0
    )
    assert RateTableConnector(CONFIG).quote(foreign) == ()


def test_serves_only_its_warehouses() -> None:
    carrier = RateTableConnector(CONFIG)
    assert carrier.serves("NYC")
    assert not carrier.serves("LAX")
    assert RateTableConnector({**CONFIG, "warehouses": []}).serves("LAX")


def test_booking_is_deterministic_per_key() -> None:
    carrier = RateTableConnector(CONFIG)
    quote = carrier.quote(request(1.0))[0]
    ask = BookingRequest(request(1.0), "ground", "book:fo-1", {})
    first, again = carrier.book(ask, quote), carrier.book(ask, quote)
    assert first == again
    assert first.tracking_number.startswith("RT-")
    assert first.amount == quote.amount


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currency": "usd"}, "currency"),
        ({"zones": [{"name": "a"}, {"name": "a"}]}, "zone names must be unique"),
        (
            {
                "services": [
                    {"code": "x", "zones": {"nowhere": CONFIG["services"][0]["zones"]["local"]}}
                ]
            },  # type: ignore[index]
            "unknown zones",
        ),
        (
            {
                "services": [
                    {
                        "code": "x",
                        "zones": {
                            "local": {
                                "transit_days": 1,
                                "breaks": [
                                    {"max_kg": 5, "price": "1"},
                                    {"max_kg": 2, "price": "2"},
                                ],
                            }
                        },
                    }
                ]
            },
            "strictly increasing",
        ),
        ({"surcharges": {"fuel_percent": "150"}}, "fuel_percent"),
    ],
)
def test_config_refuses_nonsense(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RateTableConfig.model_validate({**CONFIG, **change})


def test_the_kind_declares_and_implements_its_protocols() -> None:
    from omniroute.connectors import testkit

    testkit.check_kind(RateTableConnector, RateTableConnector(CONFIG))
