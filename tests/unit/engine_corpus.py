"""Orders generated like bench/engine_bench.py's, with more variety, and a digest of each
decision: ``test_engine_golden.py`` checks the engine still decides every one of them the
very same way (plan, outcome, promise and the trace, key order included) as the commit that
wrote ``data/engine_golden.json``.

The bench's own corpus (its rule set, world and orders, seed 1) is routed as the bench
routes it; the varied corpus adds ship-tos (several, unplaced, placed by region), urgent
orders near cut-offs, cold SKUs needing a capability, Canadian and B2B orders (the bench's
rules), channel buffers, capacity, disabled and unplaced warehouses and rate tables.

    python -m tests.unit.engine_corpus   # rewrite the golden file from the current engine
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
from collections.abc import Iterator
from dataclasses import astuple, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

from omniroute.routing.allocate import RoutingResult
from omniroute.routing.engine import (
    RateBand,
    RoutingRequest,
    SkuProfile,
    WarehouseProfile,
    decide,
    prepare_warehouses,
)
from omniroute.routing.geo import GeoLevel, GeoPoint
from omniroute.routing.tracing.render import render_trace

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("data") / "engine_golden.json"

SHIP_TOS = (
    GeoPoint(40.7, -74.0, GeoLevel.POSTAL_CODE, "US 10001"),
    GeoPoint(34.05, -118.24, GeoLevel.POSTAL_CODE, "US 90012"),
    GeoPoint(41.88, -87.63, GeoLevel.CITY, "Chicago, US"),
    GeoPoint(45.5, -73.57, GeoLevel.REGION, "QC, CA"),
    None,
)
NOWS = (
    datetime(2026, 11, 27, 17, 0, tzinfo=UTC),
    datetime(2026, 11, 27, 21, 59, 30, tzinfo=UTC),
    datetime(2026, 11, 29, 3, 15, tzinfo=UTC),  # a Sunday in New York
)
ZONES = ("UTC", "America/New_York", "America/Los_Angeles", "America/Chicago")


def bench_module() -> ModuleType:
    """bench/engine_bench.py (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "engine_bench", ROOT / "bench" / "engine_bench.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_requests() -> Iterator[tuple[str, RoutingRequest]]:
    """The bench's corpus at 1 x 10 and 5 x 50 (seed 1, 200 orders), list and prepared."""
    bench = bench_module()
    for lines, houses in ((1, 10), (5, 50)):
        for prepared in (False, True):
            reqs, _, _ = bench.requests(lines, houses, 200, 1, prepared=prepared)
            mode = "prepared" if prepared else "list"
            for n, req in enumerate(reqs):
                yield f"bench {lines}x{houses} {mode} {n}", req


def varied_world(rng: random.Random, count: int) -> list[WarehouseProfile]:
    houses = []
    for i in range(1, count + 1):
        roll = rng.random()
        houses.append(
            WarehouseProfile(
                warehouse_id=i,
                code=f"W{rng.randint(1, count):03d}" if rng.random() < 0.1 else f"W{i:03d}",
                priority=rng.randint(1, 4),
                enabled=rng.random() > 0.05,
                tags=frozenset(t for t in ("cold-chain", "hazmat") if rng.random() < 0.3),
                channels=frozenset(rng.sample(["shopify", "shop", "amazon"], 1))
                if rng.random() < 0.1
                else frozenset(),
                location=None
                if rng.random() < 0.05
                else GeoPoint(
                    rng.uniform(25, 48), rng.uniform(-123, -70), GeoLevel.POSTAL_CODE, f"W{i:03d}"
                ),
                capacity_left=rng.randint(0, 30) if rng.random() < 0.2 else None,
                cutoff_local_time=rng.choice(["14:00", "17:00", "00:00"]) if roll < 0.3 else None,
                timezone=rng.choice(ZONES),
                rate_table=(RateBand(800.0, 5.0, 0.5), RateBand(4000.0, 9.5, 0.75))
                if rng.random() < 0.3
                else (),
                closed_weekdays=frozenset({5, 6}) if roll > 0.85 else frozenset(),
                holidays=frozenset({date(2026, 11, 27)}) if roll > 0.95 else frozenset(),
                channel_buffers=(("shopify", 1),) if rng.random() < 0.1 else (),
            )
        )
    return houses


def plain_world(rng: random.Random, count: int) -> list[WarehouseProfile]:
    """Warehouses nothing removes (so every one is eligible), some at the very same place
    or of equal priority and distance (ties the per-order criteria break)."""
    houses: list[WarehouseProfile] = []
    for i in range(1, count + 1):
        twin = houses[-1] if houses and rng.random() < 0.15 else None
        houses.append(
            WarehouseProfile(
                warehouse_id=i,
                code=f"P{i:03d}",
                priority=twin.priority if twin else rng.randint(1, 3),
                location=twin.location
                if twin
                else GeoPoint(
                    rng.uniform(25, 48), rng.uniform(-123, -70), GeoLevel.POSTAL_CODE, f"P{i:03d}"
                ),
                timezone=rng.choice(ZONES),
            )
        )
    return houses


def plain_requests(seed: int = 11) -> Iterator[tuple[str, RoutingRequest]]:
    """Bench-like orders over warehouses that are all eligible, to several ship-tos, with
    and without ties on priority and distance, in a prepared set used again and again."""
    bench = bench_module()
    rng = random.Random(seed)
    for lines, count, orders in ((2, 12, 80), (5, 30, 120)):
        houses = plain_world(rng, count)
        stock = {
            (w.warehouse_id, f"S{s}"): rng.randint(0, 6)
            for w in houses
            for s in range(30)
            if rng.random() < 0.6
        }
        prepared = prepare_warehouses(houses)
        for n, order in enumerate(bench.orders(rng, orders, lines, 30)):
            req = RoutingRequest(
                order=order,
                facts=bench_facts(bench, order, rng, cold=False),
                channel_name="shop",
                ship_to=rng.choice(SHIP_TOS),
                warehouses=prepared if n % 3 else houses,
                stock=stock,
                now=rng.choice(NOWS),
                rule_set=bench.RULES,
                rule_set_label="bench@v1",
            )
            yield f"plain {lines}x{count} {n}", req


def varied_requests(seed: int = 7) -> Iterator[tuple[str, RoutingRequest]]:
    """Bench-like orders over varied warehouses, facts, ship-tos and times."""
    bench = bench_module()
    rng = random.Random(seed)
    for lines, count, orders in ((1, 10, 60), (3, 20, 80), (5, 50, 120), (8, 40, 40)):
        houses = varied_world(rng, count)
        stock = {
            (w.warehouse_id, f"S{s}"): rng.randint(-1, 8)
            for w in houses
            for s in range(40)
            if rng.random() < 0.6
        }
        skus = {
            f"S{s}": SkuProfile(
                requires=frozenset({"cold-chain"}) if s % 7 == 0 else frozenset(),
                weight_kg=None if s % 3 == 0 else 0.5 + s / 10,
            )
            for s in range(40)
        }
        prepared = prepare_warehouses(houses)
        for n, order in enumerate(bench.orders(rng, orders, lines, 40)):
            cold = any(skus[line.sku].requires for line in order.lines)
            facts = bench_facts(bench, order, rng, cold=cold)
            req = RoutingRequest(
                order=order,
                facts=facts,
                channel_name="shop",
                ship_to=rng.choice(SHIP_TOS),
                warehouses=prepared if n % 2 else houses,
                stock=stock,
                now=rng.choice(NOWS),
                skus=skus if rng.random() < 0.7 else {},
                rule_set=bench.RULES,
                rule_set_label="bench@v1",
                excluded_warehouses={2: "rejected by its WMS"} if n % 11 == 0 else {},
            )
            yield f"varied {lines}x{count} {n}", req


def bench_facts(bench: ModuleType, order: Any, rng: random.Random, *, cold: bool) -> Any:
    facts = bench.OrderFacts(
        channel="shopify",
        connector_id=1,
        order_type=rng.choice(["normal", "normal", "b2b"]),
        country=rng.choice(["US", "US", "US", "CA"]),
        region="NY",
        postal_code="10001",
        skus=tuple(ln.sku for ln in order.lines),
        sku_tags=frozenset({"cold"}) if cold else frozenset(),
        line_count=len(order.lines),
        order_value=rng.choice([Decimal("120"), Decimal("35.50"), None]),
        currency="USD",
        service_level=rng.choice(["standard", "standard", "express", "same_day"]),
        customer_tags=frozenset(),
        order_tags=frozenset(),
    )
    return replace(facts)


def corpus() -> Iterator[tuple[str, RoutingRequest]]:
    yield from bench_requests()
    yield from varied_requests()
    yield from plain_requests()


def encoded(result: RoutingResult) -> str:
    """Everything a decision gives, as JSON in its key order: the plan, outcome, promise,
    the stored trace and the trace as it is read."""
    return json.dumps(
        {
            "outcome": result.outcome.value,
            "shipments": [
                [s.warehouse_id, s.warehouse_code, [astuple(a) for a in s.lines]]
                for s in result.shipments
            ],
            "shortfall": [astuple(d) for d in result.shortfall],
            "promise": None if result.promise is None else result.promise.to_json(),
            "trace": result.trace,
            "read": render_trace(result.trace),
        },
        default=str,
    )


def digest(result: RoutingResult) -> str:
    return hashlib.sha256(encoded(result).encode()).hexdigest()[:24]


def decisions() -> dict[str, str]:
    return {name: digest(decide(req)) for name, req in corpus()}


if __name__ == "__main__":
    found = decisions()
    GOLDEN.write_text(json.dumps(found, indent=0, sort_keys=True) + "\n")
    print(f"{len(found)} decisions written to {GOLDEN}")
