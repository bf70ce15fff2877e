"""Why each warehouse did not ship an order, in figures and words, for the trace.

:func:`why_not_eligible` explains every eligible warehouse that was not chosen (short of
which SKUs and by how many units, a capability a SKU needs, or the ranking criterion it lost
on and by how much, with units); :func:`headline` is the sentence at the top of the trace,
:func:`warnings` what made distances unknown or rough. The removed warehouses' explanations
come with their :class:`Removal`. :mod:`routing.trace` assembles the trace from these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import compress, islice, repeat
from operator import ge
from typing import Any, NamedTuple, cast

from omniroute.routing.geo import POSTAL_CODE_COUNTRIES, GeoLevel, GeoPoint
from omniroute.routing.ranking import SCORE_INDEX, ScoreColumns
from omniroute.routing.warehouses import Columns, ShipDay, Shipping, Site

# What breaks a tie on every ranking criterion, in this order (routing.ranking.rank_order).
TIE_BREAKS = ("code", "warehouse_id")
MAX_HEADLINE_LOSERS = 4


class Removal(NamedTuple):
    """Why a feasibility filter removed a warehouse: the trace's ``removed_by`` words, the
    filter's name and what it found (the rule, tags, channel...), for ``why_not``."""

    text: str
    filter: str
    detail: Mapping[str, Any]


class Verdicts(NamedTuple):
    """Every warehouse considered: the eligible ones (their scores, the SKUs each may not
    ship with why, and the ranking), then the removed ones by code with the filter's reason;
    for each, its ship date and the units it holds back from the order's channel."""

    eligible: Columns
    scores: ScoreColumns  # in ``eligible`` order
    blocked: dict[int, dict[str, str]]  # by position in ``eligible``; absent: none blocked
    order: Sequence[int]  # positions in ``eligible``, best-ranked first
    removed: Sequence[tuple[Site, Removal]]
    ships: Mapping[Shipping, ShipDay]  # by each site's ``shipping``
    channel: tuple[str, str]  # the order's connector kind and name


class Stock(NamedTuple):
    """Usable units of each order SKU per eligible warehouse (``rows`` in any order)."""

    skus: tuple[str, ...]
    rows: Sequence[tuple[int, ...]]


class Losses(NamedTuple):
    """What ``why_not`` compares: each eligible warehouse's usable stock against the units
    the order needs of each SKU, the ranking chain, the order's currency (the unit of
    shipping costs), and the summary when no plan was found."""

    stock: Stock
    demand: Mapping[str, int]
    ranking: Sequence[str]
    currency: str | None
    no_plan: str | None
    # The optimiser's weights when they weigh more than shipments: the objective, not the
    # ranking, then decided which warehouses ship (routing.optimise).
    weighed: Mapping[str, float] | None = None


def finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


UNITS = {
    "distance": "km",
    "stock_depth": "units",
    "capacity_headroom": "orders",
    "ship_date": "days",
    "priority": None,  # a plain number, lower wins
}
LOSING_WORDS = {
    "distance": "farther than",
    "priority": "lower priority than",
    "stock_depth": "less stock of the ordered items than",
    "shipping_cost": "dearer to ship than",
    "capacity_headroom": "less capacity left today than",
    "ship_date": "ships later than",
}
WINNING_WORDS = {
    "distance": "nearest with stock",
    "priority": "highest priority with stock",
    "stock_depth": "most stock",
    "shipping_cost": "cheapest to ship",
    "capacity_headroom": "most capacity left today",
    "ship_date": "ships soonest",
}


def why_not_eligible(
    verdicts: Verdicts, chosen: set[int], ranks: Sequence[int], losses: Losses
) -> tuple[list[dict[str, Any] | None], list[str | None]]:
    """Why each eligible warehouse (``eligible`` order) did not ship the order, and its
    verdict (``lost: ...``); None for the chosen ones. Short of the order's stock (which SKUs,
    by how many units, or a capability a SKU needs), else ranked below the best chosen
    warehouse (on which criterion, by how much), else the plan did not need it.

    A warehouse short of the order's stock gets only ``NO_STOCK`` and the verdict ``lost``:
    its words are made when the trace is read (:func:`routing.render.render_trace`, from the
    stock figures the trace keeps), as most warehouses of a decision are short, each in its
    own way, and their words cost more than the rest of the decision."""
    eligible, skus = verdicts.eligible, losses.stock.skus
    if not eligible.ids:
        return [], []
    need = tuple(map(losses.demand.get, skus, repeat(0)))
    whys: list[dict[str, Any] | None] = [NO_STOCK] * len(eligible.ids)
    lost: list[str | None] = [UNRENDERED] * len(eligible.ids)
    full = _has_all(losses.stock.rows, need)
    for n in full:
        whys[n], lost[n] = FULL, None
    for n in (eligible.ids.index(wid) for wid in chosen):
        whys[n] = lost[n] = None
    many = f"; the order ships in {len(chosen)} shipments" if len(chosen) > 1 else ""
    words = _Words(many)
    for n, cannot in verdicts.blocked.items():
        if whys[n] is not None:
            whys[n] = why = _cannot(skus, need, losses.stock.rows[n], cannot, words)
            lost[n] = f"lost: {why['text']}"
    if full:
        _full_stock(verdicts, (whys, lost), chosen, ranks, losses, full=full)
    return whys, lost


