"""PostgreSQL's own time for each read path on a big database: the SQL the services send,
caught as they run, then run again under EXPLAIN ANALYZE (bench/big_database.py).

    python bench/big_explain.py --db omniroute_bench_big

Prints, per service call, the statements' execution time (the database's part of the
latency, without the API process) and any sequential scan of a big table in the plans.
A machine busy with other work slows the API process far more than these.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import benchlib as bl
import psycopg
from big_queries import samples
from cryptography.fernet import Fernet
from sqlalchemy import event, func, select

from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.exceptions import board, queue
from omniroute.core.orders import dashboard, views
from omniroute.core.orders.search import OrderFilter
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.settings import Settings

BIG = {
    "sales_order",
    "order_line",
    "order_event",
    "inbound_message",
    "outbox_message",
    "stock_ledger",
    "fulfilment_order",
    "fulfilment_line",
    "shipment",
    "routing_decision",
}


@contextmanager
def caught(ctx: Context) -> Iterator[list[tuple[str, Any]]]:
    found: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cur: Any, statement: str, params: Any, _c: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            found.append((statement, params))

    event.listen(ctx.engine, "before_cursor_execute", keep)
    try:
        yield found
    finally:
        event.remove(ctx.engine, "before_cursor_execute", keep)


def _seq_scans(node: dict[str, Any]) -> list[str]:
    here = [node["Relation Name"]] if node.get("Node Type") == "Seq Scan" else []
    for child in node.get("Plans", []):
        here += _seq_scans(child)
    return [t for t in here if t in BIG]


def explain(
    url: str, statements: list[tuple[str, Any]], drop: list[str]
) -> tuple[float, list[str]]:
    """Run under EXPLAIN ANALYZE, in a transaction rolled back, without the indexes ``drop``."""
    total, scans = 0.0, []
    with psycopg.connect(url) as conn:
        for name in drop:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        for statement, params in statements:
            row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params).fetchone()
            assert row is not None
            plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
            total += float(plan[0]["Execution Time"])
            scans += _seq_scans(plan[0]["Plan"])
        conn.rollback()
    return total, scans


def cases(
    ctx: Context, s: dict[str, list[Any]], rng: random.Random
) -> dict[str, Callable[[], object]]:
    now = ctx.clock.now()
    high = s["high"][0]
    day = rng.choice(s["days"])
    week = OrderFilter(created_from=day, created_to=day + timedelta(days=7))
    return {
        "orders status=exception, deep": lambda: views.list_orders(
            ctx, where=OrderFilter(status="exception"), limit=50, after_id=high // 3
        ),
        "orders status=delivered, deep": lambda: views.list_orders(
            ctx, where=OrderFilter(status="delivered"), limit=50, after_id=high // 2
        ),
        "orders, deep page": lambda: views.list_orders(ctx, limit=100, after_id=high // 2),
        "orders by number": lambda: views.list_orders(
            ctx, where=OrderFilter(number=rng.choice(s["numbers"])), limit=100
        ),
        "orders by e-mail": lambda: views.list_orders(
            ctx, where=OrderFilter(customer=rng.choice(s["emails"]).upper()), limit=100
        ),
        "orders by name prefix": lambda: views.list_orders(
            ctx, where=OrderFilter(customer=rng.choice(s["names"])[:6]), limit=100
        ),
        "orders by SKU": lambda: views.list_orders(
            ctx, where=OrderFilter(sku=rng.choice(s["skus"])), limit=50
        ),
        "console: by SKU, newest first": lambda: views.search_orders(
            ctx, where=OrderFilter(sku=rng.choice(s["skus"])), limit=51
        ),
        "orders in a week": lambda: views.list_orders(ctx, where=week, limit=100),
        "console: a week, newest first": lambda: views.search_orders(ctx, where=week, limit=51),
        "order detail": lambda: views.order_detail(ctx, rng.choice(s["ids"])),
        "exceptions open by code": lambda: queue.list_exceptions(ctx, reason="unknown_sku"),
        "exceptions all by code": lambda: queue.list_exceptions(
            ctx, status=None, reason="bad_address"
        ),
        "queue page (board.list_queue)": lambda: board.list_queue(
            ctx, board.QueueFilter(), now=now
        ),
        "board.counts_by_reason": lambda: board.counts_by_reason(ctx, board.QueueFilter(), now=now),
        "dashboard.figures": lambda: dashboard.figures(ctx, now=now),
        "dashboard as before (every order)": lambda: _every_order(ctx),
    }


def _every_order(ctx: Context) -> None:
    """The dashboard's order counts as they were before the window (commit 0961c62)."""
    with ctx.engine.connect() as conn:
        conn.execute(
            select(SalesOrder.channel, SalesOrder.status, func.count()).group_by(
                SalesOrder.channel, SalesOrder.status
            )
        ).all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="omniroute_bench_big")
    parser.add_argument("--pg-admin-url", default=bl.PG_ADMIN_URL)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--drop", default="", help="indexes to leave out (comma-separated), e.g. migration 0019's"
    )
    args = parser.parse_args()
    url = bl.db_url(args.pg_admin_url, args.db)
    ctx = bootstrap(Settings(database_url=url, secret_key=Fernet.generate_key().decode()))
    rng = random.Random(9)
    s = samples(url, rng, 100)
    print(
        f"| {'service call':<34} | PG ms (median of {args.rounds}) | worst "
        "| seq scans of big tables |"
    )
    print(f"|{'-' * 36}|------:|------:|------|")
    for name, call in cases(ctx, s, rng).items():
        spent, scans = [], set()
        for _ in range(args.rounds):
            with caught(ctx) as statements:
                call()
            ms, seq = explain(url, statements, [d for d in args.drop.split(",") if d])
            spent.append(ms)
            scans.update(seq)
        spent.sort()
        print(
            f"| {name:<34} | {spent[len(spent) // 2]:>6.1f} | {spent[-1]:>6.1f} | "
            f"{', '.join(sorted(scans)) or '-'} |",
            flush=True,
        )
    ctx.close()


if __name__ == "__main__":
    main()
