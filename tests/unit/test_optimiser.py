"""routing.optimise: the weighted objective against brute force, the heuristic and the rules."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from omniroute.routing.allocate import LineDemand
from omniroute.routing.optimise import (
    EXACT_MAX_LINES,
    Costs,
    objective_of,
    plan_split,
    shipment_costs,
)
from omniroute.routing.optimise.cover import cover_search
from omniroute.routing.optimise.model import TIE, build, plan_of, unit_costs
from omniroute.routing.optimise.problem import Plan, Problem
from omniroute.routing.optimise.solve import solve
from omniroute.routing.rule_model import Objective
from omniroute.routing.search import SearchLimits, min_split, min_split_rows
from omniroute.routing.warehouses import RateBand
from tests.unit.test_split_search import Tiny, brute_force, check_plan, order, tiny_cases

PROPERTY = settings(max_examples=120, deadline=None, derandomize=True)
WEIGHTED = Objective(shipments=3, cost=1, distance_km=0.01, capacity=2)


def rows_of(
    lines: Sequence[LineDemand], ranked: Sequence[int], stock: Mapping[tuple[int, str], int]
) -> list[tuple[int, ...]]:
    skus = list(dict.fromkeys(line.sku for line in lines))
    return [tuple(max(0, stock.get((w, s), 0)) for s in skus) for w in ranked]


@hs.composite
def weighted_costs(draw: hs.DrawFn, warehouses: int) -> Costs:
    km = [draw(hs.one_of(hs.none(), hs.floats(10, 900).map(round))) for _ in range(warehouses)]
    bands = [
        draw(hs.sampled_from(((), (RateBand(500, 4, 0.5),), (RateBand(2000, 9, 1.5),))))
        for _ in range(warehouses)
    ]
    capacity = [draw(hs.sampled_from((None, 1.0, 4.0, 50.0))) for _ in range(warehouses)]
    kg = {"A": 0.5, "B": 2.0, "C": 7.5}
    return shipment_costs(WEIGHTED, distance_km=km, bands=bands, capacity_left=capacity, kg=kg)


def brute_objective(problem: Problem, costs: Costs) -> float | None:
    """The least objective over every placement of the blocks and every set of warehouses for
    the combined shipments, splittable units filled cheapest first (optimal for a fixed set)."""
    count = len(problem.rows)
    unit = [[costs.unit(n, s) for s in problem.skus] for n in range(count)]
    best = None
    for placement in product(range(count), repeat=len(problem.blocks)):
        for mask in range(1 << count):
            picks = frozenset(n for n in range(count) if mask >> n & 1)
            plan = Plan(picks, placement)
            if problem.feasible(plan):
                worth = objective_of(problem, costs, problem.assemble(plan, unit))
                best = worth if best is None or worth < best else best
    return best


def tolerance(costs: Costs) -> float:
    """What the ranking's tie terms may trade away: less than TIE of the cheapest shipment."""
    return TIE * min((f for f in costs.fixed if f > 0), default=1.0) + 1e-6


# --- properties -----------------------------------------------------------------------


@PROPERTY
@given(hs.data())
def test_weighted_plans_keep_every_constraint_and_match_brute_force(data: hs.DataObject) -> None:
    lines, ranked, stock, limits = data.draw(tiny_cases())
    costs = data.draw(weighted_costs(len(ranked)))
    rows = rows_of(lines, ranked, stock)
    done = plan_split(lines, ranked, rows, limits, objective=WEIGHTED, costs=costs)
    check_plan(done.search, lines, ranked, stock, limits)
    problem = Problem(lines, ranked, rows, limits)
    best = brute_objective(problem, costs)
    assert done.search.feasible == (best is not None)
    if best is not None:
        got = objective_of(problem, costs, done.search.shipments)
        assert best - 1e-6 <= got <= best + tolerance(costs)
        assert done.report["status"] == "optimal" and done.search.proven_minimal
        assert done.report["objective"] == pytest.approx(got, abs=1e-5)


@PROPERTY
@given(hs.data())
def test_weighted_plans_are_never_worse_than_the_heuristic(data: hs.DataObject) -> None:
    lines, ranked, stock, limits = data.draw(tiny_cases())
    costs = data.draw(weighted_costs(len(ranked)))
    rows = rows_of(lines, ranked, stock)
    done = plan_split(lines, ranked, rows, limits, objective=WEIGHTED, costs=costs)
    greedy = min_split_rows(lines, ranked, rows, replace(limits, exact_max_lines=0))
    if greedy.feasible:
        problem = Problem(lines, ranked, rows, limits)
        got = objective_of(problem, costs, done.search.shipments)
        assert got <= objective_of(problem, costs, greedy.shipments) + 1e-6


