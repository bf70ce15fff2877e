"""The minimum-split search: hand-made cases, a brute-force oracle, and a seeded corpus."""

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from omniroute.routing import (
    LineAllocation,
    LineDemand,
    OrderDemand,
    Outcome,
    RoutingPolicy,
    WarehouseCandidate,
    plan,
)
from omniroute.routing.search import SearchLimits, SearchResult, min_split

NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
Stock = Mapping[tuple[int, str], int]
Key = tuple[int, tuple[int, ...], tuple[int, ...]]


def order(*lines: tuple[str, int]) -> tuple[LineDemand, ...]:
    """Lines whose ids are 1, 2, ... in the given order."""
    return tuple(LineDemand(n, sku, qty) for n, (sku, qty) in enumerate(lines, 1))


def available(stock: Stock, wid: int, sku: str) -> int:
    return max(0, stock.get((wid, sku), 0))


def groups_of(lines: Sequence[LineDemand], limits: SearchLimits) -> list[set[int]]:
    """Line ids bound together by keep-together groups (overlapping groups merge)."""
    parts = [{ln.line_id for ln in lines if ln.sku in g} for g in limits.keep_together]
    merged: list[set[int]] = []
    for part in (p for p in parts if p):
        joined = set(part)
        for other in [m for m in merged if m & part]:
            merged.remove(other)
            joined |= other
        merged.append(joined)
    return merged


def greedy_shipments(
    lines: Sequence[LineDemand], ranked: Sequence[int], stock: Stock, *, line_split: bool
) -> int | None:
    """Shipments of routing.plan's greedy split, its rank ties broken like ``ranked``."""
    warehouses = [WarehouseCandidate(w, f"W{w:03d}", priority=n) for n, w in enumerate(ranked)]
    policy = RoutingPolicy(allow_split=True, allow_line_split=line_split)
    result = plan(OrderDemand(1, tuple(lines)), warehouses, dict(stock), policy, NOW)
    if result.outcome in (Outcome.SINGLE, Outcome.SPLIT):
        return len(result.shipments)
    return None


def check_plan(
    result: SearchResult,
    lines: Sequence[LineDemand],
    ranked: Sequence[int],
    stock: Stock,
    limits: SearchLimits,
) -> None:
    """Every invariant of a result: stock, coverage and every split policy."""
    if not result.feasible:
        assert result.shipments == ()
        return
    taken: Counter[tuple[int, str]] = Counter()
    covered: Counter[int] = Counter()
    places: dict[int, set[int]] = {}
    by_id = {ln.line_id: ln for ln in lines}
    for wid, allocations in result.shipments:
        assert wid in ranked
        assert allocations
        assert len({a.line_id for a in allocations}) == len(allocations)
        ids = {a.line_id for a in allocations}
        if any(by_id[i].sku in limits.ship_alone_skus for i in ids):
            assert len(allocations) == 1  # a ship-alone line is never combined
        for a in allocations:
            assert a.quantity > 0
            assert a.sku == by_id[a.line_id].sku
            taken[(wid, a.sku)] += a.quantity
            covered[a.line_id] += a.quantity
            places.setdefault(a.line_id, set()).add(wid)
    for (wid, sku), qty in taken.items():
        assert qty <= available(stock, wid, sku)
    assert covered == Counter({ln.line_id: ln.quantity for ln in lines})
    for line in lines:
        whole = not limits.allow_line_split or line.sku in limits.ship_alone_skus
        if whole:
            assert sum(1 for _, a in result.shipments for x in a if x.line_id == line.line_id) == 1
    for group in groups_of(lines, limits):
        assert len(set().union(*(places[i] for i in group))) == 1
        assert all(
            len([x for _, a in result.shipments for x in a if x.line_id == i]) == 1 for i in group
        )
    if limits.max_shipments is not None:
        assert len(result.shipments) <= limits.max_shipments
    combined = [wid for wid, a in result.shipments if not is_alone(a, limits)]
    assert len(combined) == len(set(combined))


def is_alone(allocations: tuple[LineAllocation, ...], limits: SearchLimits) -> bool:
    return len(allocations) == 1 and allocations[0].sku in limits.ship_alone_skus