def _has_all(rows: Sequence[tuple[int, ...]], need: Sequence[int]) -> list[int]:
    """The positions of the ``rows`` holding every unit of ``need``."""
    if len(need) == 1:
        (only,) = need
        return [n for n, row in enumerate(rows) if row[0] >= only]
    # Most rows lack one of the first two SKUs: checked inline before the full comparison.
    first, second = need[0], need[1]
    return [
        n
        for n, row in enumerate(rows)
        if row[0] >= first and row[1] >= second and all(map(ge, row, need))
    ]


# A warehouse short of the order's stock as stored: put in words when the trace is read
# (routing.render). Shared: the trace is never changed in place.
NO_STOCK: dict[str, Any] = {"reason": "no_stock"}
UNRENDERED = "lost"  # the verdict stored beside NO_STOCK
FULL: dict[str, Any] = {}  # placeholder: the warehouse has every unit; explained afterwards


class _Words(dict[tuple[str, ...], str]):
    """The words for each set of SKUs a warehouse is short of, made once per decision;
    ``tail`` ends each (how many shipments the order went in, if more than one)."""

    def __init__(self, tail: str) -> None:
        super().__init__()
        self.tail = tail

    def text(self, named: tuple[str, ...]) -> str:
        words = self.get(named)
        if words is None:
            words = self[named] = (
                f"short of {', '.join(named)}{self.tail}" if named else self.tail[2:]
            )
        return words


def _cannot(
    skus: Sequence[str],
    need: Sequence[int],
    row: Sequence[int],
    blocked: Mapping[str, str],
    words: _Words,
) -> dict[str, Any]:
    """Why-not of a warehouse that may not ship some SKUs (``cannot_ship``: the capability
    each needs), and the units it is short of the others (``short``)."""
    short = [0 if s in blocked else max(w - h, 0) for s, w, h in zip(skus, need, row, strict=True)]
    named = tuple(compress(skus, short))
    text = "; ".join(f"cannot ship {sku} ({why})" for sku, why in blocked.items())
    return {
        "reason": "capability",
        "cannot_ship": dict(blocked),
        "short": dict(zip(named, compress(short, short), strict=True)),
        "text": f"{text}; {words.text(named)}" if named else text,
    }


def _full_stock(
    verdicts: Verdicts,
    out: tuple[list[dict[str, Any] | None], list[str | None]],
    chosen: set[int],
    ranks: Sequence[int],
    losses: Losses,
    *,
    full: list[int],
) -> None:
    """The why-not and verdict (``out``) of each warehouse that has every unit (``full``,
    positions in ascending order) but was not chosen (``FULL`` there): nothing could be
    routed, it ranked below the best chosen warehouse, or the plan did not need it."""
    ids, scores = verdicts.eligible.ids, verdicts.scores
    chain = [
        (
            criterion,
            cast("Sequence[float | None]", scores[index]),
            losses.currency if criterion == "shipping_cost" else UNITS.get(criterion),
        )
        for criterion in losses.ranking
        if (index := SCORE_INDEX.get(criterion)) is not None and criterion not in scores.uniform
    ]
    best = next((n for n in verdicts.order if ids[n] in chosen), None)
    whys, lost = out
    for n in full:
        if whys[n] is not FULL:
            continue
        if losses.no_plan is not None:
            why = {"reason": "no_plan", "text": f"has the stock; {losses.no_plan}"}
        elif losses.weighed is not None:
            weights = _weights(losses.weighed)
            text = f"has the stock; the plan chosen costs less on the objective ({weights})"
            why = {"reason": "objective", "text": text}
        elif best is not None and ranks[n] > ranks[best]:
            why = _ranked_below(verdicts.eligible.codes, chain, n, best)
        else:
            text = f"ranked {ranks[n]}; the plan needed no shipment from it"
            why = {"reason": "not_needed", "text": text}
        whys[n], lost[n] = why, f"lost: {why['text']}"