@PROPERTY
@given(tiny_cases())
def test_the_default_objective_is_todays_exact_search(case: Tiny) -> None:
    lines, ranked, stock, limits = case
    done = plan_split(lines, ranked, rows_of(lines, ranked, stock), limits)
    assert done.search == min_split(lines, ranked, stock, limits)
    assert done.report["method"] == "exact_search"


@PROPERTY
@given(tiny_cases())
def test_the_mip_finds_the_fewest_shipments_when_the_search_gives_up(case: Tiny) -> None:
    lines, ranked, stock, limits = case
    starved = replace(limits, node_budget=0)  # the exact search stops at once
    done = plan_split(lines, ranked, rows_of(lines, ranked, stock), starved)
    check_plan(done.search, lines, ranked, stock, limits)
    best = brute_force(lines, ranked, stock, limits)
    assert done.search.feasible == (best is not None)
    if best is not None:
        assert len(done.search.shipments) == best[0]
        assert done.report["method"] in ("mip", "exact_search", "greedy")


# --- beyond 12 lines --------------------------------------------------------------------


def halves(n_lines: int) -> tuple[tuple[LineDemand, ...], list[int], dict[tuple[int, str], int]]:
    """SKU groups G1..G4: BIG (rank 1) holds G2 and G3, the most units; P only G1, Q only G4;
    LEFT G1 and G2, RIGHT G3 and G4. Greedy takes BIG, then Q and P (ties go to rank), and
    no pick can be dropped: 3 shipments, where LEFT and RIGHT make 2."""
    lines = order(*[(f"S{n:02d}", 1) for n in range(n_lines)])
    g2 = (n_lines - 5) // 2
    groups = [range(2), range(2, 2 + g2), range(2 + g2, n_lines - 3), range(n_lines - 3, n_lines)]
    holds = {1: (1, 2), 2: (0,), 3: (3,), 4: (0, 1), 5: (2, 3)}
    stock = {(w, f"S{n:02d}"): 1 for w, parts in holds.items() for g in parts for n in groups[g]}
    return lines, [1, 2, 3, 4, 5], stock


@pytest.mark.parametrize("n_lines", [13, 20, 40])
def test_more_than_twelve_lines_in_fewer_shipments_than_greedy(n_lines: int) -> None:
    lines, ranked, stock = halves(n_lines)
    old = min_split(lines, ranked, stock, SearchLimits())  # today: heuristic past 12 lines
    assert (old.method, len(old.shipments)) == ("heuristic", 3)
    rows = rows_of(lines, ranked, stock)
    limits = SearchLimits(exact_max_lines=EXACT_MAX_LINES)
    exact = plan_split(lines, ranked, rows, limits)
    assert [w for w, _ in exact.search.shipments] == [4, 5]
    assert exact.report["method"] == "exact_search" and exact.search.proven_minimal
    mip = plan_split(lines, ranked, rows, replace(limits, node_budget=0))
    assert [w for w, _ in mip.search.shipments] == [4, 5]
    assert (mip.report["method"], mip.report["status"]) == ("mip", "optimal")
    assert mip.report["objective"] == 2 and mip.report["heuristic_objective"] == 3
    check_plan(mip.search, lines, ranked, stock, limits)


def thirty_by_fifty() -> tuple[
    tuple[LineDemand, ...], list[int], dict[tuple[int, str], int], Objective, Costs
]:
    rng = random.Random(5)
    lines = order(*[(f"S{n}", rng.randint(1, 3)) for n in range(30)])
    ranked = list(range(1, 51))
    stock = {(w, line.sku): rng.randint(0, 8) for w in ranked for line in lines}
    stock = {key: q for key, q in stock.items() if rng.random() < 0.6}
    km = [float(rng.randint(50, 4000)) for _ in ranked]
    bands = [(RateBand(5000, rng.uniform(4, 12), rng.uniform(0.4, 1.2)),) for _ in ranked]
    kg = {line.sku: rng.uniform(0.1, 5) for line in lines}
    objective = Objective(shipments=10, cost=1, distance_km=0.01)
    costs = shipment_costs(objective, distance_km=km, bands=bands, capacity_left=[None] * 50, kg=kg)
    return lines, ranked, stock, objective, costs


