"""Whole routing decisions per second: routing.engine.decide with a rule set, on one core.

Each decision evaluates a four-rule rule set, filters and ranks every warehouse (priority,
distance from geocoded points, stock depth), runs the minimum-split search and builds the
full trace; the same corpus is also routed by the greedy first policy (routing.plan) for its
split rate (not timed).

Two modes per shape: ``list`` passes the warehouses as a plain list (decide prepares them on
every call); ``prepared`` passes a WarehouseSet prepared once, as the service does
(core/order_routing/inputs.py keeps it in ``RoutingCaches.warehouse_set``). The trace is
the plain dict the service stores (its JSON encoding at storage is not timed here, before or
after). Every corpus is decided once untimed (warm-up), then ``--repeat`` times timed.
``other-cpu`` is the CPU other processes used meanwhile, in cores (the machine has 2): figures
under load are lower. ``cpu us`` is this process's CPU time per decision (``time.process_time``,
the least of the timed passes), steadier than wall time on a shared machine.

    python bench/engine_bench.py                    # 1/5/20 lines x 10/50/200 warehouses
    python bench/engine_bench.py --orders 300 --shapes 5x50,5x10,1x10
    PYTHONPATH=/path/to/other/checkout python bench/engine_bench.py   # another revision
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from omniroute import routing
from omniroute.routing import LineDemand, OrderDemand, RoutingPolicy, WarehouseCandidate, plan
from omniroute.routing.conditions import OrderFacts
from omniroute.routing.engine import RoutingRequest, WarehouseProfile, decide
from omniroute.routing.geo import GeoLevel, GeoPoint
from omniroute.routing.rules import parse_rule_set

try:
    from omniroute.routing.warehouses import prepare_warehouses
except ImportError:  # a revision before the prepared form: only the list mode runs
    prepare_warehouses = None  # type: ignore[assignment]

ROUTING = os.path.dirname(os.path.dirname(os.path.abspath(routing.__file__)))

NOW = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
RULES = parse_rule_set(
    {
        "name": "bench",
        "timezone": "America/New_York",
        "default": {
            "ranking": ["priority", "distance", "stock_depth"],
            "split": {"mode": "split", "max_shipments": 4},
        },
        "rules": [
            {
                "id": "cold",
                "when": {"field": "sku_tag", "op": "contains_any", "value": ["cold"]},
                "then": {"warehouses": {"require_tags": ["cold-chain"]}},
                "continue": True,
            },
            {
                "id": "canada",
                "when": {"field": "country", "op": "eq", "value": "CA"},
                "then": {"split": {"mode": "ship_complete"}, "on_no_stock": "backorder"},
            },
            {
                "id": "b2b",
                "when": {"field": "order_type", "op": "eq", "value": "b2b"},
                "then": {"split": {"max_shipments": 2}},
            },
            {
                "id": "express-west",
                "when": {
                    "all": [
                        {"field": "service_level", "op": "in", "value": ["express"]},
                        {"field": "local_time", "op": "between", "value": ["16:00", "23:59"]},
                    ]
                },
                "then": {"priority_boost": {"W001": 5}},
            },
        ],
    }
)


def world(
    rng: random.Random, n: int, skus: int
) -> tuple[list[WarehouseProfile], dict[tuple[int, str], int]]:
    houses = [
        WarehouseProfile(
            warehouse_id=i,
            code=f"W{i:03d}",
            priority=rng.randint(1, 5),
            location=GeoPoint(
                rng.uniform(25, 48), rng.uniform(-123, -70), GeoLevel.POSTAL_CODE, f"W{i:03d}"
            ),
        )
        for i in range(1, n + 1)
    ]
    stock = {
        (w.warehouse_id, f"S{s}"): rng.randint(0, 8)
        for w in houses
        for s in range(skus)
        if rng.random() < 0.6
    }
    return houses, stock


def orders(rng: random.Random, count: int, lines: int, skus: int) -> list[OrderDemand]:
    return [
        OrderDemand(
            order_id=o,
            lines=tuple(
                LineDemand(line_id=i + 1, sku=f"S{s}", quantity=rng.randint(1, 3))
                for i, s in enumerate(rng.sample(range(skus), lines))
            ),
        )
        for o in range(count)
    ]


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot, all cores added up."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def requests(
    lines: int, n_wh: int, count: int, seed: int, *, prepared: bool, places: int = 1
) -> tuple[list[RoutingRequest], list[WarehouseCandidate], dict[tuple[int, str], int]]:
    rng = random.Random(seed)
    houses, stock = world(rng, n_wh, 200)
    corpus = orders(rng, count, lines, 200)
    ship_to = GeoPoint(40.7, -74.0, GeoLevel.POSTAL_CODE, "US 10001")
    # Ship-tos drawn from ``places`` points (their own generator: the orders stay the same).
    spots = random.Random(seed + 1)
    points = [ship_to] + [
        GeoPoint(spots.uniform(25, 48), spots.uniform(-123, -70), GeoLevel.POSTAL_CODE, f"P{n}")
        for n in range(1, places)
    ]
    warehouses: Sequence[WarehouseProfile] = houses
    if prepared:
        assert prepare_warehouses is not None
        warehouses = prepare_warehouses(houses)
    reqs = []
    for order in corpus:
        facts = OrderFacts(
            channel="shopify",
            connector_id=1,
            order_type="normal",
            country="US",
            region="NY",
            postal_code="10001",
            skus=tuple(ln.sku for ln in order.lines),
            sku_tags=frozenset(),
            line_count=len(order.lines),
            order_value=Decimal("120"),
            currency="USD",
            service_level="standard",
            customer_tags=frozenset(),
            order_tags=frozenset(),
        )
        reqs.append(
            RoutingRequest(
                order=order,
                facts=facts,
                channel_name="shop",
                ship_to=ship_to if places == 1 else spots.choice(points),
                warehouses=warehouses,
                stock=stock,
                now=NOW,
                rule_set=RULES,
                rule_set_label="bench@v1",
            )
        )
    candidates = [WarehouseCandidate(w.warehouse_id, w.code, w.priority) for w in houses]
    return reqs, candidates, stock


def shape(
    lines: int, n_wh: int, count: int, seed: int, *, repeat: int, prepared: bool, places: int = 1
) -> str:
    """One line of the table: every order decided ``repeat`` times, after one warm-up pass."""
    if prepared and prepare_warehouses is None:
        return f"{lines:>5} {n_wh:>4} {count:>6} prepared | (no routing.warehouses in this code)"
    reqs, candidates, stock = requests(lines, n_wh, count, seed, prepared=prepared, places=places)
    for req in reqs:
        decide(req)  # warm-up: caches of the interpreter, the rule set and the time zones
    times: list[float] = []
    cpu: list[float] = []  # process CPU µs per decision, one figure per pass
    busy0, own0, wall0 = machine_busy(), time.process_time(), time.perf_counter()
    for _ in range(repeat):
        pass0 = time.process_time()
        for req in reqs:
            started = time.perf_counter()
            decide(req)
            times.append((time.perf_counter() - started) * 1e6)
        cpu.append((time.process_time() - pass0) * 1e6 / len(reqs))
    wall = time.perf_counter() - wall0
    others = max(0.0, (machine_busy() - busy0 - (time.process_time() - own0)) / wall)
    engine_ships = greedy_ships = splits = greedy_splits = 0
    for req in reqs:
        result = decide(req)
        engine_ships += len(result.shipments)
        splits += len(result.shipments) > 1
        greedy = plan(req.order, candidates, stock, RoutingPolicy(), NOW)
        greedy_ships += len(greedy.shipments)
        greedy_splits += len(greedy.shipments) > 1
    times.sort()
    per_s = len(times) / (sum(times) / 1e6)
    p50, p99 = statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]
    mode = "prepared" if prepared else "list"
    return (
        f"{lines:>5} {n_wh:>4} {count:>6} {mode:>8} | {per_s:>10,.0f} {p50:>8.1f} {p99:>8.1f} | "
        f"{splits / count:>6.1%} {engine_ships:>6} | {greedy_splits / count:>6.1%} "
        f"{greedy_ships:>6} | {others:>5.2f} | {min(cpu):>7.1f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--shapes", default="1x10,1x50,1x200,5x10,5x50,5x200,20x10,20x50,20x200")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the corpus")
    parser.add_argument(
        "--modes",
        default="list,prepared",
        help="list: warehouses as a plain list (prepared inside each decision); "
        "prepared: a WarehouseSet prepared once, as a caller that keeps it would pass",
    )
    parser.add_argument(
        "--places",
        type=int,
        default=1,
        help="ship-tos drawn from this many points (1: every order to US 10001). With as many "
        "points as orders, what a prepared set remembers per ship-to is seldom used again",
    )
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, routing from {ROUTING}")
    print(
        "lines  whs orders     mode | decisions/s   p50 us   p99 us | engine split ships | "
        "greedy split ships | other-cpu | cpu us"
    )
    for spec in args.shapes.split(","):
        lines, n_wh = (int(x) for x in spec.split("x"))
        for mode in args.modes.split(","):
            row = shape(
                lines,
                n_wh,
                args.orders,
                args.seed,
                repeat=args.repeat,
                prepared=mode == "prepared",
                places=args.places,
            )
            print(row, flush=True)


if __name__ == "__main__":
    main()
