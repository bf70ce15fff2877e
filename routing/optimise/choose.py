"""Which optimiser answers a decision, by size and objective, and what the trace says of it.

* Objective of shipments only (the default): :func:`routing.search.min_split_rows` first;
  its answer stands when it is proven (one warehouse fills the order, or the exact search
  finished: up to ``exact_max_lines`` lines). Otherwise, where it only has a heuristic,
  the mixed-integer program (:mod:`routing.optimise.model`) answers, started from that plan.
* Any other weight, every line splittable (no keep-together group, ship-alone or
  unsplittable line): the branch and bound of :mod:`routing.optimise.cover`, with the
  multipliers of the program's LP relaxation, started from the heuristic's plan.
* Any other weight otherwise: the program, started from the heuristic's plan.

HiGHS stops at ``time_limit`` seconds, the branch and bound after ``time_limit`` times
:data:`WORK_PER_SECOND` units of work; the plan is then the best found (never worse than the
heuristic's, which they start from), and the trace reports the gap to the bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omniroute.routing.allocate import LineDemand
from omniroute.routing.optimise.costs import Costs, uniform_costs
from omniroute.routing.optimise.cover import cover_search
from omniroute.routing.optimise.model import build, plan_of, shipment_prices, start, unit_costs
from omniroute.routing.optimise.problem import Plan, Problem
from omniroute.routing.optimise.solve import relax, solve
from omniroute.routing.rule_model import Objective
from omniroute.routing.search import SearchLimits, SearchResult, Shipments, min_split_rows

DEFAULT_TIME_LIMIT = 1.0  # seconds HiGHS may spend on one decision
EPSILON = 1e-9
# The exact search is tried up to this many lines; its node budget, not the line count, is
# what stops it on hard orders (bench/optimiser_bench.py: 60 lines x 50 warehouses proven in
# ~1,000 nodes on the bench's stock). Past the budget, HiGHS takes over.
EXACT_MAX_LINES = 200
# The branch and bound's effort per second of ``time_limit``, in units of work (about a scan
# of one SKU's warehouses): a proxy, so that its answer does not depend on the machine's load.
# ~3.2-3.7 million units per CPU second on python-svc at load 13 (bench/optimiser_bench.py);
# 2 million leaves room for the LP relaxation and the exact search within the limit.
WORK_PER_SECOND = 2_000_000


@dataclass(frozen=True)
class Optimised:
    """The plan in :mod:`routing.search`'s form, and the trace's ``optimiser`` entry."""

    search: SearchResult
    report: dict[str, Any]


def plan_split(
    lines: Sequence[LineDemand],
    ranked: Sequence[int],
    rows: Sequence[tuple[int, ...]],
    limits: SearchLimits,
    *,
    objective: Objective = Objective(),  # noqa: B008 - frozen, shared safely
    costs: Costs | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> Optimised:
    """Allocate ``lines`` (see :func:`routing.search.min_split_rows` for the arguments) at
    the least ``objective``. ``costs``: its coefficients by position in ``ranked``, needed
    unless it weighs shipments only. ``limits.exact_max_lines``: up to how many lines the
    exact search runs (the router passes :data:`EXACT_MAX_LINES`)."""
    found = min_split_rows(lines, ranked, rows, limits)
    if objective.shipments_only:
        if found.proven_minimal:
            status = "optimal" if found.feasible else "infeasible"
            worth = objective.shipments * len(found.shipments) if found.feasible else None
            return Optimised(found, _report("exact_search", status, worth, objective, found.nodes))
        problem = Problem(lines, ranked, rows, limits)
        if found.feasible and _combined(problem, found.shipments) <= problem.fewest_combined():
            # The heuristic's count meets a lower bound: minimal, ties as the heuristic had them.
            proven = SearchResult(found.shipments, True, found.method, found.nodes, True)
            worth = objective.shipments * len(found.shipments)
            return Optimised(proven, _report("greedy", "optimal", worth, objective, found.nodes))
        return _mip(problem, uniform_costs(objective, len(ranked)), found, time_limit)
    if costs is None:
        raise ValueError("an objective weighing more than shipments needs its costs")
    if found.proven_minimal and not found.feasible:
        return Optimised(found, _report("exact_search", "infeasible", None, objective, found.nodes))
    problem = Problem(lines, ranked, rows, limits)
    if not problem.blocks:
        return _cover(problem, costs, found, time_limit)
    return _mip(problem, costs, found, time_limit)


def objective_of(problem: Problem, costs: Costs, shipments: Shipments) -> float:
    """The objective of ``shipments`` (without the ranking's tie terms)."""
    where = {wid: n for n, wid in enumerate(problem.ids)}
    total = 0.0
    for wid, allocations in shipments:
        n = where[wid]
        total += costs.fixed[n] + sum(costs.unit(n, a.sku) * a.quantity for a in allocations)
    return total


def _cover(problem: Problem, costs: Costs, seed: SearchResult, time_limit: float) -> Optimised:
    """Every line may split: the branch and bound of :mod:`routing.optimise.cover`, with the
    multipliers of the program's LP relaxation."""
    objective = costs.objective
    least = problem.fewest_combined()
    if seed.proven_minimal and seed.feasible:
        least = max(least, _combined(problem, seed.shipments))
    model = build(problem, costs, least=least)
    relaxed = None if model.infeasible else relax(model)
    if relaxed is None or relaxed.value is None:  # no fractional plan: no plan at all
        nothing = SearchResult((), True, "branch_and_bound", 0, False)
        return Optimised(nothing, _report("branch_and_bound", "infeasible", None, objective, 0))
    prices = [0.0] * len(problem.skus)
    for s, row in model.demand.items():
        prices[s] = max(0.0, relaxed.duals[row])
    least_price = 0.0 if model.least is None else max(0.0, relaxed.duals[model.least])
    # Start from the heuristic's plan and from every warehouse the LP's plan uses.
    starts = [frozenset(n for n, c in model.y.items() if relaxed.values[c] > EPSILON)]
    if seed.feasible:
        starts.insert(0, problem.plan_of(seed.shipments).picks)
    unit = unit_costs(problem, costs)
    covered = cover_search(
        problem,
        shipment_prices(costs),
        unit,
        prices,
        least=least if model.least is not None else 0,
        least_price=least_price,
        starts=starts,
        budget=int(time_limit * WORK_PER_SECOND),
    )
    worth = None
    if seed.feasible:
        worth = objective_of(problem, costs, seed.shipments)
    status = "optimal" if covered.proven else "time_limit"
    if covered.picks is None:
        status = "infeasible" if covered.proven else status
        result = SearchResult((), covered.proven, "branch_and_bound", covered.nodes, False)
        report = _report("branch_and_bound", status, None, objective, covered.nodes)
        return Optimised(result, report | {"heuristic_objective": worth})
    best = problem.assemble(Plan(covered.picks, ()), unit)
    result = SearchResult(best, covered.proven, "branch_and_bound", covered.nodes, True)
    bound = max(covered.bound, relaxed.value)  # the LP's optimum bounds every plan too
    gap = (covered.worth - bound) / max(abs(covered.worth), EPSILON)
    report = _report(
        "branch_and_bound", status, objective_of(problem, costs, best), objective, covered.nodes
    )
    return Optimised(
        result, report | {"gap": min(max(gap, 0.0), 1.0), "heuristic_objective": worth}
    )


def _mip(problem: Problem, costs: Costs, seed: SearchResult, time_limit: float) -> Optimised:
    objective = costs.objective
    # The fewest combined shipments any plan needs, proven (by the exact search, else a
    # bound): a cut that HiGHS's relaxation, a weak set cover, would take long to find.
    least = problem.fewest_combined()
    if seed.proven_minimal and seed.feasible:
        least = max(least, _combined(problem, seed.shipments))
    model = build(problem, costs, least=least)
    if model.infeasible:
        nothing = SearchResult((), True, "mip", 0, False)
        return Optimised(nothing, _report("mip", "infeasible", None, objective, 0))
    unit = unit_costs(problem, costs)
    first, values = None, None
    if seed.feasible:
        plan = problem.plan_of(seed.shipments)
        first = problem.assemble(plan, unit)
        values = start(problem, model, plan, unit)
    solved = solve(model, time_limit=time_limit, start=values)
    best = None
    if solved.values is not None:
        plan = plan_of(problem, model, solved.values)
        best = problem.assemble(plan, unit) if problem.feasible(plan) else None
    worth = None if first is None else objective_of(problem, costs, first)
    if best is not None and (
        worth is None or objective_of(problem, costs, best) <= worth + EPSILON
    ):
        proven = solved.status == "optimal"
        result = SearchResult(best, proven, "mip", solved.nodes, True)
        report = _report(
            "mip", solved.status, objective_of(problem, costs, best), objective, solved.nodes
        )
        return Optimised(result, report | {"gap": solved.gap, "heuristic_objective": worth})
    if first is None:
        proven = solved.status == "infeasible"
        result = SearchResult((), proven, "mip", solved.nodes, False)
        return Optimised(result, _report("mip", solved.status, None, objective, solved.nodes))
    result = SearchResult(first, False, seed.method, seed.nodes + solved.nodes, True)
    report = _report("greedy", solved.status, worth, objective, solved.nodes)
    return Optimised(result, report | {"gap": None, "heuristic_objective": worth})


def _report(
    method: str, status: str, worth: float | None, objective: Objective, nodes: int
) -> dict[str, Any]:
    return {
        "method": method,
        "status": status,
        "objective": None if worth is None else round(worth, 6),
        "gap": 0.0 if status == "optimal" else None,
        "weights": vars(objective).copy(),
        "nodes": nodes,
    }


def _combined(problem: Problem, shipments: Shipments) -> int:
    """How many of ``shipments`` are combined ones (not a ship-alone line's own)."""
    alone = problem.limits.ship_alone_skus
    return len({wid for wid, a in shipments if not (len(a) == 1 and a[0].sku in alone)})
