"""Choosing a carrier service: strategies, caps, service levels, promise dates, errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from omniroute.connectors.carriers import Quote
from omniroute.routing.carrier_choice.calendar import BusinessDays
from omniroute.routing.carrier_choice.choose import Demand, Offer, Why, choose
from omniroute.routing.carrier_choice.fx import ExchangeRates
from omniroute.routing.carrier_choice.packages import PackLine, pack
from omniroute.routing.carrier_choice.policy import (
    CarrierPolicy,
    PolicyError,
    Strategy,
    read_policy,
)

MONDAY = date(2026, 3, 2)
WEEKDAYS = BusinessDays()


def q(carrier: str, service: str, amount: str, days: int, level: str = "standard") -> Quote:
    return Quote(carrier, service, level, days, Decimal(amount), "USD")


OFFERS = (
    Offer("ups", (q("UPS", "ground", "9.00", 4), q("UPS", "2day", "18.00", 2, "express"))),
    Offer("dhl", (q("DHL", "eco", "7.50", 6), q("DHL", "next", "31.00", 1, "express"))),
)


def verdicts(choice: object) -> dict[str, str | None]:
    return {
        f"{c.quote.carrier}:{c.quote.service}": None if c.lost is None else c.lost.value
        for c in choice.candidates  # type: ignore[attr-defined]
    }


def test_cheapest_wins_and_the_rest_are_dearer() -> None:
    choice = choose(OFFERS, Demand("standard", MONDAY), CarrierPolicy(), WEEKDAYS)
    assert choice.chosen is not None
    assert (choice.chosen.quote.carrier, choice.chosen.quote.service) == ("DHL", "eco")
    assert choice.chosen.delivers_on == date(2026, 3, 10)  # 6 business days after Monday
    assert verdicts(choice) == {
        "UPS:ground": "dearer",
        "UPS:2day": "dearer",
        "DHL:eco": None,
        "DHL:next": "dearer",
    }


def test_cheapest_that_meets_the_deliver_by_date() -> None:
    demand = Demand("standard", MONDAY, deliver_by=date(2026, 3, 6))  # Friday
    choice = choose(OFFERS, demand, CarrierPolicy(), WEEKDAYS)
    assert choice.chosen is not None and choice.chosen.quote.service == "ground"
    assert verdicts(choice)["DHL:eco"] == Why.TOO_SLOW


def test_express_order_never_gets_a_standard_service() -> None:
    choice = choose(OFFERS, Demand("express", MONDAY), CarrierPolicy(), WEEKDAYS)
    assert choice.chosen is not None and choice.chosen.quote.service == "2day"
    assert verdicts(choice)["UPS:ground"] == Why.BELOW_SERVICE_LEVEL


def test_fastest_within_a_cap() -> None:
    policy = CarrierPolicy(Strategy.FASTEST, cost_cap=Decimal("25"))
    choice = choose(OFFERS, Demand("standard", MONDAY), policy, WEEKDAYS)
    assert choice.chosen is not None and choice.chosen.quote.service == "2day"
    assert verdicts(choice) == {
        "UPS:ground": "slower",
        "UPS:2day": None,
        "DHL:eco": "slower",
        "DHL:next": "over_cap",
    }


def test_fastest_breaks_a_tie_on_price() -> None:
    offers = (Offer("a", (q("A", "x", "12.00", 2),)), Offer("b", (q("B", "y", "11.00", 2),)))
    choice = choose(offers, Demand("standard", MONDAY), CarrierPolicy(Strategy.FASTEST), WEEKDAYS)
    assert choice.chosen is not None and choice.chosen.quote.carrier == "B"


def test_service_levels_of_the_rule() -> None:
    policy = CarrierPolicy(service_levels=("express",))
    choice = choose(OFFERS, Demand("standard", MONDAY), policy, WEEKDAYS)
    assert choice.chosen is not None and choice.chosen.quote.service == "2day"
    assert verdicts(choice)["DHL:eco"] == Why.SERVICE_NOT_ALLOWED


def test_nothing_qualifies_says_why() -> None:
    policy = CarrierPolicy(cost_cap=Decimal("5"))
    choice = choose(OFFERS, Demand("standard", MONDAY), policy, WEEKDAYS)
    assert choice.chosen is None
    assert choice.reason == "no quote qualifies: 4 over_cap"


def test_carrier_errors_and_empty_answers_are_traced() -> None:
    offers = (Offer("rest", error="HTTP 503 from the TMS"), Offer("table"))
    choice = choose(offers, Demand("standard", MONDAY), CarrierPolicy(), WEEKDAYS)
    assert choice.chosen is None
    assert choice.trace["carriers_without_quote"] == [
        {"connector": "rest", "lost": "carrier_error", "detail": "HTTP 503 from the TMS"},
        {"connector": "table", "lost": "no_service", "detail": ""},
    ]
    assert choice.reason == "no carrier quoted (rest: HTTP 503 from the TMS; table: no_service)"


def test_a_quote_in_another_currency_is_not_compared() -> None:
    eur = Quote("DPD", "classic", "standard", 3, Decimal("1.00"), "EUR")
    offers = (OFFERS[0], Offer("dpd", (eur,)))
    choice = choose(offers, Demand("standard", MONDAY), CarrierPolicy(), WEEKDAYS)
    assert choice.chosen is not None and choice.chosen.quote.carrier == "UPS"
    assert verdicts(choice)["DPD:classic"] == Why.CURRENCY


RATES = ExchangeRates.parse("USD=1, EUR=1.10, GBP=1.25")


def test_quotes_in_other_currencies_are_compared_at_the_configured_rates() -> None:
    eur = Quote("DPD", "classic", "standard", 3, Decimal("7.00"), "EUR")  # 7.70 USD
    gbp = Quote("Royal Mail", "tracked", "standard", 3, Decimal("6.50"), "GBP")  # 8.13 USD
    offers = (OFFERS[0], Offer("dpd", (eur,)), Offer("rm", (gbp,)))
    usd_order = Demand("standard", MONDAY, currency="USD")
    choice = choose(offers, usd_order, CarrierPolicy(), WEEKDAYS, RATES)
    assert choice.chosen is not None and choice.chosen.quote.carrier == "DPD"
    assert choice.chosen.quote.amount == Decimal("7.00")  # the booking keeps what was quoted
    assert choice.trace["compared_in"] == "USD"
    assert choice.trace["chosen"]["compared_amount"] == "7.70"
    by_carrier = {c["carrier"]: c for c in choice.trace["quotes"]}
    assert by_carrier["Royal Mail"]["compared_amount"] == "8.13"
    assert by_carrier["Royal Mail"]["detail"] == "8.13 > 7.70"
    assert "compared_amount" not in by_carrier["UPS"]  # quoted in USD already
    # The cap is in the comparison currency: 7.70 USD is over a 7.69 cap (7.00 EUR is not).
    capped = choose(offers, usd_order, CarrierPolicy(cost_cap=Decimal("7.69")), WEEKDAYS, RATES)
    assert verdicts(capped)["DPD:classic"] == Why.OVER_CAP
    assert capped.chosen is None


def test_an_order_in_a_currency_without_a_rate_compares_in_the_first_quote_s() -> None:
    eur = Quote("DPD", "classic", "standard", 3, Decimal("7.00"), "EUR")
    offers = (OFFERS[0], Offer("dpd", (eur,)))
    choice = choose(
        offers, Demand("standard", MONDAY, currency="JPY"), CarrierPolicy(), WEEKDAYS, RATES
    )
    assert choice.trace["compared_in"] == "USD"
    assert choice.chosen is not None and choice.chosen.quote.carrier == "DPD"
    chf = Quote("Post", "eco", "standard", 3, Decimal("1.00"), "CHF")  # no rate for CHF
    lonely = choose(
        (OFFERS[0], Offer("post", (chf,))),
        Demand("standard", MONDAY),
        CarrierPolicy(),
        WEEKDAYS,
        RATES,
    )
    assert verdicts(lonely)["Post:eco"] == Why.CURRENCY


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("EUR", "expected CODE=value"),
        ("EURO=1", "expected CODE=value"),
        ("EUR=abc", "not a number"),
        ("EUR=0", "above 0"),
        ("EUR=-1", "above 0"),
        ("EUR=NaN", "above 0"),
        ("EUR=1,eur=2", "given twice"),
    ],
)
def test_exchange_rates_refuse_what_they_cannot_read(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ExchangeRates.parse(text)


def test_exchange_rates_convert_both_ways() -> None:
    assert RATES.convert(Decimal("10"), "EUR", "USD") == Decimal("11.00")
    assert RATES.convert(Decimal("11"), "USD", "EUR") == Decimal("10.00")
    assert RATES.convert(Decimal("5"), "USD", "CHF") is None
    assert RATES.convert(Decimal("5"), "CHF", "CHF") == Decimal("5")
    assert not ExchangeRates.parse(" ") and ExchangeRates.parse("usd=1").knows("USD")


def test_business_days_skip_weekends_and_holidays() -> None:
    friday = date(2026, 3, 6)
    assert WEEKDAYS.add(friday, 1) == date(2026, 3, 9)
    assert WEEKDAYS.add(date(2026, 3, 7), 0) == date(2026, 3, 9)  # Saturday: next open day
    calendar = BusinessDays.of({6}, {date(2026, 3, 9)})  # closed Sundays and that Monday
    assert calendar.add(friday, 2) == date(2026, 3, 10)
    assert BusinessDays.of((), ()) == WEEKDAYS


def test_packing_weights_default_and_parcel_limit() -> None:
    packing = pack(
        [PackLine("A", 3, 12.0), PackLine("B", 2, None), PackLine("C", 1, 40.0)],
        max_parcel_kg=30.0,
    )
    # A: 12 + 12 = 24, the third A opens parcel 2 (12), B adds 0.5 + 0.5 = 13, C alone 40
    assert [p.weight_kg for p in packing.parcels] == [24.0, 13.0, 40.0]
    assert packing.unweighed_skus == ("B",)
    assert [p.weight_kg for p in pack([]).parcels] == [0.0]


def test_policy_reading() -> None:
    partial = read_policy({"strategy": "fastest", "cost_cap": 25.0})
    policy = partial.over(CarrierPolicy(service_levels=("express",)))
    assert policy == CarrierPolicy(Strategy.FASTEST, Decimal("25.0"), ("express",))
    assert read_policy({"cost_cap": None}).over(policy).cost_cap is None
    assert CarrierPolicy.from_json(policy.to_json()) == policy
    for bad in ({"strategy": "slowest"}, {"cost_cap": -1}, {"service_levels": ["x"]}, {"y": 1}):
        with pytest.raises(PolicyError):
            read_policy(bad)


def test_rules_set_the_carrier_policy_per_rule() -> None:
    from omniroute.routing.rule_parser import parse_rule_set, validate_rule_set

    doc = {
        "name": "carriers",
        "timezone": "UTC",
        "default": {"carrier": {"strategy": "cheapest", "cost_cap": 40}},
        "rules": [
            {
                "id": "fast-de",
                "when": {"field": "country", "op": "eq", "value": "DE"},
                "then": {"carrier": {"strategy": "fastest", "service_levels": ["express"]}},
            }
        ],
    }
    rule_set = parse_rule_set(doc)
    assert rule_set.default.carrier == CarrierPolicy(cost_cap=Decimal(40))
    bad = {**doc, "default": {"carrier": {"strategy": "slowest"}}}
    assert [e.path for e in validate_rule_set(bad)] == ["default.carrier.strategy"]
    outcome = rule_set.rules[0].then.over(rule_set.default)
    assert outcome.carrier == CarrierPolicy(Strategy.FASTEST, Decimal(40), ("express",))
    assert outcome.to_json()["carrier"] == {
        "strategy": "fastest",
        "cost_cap": "40",
        "service_levels": ["express"],
    }