def key_of(
    result: SearchResult, lines: Sequence[LineDemand], ranked: Sequence[int], limits: SearchLimits
) -> Key:
    """(shipments, sorted ranks of the combined shipments, ranks of ship-alone blocks)."""
    rank = {w: n for n, w in enumerate(ranked)}
    combined = sorted(rank[w] for w, a in result.shipments if not is_alone(a, limits))
    where = {a[0].line_id: rank[w] for w, a in result.shipments if is_alone(a, limits)}
    return (
        len(result.shipments),
        tuple(combined),
        tuple(where[i] for i in alone_heads(lines, limits)),
    )


def alone_heads(lines: Sequence[LineDemand], limits: SearchLimits) -> list[int]:
    """First line id of each block made only of ship-alone lines, in line order."""
    alone = {ln.line_id for ln in lines if ln.sku in limits.ship_alone_skus}
    blocks = [g for g in groups_of(lines, limits) if g <= alone]
    loose = [{i} for i in alone if not any(i in g for g in groups_of(lines, limits))]
    return sorted(min(b) for b in blocks + loose)


def brute_force(
    lines: Sequence[LineDemand], ranked: Sequence[int], stock: Stock, limits: SearchLimits
) -> Key | None:
    """The best key over every assignment of whole lines and every set for splittable ones."""
    groups = groups_of(lines, limits)
    alone = {ln.line_id for ln in lines if ln.sku in limits.ship_alone_skus}
    grouped = set().union(*groups) if groups else set()
    whole = [ln for ln in lines if ln.line_id in grouped | alone or not limits.allow_line_split]
    fluid = [ln for ln in lines if ln not in whole]
    heads = alone_heads(lines, limits)
    best: Key | None = None
    n = len(ranked)
    for spots in product(range(n), repeat=len(whole)):
        at = {ln.line_id: w for ln, w in zip(whole, spots, strict=True)}
        if any(len({at[i] for i in g}) > 1 for g in groups):
            continue
        used: Counter[tuple[int, str]] = Counter()
        for ln in whole:
            used[(at[ln.line_id], ln.sku)] += ln.quantity
        if any(q > available(stock, ranked[w], sku) for (w, sku), q in used.items()):
            continue
        base = {at[ln.line_id] for ln in whole if ln.line_id not in alone}
        extras = product((False, True), repeat=n) if fluid else [(False,) * n]
        for extra in extras:
            chosen = base | {w for w in range(n) if extra[w]}
            if not fluid_fits(fluid, chosen, ranked, stock, used):
                continue
            key = (len(chosen) + len(alone), tuple(sorted(chosen)), tuple(at[i] for i in heads))
            if limits.max_shipments is not None and key[0] > limits.max_shipments:
                continue
            best = key if best is None or key < best else best
    return best


def fluid_fits(
    fluid: Sequence[LineDemand],
    chosen: set[int],
    ranked: Sequence[int],
    stock: Stock,
    used: Counter[tuple[int, str]],
) -> bool:
    need: Counter[str] = Counter()
    for ln in fluid:
        need[ln.sku] += ln.quantity
    return all(
        sum(available(stock, ranked[w], sku) - used[(w, sku)] for w in chosen) >= q
        for sku, q in need.items()
    )


# --- hand-made cases --------------------------------------------------------------------


def test_beats_greedy_three_shipments_with_two() -> None:
    # Greedy takes BIG (4 units) first, then needs LEFT for C and RIGHT for F: 3 shipments.
    lines = order(("A", 1), ("B", 1), ("C", 1), ("D", 1), ("E", 1), ("F", 1))
    big, left, right = 1, 2, 3
    stock = {(big, s): 1 for s in "ABDE"}
    stock |= {(left, s): 1 for s in "ABC"} | {(right, s): 1 for s in "DEF"}
    ranked = [big, left, right]
    assert greedy_shipments(lines, ranked, stock, line_split=True) == 3
    result = min_split(lines, ranked, stock, SearchLimits())
    assert result.feasible and result.proven_minimal and result.method == "exact"
    assert result.shipments == (
        (left, tuple(LineAllocation(n, s, 1) for n, s in enumerate("ABC", 1))),
        (right, tuple(LineAllocation(n, s, 1) for n, s in enumerate("DEF", 4))),
    )


def test_single_warehouse_is_the_best_ranked_that_fills() -> None:
    lines = order(("A", 2), ("B", 1))
    stock = {(5, "A"): 2, (5, "B"): 1, (9, "A"): 9, (9, "B"): 9, (7, "A"): 1}
    result = min_split(lines, [7, 5, 9], stock, SearchLimits())
    assert result.shipments == ((5, (LineAllocation(1, "A", 2), LineAllocation(2, "B", 1))),)
    assert result.proven_minimal and result.method == "exact"


