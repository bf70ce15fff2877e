"""Forecast + reorder and transfer suggestions for 10,000 SKUs x 5 warehouses (target < 60 s).

Builds a migrated database (SQLite in a temp file; PostgreSQL when OMNIROUTE_BENCH_PG_URL is
set: the run drops and recreates the database ``--db`` on that server), writes a generated
year of orders straight into the tables a run reads (sales orders, order lines, routing
decisions, fulfilment orders and lines; a long-tail SKU popularity, a weekday pattern,
numpy seed 15), a stock level and a threshold for every SKU at every warehouse, then times
``core/replenishment/suggestions.run`` (one transaction: the thresholds, the levels and
the aggregated daily demand read once each, the forecast and the plan on arrays, the
suggestion rows and the thresholds' daily rates written, the alerts on days of cover
evaluated) and, apart, its parts: the demand read and the pure forecast + plan.

    python bench/replenishment.py                          # SQLite, 300,000 orders
    python bench/replenishment.py --orders 50000 --skus 2000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from omniroute.core.bootstrap import bootstrap
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.migrate import upgrade
from omniroute.core.platform.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OrderLine,
    ReplenishmentSuggestion,
    RoutingDecision,
    SalesOrder,
    Sku,
    StockLevel,
    StockThreshold,
    Warehouse,
)
from omniroute.core.platform.settings import Settings
from omniroute.core.replenishment import alerts, suggestions
from omniroute.core.replenishment.demand import read_daily
from omniroute.core.replenishment.forecast import forecast, horizon_demand
from omniroute.core.replenishment.plan import plan

NOW = datetime(2026, 12, 7, 6, 0)  # a Monday; the history is the 364 days before it
CHUNK = 20_000


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skus", type=int, default=10_000)
    p.add_argument("--warehouses", type=int, default=5)
    p.add_argument("--orders", type=int, default=300_000)
    p.add_argument("--lines", type=int, default=5, help="lines per order")
    p.add_argument("--db", default="omniroute_bench_replenishment")
    p.add_argument(
        "--reuse", action="store_true", help="PostgreSQL: run on the database a previous run filled"
    )
    return p.parse_args()


def database(args: argparse.Namespace) -> str:
    server = os.environ.get("OMNIROUTE_BENCH_PG_URL")
    if not server:
        return f"sqlite:///{Path(tempfile.mkdtemp()) / 'replenishment.db'}"
    import benchlib  # noqa: PLC0415 - only the PostgreSQL run needs psycopg

    if args.reuse:
        return str(benchlib.db_url(server, args.db))
    return str(benchlib.recreate_database(server, args.db))


def fill(ctx: Any, args: argparse.Namespace) -> dict[str, int]:
    rng = np.random.default_rng(15)
    n_sku, n_wh = args.skus, args.warehouses
    codes = [f"SKU-{i:05d}" for i in range(n_sku)]
    popularity = 1.0 / (np.arange(n_sku) + 10.0) ** 1.1
    popularity /= popularity.sum()
    weekday_weight = np.array([1.3, 1.1, 1.0, 1.0, 1.1, 0.8, 0.7])
    today = NOW.date()
    days = np.array([today - timedelta(days=k) for k in range(364, 0, -1)])
    day_p = weekday_weight[[d.weekday() for d in days]]
    day_p /= day_p.sum()
    with unit_of_work(ctx.sessions) as s:
        shop = Connector(kind="shopify", name="bench-shop", config={})
        s.add(shop)
        whs = [
            Warehouse(code=f"WH{w}", name=f"WH{w}", country="US", postal_code="10001")
            for w in range(n_wh)
        ]
        s.add_all(whs)
        s.flush()
        shop_id, wh_ids = shop.id, [w.id for w in whs]
        s.execute(insert(Sku), [{"code": c} for c in codes])
    n_orders, n_lines = args.orders, args.lines
    order_wh = rng.integers(0, n_wh, n_orders)
    order_day = rng.choice(len(days), n_orders, p=day_p)
    order_minute = rng.integers(0, 24 * 60, n_orders)
    line_sku = rng.choice(n_sku, (n_orders, n_lines), p=popularity)
    line_qty = rng.integers(1, 4, (n_orders, n_lines))
    line_id = 0
    for lo in range(0, n_orders, CHUNK):
        hi = min(n_orders, lo + CHUNK)
        orders, decisions, fos, lines, flines = [], [], [], [], []
        for o in range(lo, hi):
            oid = o + 1
            at = datetime.combine(days[order_day[o]], datetime.min.time()) + timedelta(
                minutes=int(order_minute[o])
            )
            orders.append(
                {
                    "id": oid,
                    "connector_id": shop_id,
                    "external_id": f"B{oid}",
                    "channel": "shopify",
                    "status": "shipped",
                    "currency": "USD",
                    "canonical": {},
                    "created_at": at,
                    "updated_at": at,
                }
            )
            decisions.append(
                {
                    "id": oid,
                    "order_id": oid,
                    "policy": "default",
                    "outcome": "routed",
                    "created_at": at,
                }
            )
            fos.append(
                {
                    "id": oid,
                    "order_id": oid,
                    "warehouse_id": wh_ids[order_wh[o]],
                    "decision_id": oid,
                    "status": "shipped",
                    "created_at": at,
                }
            )
            for k in range(n_lines):
                line_id += 1
                sku, qty = codes[line_sku[o, k]], int(line_qty[o, k])
                lines.append(
                    {"id": line_id, "order_id": oid, "line_no": k + 1, "sku": sku, "quantity": qty}
                )
                flines.append(
                    {
                        "id": line_id,
                        "fulfilment_order_id": oid,
                        "order_line_id": line_id,
                        "sku": sku,
                        "quantity": qty,
                        "shipped_quantity": qty,
                    }
                )
        with unit_of_work(ctx.sessions) as s:
            for model, rows in ((SalesOrder, orders), (OrderLine, lines),
                                (RoutingDecision, decisions), (FulfilmentOrder, fos),
                                (FulfilmentLine, flines)):  # fmt: skip
                s.execute(insert(model), rows)
    # Stock and thresholds: a mix of units and days of cover, lead times 3-14 days.
    on_hand = rng.integers(0, 200, (n_sku, n_wh))
    with unit_of_work(ctx.sessions) as s:
        levels, limits = [], []
        for i, code in enumerate(codes):
            for w, wid in enumerate(wh_ids):
                levels.append(
                    {
                        "warehouse_id": wid,
                        "sku": code,
                        "on_hand": int(on_hand[i, w]),
                        "reserved": 0,
                        "safety": 0,
                        "updated_at": NOW,
                    }
                )
                by_days = (i + w) % 2 == 0
                limits.append({"warehouse_id": wid, "sku": code,
                               "min_units": None if by_days else 10,
                               "max_units": None if by_days else 80,
                               "min_days": 7.0 if by_days else None,
                               "max_days": 28.0 if by_days else None,
                               "lead_time_days": 3 + (i % 12), "review_period_days": 7,
                               "pack_size": (1, 6, 12)[i % 3], "moq": 0,
                               "created_at": NOW, "updated_at": NOW})  # fmt: skip
        for start in range(0, len(levels), CHUNK):
            s.execute(insert(StockLevel), levels[start : start + CHUNK])
            s.execute(insert(StockThreshold), limits[start : start + CHUNK])
    return {"orders": n_orders, "lines": line_id, "series": n_sku * n_wh}


def timed_steps() -> dict[str, float]:
    """Wrap the run's steps to add up the time spent in each (a bench-only patch)."""
    spent: dict[str, float] = {}
    for module, name in (
        (suggestions, "_positions"),
        (suggestions, "_forecast"),
        (suggestions, "_write"),
        (suggestions, "_keep_rates"),
        (alerts, "evaluate"),
    ):
        original = getattr(module, name)

        def wrapper(*a: Any, _f: Any = original, _n: str = name, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                spent[_n] = spent.get(_n, 0.0) + time.perf_counter() - t0

        setattr(module, name, wrapper)
    return spent


def parts(ctx: Any) -> dict[str, float]:
    """The demand read alone, and the pure forecast + plan alone (on the run's arrays)."""
    today: date = NOW.date()
    with unit_of_work(ctx.sessions) as s:
        t0 = time.perf_counter()
        history = read_daily(s, start=today - timedelta(days=364), end=today)
        t1 = time.perf_counter()
        _, pos = suggestions._positions(s)  # the bench times the parts
        t2 = time.perf_counter()
    index = {(int(w), k): i for i, (w, k) in enumerate(zip(pos.warehouse_id, pos.sku, strict=True))}
    series = np.array(
        [index[(int(w), k)] for w, k in zip(history.warehouse_id, history.sku, strict=True)]
    )
    t3 = time.perf_counter()
    matrix = np.zeros((len(pos), 364))
    np.add.at(matrix, (series, history.day), history.units)
    fc = forecast(matrix, last_weekday=(today - timedelta(days=1)).weekday())
    horizon = horizon_demand(
        fc, first_weekday=today.weekday(), days=pos.lead_days + pos.review_days
    )
    result = plan(pos, fc.rate, horizon)
    t4 = time.perf_counter()
    return {
        "demand_rows": len(history.sku),
        "demand_read_s": t1 - t0,
        "positions_read_s": t2 - t1,
        "forecast_plan_s": t4 - t3,
        "plan_purchases": len(result.purchases),
        "plan_transfers": len(result.transfers),
    }


def main() -> None:
    args = parse()
    url = database(args)
    upgrade(url)
    settings = Settings(
        database_url=url, log_level="WARNING", secret_key=Fernet.generate_key().decode()
    )
    ctx = bootstrap(settings, clock=FixedClock(NOW))
    try:
        if not args.reuse:
            t0 = time.perf_counter()
            sizes = fill(ctx, args)
            print(f"filled {sizes} in {time.perf_counter() - t0:.1f} s", flush=True)
        steps = timed_steps()
        load = os.getloadavg()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        result = suggestions.run(ctx, actor="bench")
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        with unit_of_work(ctx.sessions) as s:
            written = s.scalar(select(func.count()).select_from(ReplenishmentSuggestion))
        kinds = {k: sum(1 for x in result.lines if x.kind == k) for k in ("purchase", "transfer")}
        print(f"run: {result.series} series, {kinds}, {written} rows written; "
              f"{wall:.2f} s wall, {cpu:.2f} s CPU (this process); load average before "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
        print("inside the run (s):", {k: round(v, 2) for k, v in steps.items()})
        print(
            "parts:", {k: round(v, 2) if isinstance(v, float) else v for k, v in parts(ctx).items()}
        )
        print(f"load average after {os.getloadavg()}; database {url.split(':')[0]}")
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
