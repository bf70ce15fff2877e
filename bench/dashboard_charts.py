"""Latency of the dashboard's charts (core/orders/dashboard.charts) on a big database
(bench/big_database.py), called in this process, one after another.

    python bench/dashboard_charts.py --db omniroute_bench_big --calls 20 --now 2026-12-07T12:00

Prints p50/p95 in milliseconds for ``charts`` and, to compare, ``figures``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime

import benchlib as bl
from cryptography.fernet import Fernet

from omniroute.core.bootstrap import bootstrap
from omniroute.core.orders import dashboard
from omniroute.core.platform.settings import Settings


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    took = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return statistics.median(took), took[max(0, int(len(took) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="omniroute_bench_big")
    parser.add_argument("--pg-admin-url", default=bl.PG_ADMIN_URL)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--now", default="2026-12-07T12:00")
    args = parser.parse_args()
    url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + args.db
    # A throwaway key: the charts read no sealed secret.
    key = Fernet.generate_key().decode()
    ctx = bootstrap(
        Settings(database_url=url, secret_key=key, broker_url=None, log_level="WARNING")
    )
    now = datetime.fromisoformat(args.now)
    try:
        charts = dashboard.charts(ctx, now=now)
        print(
            f"orders read for the rates: {charts['rates']['orders']}, "
            f"shipped orders read for the cycle time: {charts['cycle']['count']}"
        )
        print(f"{'call':<28} {'p50 ms':>8} {'p95 ms':>8}")
        for name, call in (
            ("dashboard.charts", lambda: dashboard.charts(ctx, now=now)),
            ("dashboard.figures", lambda: dashboard.figures(ctx, now=now)),
        ):
            p50, p95 = timed(call, args.calls)
            print(f"{name:<28} {p50:>8.1f} {p95:>8.1f}")
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