def test_equal_counts_prefer_the_best_ranked_set() -> None:
    # {1, 4} and {2, 3} both work; sorted ranks (0, 3) beat (1, 2).
    lines = order(("A", 1), ("B", 1))
    stock = {(1, "A"): 1, (4, "B"): 1, (2, "A"): 1, (3, "B"): 1}
    result = min_split(lines, [1, 2, 3, 4], stock, SearchLimits())
    assert [w for w, _ in result.shipments] == [1, 3]
    result = min_split(lines, [1, 2, 3, 4], {**stock, (3, "B"): 0}, SearchLimits())
    assert [w for w, _ in result.shipments] == [1, 4]


def test_line_split_allowed_fills_the_best_ranked_warehouse_first() -> None:
    lines = order(("A", 5))
    stock = {(1, "A"): 3, (2, "A"): 4}
    result = min_split(lines, [1, 2], stock, SearchLimits())
    assert result.shipments == (
        (1, (LineAllocation(1, "A", 3),)),
        (2, (LineAllocation(1, "A", 2),)),
    )
    forbidden = min_split(lines, [1, 2], stock, SearchLimits(allow_line_split=False))
    assert not forbidden.feasible and forbidden.proven_minimal and forbidden.shipments == ()


def test_lines_sharing_a_sku_share_its_stock() -> None:
    lines = order(("A", 3), ("A", 4), ("B", 1))
    stock = {(1, "A"): 5, (1, "B"): 1, (2, "A"): 4}
    split = min_split(lines, [1, 2], stock, SearchLimits())
    assert split.shipments == (
        (1, (LineAllocation(1, "A", 3), LineAllocation(2, "A", 2), LineAllocation(3, "B", 1))),
        (2, (LineAllocation(2, "A", 2),)),
    )
    whole = min_split(lines, [1, 2], stock, SearchLimits(allow_line_split=False))
    assert whole.shipments == (  # whole lines, largest first, to the best-ranked that fits
        (1, (LineAllocation(2, "A", 4), LineAllocation(3, "B", 1))),
        (2, (LineAllocation(1, "A", 3),)),
    )
    short = min_split(lines, [1, 2], {**stock, (2, "A"): 1}, SearchLimits())
    assert not short.feasible and short.proven_minimal


def test_ship_alone_line_is_its_own_shipment_even_from_the_same_warehouse() -> None:
    lines = order(("A", 1), ("TV", 1), ("B", 2))
    stock = {(1, "A"): 1, (1, "TV"): 1, (1, "B"): 2}
    limits = SearchLimits(ship_alone_skus=frozenset({"TV"}))
    result = min_split(lines, [1], stock, limits)
    assert result.shipments == (
        (1, (LineAllocation(1, "A", 1), LineAllocation(3, "B", 2))),
        (1, (LineAllocation(2, "TV", 1),)),
    )
    assert result.proven_minimal
    assert not min_split(
        lines, [1], stock, SearchLimits(1, ship_alone_skus=frozenset({"TV"}))
    ).feasible


def test_ship_alone_line_goes_to_the_best_ranked_warehouse_holding_it() -> None:
    lines = order(("A", 1), ("TV", 2))
    stock = {(1, "TV"): 2, (2, "A"): 1, (2, "TV"): 2}
    result = min_split(lines, [1, 2], stock, SearchLimits(ship_alone_skus=frozenset({"TV"})))
    assert result.shipments == (
        (1, (LineAllocation(2, "TV", 2),)),
        (2, (LineAllocation(1, "A", 1),)),
    )


def test_ship_alone_lines_are_never_split() -> None:
    lines = order(("TV", 3))
    stock = {(1, "TV"): 2, (2, "TV"): 2}
    assert not min_split(
        lines, [1, 2], stock, SearchLimits(ship_alone_skus=frozenset({"TV"}))
    ).feasible
    assert len(min_split(lines, [1, 2], stock, SearchLimits()).shipments) == 2