def _ranked_below(
    codes: Sequence[str],
    chain: Sequence[tuple[str, Sequence[float | None], str | None]],
    n: int,
    w: int,
) -> dict[str, Any]:
    """Why-not of warehouse ``n`` (a position in ``eligible``), which could ship the whole
    order but ranks below ``w``: the first criterion of the chain on which they differ, the
    values and the difference with their unit; the criteria tied before it."""
    winner = codes[w]
    tied: list[str] = []
    for criterion, column, unit in chain:
        mine, theirs = finite(column[n]), finite(column[w])
        if mine == theirs:
            tied.append(criterion)
            continue
        by = None if mine is None or theirs is None else round(abs(mine - theirs), 2)
        if mine is None:  # unknown ranks after every known value
            text = f"{criterion} unknown, {winner}'s {_amount(criterion, theirs, unit)}"
        else:
            text = (
                f"{LOSING_WORDS[criterion]} {winner}: "
                f"{_amount(criterion, mine, unit)} vs {_amount(criterion, theirs, unit)}"
            )
        if by is not None:
            text += f" ({_amount(criterion, by, unit)} apart)"
        if tied:
            text += f"; tied on {', '.join(tied)}"
        return {
            "reason": "ranked_below",
            "winner": winner,
            "criterion": criterion,
            "value": mine,
            "winner_value": theirs,
            "difference": by,
            "unit": unit,
            "tied_on": tied,
            "text": text,
        }
    on = f" on {', '.join(tied)}" if tied else ""
    if codes[n] != winner:
        criterion, text = "code", f"tied with {winner}{on}; {winner} comes first by code"
    else:
        criterion, text = "warehouse_id", f"tied with {winner}{on}; it has the lower id"
    return {
        "reason": "ranked_below",
        "winner": winner,
        "criterion": criterion,
        "value": None,
        "winner_value": None,
        "difference": None,
        "unit": None,
        "tied_on": tied,
        "text": f"{text} (tie-break)",
    }


def _amount(criterion: str, value: float | None, unit: str | None) -> str:
    """A criterion's value as support would read it: "3,936 km", "12.50 USD", "priority 5"."""
    if value is None:
        return "unknown" if criterion != "ship_date" else "never"
    if criterion == "priority":
        return f"priority {value:g}"
    if criterion == "distance":
        return f"{value:,.0f} km" if value >= 100 else f"{value:,.1f} km"
    if criterion == "shipping_cost":
        return f"{value:,.2f} {unit}" if unit else f"{value:,.2f}"
    if criterion == "ship_date":
        return f"{value:g} day" + ("" if value == 1 else "s")
    return f"{value:,.0f} {unit}"


def _weights(weights: Mapping[str, float]) -> str:
    """The weights that count, as ops wrote them: "shipments 10, cost 1"."""
    return ", ".join(f"{key} {value:g}" for key, value in weights.items() if value)


def weighed(optimiser: Mapping[str, Any] | None) -> Mapping[str, float] | None:
    """The objective's weights from a trace's ``optimiser`` entry, when they weigh more than
    the number of shipments (so the objective, not the ranking, picked the warehouses)."""
    if optimiser is None:
        return None
    weights: Mapping[str, float] = optimiser["weights"]
    return weights if any(v for k, v in weights.items() if k != "shipments") else None


def headline(
    chosen: Sequence[str],
    candidates: Sequence[Mapping[str, Any]],
    summary: str,
    beaten: Mapping[str, Any] | None = None,
    optimiser: Mapping[str, Any] | None = None,
) -> str:
    """One sentence support can read aloud: where it ships from (``chosen``: the codes) and
    why, then why not the next few warehouses ("Shipped from NYC: nearest with stock
    (2.0 km); LA 3,936 km").
    ``beaten``: the why-not (with its ``code``) of the best-ranked warehouse that lost on the
    ranking, if any."""
    if not chosen:
        return summary
    codes = ", ".join(chosen)
    weights = weighed(optimiser)
    if weights is not None and optimiser is not None:
        many = f"in {len(chosen)} shipments " if len(chosen) > 1 else ""
        head = (
            f"Shipped {many}from {codes}: lowest objective found "
            f"({optimiser['objective']:g}; {_weights(weights)})"
        )
    elif len(chosen) > 1:
        head = f"Shipped in {len(chosen)} shipments from {codes}: no one warehouse had it all"
    else:
        head = f"Shipped from {codes}: {_why_won(candidates, beaten)}"
    # The first few losers only: the sentence names no more, and the list is long.
    losers = islice((c for c in candidates if c["why_not"] is not None), MAX_HEADLINE_LOSERS)
    parts = [head, *map(_brief, losers)]
    more = len(candidates) - len(chosen) - (len(parts) - 1)
    if more > 0:
        parts.append(f"{more} more not chosen")
    return "; ".join(parts)