def test_thirty_lines_fifty_warehouses_are_proven_optimal_on_a_weighted_objective() -> None:
    lines, ranked, stock, objective, costs = thirty_by_fifty()
    rows = rows_of(lines, ranked, stock)
    limits = SearchLimits(exact_max_lines=EXACT_MAX_LINES)
    done = plan_split(lines, ranked, rows, limits, objective=objective, costs=costs, time_limit=60)
    check_plan(done.search, lines, ranked, stock, limits)
    assert done.report["status"] == "optimal" and done.report["gap"] == 0
    assert done.report["objective"] <= done.report["heuristic_objective"]


def test_at_the_time_limit_the_best_plan_found_comes_with_its_gap() -> None:
    lines, ranked, stock, objective, costs = thirty_by_fifty()
    rows = rows_of(lines, ranked, stock)
    limits = SearchLimits(exact_max_lines=EXACT_MAX_LINES)
    done = plan_split(lines, ranked, rows, limits, objective=objective, costs=costs, time_limit=0)
    check_plan(done.search, lines, ranked, stock, limits)
    assert done.report["status"] == "time_limit" and not done.search.proven_minimal
    assert done.report["method"] in ("mip", "greedy", "branch_and_bound")
    assert done.report["objective"] <= done.report["heuristic_objective"] + 1e-6
    assert done.report["gap"] is None or 0 < done.report["gap"] <= 1
    json.dumps(done.report, allow_nan=False)  # stored as JSON: no infinity


# --- costs ------------------------------------------------------------------------------


def test_costs_count_unknowns_as_the_worst_known() -> None:
    bands = ((RateBand(100, 5, 1),), (RateBand(100, 8, 2),), (RateBand(100, 1, 1),))
    costs = shipment_costs(
        Objective(shipments=10, cost=1, distance_km=0.5, capacity=4),
        distance_km=[20, None, 300],  # the last is beyond its only band
        bands=bands,
        capacity_left=[2, None, 0],
        kg={"A": 3},
    )
    assert costs.fixed == (10 + 5 + 10 + 2, 10 + 5 + 150, 10 + 5 + 150 + 4)
    assert costs.per_kg == (1, 1, 1)
    assert costs.unit(0, "A") == 3 and costs.unit(0, "UNKNOWN") == 0


def test_an_objective_beyond_shipments_needs_costs() -> None:
    with pytest.raises(ValueError, match="costs"):
        plan_split(order(("A", 1)), [1], [(1,)], SearchLimits(), objective=WEIGHTED)


# --- through the router: rules, trace, explanations -------------------------------------


def test_a_rule_sets_objective_picks_the_cheaper_warehouse_and_says_so() -> None:
    from omniroute.routing.engine import SkuProfile, decide
    from omniroute.routing.tracing.render import render_trace
    from tests.unit.test_engine import request, rules, wh
    from tests.unit.test_why_not import LA_90001, NYC_10001, TO_10003

    houses = [
        wh(1, "NYC", NYC_10001, rate_table=(RateBand(5000, 40, 2),)),
        wh(2, "LA", LA_90001, rate_table=(RateBand(5000, 6, 0.5),)),
    ]
    stock = {(1, "A"): 5, (2, "A"): 5}
    skus = {"A": SkuProfile(weight_kg=2.0)}
    plain = decide(request([("A", 2)], houses, stock, ship_to=TO_10003, skus=skus))
    assert plain.trace["chosen"] == ["NYC"]  # nearest; the objective weighs shipments only
    assert plain.trace["optimiser"]["method"] == "exact_search"
    cheap = rules({"objective": {"cost": 1}})
    result = decide(request([("A", 2)], houses, stock, cheap, ship_to=TO_10003, skus=skus))
    assert result.trace["chosen"] == ["LA"]
    optimiser = result.trace["optimiser"]
    assert (optimiser["method"], optimiser["status"]) == ("branch_and_bound", "optimal")
    assert optimiser["objective"] == pytest.approx(1 + 6 + 0.5 * 2 * 2)
    assert optimiser["weights"] == {
        "shipments": 1.0,
        "cost": 1.0,
        "distance_km": 0.0,
        "capacity": 0.0,
    }
    read = render_trace(result.trace)
    assert read["headline"].startswith("Shipped from LA: lowest objective found (9; shipments")
    nyc = next(c for c in read["candidates"] if c["code"] == "NYC")
    assert nyc["why_not"]["reason"] == "objective"
    assert "costs less on the objective (shipments 1, cost 1)" in nyc["why_not"]["text"]
    assert "optimal on the objective (9)" in result.trace["summary"]