def test_keep_together_lines_ship_from_one_warehouse() -> None:
    lines = order(("A", 1), ("B", 1), ("C", 1))
    stock = {(1, "A"): 1, (1, "C"): 1, (2, "B"): 1, (3, "A"): 1, (3, "B"): 1}
    assert [w for w, _ in min_split(lines, [1, 2, 3], stock, SearchLimits()).shipments] == [1, 2]
    limits = SearchLimits(keep_together=(frozenset({"A", "B"}),))
    result = min_split(lines, [1, 2, 3], stock, limits)
    assert result.shipments == (
        (1, (LineAllocation(3, "C", 1),)),
        (3, (LineAllocation(1, "A", 1), LineAllocation(2, "B", 1))),
    )
    nowhere = SearchLimits(keep_together=(frozenset({"A", "B"}), frozenset({"B", "C"})))
    assert not min_split(lines, [1, 2, 3], stock, nowhere).feasible  # groups merge via B


def test_keep_together_lines_are_not_split() -> None:
    lines = order(("A", 4), ("B", 1))
    stock = {(1, "A"): 2, (1, "B"): 1, (2, "A"): 2}
    assert min_split(lines, [1, 2], stock, SearchLimits()).feasible
    limits = SearchLimits(keep_together=(frozenset({"A", "B"}),))
    assert not min_split(lines, [1, 2], stock, limits).feasible


def test_max_shipments_too_low_is_infeasible_and_proven() -> None:
    lines = order(("A", 1), ("B", 1), ("C", 1))
    stock = {(1, "A"): 1, (2, "B"): 1, (3, "C"): 1}
    assert len(min_split(lines, [1, 2, 3], stock, SearchLimits(max_shipments=3)).shipments) == 3
    result = min_split(lines, [1, 2, 3], stock, SearchLimits(max_shipments=2))
    assert result == SearchResult((), True, "exact", result.nodes, False)


def test_negative_and_missing_stock_count_as_zero() -> None:
    lines = order(("A", 1))
    result = min_split(lines, [1, 2], {(1, "A"): -5, (2, "A"): 1}, SearchLimits())
    assert result.shipments == ((2, (LineAllocation(1, "A", 1),)),)
    assert not min_split(lines, [1, 2], {(1, "A"): -5}, SearchLimits()).feasible
    assert not min_split(lines, [], {}, SearchLimits()).feasible


def test_empty_order_and_bad_input() -> None:
    assert min_split((), [1], {}, SearchLimits()) == SearchResult((), True, "exact", 0, True)
    with pytest.raises(ValueError, match="positive"):
        min_split(order(("A", 0)), [1], {}, SearchLimits())
    with pytest.raises(ValueError, match="line_id"):
        min_split((LineDemand(1, "A", 1), LineDemand(1, "B", 1)), [1], {}, SearchLimits())
    with pytest.raises(ValueError, match="warehouse"):
        min_split(order(("A", 1)), [1, 1], {}, SearchLimits())


def test_budget_exhausted_falls_back_to_the_heuristic() -> None:
    lines, ranked, stock = corpus_case(random.Random(7), n_lines=10, n_warehouses=40)
    result = min_split(lines, ranked, stock, SearchLimits(node_budget=3))
    assert result.method == "exact-budget-exhausted" and not result.proven_minimal
    assert result.nodes > 3
    check_plan(result, lines, ranked, stock, SearchLimits())
    greedy = greedy_shipments(lines, ranked, stock, line_split=True)
    assert greedy is not None and result.feasible and len(result.shipments) <= greedy


def test_large_orders_use_the_heuristic_unless_one_warehouse_fills() -> None:
    lines = order(*[(f"S{n}", 1) for n in range(13)])
    half = {(1, f"S{n}"): 1 for n in range(7)} | {(2, f"S{n}"): 1 for n in range(7, 13)}
    result = min_split(lines, [1, 2], half, SearchLimits())
    assert (result.method, result.proven_minimal, len(result.shipments)) == ("heuristic", False, 2)
    full = half | {(2, f"S{n}"): 1 for n in range(13)}
    assert min_split(lines, [1, 2], full, SearchLimits()).method == "exact"


def test_deterministic_and_independent_of_stock_order() -> None:
    lines, ranked, stock = corpus_case(random.Random(3), n_lines=6, n_warehouses=12)
    first = min_split(lines, ranked, stock, SearchLimits())
    again = min_split(lines, ranked, dict(reversed(list(stock.items()))), SearchLimits())
    assert first == again


# --- properties against a brute-force oracle ------------------------------------------------

SKUS = ("A", "B", "C")
Tiny = tuple[tuple[LineDemand, ...], list[int], Stock, SearchLimits]