def runner_up(candidates: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The why-not (with its ``code``) of the best-ranked warehouse that lost on the ranking,
    read back from a trace's candidates (best-ranked first)."""
    for c in candidates:
        why = c.get("why_not")
        if why is not None and why.get("reason") == "ranked_below":
            return dict(why) | {"code": c["code"]}
    return None


def _why_won(candidates: Sequence[Mapping[str, Any]], beaten: Mapping[str, Any] | None) -> str:
    if beaten is None:
        km = next((c["scores"].get("distance") for c in candidates if c["why_not"] is None), None)
        where = "" if km is None else f" ({_amount('distance', km, 'km')})"
        return f"the only warehouse with all of it in stock{where}"
    criterion = beaten["criterion"]
    if criterion in TIE_BREAKS:
        return f"tied with {beaten['code']}, first by {criterion}"
    value = _amount(criterion, beaten["winner_value"], beaten["unit"])
    return f"{WINNING_WORDS[criterion]} ({value})"


def _brief(candidate: Mapping[str, Any]) -> str:
    """A few words on why one warehouse did not ship it: "LA 3,936 km", "CHI lacks cold-chain"."""
    code, why = candidate["code"], candidate["why_not"]
    reason = why["reason"]
    if reason == "ranked_below":
        if why["criterion"] in TIE_BREAKS:
            return f"{code} tied, later by {why['criterion']}"
        return f"{code} {_amount(why['criterion'], why['value'], why['unit'])}"
    if reason == "capability" and "missing" in why:
        return f"{code} lacks {', '.join(why['missing'])}"
    if reason == "capability":
        return f"{code} cannot ship {', '.join(why['cannot_ship'])}"
    if reason == "no_stock":
        return f"{code} short of {', '.join(why['short'])}"
    return f"{code} {why['text']}"


def late_candidates(candidates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The warehouses a trace removed for not shipping an urgent order today: its code, why
    (``cutoff_missed`` with its cut-off and time zone, or ``calendar``) and when it ships."""
    return [
        {"code": c["code"], **{k: v for k, v in c["why_not"].items() if k != "service_level"}}
        for c in candidates
        if not c["eligible"] and c["why_not"]["reason"] in ("cutoff_missed", "calendar")
    ]


def missed_words(level: str, missed: Sequence[Mapping[str, Any]]) -> str:
    """Why no warehouse ships an urgent order today, naming the first few: "No warehouse
    ships this express order today: NYC missed its 14:00 cut-off (America/New_York)"."""
    named = [
        f"{m['code']} missed its {m['cutoff']} cut-off ({m['timezone']})"
        if m["reason"] == "cutoff_missed"
        else f"{m['code']} {m['text'].removesuffix(f' for a {level} order')}"
        for m in missed[:MAX_HEADLINE_LOSERS]
    ]
    if len(missed) > MAX_HEADLINE_LOSERS:
        named.append(f"{len(missed) - MAX_HEADLINE_LOSERS} more")
    return f"No warehouse ships this {level} order today: {', '.join(named)}"


def warnings(
    ship_to: GeoPoint | None, address: tuple[str | None, str | None], verdicts: Verdicts
) -> list[dict[str, Any]]:
    """What made distances unknown or rough: a ship-to that could not be placed (or only
    above its postal code where postal codes are known), warehouses with no place."""
    country, postal_code = address
    warnings: list[dict[str, Any]] = []
    if ship_to is None:
        given = ", ".join(
            f"{name} {value}"
            for name, value in (("country", country), ("postal code", postal_code))
            if value
        )
        warnings.append(
            {
                "code": "ship_to_not_located",
                "message": f"the ship-to address ({given or 'no country'}) could not be placed: "
                "distances are unknown and the ranking left distance out",
            }
        )
    elif (
        postal_code
        and ship_to.level is not GeoLevel.POSTAL_CODE
        and (country or "").upper() in POSTAL_CODE_COUNTRIES
    ):
        warnings.append(
            {
                "code": "postal_code_unknown",
                "message": f"postal code {postal_code} is unknown in {country}: placed by "
                f"{ship_to.level.value} ({ship_to.label}), so distances are approximate",
            }
        )
    unplaced = [
        code
        for code, level in zip(verdicts.eligible.codes, verdicts.eligible.levels, strict=True)
        if level is None
    ] + [s.code for s, _ in verdicts.removed if s.level is None]
    if unplaced and ship_to is not None:
        warnings.append(
            {
                "code": "warehouse_not_located",
                "warehouses": sorted(unplaced),
                "message": f"no place for warehouse(s) {', '.join(sorted(unplaced))}: they rank "
                "after every warehouse with a distance",
            }
        )
    return warnings
