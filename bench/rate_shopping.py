"""Rate shopping per fulfilment order with the built-in rate tables (issue 15, item 7).

Pure CPU, no services: three rate-table carriers (6 zones by distance and 30 remote postal
prefixes, 3 services, 6 weight breaks each, fuel and residential surcharges), seeded
fulfilment orders of 1-12 lines with SKU weights (some unknown) to US ship-tos at
distances of 5-4,500 km. Each shop is what the booking does between its reads and its
writes: pack the lines into parcels, quote every carrier, choose (cheapest, with a cost cap
half of the time and a deliver-by date a third of the time). Target: p99 < 5 ms.

    python bench/rate_shopping.py                 # 20,000 orders, at most 20 s
    python bench/rate_shopping.py --orders 5000 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import percentile

from omniroute.connectors.carriers import Address, RateRequest
from omniroute.connectors.rate_table.connector import RateTableConnector
from omniroute.routing.carrier_choice.calendar import BusinessDays
from omniroute.routing.carrier_choice.choose import Demand, Offer, choose
from omniroute.routing.carrier_choice.packages import PackLine, pack
from omniroute.routing.carrier_choice.policy import CarrierPolicy, Strategy

MONDAY = date(2026, 3, 2)


def table(name: str, scale: float, rng: random.Random) -> RateTableConnector:
    zones = [{"name": f"z{n}", "max_km": km} for n, km in enumerate((150, 300, 600, 1200, 2500))]
    zones.append({"name": "z5", "countries": ["US"]})
    services = []
    for code, level, extra_days, factor in (
        ("ground", "standard", 0, 1.0),
        ("2day", "express", -2, 1.9),
        ("overnight", "same_day", -9, 3.4),
    ):
        prices = {}
        for n, zone in enumerate(zones):
            base = 5.0 + n * 1.7
            breaks = [
                {"max_kg": kg, "price": f"{base * factor * scale * (1 + i * 0.35):.2f}"}
                for i, kg in enumerate((0.5, 1, 2, 5, 10, 20))
            ]
            prices[zone["name"]] = {
                "transit_days": max(1, n + 1 + extra_days),
                "breaks": breaks,
                "per_kg_over": f"{0.9 * factor * scale:.2f}",
            }
        services.append({"code": code, "service_level": level, "zones": prices})
    remote = [f"{rng.randrange(100, 999)}" for _ in range(30)]
    return RateTableConnector(
        {
            "carrier": name,
            "currency": "USD",
            "zones": zones,
            "services": services,
            "surcharges": {
                "residential": "3.95",
                "remote": "12.50",
                "remote_postal_prefixes": remote,
                "fuel_percent": "14.25",
            },
        }
    )


@dataclass(frozen=True)
class Order:
    lines: tuple[PackLine, ...]
    request_base: RateRequest
    demand: Demand
    policy: CarrierPolicy


def orders(count: int, rng: random.Random) -> list[Order]:
    weights = {
        f"SKU{n}": (None if n % 17 == 0 else round(rng.uniform(0.05, 8.0), 2)) for n in range(500)
    }
    made = []
    for n in range(count):
        skus = rng.sample(sorted(weights), rng.randint(1, 12))
        lines = tuple(PackLine(s, rng.randint(1, 3), weights[s]) for s in skus)
        postal = f"{rng.randrange(10000, 99999)}"
        request = RateRequest(
            f"fo-{n}",
            "EAST",
            Address("US", "10001"),
            Address("US", postal, residential=rng.random() < 0.6),
            (),
            round(rng.uniform(5, 4500), 1),
        )
        level = rng.choices(("standard", "express", "same_day"), (8, 3, 1))[0]
        deliver_by = MONDAY + timedelta(days=rng.randint(1, 9)) if n % 3 == 0 else None
        policy = CarrierPolicy(
            Strategy.CHEAPEST if n % 4 else Strategy.FASTEST,
            Decimal("60") if n % 2 else None,
        )
        made.append(Order(lines, request, Demand(level, MONDAY, deliver_by), policy))
    return made


def shop(carriers: list[RateTableConnector], order: Order, calendar: BusinessDays) -> bool:
    packing = pack(order.lines)
    base = order.request_base
    request = RateRequest(
        base.reference,
        base.warehouse_code,
        base.origin,
        base.destination,
        packing.parcels,
        base.distance_km,
    )
    offers = [Offer(c.config.carrier, c.quote(request)) for c in carriers]
    return choose(offers, order.demand, order.policy, calendar).chosen is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="stop after this long")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    carriers = [table("UPS", 1.0, rng), table("FedEx", 1.07, rng), table("DHL", 0.95, rng)]
    work = orders(args.orders, rng)
    calendar = BusinessDays()
    for order in work[:200]:  # warm up
        shop(carriers, order, calendar)
    took: list[float] = []
    cpu_took: list[float] = []
    chosen = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for order in work:
        start, start_cpu = time.perf_counter(), time.thread_time()
        chosen += shop(carriers, order, calendar)
        took.append((time.perf_counter() - start) * 1000)
        cpu_took.append((time.thread_time() - start_cpu) * 1000)
        if time.perf_counter() - wall0 > args.seconds:
            break
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    took.sort()
    cpu_took.sort()
    load = os.getloadavg()
    print(
        f"rate shopping: {len(took)} fulfilment orders, 3 carriers x 3 services, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        + " ".join(f"{x:.2f}" for x in load)
    )
    print(f"  chosen {chosen} ({chosen / len(took):.1%}), none qualified {len(took) - chosen}")
    for name, values in (("wall", took), ("cpu", cpu_took)):
        print(
            f"  per order {name} ms: p50 {percentile(values, 50):.3f}  "
            f"p90 {percentile(values, 90):.3f}  p99 {percentile(values, 99):.3f}  "
            f"max {values[-1]:.3f}  mean {statistics.fmean(values):.3f}"
        )
    print(
        f"  throughput {len(took) / wall:.0f}/s wall, cpu {cpu * 1e6 / len(took):.0f} us per order"
    )


if __name__ == "__main__":
    main()
