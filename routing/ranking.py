"""Scores of the eligible warehouses on each ranking criterion, and the ranking they give.

Kept to plain float columns so that the hot path runs in C where it can: distances rounded
in the same pass that computes them, and the ranking chain applied as one stable sort per
criterion (least significant first) on float keys instead of one sort on tuples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, NamedTuple, cast

from omniroute.routing.geo import EARTH_RADIUS_KM, PreparedPoint

# Sorting direction per criterion: smaller is better for these, larger for the others.
SMALLER_IS_BETTER = frozenset({"priority", "distance", "shipping_cost", "ship_date"})
NEVER_UNKNOWN = frozenset({"priority", "stock_depth"})  # every warehouse has these

DIAMETER_KM = 2 * EARTH_RADIUS_KM
RADIANS_PER_DEGREE = math.pi / 180.0  # math.radians(x) is x * this, the very same float
ROUNDER = 6755399441055744.0  # 1.5 * 2**52: (y + ROUNDER) - ROUNDER is y at an integer
NOT_A_TIE = 0.5 - 1e-6  # |10 km - nearest integer| below this: no tie to break


class ScoreColumns(NamedTuple):
    """The eligible warehouses' values on each ranking criterion; None: unknown."""

    priority: Sequence[float]
    distance: Sequence[float | None]
    stock_depth: Sequence[float]
    shipping_cost: Sequence[float | None]
    capacity_headroom: Sequence[float | None]
    ship_date: Sequence[float | None]  # days until it ships; None: never
    # Criteria on which every warehouse has the very same value (or none): nothing to sort.
    uniform: frozenset[str] = frozenset()
    # Criteria known to have a value for every warehouse, besides those in NEVER_UNKNOWN.
    known: frozenset[str] = frozenset()
    finite: bool = False  # the priorities are known to be finite

    def infinite(self) -> bool:
        """Whether any value is infinite: only a rate band's price can be, or a priority or
        capacity given as a float (distances and stock depths are always finite)."""
        priority = self.priority
        # Bounded min and max rule out an infinity (cheaply; with a NaN, the scan decides).
        bounded = (
            self.finite or not priority or (-math.inf < min(priority) and max(priority) < math.inf)
        )
        if not bounded and (math.inf in priority or -math.inf in priority):
            return True
        uniform = self.uniform  # a uniform cost or capacity is None throughout
        cost, capacity = self.shipping_cost, self.capacity_headroom
        if "shipping_cost" not in uniform and (math.inf in cost or -math.inf in cost):
            return True
        return "capacity_headroom" not in uniform and (
            math.inf in capacity or -math.inf in capacity
        )


# Position of each criterion in ScoreColumns (fewest_shipments is the search's own).
SCORE_INDEX = {name: n for n, name in enumerate(ScoreColumns._fields[:6])}


def tenths(values: Sequence[float | None]) -> list[float | None]:
    """``round(v, 1)`` of each value (None stays None): the very same floats, faster.

    CPython's ``round(v, 1)`` rounds the exact binary value half-even to one decimal through
    a decimal string (~0.3 us). Rounding ``10 * v`` to an integer instead errs far below 1e-6
    here; so away from a tie (10v within 1e-6 of a half) both pick the same tenth, and
    dividing that integer by 10 is correctly rounded like the string's conversion. Near a
    tie, for zero (its sign), negative or huge values, the exact route is taken.
    """
    return [None if v is None else _tenth(v) for v in values]


def _tenth(v: float) -> float:
    scaled = v * 10.0
    whole = scaled + ROUNDER - ROUNDER  # the nearest integer (exact below 2**51)
    if 0.0 < scaled < 1e9 and -NOT_A_TIE < scaled - whole < NOT_A_TIE:
        return whole / 10.0
    return round(v, 1)


def distances_in_tenths(
    origin: PreparedPoint, points: Sequence[PreparedPoint | None]
) -> list[float | None]:
    """``tenths(distances_km(origin, points))`` in one pass: the very same floats.

    Written out for speed: ``x * 0.5`` is ``x / 2`` exactly, ``x * RADIANS_PER_DEGREE`` is
    ``math.radians(x)``, ``1.0 if h > 1.0 else h`` is ``min(h, 1.0)``; ``** 2.0`` stays a
    power (``x * x`` may differ in the last bit).
    """
    lat, cos_lat, lon = origin
    sin, asin, sqrt = math.sin, math.asin, math.sqrt
    out: list[float | None] = []
    append = out.append
    for b in points:
        if b is None:
            append(None)
            continue
        h = (
            sin((b[0] - lat) * 0.5) ** 2.0
            + cos_lat * b[1] * sin((b[2] - lon) * RADIANS_PER_DEGREE * 0.5) ** 2.0
        )
        km = DIAMETER_KM * asin(sqrt(1.0 if h > 1.0 else h))
        scaled = km * 10.0
        whole = scaled + ROUNDER - ROUNDER
        if 0.0 < scaled < 1e9 and -NOT_A_TIE < scaled - whole < NOT_A_TIE:
            append(whole / 10.0)
        else:
            append(round(km, 1))
    return out


def rank_order(chain: Sequence[str], scores: ScoreColumns, by_code: Sequence[int]) -> list[int]:
    """Positions in the score columns, best first: the ranking chain, then code and id.

    The same order as sorting on one key tuple per warehouse (each criterion's value, negated
    where larger is better; an unknown value after every known one), then code and id: stable
    sorts from the last key to the first. ``by_code`` is the order by code and id.
    """
    order = list(by_code)
    uniform = scores.uniform
    for criterion in reversed(chain):
        index = SCORE_INDEX.get(criterion)
        if index is None or criterion in uniform:
            continue  # fewest_shipments is the search's own objective
        column = cast("Sequence[Any]", scores[index])
        larger = criterion not in SMALLER_IS_BETTER
        if criterion in NEVER_UNKNOWN or criterion in scores.known or None not in column:
            # A list's __getitem__ makes a faster key than a tuple's (a slot wrapper).
            values = column if type(column) is list else list(column)
            order.sort(key=values.__getitem__, reverse=larger)
        else:
            known = [0.0 if v is None else v for v in column]
            order.sort(key=known.__getitem__, reverse=larger)
            order.sort(key=[v is None for v in column].__getitem__)
    return order


# Criteria whose values depend on the order (its stock, weight, time); the others depend only
# on the warehouses, the ship-to and the rules' boosts.
PER_ORDER = frozenset({"stock_depth", "shipping_cost", "ship_date"})


def settled_order(
    chain: Sequence[str], scores: ScoreColumns, by_code: Sequence[int]
) -> list[int] | None:
    """``rank_order(chain, ...)`` when the criteria before the chain's first per-order one
    (``PER_ORDER``) already tell every warehouse apart, so that it is the same for any order
    with these warehouses, ship-to and boosts; None when some tie on them (or a value is not
    a number: NaN sorts by the input order)."""
    prefix: list[str] = []
    for criterion in chain:
        if criterion in PER_ORDER:
            break
        prefix.append(criterion)
    columns = [
        cast("Sequence[float | None]", scores[SCORE_INDEX[c]])
        for c in prefix
        if c in SCORE_INDEX and c not in scores.uniform
    ]
    if not columns or any(v is not None and math.isnan(v) for column in columns for v in column):
        return None
    order = rank_order(prefix, scores, by_code)
    keys = list(zip(*columns, strict=True))
    if any(keys[a] == keys[b] for a, b in pairwise(order)):
        return None
    return order
