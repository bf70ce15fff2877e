"""Latency of the read paths on a big database (bench/big_database.py), over HTTP.

    python bench/big_queries.py --db omniroute_bench_big --calls 200

Starts ``omniroute serve`` (broker mode, API only, one process) against the database, makes
an admin token and a console user through the services, and times one client's calls, one
after another, of: the orders list per status (keyset pages from random places in the
table), order search by channel number, customer e-mail (any case), customer name prefix,
SKU and created-at range, one order's detail, the exceptions list (by status, code and
order), the console's dashboard, exception queue and orders pages, and the dashboard's
figures (core/orders/dashboard.py, core/exceptions/board.py) in this process. Prints
p50/p95/p99 per kind in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import benchlib as bl
import httpx
import psycopg

from omniroute.core.access.tokens import create_token
from omniroute.core.access.users import NewUser, create_user
from omniroute.core.bootstrap import bootstrap
from omniroute.core.exceptions import board
from omniroute.core.orders import dashboard
from omniroute.core.platform.security import Role
from omniroute.core.platform.settings import Settings

STATUSES = (
    "received",
    "released",
    "shipped",
    "delivered",
    "cancelled",
    "exception",
    "on_hold",
    "backordered",
    "partially_shipped",
)
REASONS = ("unknown_sku", "bad_address", "no_stock", "invalid_payload")
PASSWORD = "bench password 1234"  # noqa: S105 - a throwaway user of a bench database


def samples(url: str, rng: random.Random, n: int) -> dict[str, list[Any]]:
    """Real values to ask for, picked at random from the database."""
    with psycopg.connect(url) as conn:
        top = conn.execute("SELECT max(id) FROM sales_order").fetchone()
        high = int(top[0]) if top and top[0] else 1
        ids = [rng.randint(1, high) for _ in range(n * 3)]
        rows = conn.execute(
            "SELECT id, external_number, customer_email, customer_name, created_at "
            "FROM sales_order WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
        skus = [
            r[0]
            for r in conn.execute(
                "SELECT sku FROM order_line WHERE order_id = ANY(%s)", (ids[:n],)
            ).fetchall()
        ]
        exc = conn.execute(
            "SELECT order_id FROM order_exception WHERE order_id IS NOT NULL "
            "ORDER BY random() LIMIT %s",
            (n,),
        ).fetchall()
    return {
        "ids": [r[0] for r in rows],
        "numbers": [r[1] for r in rows if r[1]],
        "emails": [r[2] for r in rows if r[2]],
        "names": [r[3] for r in rows if r[3]],
        "days": [r[4] for r in rows],
        "skus": skus,
        "exception_orders": [r[0] for r in exc],
        "high": [high],
    }


def _mixed_case(email: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c for c in email)


def calls(s: dict[str, list[Any]], rng: random.Random) -> dict[str, Callable[[], str]]:
    """Each kind of call: a function giving the next path to ask (a new random one each time)."""
    high = s["high"][0]
    pick = rng.choice

    def week() -> str:
        day = pick(s["days"]).date()
        return f"created_from={day.isoformat()}&created_to={(day + timedelta(days=7)).isoformat()}"

    kinds: dict[str, Callable[[], str]] = {
        f"orders status={st}": (
            lambda st=st: f"/api/v1/orders?status={st}&limit=50&after_id={rng.randint(0, high)}"  # type: ignore[misc]
        )
        for st in STATUSES
    }
    kinds.update(
        {
            "orders, any status, deep page": lambda: (
                f"/api/v1/orders?limit=100&after_id={rng.randint(0, high)}"
            ),
            "orders by number": lambda: (
                f"/api/v1/orders?number={httpx.QueryParams({'n': pick(s['numbers'])})['n']}"
            ),
            "orders by e-mail (any case)": lambda: (
                "/api/v1/orders?"
                + str(httpx.QueryParams({"customer": _mixed_case(pick(s["emails"]), rng)}))
            ),
            "orders by name prefix": lambda: (
                "/api/v1/orders?"
                + str(httpx.QueryParams({"customer": pick(s["names"])[: rng.randint(4, 9)]}))
            ),
            "orders by SKU": lambda: f"/api/v1/orders?sku={pick(s['skus'])}&limit=50",
            "orders by SKU, deep page": lambda: (
                f"/api/v1/orders?sku={pick(s['skus'])}&limit=50&after_id={rng.randint(0, high)}"
            ),
            "orders created in a week": lambda: f"/api/v1/orders?{week()}&limit=100",
            "orders in a week, status": lambda: (
                f"/api/v1/orders?{week()}&status=delivered&limit=100"
            ),
            "order detail": lambda: f"/api/v1/orders/{pick(s['ids'])}",
            "exceptions open": lambda: "/api/v1/exceptions?status=open&limit=100",
            "exceptions open, by code": lambda: (
                f"/api/v1/exceptions?status=open&reason={pick(REASONS)}"
            ),
            "exceptions resolved, by code, deep": lambda: (
                f"/api/v1/exceptions?status=resolved&reason={pick(REASONS)}&after_id="
                f"{rng.randint(0, high // 30)}"
            ),
            "exceptions all, by code": lambda: (
                f"/api/v1/exceptions?status=all&reason={pick(REASONS)}"
            ),
            "exceptions of an order": lambda: (
                f"/api/v1/exceptions?status=all&order_id={pick(s['exception_orders'])}"
            ),
            "console dashboard": lambda: "/console/",
            "console exception queue": lambda: "/console/exceptions",
            "console queue by code": lambda: f"/console/exceptions?reason={pick(REASONS)}",
            "console queue, late": lambda: "/console/exceptions?late=1",
            "console orders (first page)": lambda: "/console/orders",
            "console orders by customer": lambda: (
                "/console/orders?" + str(httpx.QueryParams({"customer": pick(s["emails"])}))
            ),
            "console orders by status": lambda: f"/console/orders?status={pick(STATUSES)}",
        }
    )
    return kinds


def sign_in(client: httpx.Client, username: str) -> None:
    form = client.get("/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "no sign-in form"
    answer = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    if answer.status_code != 303:
        raise RuntimeError(f"console sign-in refused: {answer.status_code}")


def timed(n: int, call: Callable[[], float]) -> dict[str, float]:
    spent = sorted(call() for _ in range(n))
    return {q: bl.percentile(spent, q) * 1000 for q in (50, 95, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="omniroute_bench_big")
    parser.add_argument("--pg-admin-url", default=bl.PG_ADMIN_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--port", type=int, default=48731)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--only", default="", help="time only the kinds containing this")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    url = bl.db_url(args.pg_admin_url, args.db)
    env = bl.omniroute_env(
        url, args.redis_url, OMNIROUTE_CONSOLE_COOKIE_SECURE="false", OMNIROUTE_LOG_LEVEL="WARNING"
    )
    ctx = bootstrap(Settings(database_url=url, secret_key=env["OMNIROUTE_SECRET_KEY"]))
    stamp = f"{os.getpid()}-{int(time.time())}"
    token = create_token(ctx, role=Role.ADMIN, name=f"bench-{stamp}")
    create_user(ctx, NewUser(f"bench-{stamp}", Role.OPS), PASSWORD, actor="bench")
    s = samples(url, rng, max(args.calls, 50))
    results: list[tuple[str, dict[str, float]]] = []
    now = ctx.clock.now()
    for name, fn in (
        ("figures: dashboard.figures", lambda: dashboard.figures(ctx, now=now)),
        (
            "figures: board.counts_by_reason",
            lambda: board.counts_by_reason(ctx, board.QueueFilter(), now=now),
        ),
    ):
        if args.only in name:
            results.append((name, timed(max(args.calls // 4, 10), lambda fn=fn: _clock(fn))))
    with tempfile.TemporaryDirectory() as tmp, bl.procs(Path(tmp)) as group:
        group.start(
            "api",
            [str(Path(sys.executable).with_name("omniroute")), "serve", "--port", str(args.port)],
            env,
        )
        base = f"http://127.0.0.1:{args.port}"
        bl.wait_http(f"{base}/healthz", group)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            sign_in(client, f"bench-{stamp}")
            for name, path in calls(s, rng).items():
                if args.only not in name:
                    continue
                client.get(path())  # warm

                def one(path: Callable[[], str] = path) -> float:
                    began = time.perf_counter()
                    answer = client.get(path())
                    spent = time.perf_counter() - began
                    answer.raise_for_status()
                    return spent

                results.append((name, timed(args.calls, one)))
                print(f"  {name}: {results[-1][1][95]:.1f} ms p95", flush=True)
    ctx.close()
    report(args, results)


def _clock(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def report(args: argparse.Namespace, results: list[tuple[str, dict[str, float]]]) -> None:
    with psycopg.connect(bl.db_url(args.pg_admin_url, args.db)) as conn:
        row = conn.execute("SELECT count(*) FROM sales_order").fetchone()
    orders = int(row[0]) if row else 0
    load = os.getloadavg()
    print(
        f"\n{args.db}: {orders:,} orders; {args.calls} calls per kind, one client; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {bl.code_version()}"
    )
    print(f"| {'call':<40} | p50 ms | p95 ms | p99 ms |")
    print(f"|{'-' * 42}|-------:|-------:|-------:|")
    for name, q in results:
        flag = "" if q[95] < 200 else "  (over 200)"
        print(f"| {name:<40} | {q[50]:>6.1f} | {q[95]:>6.1f} | {q[99]:>6.1f} |{flag}")


if __name__ == "__main__":
    main()