@hs.composite
def tiny_cases(draw: hs.DrawFn) -> Tiny:
    line = hs.tuples(hs.sampled_from(SKUS), hs.integers(1, 4))
    lines = order(*draw(hs.lists(line, min_size=1, max_size=4)))
    ranked = draw(hs.permutations(range(1, draw(hs.integers(1, 5)) + 1)))
    stock: dict[tuple[int, str], int] = {}
    for key in [(w, sku) for w in ranked for sku in SKUS]:
        qty = draw(hs.one_of(hs.none(), hs.integers(-1, 5), hs.integers(2, 6), hs.integers(3, 8)))
        if qty is not None:
            stock[key] = qty
    subsets = [frozenset(), frozenset("A"), frozenset("AB"), frozenset("BC"), frozenset("C")]
    limits = SearchLimits(
        max_shipments=draw(hs.sampled_from((None, None, None, None, 1, 2, 3))),
        allow_line_split=draw(hs.booleans()),
        ship_alone_skus=draw(hs.sampled_from((frozenset(), *subsets[:4]))),
        keep_together=tuple(draw(hs.lists(hs.sampled_from(subsets[2:]), max_size=2))),
    )
    return lines, list(ranked), stock, limits


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(tiny_cases())
def test_exact_results_are_valid_and_minimal(case: Tiny) -> None:
    lines, ranked, stock, limits = case
    result = min_split(lines, ranked, stock, limits)
    check_plan(result, lines, ranked, stock, limits)
    assert result.proven_minimal and result.method == "exact"
    best = brute_force(lines, ranked, stock, limits)
    assert result.feasible == (best is not None)
    if best is not None:
        assert key_of(result, lines, ranked, limits) == best


@PROPERTY
@given(tiny_cases())
def test_heuristic_results_are_valid(case: Tiny) -> None:
    lines, ranked, stock, limits = case
    forced = replace(limits, exact_max_lines=0)
    result = min_split(lines, ranked, stock, forced)
    check_plan(result, lines, ranked, stock, limits)
    best = brute_force(lines, ranked, stock, limits)
    if result.feasible:
        assert best is not None and len(result.shipments) >= best[0]
    assert result.method == ("exact" if result.proven_minimal else "heuristic")


@PROPERTY
@given(tiny_cases(), hs.booleans())
def test_never_more_shipments_than_the_greedy_plan(case: Tiny, exact: bool) -> None:
    lines, ranked, stock, limits = case
    limits = SearchLimits(allow_line_split=limits.allow_line_split, exact_max_lines=12 * exact)
    greedy = greedy_shipments(lines, ranked, stock, line_split=limits.allow_line_split)
    result = min_split(lines, ranked, stock, limits)
    if greedy is not None:
        assert result.feasible and len(result.shipments) <= greedy
    assert result == min_split(lines, ranked, stock, limits)


# --- a seeded corpus of orders that need a split ------------------------------------------


def corpus_case(
    rng: random.Random, *, n_lines: int, n_warehouses: int
) -> tuple[tuple[LineDemand, ...], list[int], dict[tuple[int, str], int]]:
    """An order over a small catalogue and warehouses that each hold part of it."""
    catalogue = [f"S{n}" for n in range(max(8, n_lines + 2))]
    lines = order(*[(sku, rng.randint(1, 3)) for sku in rng.sample(catalogue, n_lines)])
    ranked = rng.sample(range(1, 1000), n_warehouses)
    stock = {
        (w, sku): rng.randint(1, 4) for w in ranked for sku in catalogue if rng.random() < 0.45
    }
    return lines, ranked, stock


def test_corpus_never_worse_than_greedy_and_sometimes_better(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(20240501)
    tally: Counter[str] = Counter()
    while tally["fewer"] + tally["same"] < 300:
        lines, ranked, stock = corpus_case(
            rng, n_lines=rng.randint(3, 7), n_warehouses=rng.randint(4, 12)
        )
        split = rng.random() < 0.7
        greedy = greedy_shipments(lines, ranked, stock, line_split=split)
        if greedy is None or greedy < 2:
            continue
        limits = SearchLimits(allow_line_split=split)
        result = min_split(lines, ranked, stock, limits)
        check_plan(result, lines, ranked, stock, limits)
        assert result.feasible and len(result.shipments) <= greedy
        tally["fewer" if len(result.shipments) < greedy else "same"] += 1
        tally["proven"] += result.proven_minimal
    with capsys.disabled():
        print(
            f"\nsplit corpus: {tally['fewer']} of 300 orders in fewer shipments than greedy,"
            f" {tally['same']} equal, {tally['proven']} proven minimal"
        )
    assert tally["fewer"] >= 1
