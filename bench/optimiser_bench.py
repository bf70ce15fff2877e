"""Speed and quality of routing.optimise.plan_split on orders the exact search stops at.

Pure CPU, no services: a seeded world like bench/routing_bench.py's (60% of (warehouse, SKU)
pairs hold 0-8 units; lines of 1-3 units), plus, per warehouse, a distance to the ship-to
(50-4,000 km), a rate band (base 4-12, 0.4-1.2 per kg) and a capacity left (5-200 orders),
and per SKU a weight (0.1-5 kg). Each shape is routed one decision at a time on one core.

    python bench/optimiser_bench.py                       # 30 and 60 lines x 50 warehouses
    python bench/optimiser_bench.py --lines 13 30 --orders 100 --time-limit 1.0

Per shape and objective it prints how many decisions were proven optimal, p50/p95/p99 of the
wall and of the CPU time per decision (the CPU figure is the one to trust on a shared
machine) and the wall max, how the decisions ended (method/status), the worst and mean gap,
and the mean objective of the plan against the heuristic the program starts from (the greedy
split, or the exact search's plan).
"""

import argparse
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence

from omniroute.routing.allocate import LineDemand
from omniroute.routing.optimise import EXACT_MAX_LINES, Costs, plan_split, shipment_costs
from omniroute.routing.rule_model import Objective
from omniroute.routing.search import SearchLimits
from omniroute.routing.warehouses import RateBand

LIMITS = SearchLimits(exact_max_lines=EXACT_MAX_LINES)  # as the router passes them
OBJECTIVES = {
    "shipments": Objective(),
    "weighted": Objective(shipments=10, cost=1, distance_km=0.01, capacity=5),
}


def world(
    rng: random.Random, n_lines: int, n_wh: int, catalogue: int = 400
) -> tuple[tuple[LineDemand, ...], list[int], list[tuple[int, ...]], dict[str, float]]:
    lines = tuple(
        LineDemand(n, f"S{k}", rng.randint(1, 3))
        for n, k in enumerate(rng.sample(range(catalogue), n_lines), 1)
    )
    ranked = list(range(1, n_wh + 1))
    rows = [tuple(rng.randint(0, 8) if rng.random() < 0.6 else 0 for _ in lines) for _ in ranked]
    kg = {line.sku: round(rng.uniform(0.1, 5.0), 2) for line in lines}
    return lines, ranked, rows, kg


def costs_of(rng: random.Random, objective: Objective, n_wh: int, kg: dict[str, float]) -> Costs:
    km = [round(rng.uniform(50, 4000), 1) for _ in range(n_wh)]
    bands = [
        (RateBand(5000.0, round(rng.uniform(4, 12), 2), round(rng.uniform(0.4, 1.2), 2)),)
        for _ in range(n_wh)
    ]
    capacity: list[float | None] = [float(rng.randint(5, 200)) for _ in range(n_wh)]
    return shipment_costs(objective, distance_km=km, bands=bands, capacity_left=capacity, kg=kg)


def percentile(ordered: Sequence[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def shape(n_lines: int, n_wh: int, orders: int, name: str, *, seed: int, limit: float) -> str:
    rng = random.Random(seed)
    objective = OBJECTIVES[name]
    walls: list[float] = []
    cpus: list[float] = []
    ended: Counter[str] = Counter()
    gaps: list[float] = []
    ratio: list[float] = []
    for _ in range(orders):
        lines, ranked, rows, kg = world(rng, n_lines, n_wh)
        costs = costs_of(rng, objective, n_wh, kg)
        start, cpu = time.perf_counter(), time.process_time()
        done = plan_split(
            lines, ranked, rows, LIMITS, objective=objective, costs=costs, time_limit=limit
        )
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - start) * 1000)
        report = done.report
        ended[f"{report['method']}/{report['status']}"] += 1
        gaps.append(report["gap"] or 0.0)
        before = report.get("heuristic_objective")
        if before and report["objective"] is not None:
            ratio.append(report["objective"] / before)
    proven = sum(v for k, v in ended.items() if k.endswith("/optimal"))
    wall, cpu_ms = sorted(walls), sorted(cpus)
    figures = " ".join(
        f"{percentile(ordered, f):>7.1f}" for ordered in (wall, cpu_ms) for f in (0.5, 0.95, 0.99)
    )
    mean_ratio = statistics.fmean(ratio) if ratio else 1.0
    ends = ", ".join(f"{k} {v}" for k, v in sorted(ended.items()))
    return (
        f"{n_lines:>5} {n_wh:>4} {orders:>6} {name:>9} | {proven:>3}/{orders:<3} | {figures} "
        f"{wall[-1]:>7.1f} | gap max {max(gaps):.2%} mean {statistics.fmean(gaps):.2%}"
        f" | objective/heuristic {mean_ratio:.3f} | {ends}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[30, 60])
    parser.add_argument("--warehouses", type=int, default=50)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES))
    parser.add_argument("--time-limit", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}; HiGHS time limit {args.time_limit} s")
    print(
        "lines  whs orders objective | proven  | wall ms: p50     p95     p99   "
        "cpu ms: p50     p95     p99  wall max | gap | quality | ended"
    )
    for n_lines in args.lines:
        for name in args.objectives:
            print(
                shape(
                    n_lines,
                    args.warehouses,
                    args.orders,
                    name,
                    seed=args.seed,
                    limit=args.time_limit,
                ),
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
