"""Speed and split quality of routing.search.min_split, with routing.plan for reference.

Pure CPU, no services: generated (seeded) catalogue, stock and orders; every order is routed
by ``min_split`` and by the full ``routing.plan`` (greedy split) on the same data, one
decision at a time on one core.

    python bench/routing_bench.py                    # 1/5/20 lines x 10/50/200 warehouses
    python bench/routing_bench.py --orders 500 --seconds 8 --density 0.5

It prints, per shape: decisions/s and p50/p99 per decision of both, the node count of the
exact search, how each decision was reached (exact / heuristic / budget exhausted), and the
split rate and mean shipments of the greedy plan against min_split's on the same orders.
"""

import argparse
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from omniroute.routing import (
    LineDemand,
    OrderDemand,
    Outcome,
    RoutingPolicy,
    WarehouseCandidate,
    plan,
)
from omniroute.routing.search import SearchLimits, SearchResult, min_split

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = TypeVar("T")
Stock = dict[tuple[int, str], int]


@dataclass(frozen=True)
class Timing:
    """Latencies of one routine over a corpus, in microseconds."""

    micros: list[float]

    @property
    def per_second(self) -> float:
        return len(self.micros) / (sum(self.micros) / 1e6) if self.micros else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.micros)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def make_world(
    rng: random.Random, warehouses: int, catalogue: int, density: float
) -> tuple[list[int], Stock]:
    """Warehouse ids (best-ranked first) and a sparse stock snapshot."""
    ids = rng.sample(range(1, 100_000), warehouses)
    stock: Stock = {}
    for wid in ids:
        for n in range(catalogue):
            if rng.random() < density:
                stock[(wid, f"SKU{n:05d}")] = rng.randint(0, 8)
    return ids, stock


def make_orders(
    rng: random.Random, count: int, lines: int, catalogue: int
) -> list[tuple[LineDemand, ...]]:
    return [
        tuple(
            LineDemand(n, f"SKU{k:05d}", rng.randint(1, 3))
            for n, k in enumerate(rng.sample(range(catalogue), lines), 1)
        )
        for _ in range(count)
    ]


def timed(run: Callable[[], T], micros: list[float]) -> T:
    start = time.perf_counter_ns()
    result = run()
    micros.append((time.perf_counter_ns() - start) / 1000)
    return result


@dataclass(frozen=True)
class Shape:
    """What one (lines, warehouses) shape measured."""

    lines: int
    warehouses: int
    search: Timing
    plan: Timing
    found: list[SearchResult]
    greedy: list[int | None]  # shipments of routing.plan, None when it could not route

    def routed_by_both(self) -> list[tuple[int, int]]:
        pairs = zip(self.found, self.greedy, strict=True)
        return [(len(r.shipments), g) for r, g in pairs if r.feasible and g is not None]


def bench_shape(args: argparse.Namespace, n_lines: int, n_warehouses: int) -> Shape:
    rng = random.Random(f"{args.seed}-{n_lines}-{n_warehouses}")
    ranked, stock = make_world(rng, n_warehouses, args.catalogue, args.density)
    orders = make_orders(rng, args.orders, n_lines, args.catalogue)
    candidates = [WarehouseCandidate(w, f"W{w:05d}", priority=n) for n, w in enumerate(ranked)]
    split = not args.no_line_split
    limits, policy = SearchLimits(allow_line_split=split), RoutingPolicy(allow_line_split=split)
    shape = Shape(n_lines, n_warehouses, Timing([]), Timing([]), [], [])
    deadline = time.perf_counter() + args.seconds
    for lines in orders:
        if time.perf_counter() > deadline:
            break
        search = partial(min_split, lines, ranked, stock, limits)
        shape.found.append(timed(search, shape.search.micros))
        greedy = partial(plan, OrderDemand(1, lines), candidates, stock, policy, NOW)
        result = timed(greedy, shape.plan.micros)
        routed = result.outcome in (Outcome.SINGLE, Outcome.SPLIT)
        shape.greedy.append(len(result.shipments) if routed else None)
    return shape


def print_speed(shapes: Sequence[Shape]) -> None:
    print(
        f"{'lines':>5} {'whs':>4} {'orders':>6} | {'min_split/s':>11} {'p50 us':>8} {'p99 us':>8}"
        f" | {'plan/s':>7} {'p50 us':>8} {'p99 us':>8} | {'nodes mean':>10} {'max':>5}"
        " | exact/heuristic/budget-out"
    )
    for s in shapes:
        nodes = [r.nodes for r in s.found if r.method != "heuristic"]
        mean = statistics.fmean(nodes) if nodes else 0.0
        methods = Counter(r.method for r in s.found)
        how = "/".join(str(methods[m]) for m in ("exact", "heuristic", "exact-budget-exhausted"))
        print(
            f"{s.lines:>5} {s.warehouses:>4} {len(s.found):>6} | {s.search.per_second:>11,.0f}"
            f" {s.search.pct(0.5):>8.1f} {s.search.pct(0.99):>8.1f} | {s.plan.per_second:>7,.0f}"
            f" {s.plan.pct(0.5):>8.1f} {s.plan.pct(0.99):>8.1f} | {mean:>10.1f}"
            f" {max(nodes, default=0):>5} | {how}"
        )


def print_quality(shapes: Sequence[Shape]) -> None:
    print(
        f"{'lines':>5} {'whs':>4} {'routed':>6} | {'greedy split':>12} {'mean ships':>10}"
        f" | {'min_split split':>15} {'mean ships':>10} | {'fewer':>5} {'worse':>5}"
        f" | {'only min_split routed':>21}"
    )
    for s in shapes:
        both = s.routed_by_both()
        n = len(both) or 1
        only = sum(r.feasible and g is None for r, g in zip(s.found, s.greedy, strict=True))
        print(
            f"{s.lines:>5} {s.warehouses:>4} {len(both):>6}"
            f" | {sum(g > 1 for _, g in both) / n:>12.1%} {sum(g for _, g in both) / n:>10.3f}"
            f" | {sum(m > 1 for m, _ in both) / n:>15.1%} {sum(m for m, _ in both) / n:>10.3f}"
            f" | {sum(m < g for m, g in both):>5} {sum(m > g for m, g in both):>5}"
            f" | {only:>21}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=400, help="orders per shape (default 400)")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="time cap per shape, both routines (5)"
    )
    parser.add_argument("--catalogue", type=int, default=400, help="distinct SKUs (400)")
    parser.add_argument(
        "--density", type=float, default=0.6, help="share of (warehouse, SKU) pairs stocked (0.6)"
    )
    parser.add_argument("--lines", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--warehouses", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-line-split", action="store_true", help="forbid splitting a line (both routines)"
    )
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load average {load}")
    split = "forbidden" if args.no_line_split else "allowed"
    print(
        f"stock: {args.density:.0%} of (warehouse, SKU) pairs hold 0-8 units; lines: 1-3 units"
        f" of distinct SKUs; line split {split}; seed {args.seed}\n"
    )
    started = time.perf_counter()
    shapes = [bench_shape(args, n, w) for n in args.lines for w in args.warehouses]
    print_speed(shapes)
    print()
    print_quality(shapes)
    print(f"\n{time.perf_counter() - started:.1f} s in all")


if __name__ == "__main__":
    main()
