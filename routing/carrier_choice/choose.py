"""Choose one carrier service among the quotes, and say why every other one lost.

Every quote is judged in this order, and the first failed test is its reason:
``service_not_allowed`` (its level is not in the policy's ``service_levels``),
``below_service_level`` (it is slower a class than the order's service level: a standard
service for an express order), ``too_slow`` (its delivery date, ship-by + transit business
days, is after the order's deliver-by), ``over_cap`` (dearer than ``cost_cap``). The quotes
left are ranked: ``cheapest`` by price, then delivery date; ``fastest`` by delivery date,
then price; carrier and service names break what is still tied. The first wins; the others
lost as ``dearer`` or ``slower``. A carrier that could not quote is traced as
``carrier_error`` with its message, one with no service for the shipment as ``no_service``.

Prices are compared in one currency: the order's when exchange rates are configured and
know it (``fx.ExchangeRates``), else the first quote's. A quote in another currency is
converted at the configured rates (the trace shows ``compared_amount`` and
``compared_currency``) or, without a rate, refused (``currency``) rather than compared
wrongly. ``cost_cap`` is in the comparison currency. A booking keeps the quoted amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from omniroute.routing.carrier_choice.calendar import BusinessDays
from omniroute.routing.carrier_choice.fx import NO_RATES, ExchangeRates
from omniroute.routing.carrier_choice.policy import CarrierPolicy, Strategy
from omniroute.routing.carrier_choice.quotes import SERVICE_LEVEL_RANK, Quote


class Why(StrEnum):
    SERVICE_NOT_ALLOWED = "service_not_allowed"
    BELOW_SERVICE_LEVEL = "below_service_level"
    TOO_SLOW = "too_slow"
    OVER_CAP = "over_cap"
    CURRENCY = "currency"
    DEARER = "dearer"
    SLOWER = "slower"
    CARRIER_ERROR = "carrier_error"
    NO_SERVICE = "no_service"


@dataclass(frozen=True, slots=True)
class Offer:
    """What one carrier connector answered: its quotes, or why it could not."""

    connector: str  # the connector's name
    quotes: tuple[Quote, ...] = ()
    error: str | None = None
    transient: bool = False  # the error may pass (a carrier down for now)


@dataclass(frozen=True, slots=True)
class Demand:
    service_level: str  # the order's: standard, express, same_day
    ship_by: date
    deliver_by: date | None = None  # the latest delivery the order allows, if it says
    currency: str | None = None  # the order's: quotes are compared in it when rates know it


@dataclass(frozen=True, slots=True)
class Candidate:
    connector: str
    quote: Quote
    delivers_on: date
    lost: Why | None = None
    detail: str = ""
    # The quote's amount in the comparison currency, when it had to be converted.
    converted: tuple[Decimal, str] | None = None

    @property
    def compared(self) -> Decimal:
        return self.quote.amount if self.converted is None else self.converted[0]

    def to_json(self) -> dict[str, Any]:
        out = {
            "connector": self.connector,
            **self.quote.to_json(),
            "delivers_on": self.delivers_on.isoformat(),
            "lost": None if self.lost is None else self.lost.value,
            "detail": self.detail,
        }
        if self.converted is not None:
            out["compared_amount"] = str(self.converted[0])
            out["compared_currency"] = self.converted[1]
        return out


@dataclass(frozen=True)
class Choice:
    chosen: Candidate | None
    candidates: tuple[Candidate, ...]
    trace: dict[str, Any]

    @property
    def reason(self) -> str:
        """Why nothing was chosen, in words (empty when something was)."""
        return "" if self.chosen is not None else str(self.trace["summary"])


def choose(
    offers: Sequence[Offer],
    demand: Demand,
    policy: CarrierPolicy,
    calendar: BusinessDays,
    rates: ExchangeRates = NO_RATES,
) -> Choice:
    """The service to book under ``policy``, every quote with its verdict, and a trace."""
    currency = _comparison_currency(offers, demand, rates)
    judged = [
        _judge(o.connector, q, demand, policy=policy, calendar=calendar, fx=(currency, rates))
        for o in offers
        for q in o.quotes
    ]
    fit = sorted((c for c in judged if c.lost is None), key=_key(policy.strategy))
    chosen = fit[0] if fit else None
    loser = Why.DEARER if policy.strategy is Strategy.CHEAPEST else Why.SLOWER
    verdicts = [c if c.lost is not None or c is chosen else _lost(c, loser, chosen) for c in judged]
    failures = [
        {"connector": o.connector, "lost": Why.CARRIER_ERROR.value, "detail": o.error}
        if o.error is not None
        else {"connector": o.connector, "lost": Why.NO_SERVICE.value, "detail": ""}
        for o in offers
        if o.error is not None or not o.quotes
    ]
    trace = {
        "policy": policy.to_json(),
        "demand": {
            "service_level": demand.service_level,
            "ship_by": demand.ship_by.isoformat(),
            "deliver_by": None if demand.deliver_by is None else demand.deliver_by.isoformat(),
        },
        "compared_in": currency,
        "chosen": None if chosen is None else chosen.to_json(),
        "quotes": [c.to_json() for c in verdicts],
        "carriers_without_quote": failures,
        "summary": _summary(chosen, verdicts, failures, policy),
    }
    return Choice(chosen, tuple(verdicts), trace)


def _comparison_currency(
    offers: Sequence[Offer], demand: Demand, rates: ExchangeRates
) -> str | None:
    if demand.currency is not None and rates.knows(demand.currency):
        return demand.currency
    return next((q.currency for o in offers for q in o.quotes), None)


def _judge(
    connector: str,
    quote: Quote,
    demand: Demand,
    *,
    policy: CarrierPolicy,
    calendar: BusinessDays,
    fx: tuple[str | None, ExchangeRates],
) -> Candidate:
    currency, rates = fx
    on = calendar.add(demand.ship_by, quote.transit_days)
    converted = None
    if currency is not None and quote.currency != currency:
        amount = rates.convert(quote.amount, quote.currency, currency)
        converted = None if amount is None else (amount, currency)
    compared = quote.amount if converted is None else converted[0]
    need = SERVICE_LEVEL_RANK.get(demand.service_level, 0)
    if policy.service_levels and quote.service_level not in policy.service_levels:
        why, detail = Why.SERVICE_NOT_ALLOWED, f"{quote.service_level} not in the rule's levels"
    elif SERVICE_LEVEL_RANK.get(quote.service_level, 0) < need:
        why, detail = Why.BELOW_SERVICE_LEVEL, f"order is {demand.service_level}"
    elif demand.deliver_by is not None and on > demand.deliver_by:
        why, detail = Why.TOO_SLOW, f"delivers {on.isoformat()}, after {demand.deliver_by}"
    elif quote.currency != currency and converted is None:
        why, detail = (
            Why.CURRENCY,
            f"quoted in {quote.currency}, compared in {currency}; no exchange rate for both",
        )
    elif policy.cost_cap is not None and compared > policy.cost_cap:
        why, detail = Why.OVER_CAP, f"{compared} {currency} over the cap of {policy.cost_cap}"
    else:
        return Candidate(connector, quote, on, converted=converted)
    return Candidate(connector, quote, on, why, detail, converted)


def _key(strategy: Strategy) -> Any:
    if strategy is Strategy.CHEAPEST:
        return lambda c: (c.compared, c.delivers_on, c.quote.carrier, c.quote.service)
    return lambda c: (c.delivers_on, c.compared, c.quote.carrier, c.quote.service)


def _lost(candidate: Candidate, why: Why, chosen: Candidate | None) -> Candidate:
    assert chosen is not None  # noqa: S101 - a fit candidate that lost implies a winner
    if why is Why.DEARER:
        detail = f"{candidate.compared} > {chosen.compared}"
    else:
        detail = f"delivers {candidate.delivers_on.isoformat()}, not first"
    return replace(candidate, lost=why, detail=detail)


def _summary(
    chosen: Candidate | None,
    verdicts: Sequence[Candidate],
    failures: Sequence[dict[str, Any]],
    policy: CarrierPolicy,
) -> str:
    if chosen is not None:
        q = chosen.quote
        return (
            f"{policy.strategy.value}: {q.carrier} {q.service} for {q.amount} {q.currency}, "
            f"delivers {chosen.delivers_on.isoformat()} ({len(verdicts)} quotes)"
        )
    if not verdicts:
        errors = [f"{f['connector']}: {f['detail'] or f['lost']}" for f in failures]
        return "no carrier quoted" + (f" ({'; '.join(errors)})" if errors else "")
    counts: dict[str, int] = {}
    for c in verdicts:
        counts[str(c.lost)] = counts.get(str(c.lost), 0) + 1
    return "no quote qualifies: " + ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))