def test_a_split_can_beat_one_dear_shipment_when_the_objective_says_so() -> None:
    lines = order(("A", 2), ("B", 2))
    ranked = [1, 2, 3]
    rows = [(2, 2), (2, 0), (0, 2)]  # 1 holds everything; 2 and 3 half each, much cheaper
    objective = Objective(shipments=1, cost=1)
    bands = [(RateBand(100, 50, 0),), (RateBand(100, 5, 0),), (RateBand(100, 5, 0),)]
    costs = shipment_costs(
        objective, distance_km=[1, 1, 1], bands=bands, capacity_left=[None] * 3, kg={}
    )
    done = plan_split(lines, ranked, rows, SearchLimits(), objective=objective, costs=costs)
    assert [w for w, _ in done.search.shipments] == [2, 3]
    assert done.report["objective"] == 12
    heavy = replace(objective, shipments=100)
    costs = replace(costs, objective=heavy, fixed=tuple(f + 99 for f in costs.fixed))
    done = plan_split(lines, ranked, rows, SearchLimits(), objective=heavy, costs=costs)
    assert [w for w, _ in done.search.shipments] == [1]


def test_max_shipments_and_ship_alone_hold_under_an_objective() -> None:
    lines = order(("A", 1), ("TV", 1), ("B", 1))
    rows = [(1, 1, 1), (1, 1, 1)]
    objective = Objective(shipments=1, cost=1)
    bands = [(RateBand(100, 30, 0),), (RateBand(100, 1, 0),)]
    costs = shipment_costs(
        objective, distance_km=[1, 1], bands=bands, capacity_left=[None] * 2, kg={}
    )
    limits = SearchLimits(max_shipments=2, ship_alone_skus=frozenset({"TV"}))
    done = plan_split(lines, [7, 8], rows, limits, objective=objective, costs=costs)
    assert [len(a) for _, a in done.search.shipments] == [2, 1]
    assert {w for w, _ in done.search.shipments} == {8}
    none = plan_split(
        lines, [7, 8], rows, replace(limits, max_shipments=1), objective=objective, costs=costs
    )
    assert not none.search.feasible and none.report["status"] == "infeasible"


# --- the branch and bound of orders whose lines all split --------------------------------


@hs.composite
def split_cases(
    draw: hs.DrawFn, most_lines: int, most_warehouses: int
) -> tuple[tuple[LineDemand, ...], list[int], list[tuple[int, ...]], SearchLimits, Costs]:
    """Orders with every line splittable (no block): the branch and bound's ground."""
    count = draw(hs.integers(1, most_lines))
    skus = [f"S{n}" for n in range(count)]
    lines = order(*[(sku, draw(hs.integers(1, 4))) for sku in skus])
    ranked = list(range(1, draw(hs.integers(1, most_warehouses)) + 1))
    held = hs.one_of(hs.just(0), hs.integers(0, 4), hs.integers(2, 8))
    rows = [tuple(draw(held) for _ in skus) for _ in ranked]
    limits = SearchLimits(max_shipments=draw(hs.sampled_from((None, None, 2, 3))))
    km = [draw(hs.floats(10, 3000).map(round)) for _ in ranked]
    bands = [
        (RateBand(5000, draw(hs.integers(2, 12)), draw(hs.sampled_from((0.2, 0.6, 1.4)))),)
        for _ in ranked
    ]
    capacity = [draw(hs.sampled_from((None, 2.0, 40.0))) for _ in ranked]
    kg = {sku: draw(hs.sampled_from((0.1, 1.0, 3.0, 8.0))) for sku in skus}
    costs = shipment_costs(WEIGHTED, distance_km=km, bands=bands, capacity_left=capacity, kg=kg)
    return lines, ranked, rows, limits, costs


def split_brute_force(problem: Problem, costs: Costs) -> float | None:
    """Every lines splits: a plan is a set of warehouses, filled cheapest first."""
    count = len(problem.rows)
    unit = [[costs.unit(n, s) for s in problem.skus] for n in range(count)]
    best = None
    for mask in range(1 << count):
        plan = Plan(frozenset(n for n in range(count) if mask >> n & 1), ())
        if problem.feasible(plan):
            worth = objective_of(problem, costs, problem.assemble(plan, unit))
            best = worth if best is None or worth < best else best
    return best


