"""The allocation as a mixed-integer program: columns, rows and costs, solver-neutral.

Columns:

* ``y[n]`` (binary): warehouse ``n`` sends a combined shipment; costs its ``fixed``.
* ``z[b, n]`` (binary), only where warehouse ``n`` alone holds block ``b``: the block ships
  from ``n``; costs its units' ``unit`` prices, plus ``fixed`` per ship-alone line in it.
* ``x[n, s]`` (continuous, 0..stock): units of SKU ``s`` of the splittable lines from ``n``;
  costs ``unit`` each. For fixed ``y`` and ``z`` the best ``x`` fills each SKU from the
  cheapest chosen warehouse first, which is integral: no integer ``x`` is needed.

Rows: each block placed once; a block with a combined line only where ``y`` is 1; ``x`` only
where ``y`` is 1 (at most ``min(stock, need)``, the tight form); each splittable SKU's demand
met; blocks and ``x`` within each warehouse's stock of each SKU; ``max_shipments``.

Ties: each shipment also costs ``TIE * (rank + 1) / (warehouses + 1)`` of the smallest
positive shipment cost, so among plans of equal objective the better-ranked warehouses win;
those extra terms add up to less than ``TIE`` of one shipment, and are left out of the
objective reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omniroute.routing.optimise.costs import Costs
from omniroute.routing.optimise.problem import Plan, Problem

TIE = 1e-3


@dataclass
class Model:
    """A minimisation over ``cost`` with integer columns ``integers``; rows as sparse lists."""

    cost: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    integers: list[int] = field(default_factory=list)
    rows: list[tuple[list[int], list[float]]] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    y: dict[int, int] = field(default_factory=dict)  # warehouse -> column
    z: list[dict[int, int]] = field(default_factory=list)  # per block: warehouse -> column
    x: dict[tuple[int, int], int] = field(default_factory=dict)  # (warehouse, sku) -> column
    demand: dict[int, int] = field(default_factory=dict)  # splittable SKU -> its demand row
    least: int | None = None  # the row Σ y ≥ least, if any
    infeasible: bool = False  # some block fits nowhere, or max_shipments is below the ship-alone

    def column(self, cost: float, upper: float, *, integer: bool) -> int:
        self.cost.append(cost)
        self.upper.append(upper)
        if integer:
            self.integers.append(len(self.cost) - 1)
        return len(self.cost) - 1

    def row(self, terms: list[tuple[int, float]], lower: float, upper: float) -> None:
        self.rows.append(([c for c, _ in terms], [v for _, v in terms]))
        self.row_lower.append(lower)
        self.row_upper.append(upper)


INF = float("inf")


def unit_costs(problem: Problem, costs: Costs) -> list[list[float]]:
    """``unit[n][s]``: what one unit of SKU ``s`` from warehouse ``n`` costs."""
    return [[costs.unit(n, sku) for sku in problem.skus] for n in range(len(problem.rows))]


def shipment_prices(costs: Costs) -> list[float]:
    """What a shipment from each warehouse costs the program: ``fixed`` plus its tie term."""
    count = len(costs.fixed)
    positive = [f for f in costs.fixed if f > 0]
    tie = TIE * (min(positive) if positive else 1.0) / (count + 1)
    return [costs.fixed[n] + tie * (n + 1) for n in range(count)]


def build(problem: Problem, costs: Costs, *, least: int = 0) -> Model:
    """The program of ``problem`` under ``costs`` (warehouses holding none of it left out);
    ``least``: a proven lower bound on the combined shipments."""
    model = Model()
    count = len(problem.rows)
    useful = [n for n in range(count) if any(problem.rows[n])]
    ship = shipment_prices(costs)
    unit = unit_costs(problem, costs)
    if problem.combined:
        for n in useful:
            model.y[n] = model.column(ship[n], 1.0, integer=True)
    for block in problem.blocks:
        spots = {}
        for n in useful:
            if problem.fits(block, n) and (not block.combined or n in model.y):
                price = len(block.alone) * ship[n] + sum(unit[n][s] * q for s, q in block.demand)
                spots[n] = model.column(price, 1.0, integer=True)
        model.z.append(spots)
        model.infeasible |= not spots
    for s, need in enumerate(problem.fluid_need):
        for n in useful if need else ():
            if problem.rows[n][s] > 0:
                model.x[n, s] = model.column(unit[n][s], problem.rows[n][s], integer=False)
    _rows(problem, model)
    if least > 1 and model.y:
        model.least = len(model.rows)
        model.row([(c, 1.0) for c in model.y.values()], float(least), INF)
    return model


def _rows(problem: Problem, model: Model) -> None:
    for block, spots in zip(problem.blocks, model.z, strict=True):
        model.row([(c, 1.0) for c in spots.values()], 1.0, 1.0)
        for n, c in spots.items() if block.combined else ():
            model.row([(c, 1.0), (model.y[n], -1.0)], -INF, 0.0)
    for (n, s), c in model.x.items():
        reach = min(problem.rows[n][s], problem.fluid_need[s])
        model.row([(c, 1.0), (model.y[n], -float(reach))], -INF, 0.0)
    for s, need in enumerate(problem.fluid_need):
        if need:
            terms = [(c, 1.0) for (_, t), c in model.x.items() if t == s]
            model.demand[s] = len(model.rows)
            model.row(terms, float(need), INF)
            model.infeasible |= sum(problem.rows[n][t] for n, t in model.x if t == s) < need
    _stock_rows(problem, model)
    top = problem.limits.max_shipments
    if top is not None:
        room = top - problem.alone_total
        model.infeasible |= room < (1 if problem.combined else 0)
        if model.y and room >= 0:
            model.row([(c, 1.0) for c in model.y.values()], -INF, float(room))


def _stock_rows(problem: Problem, model: Model) -> None:
    """Blocks and splittable units within each warehouse's stock of each SKU, where more than
    one of them could draw on it (one alone is bounded already)."""
    users: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for block, spots in zip(problem.blocks, model.z, strict=True):
        for n, c in spots.items():
            for s, q in block.demand:
                users.setdefault((n, s), []).append((c, float(q)))
    for (n, s), c in model.x.items():
        users.setdefault((n, s), []).append((c, 1.0))
    for (n, s), terms in sorted(users.items()):
        if len(terms) > 1:
            model.row(terms, -INF, float(problem.rows[n][s]))


def start(problem: Problem, model: Model, plan: Plan, unit: list[list[float]]) -> list[float]:
    """Column values of a feasible ``plan`` (the splittable units filled as
    :meth:`Problem.assemble` does), to start the solver from."""
    values = [0.0] * len(model.cost)
    for n in plan.picks:
        values[model.y[n]] = 1.0
    for spots, n in zip(model.z, plan.placement, strict=True):
        values[spots[n]] = 1.0
    fluid = {problem.lines[k].line_id: k for k in problem.fluid}
    where = {wid: n for n, wid in enumerate(problem.ids)}
    for wid, allocations in problem.assemble(plan, unit):
        for a in allocations:
            if a.line_id in fluid:
                values[model.x[where[wid], problem.sku[fluid[a.line_id]]]] += a.quantity
    return values


def plan_of(problem: Problem, model: Model, values: list[float]) -> Plan:
    """The plan a solution's column values state (binaries read as above or below one half)."""
    picks = frozenset(n for n, c in model.y.items() if values[c] > 0.5)
    placement = tuple(max(spots, key=lambda n: values[spots[n]]) for spots in model.z)
    return Plan(picks, placement)