def stock_of(
    ranked: Sequence[int], lines: Sequence[LineDemand], rows: Sequence[tuple[int, ...]]
) -> dict[tuple[int, str], int]:
    return {
        (w, line.sku): row[n]
        for w, row in zip(ranked, rows, strict=True)
        for n, line in enumerate(lines)
    }


@PROPERTY
@given(split_cases(most_lines=6, most_warehouses=8))
def test_split_orders_match_brute_force_and_keep_every_constraint(case: tuple) -> None:  # type: ignore[type-arg]
    lines, ranked, rows, limits, costs = case
    done = plan_split(lines, ranked, rows, limits, objective=WEIGHTED, costs=costs)
    check_plan(done.search, lines, ranked, stock_of(ranked, lines, rows), limits)
    problem = Problem(lines, ranked, rows, limits)
    best = split_brute_force(problem, costs)
    assert done.search.feasible == (best is not None)
    assert done.report["status"] == ("optimal" if best is not None else "infeasible")
    if best is not None:
        assert done.report["method"] == "branch_and_bound"
        got = objective_of(problem, costs, done.search.shipments)
        assert best - 1e-6 <= got <= best + tolerance(costs)
        assert done.report["gap"] == 0 and done.search.proven_minimal
        greedy = min_split_rows(lines, ranked, rows, replace(limits, exact_max_lines=0))
        if greedy.feasible:
            assert got <= objective_of(problem, costs, greedy.shipments) + 1e-6


@settings(max_examples=25, deadline=None, derandomize=True)
@given(split_cases(most_lines=14, most_warehouses=16))
def test_split_orders_match_highs_on_larger_orders(case: tuple) -> None:  # type: ignore[type-arg]
    lines, ranked, rows, limits, costs = case
    done = plan_split(lines, ranked, rows, limits, objective=WEIGHTED, costs=costs)
    problem = Problem(lines, ranked, rows, limits)
    model = build(problem, costs)
    if model.infeasible:
        assert not done.search.feasible
        return
    solved = solve(model, time_limit=60, rel_gap=1e-9)
    assert solved.status in ("optimal", "infeasible")
    assert done.search.feasible == (solved.status == "optimal")
    if solved.values is not None and solved.status == "optimal":
        unit = unit_costs(problem, costs)
        highs = problem.assemble(plan_of(problem, model, solved.values), unit)
        got = objective_of(problem, costs, done.search.shipments)
        want = objective_of(problem, costs, highs)
        assert want - tolerance(costs) <= got <= want + tolerance(costs)
        assert done.report["status"] == "optimal"


def test_out_of_budget_the_gap_bounds_the_distance_to_the_optimum() -> None:
    lines, ranked, stock, objective, costs = thirty_by_fifty()
    rows = rows_of(lines, ranked, stock)
    limits = SearchLimits(exact_max_lines=EXACT_MAX_LINES)
    proven = plan_split(
        lines, ranked, rows, limits, objective=objective, costs=costs, time_limit=60
    )
    assert proven.report["status"] == "optimal"
    best = proven.report["objective"]
    for limit in (0.0, 0.002, 0.01):
        done = plan_split(
            lines, ranked, rows, limits, objective=objective, costs=costs, time_limit=limit
        )
        again = plan_split(
            lines, ranked, rows, limits, objective=objective, costs=costs, time_limit=limit
        )
        assert again.report == done.report  # a budget of work, not of time: deterministic
        check_plan(done.search, lines, ranked, stock, limits)
        worth, gap = done.report["objective"], done.report["gap"]
        assert worth >= best - 1e-6
        assert (worth - best) / worth <= gap + 1e-6  # the bound is below the optimum
        assert (gap == 0) == (done.report["status"] == "optimal")


def test_the_branch_and_bound_takes_only_orders_without_blocks() -> None:
    lines = order(("A", 1), ("B", 1))
    limits = SearchLimits(allow_line_split=False)
    problem = Problem(lines, [1, 2], [(1, 1), (1, 1)], limits)
    with pytest.raises(ValueError, match="split"):
        cover_search(problem, [1.0, 1.0], [[0.0, 0.0]] * 2, [0.0, 0.0], budget=10)
