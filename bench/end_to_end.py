"""End to end: signed Shopify webhooks in, every order released to a (fake) WMS.

PostgreSQL + Redis + ``omniroute serve`` + Celery workers + ``omniroute beat`` + the fake WMS
(connectors/wms/demo_server.py), all as subprocesses on this machine. Orders are posted by a
separate load-generator process (bench/loadgen.py, bounded concurrency); the clock runs from
the first post until the database shows every order released.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchlib as bl
import order_path_baseline
import psycopg
import redis
from celery import Celery
from psycopg import sql
from sqlalchemy import insert

from omniroute.cli.demo.orders import demo_skus, shopify_order
from omniroute.core.bootstrap import bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import Sku, StockLedger, StockLevel
from omniroute.core.platform.settings import Settings
from omniroute.core.stock import warehouses

TARGET_ORDERS_PER_S = 100.0
TARGET_RATIO = 0.3  # end to end against bench/order_path_baseline.py in the same run (issue 18)
# A paced run kept up when its last order was released within this share of the posting
# time after the last post (the backlog stayed bounded instead of growing with the run).
KEPT_UP_SHARE = 0.05
SETTLED = ("released", "exception", "backordered", "cancelled")
POSTAL = ["10001", "60601", "73301", "98101", "07102", "30301", "94105", "02108", "80202", "33101"]


def seed(
    env: dict[str, str], args: argparse.Namespace, wms_url: str, secret: str
) -> tuple[int, list[str]]:
    """Connectors and warehouses through the services; SKUs and stock in bulk. (shop id, SKUs)"""
    ctx = bootstrap(
        Settings(
            database_url=env["OMNIROUTE_DATABASE_URL"],
            secret_key=env["OMNIROUTE_SECRET_KEY"],
            allow_private_urls=True,
            log_level="WARNING",
        )
    )
    try:
        wms = connector_admin.create_connector(
            ctx,
            kind="rest_wms",
            name="bench-wms",
            config={"base_url": wms_url},
            secrets={},
            enabled=True,
            actor="bench",
        )
        shop = connector_admin.create_connector(
            ctx,
            kind="shopify",
            name="bench-shopify",
            config={},
            enabled=True,
            actor="bench",
            secrets={"webhook_secret": secret},
        )
        ids = []
        for n in range(1, args.warehouses + 1):
            postal = POSTAL[n % len(POSTAL)]
            ids.append(
                warehouses.create_warehouse(
                    ctx,
                    {
                        "code": f"WH{n:02d}",
                        "name": f"Warehouse {n}",
                        "priority": n,
                        "enabled": True,
                        "address": {"postal_code": postal, "country": "US"},
                        "country": "US",
                        "postal_code": postal,
                        "wms_connector_id": wms.id,
                    },
                    actor="bench",
                ).id
            )
        skus = demo_skus(args.skus)
        rng = random.Random(7)
        with unit_of_work(ctx.sessions) as session:
            session.execute(insert(Sku), [{"code": s, "name": f"Demo product {s}"} for s in skus])
            levels = [
                {
                    "warehouse_id": w,
                    "sku": s,
                    "on_hand": rng.randint(500, 1500),
                    "reserved": 0,
                    "safety": 2,
                }
                for w in ids
                for s in skus
                if rng.random() < args.stock_density
            ]
            session.execute(insert(StockLevel), levels)
            session.execute(
                insert(StockLedger),
                [
                    {
                        "warehouse_id": lv["warehouse_id"],
                        "sku": lv["sku"],
                        "delta_on_hand": lv["on_hand"],
                        "delta_reserved": 0,
                        "delta_safety": 2,
                        "reason": "set",
                        "reference": "bench seed",
                        "actor": "bench",
                    }
                    for lv in levels
                ],
            )
        return shop.id, skus
    finally:
        ctx.close()


def posting_mode(args: argparse.Namespace) -> list[str]:
    """The load generator's arguments: all at once, or paced at ``--rate``."""
    if args.rate <= 0:
        return ["--mode", "max", "--concurrency", str(args.concurrency)]
    duration = (args.orders + 0.5) / args.rate  # the load generator sends int(rate * duration)
    return [
        "--mode",
        "rate",
        "--rate",
        str(args.rate),
        "--duration",
        f"{duration:.3f}",
        "--connections",
        str(args.concurrency),
    ]


def start_stack(group: bl.Procs, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    api = group.start("api", ["omniroute", "serve", "--port", str(args.port)], env)
    pool = ["--pool", args.pool]
    processes, concurrency = (int(n) for n in args.workers.split("x"))
    workers = [
        group.start(
            f"worker{i}", ["omniroute", "worker", "--concurrency", str(concurrency), *pool], env
        )
        for i in range(1, processes + 1)
    ]
    beat = group.start("beat", ["omniroute", "beat"], env)
    bl.wait_http(f"http://127.0.0.1:{args.port}/healthz", group)
    wait_workers(group, args.redis_url, len(workers))
    return {"api": api, "workers": workers, "beat": beat}


def wait_workers(group: bl.Procs, redis_url: str, count: int, timeout: float = 60.0) -> None:
    control = Celery("bench-ping", broker=redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            group.check_alive()
            if len(control.control.ping(timeout=1.0) or []) >= count:
                return
        raise RuntimeError(f"{count} Celery worker(s) did not answer a ping in {timeout:.0f}s")
    finally:
        control.close()


FLOORED = ("sales_order", "inbound_message", "order_event", "fulfilment_order",
           "routing_decision", "outbox_message", "order_exception")  # fmt: skip


def floors(url: str) -> dict[str, int]:
    """The highest id of each table this run reads, before it posts: a database filled
    beforehand (--template) keeps its history out of the figures."""
    with psycopg.connect(url) as conn:
        found = {}
        for table in FLOORED:
            row = conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
            found[table] = int(row[0]) if row else 0
    return found


def status_counts(url: str, floor: dict[str, int]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM sales_order WHERE id > %s GROUP BY status",
            (floor["sales_order"],),
        ).fetchall()
        failed = conn.execute(
            "SELECT count(*) FROM inbound_message WHERE status = 'failed' AND id > %s",
            (floor["inbound_message"],),
        ).fetchone()
    counts = {str(s): int(n) for s, n in rows}
    counts["inbound_failed"] = int(failed[0]) if failed else 0
    return counts


def wait_released(
    url: str,
    args: argparse.Namespace,
    loadgen: subprocess.Popen[bytes],
    group: bl.Procs,
    floor: dict[str, int],
) -> dict[str, Any]:
    """Poll every 0.5 s until every order is released (or settled otherwise); bounded."""
    queue = redis.Redis.from_url(args.redis_url)
    deadline, max_queue, last_print = time.monotonic() + args.timeout, 0, 0.0
    last_counts: dict[str, int] = {}
    last_change = time.monotonic()
    try:
        while True:
            group.check_alive()
            counts = status_counts(url, floor)
            depth = int(queue.llen("celery"))
            max_queue = max(max_queue, depth)
            settled = sum(counts.get(s, 0) for s in SETTLED) + counts["inbound_failed"]
            if counts.get("released", 0) >= args.orders or (
                loadgen.poll() is not None and settled >= args.orders
            ):
                return {"counts": counts, "max_queue": max_queue, "stalled": False}
            if counts != last_counts or depth:
                last_counts, last_change = counts, time.monotonic()
            elif loadgen.poll() is not None and time.monotonic() - last_change > args.stall:
                print(f"  no progress for {args.stall:.0f}s with an empty queue: {counts}")
                return {"counts": counts, "max_queue": max_queue, "stalled": True}
            if time.monotonic() > deadline:
                raise RuntimeError(f"gave up after {args.timeout:.0f}s: {counts}")
            if time.monotonic() - last_print > 10:
                print(f"  {time.strftime('%H:%M:%S')} {counts} redis queue {queue.llen('celery')}")
                last_print = time.monotonic()
            time.sleep(0.5)
    finally:
        queue.close()


TTR_SQL = """
WITH ev AS (
  SELECT m.order_id, m.received_at,
         min(e.created_at) FILTER (WHERE e.from_status IS NULL OR e.to_status = 'received')
           AS received_ev,
         min(e.created_at) FILTER (WHERE e.to_status = 'routed') AS routed_ev,
         min(e.created_at) FILTER (WHERE e.to_status = 'released') AS released_ev
  FROM inbound_message m JOIN order_event e ON e.order_id = m.order_id
  WHERE m.id > %(inbound_message)s AND e.id > %(order_event)s
  GROUP BY m.order_id, m.received_at
), s AS (
  SELECT extract(epoch FROM released_ev - received_at) AS total,
         extract(epoch FROM received_ev - received_at) AS inbox,
         extract(epoch FROM routed_ev - received_ev) AS route,
         extract(epoch FROM released_ev - routed_ev) AS release
  FROM ev WHERE released_ev IS NOT NULL
)
SELECT %(column)s, percentile_cont(0.5) WITHIN GROUP (ORDER BY {c}),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY {c}), max({c}) FROM s
"""


STUCK_SQL = """
SELECT o.id, o.status, string_agg(f.id || '=' || f.status || coalesce(
         ' at ' || to_char(f.released_at, 'HH24:MI:SS.US'), ''), ', ' ORDER BY f.id)
FROM sales_order o LEFT JOIN fulfilment_order f ON f.order_id = o.id
WHERE o.status <> 'released' AND o.id > %(sales_order)s
GROUP BY o.id, o.status ORDER BY o.id LIMIT 20
"""


def measure(url: str, first_post: float, floor: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with psycopg.connect(url) as conn:
        times = [
            float(r[0])
            for r in conn.execute(
                "SELECT extract(epoch FROM created_at) FROM order_event"
                " WHERE to_status = 'released' AND id > %(order_event)s ORDER BY created_at",
                floor,
            )
        ]
        for column in ("total", "inbox", "route", "release"):
            row = conn.execute(TTR_SQL.format(c=column), {**floor, "column": column}).fetchone()
            assert row is not None
            out[f"ttr_{column}"] = [round(float(v or 0) * 1000, 1) for v in row[1:]]
        for name, q in {
            "fulfilment_orders": "SELECT count(*) FROM fulfilment_order"
            " WHERE id > %(fulfilment_order)s",
            "split_orders": "SELECT count(*) FROM (SELECT order_id FROM fulfilment_order"
            " WHERE id > %(fulfilment_order)s GROUP BY order_id HAVING count(*) > 1) x",
            "replans": "SELECT count(*) FROM routing_decision WHERE attempt > 1"
            " AND id > %(routing_decision)s",
            "inbound_retried": "SELECT count(*) FROM inbound_message WHERE attempts > 1"
            " AND id > %(inbound_message)s",
            "outbox_retried": "SELECT count(*) FROM outbox_message WHERE attempts > 1"
            " AND id > %(outbox_message)s",
            "open_exceptions": "SELECT count(*) FROM order_exception WHERE status = 'open'"
            " AND id > %(order_exception)s",
        }.items():
            row = conn.execute(q, floor).fetchone()
            out[name] = int(row[0]) if row else 0
        out["stuck"] = [
            f"order {o} {st}: fulfilment orders {fos}"
            for o, st, fos in conn.execute(STUCK_SQL, floor)
        ]
    if times:
        n = len(times)
        out["released"] = n
        out["elapsed_s"] = times[-1] - first_post
        out["orders_per_s"] = n / max(out["elapsed_s"], 1e-9)
    return out


def resources(stack: dict[str, Any], fake_wms: bl.Proc) -> dict[str, list[int]]:
    tree = {
        "api": bl.descendants(stack["api"].pid),
        "beat": bl.descendants(stack["beat"].pid),
        "fake-wms": bl.descendants(fake_wms.pid),
    }
    for w in stack["workers"]:
        tree[w.name] = bl.descendants(w.pid)
    tree["postgres"] = bl.pids_named("postgres")
    tree["redis"] = bl.pids_named("redis-server")
    return tree


def cpu_now(tree: dict[str, list[int]]) -> dict[str, float]:
    cpu = {k: bl.cpu_seconds(v) for k, v in tree.items() if k != "postgres"}
    cpu["postgres"] = bl.postgres_cpu()
    return cpu


def task_stats(logs: list[Path]) -> dict[str, Any]:
    """From the workers' INFO logs: tasks run per name with their seconds, and what the sweeper
    re-enqueued (the return value of ``omniroute.sweep``)."""
    pattern = re.compile(r"Task omniroute\.(\w+)\[[^\]]+\] succeeded in ([0-9.e-]+)s: (\S+)")
    runs: dict[str, list[float]] = {}
    swept = 0
    for log in logs:
        for m in pattern.finditer(log.read_text(errors="replace")):
            runs.setdefault(m.group(1), []).append(float(m.group(2)))
            if m.group(1) == "sweep" and m.group(3).isdigit():
                swept += int(m.group(3))
    return {
        "swept": swept,
        "runs": {k: (len(v), sum(v), sorted(v)[len(v) // 2]) for k, v in runs.items()},
    }


def pg_counters(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated,"
            " tup_deleted FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    names = ("commits", "rollbacks", "rows inserted", "rows updated", "rows deleted")
    return dict(zip(names, (int(v) for v in row or (0,) * 5), strict=True))


def report(
    args: argparse.Namespace,
    *,
    intake: dict[str, Any],
    m: dict[str, Any],
    waited: dict[str, Any],
    cpu: dict[str, float],
    rss: dict[str, list[float]],
    tasks: dict[str, Any],
    pg: dict[str, int],
) -> None:
    n = args.orders
    processes, concurrency = (int(k) for k in args.workers.split("x"))
    slots = processes * concurrency
    print(
        f"\n== end to end: {n} orders, workers {args.workers} "
        f"({processes} process(es) x concurrency {concurrency}, pool {args.pool}) =="
    )
    print(
        f"posting: {intake['ok']} acknowledged, {intake['errors']} errors, "
        f"{intake['rps']} req/s, p50 {intake['p50_ms']} ms, p99 {intake['p99_ms']} ms "
        + (f"(concurrency {args.concurrency})" if args.rate <= 0 else f"(paced at {args.rate:g}/s)")
    )
    print(f"final states: {waited['counts']}")
    if waited["stalled"]:
        print(
            f"NOT ALL RELEASED: {n - waited['counts'].get('released', 0)} order(s) stopped "
            f"short of released and nothing moved them for {args.stall:.0f} s"
        )
        for row in m["stuck"]:
            print(f"  stuck: {row}")
    rate = m.get("orders_per_s", 0.0)
    released_line = (
        f"released {m.get('released', 0)} in {m.get('elapsed_s', 0):.1f} s from the first post:"
        f" {rate:.1f} orders/s"
    )
    if args.rate <= 0:
        met = rate >= TARGET_ORDERS_PER_S
        print(f"{released_line}  target >= {TARGET_ORDERS_PER_S:.0f}: {'met' if met else 'MISSED'}")
    else:
        # Paced: the rate is the offered one; what counts is whether the workers kept up.
        lag = m.get("elapsed_s", 0.0) - intake["elapsed_s"]
        kept_up = lag <= KEPT_UP_SHARE * intake["elapsed_s"]
        sustained = kept_up and args.rate >= TARGET_ORDERS_PER_S
        print(
            f"{released_line}; the last release came {lag:.1f} s after the last post "
            f"({'kept up' if kept_up else 'FELL BEHIND'}: within {KEPT_UP_SHARE:.0%} of the "
            f"{intake['elapsed_s']:.0f} s of posting)  target >= {TARGET_ORDERS_PER_S:.0f} "
            f"sustained: {'met' if sustained else 'MISSED'}"
        )
    busy = sum(b for _count, b, _median in tasks["runs"].values())
    print(
        f"worker task time {1000 * busy / n:.1f} ms per order over {slots} slots: at most "
        f"{slots * n / max(busy, 1e-9):.0f} orders/s with these task times"
    )
    labels = {
        "total": "received -> released",
        "inbox": "inbox wait+parse -> order received",
        "route": "order received -> routed",
        "release": "routed -> released (WMS)",
    }
    for key, label in labels.items():
        p50, p99, top = m[f"ttr_{key}"]
        print(f"  time {label:36} p50 {p50:>9} ms  p99 {p99:>9} ms  max {top:>9} ms")
    print(
        f"fulfilment orders {m['fulfilment_orders']} (split orders {m['split_orders']}), "
        f"re-plans {m['replans']}, inbound retried {m['inbound_retried']}, outbox retried "
        f"{m['outbox_retried']}, open exceptions {m['open_exceptions']}"
    )
    print(
        f"max Redis queue depth {waited['max_queue']}, tasks re-enqueued by the sweeper "
        f"{tasks['swept']}; tasks run (count, busy s, median ms):"
    )
    for name, (count, busy, median) in sorted(tasks["runs"].items()):
        print(f"  {name:16} {count:7} {busy:8.1f} s {1000 * median:8.1f} ms")
    print("PostgreSQL per order: " + ", ".join(f"{k} {v / n:.1f}" for k, v in pg.items()))
    wall = m.get("elapsed_s", 0.0) or 1.0
    print(
        f"CPU seconds during the run ({wall:.1f} s wall, {2 * wall:.1f} core-s available; "
        f"the machine was {cpu.pop('machine_busy_pct'):.0f}% busy, "
        f"{cpu.pop('other'):.1f} core-s of it other processes and this driver):"
    )
    for name, secs in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {name:10} {secs:8.1f} s  {1000 * secs / n:6.2f} ms/order")
    print("peak RSS (MiB, VmHWM; a worker is its main process + prefork children):")
    for name, values in rss.items():
        detail = " + ".join(f"{v:.0f}" for v in values)
        print(f"  {name:10} {sum(values):7.0f}" + (f"  ({detail})" if len(values) > 1 else ""))


def print_ratio(m: dict[str, Any], baseline: dict[str, Any] | None) -> None:
    if baseline is None:
        return
    ratio = m.get("orders_per_s", 0.0) / max(baseline["orders_per_s"], 1e-9)
    print(
        f"ratio to the bare order path in this run: {ratio:.2f} "
        f"({m.get('orders_per_s', 0.0):.1f} / {baseline['orders_per_s']:.1f} orders/s; "
        f"target >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )


def run_bare(
    args: argparse.Namespace, bodies: list[bytes], skus: list[str], logdir: Path
) -> dict[str, Any]:
    """The bare order path on the same orders and stock, before omniroute's stack starts."""
    figures = order_path_baseline.run_baseline(
        pg_admin_url=args.pg_admin_url,
        db=f"{args.db}_bare",
        bodies=bodies,
        warehouses=args.warehouses,
        skus=skus,
        stock_density=args.stock_density,
        processes=args.baseline_processes,
        wms_port=args.wms_port + 10,
        logdir=logdir,
    )
    print(order_path_baseline.describe(figures))
    return figures


def from_template(admin_url: str, name: str, template: str) -> str:
    """``name`` dropped and made again as a copy of ``template`` (e.g. a database that
    bench/big_database.py filled); its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return bl.db_url(admin_url, name)


def run(args: argparse.Namespace, logdir: Path) -> None:  # noqa: PLR0915 - the run, in order
    url = (
        from_template(args.pg_admin_url, args.db, args.template)
        if args.template
        else bl.recreate_database(args.pg_admin_url, args.db)
    )
    bl.flush_redis(args.redis_url)
    extra = dict(e.split("=", 1) for e in args.env)
    env = bl.omniroute_env(url, args.redis_url, OMNIROUTE_ALLOW_PRIVATE_URLS="true", **extra)
    secret = secrets.token_hex(16)
    with bl.procs(logdir) as group:
        bl.run_checked("migrate", ["omniroute", "migrate"], env, logdir)
        fake_wms = group.start(
            "fake-wms",
            [
                sys.executable,
                "-m",
                "omniroute.connectors.wms.demo_server",
                "--port",
                str(args.wms_port),
            ],
            env,
        )
        bl.wait_http(f"http://127.0.0.1:{args.wms_port}/healthz", group)
        shop_id, skus = seed(env, args, f"http://127.0.0.1:{args.wms_port}", secret)
        rng, now = random.Random(42), datetime.now(UTC)
        bodies = [
            json.dumps(shopify_order(5_000_000 + i, skus, rng, now=now)).encode()
            for i in range(args.orders)
        ]
        baseline = run_bare(args, bodies, skus, logdir) if args.baseline else None
        requests_file = logdir / "orders.jsonl"
        bl.write_requests(requests_file, bodies, secret)
        stack = start_stack(group, env, args)
        floor = floors(url)
        busy = bl.wait_quiet(args.quiet_pct, args.quiet_timeout)
        print(f"background load before posting: {busy:.0f}% of the machine's 2 cores")
        speed_before = bl.speed_probe()
        tree = resources(stack, fake_wms)
        cpu0, pg0, box0 = cpu_now(tree), pg_counters(url), bl.machine_cpu()
        out, err = (logdir / "loadgen.json").open("wb"), (logdir / "loadgen.stderr").open("wb")
        loadgen = subprocess.Popen(
            bl.loadgen_argv(
                args.port,
                f"/webhooks/{shop_id}",
                requests_file,
                *posting_mode(args),
            ),
            stdout=out,
            stderr=err,
        )
        try:
            waited = wait_released(url, args, loadgen, group, floor)
            loadgen.wait(timeout=120)
        finally:
            if loadgen.poll() is None:
                loadgen.kill()
                loadgen.wait()
            out.close()
            err.close()
        tree = resources(stack, fake_wms)  # prefork children may have been replaced
        cpu1, box1 = cpu_now(tree), bl.machine_cpu()
        speed_after = bl.speed_probe()
        rss = {
            k: [bl.peak_rss_mib(p) for p in v]
            for k, v in tree.items()
            if k not in ("postgres", "redis")
        }
        intake = json.loads((logdir / "loadgen.json").read_text())
        cpu = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
        cpu["loadgen"] = intake["loadgen_cpu_s"]
        cpu["other"] = max(0.0, box1[0] - box0[0] - sum(cpu.values()))
        cpu["machine_busy_pct"] = 100 * (box1[0] - box0[0]) / max(box1[1] - box0[1], 1e-9)
        m = measure(url, intake["first_send_epoch"], floor)
        tasks = task_stats([w.log for w in stack["workers"]])
        time.sleep(1.5)  # PostgreSQL publishes its counters about once a second
        pg1 = pg_counters(url)
    pg = {k: pg1[k] - pg0[k] for k in pg1}
    report(args, intake=intake, m=m, waited=waited, cpu=cpu, rss=rss, tasks=tasks, pg=pg)
    print_ratio(m, baseline)
    print(
        f"machine speed probe: {speed_before:.0f} ms before, {speed_after:.0f} ms after "
        "(bl.speed_probe: the same Python loop each time; lower is faster)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument(
        "--workers",
        choices=["1x1", "2x1", "4x1", "1x2", "2x2", "2x3"],
        default="2x1",
        help="PxC: P worker processes, each with --concurrency C (2x1: two with 1 each)",
    )
    parser.add_argument(
        "--pool",
        choices=["prefork", "threads", "solo"],
        default="solo",  # as docker-compose.yml runs them
        help="Celery pool of each worker (threads, solo: no forked child, tasks run in the main "
        "process; solo runs one at a time, in the thread that fetches them)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="posting connections")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="post at this many orders/s (0: as fast as the API takes them); at a rate the "
        "workers keep up with, time to release shows the latency of a sustained load",
    )
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first run the bare order path (bench/order_path_baseline.py) on the same orders "
        "and report end to end as a ratio to it",
    )
    parser.add_argument("--baseline-processes", type=int, default=2)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--warehouses", type=int, default=20)
    parser.add_argument(
        "--stock-density",
        type=float,
        default=0.6,
        help="share of (warehouse, SKU) pairs stocked, 500-1500 units each",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="abort after (s)")
    parser.add_argument(
        "--stall",
        type=float,
        default=30.0,
        help="stop waiting when nothing changed for this long after posting",
    )
    parser.add_argument("--port", type=int, default=8751)
    parser.add_argument("--wms-port", type=int, default=8752)
    parser.add_argument("--pg-admin-url", default=bl.PG_ADMIN_URL)
    parser.add_argument("--db", default="omniroute_bench")
    parser.add_argument(
        "--template",
        default="",
        help="make --db as a copy of this database (e.g. one bench/big_database.py filled) "
        "instead of an empty one; the figures count only this run's rows",
    )
    parser.add_argument("--redis-url", default=bl.REDIS_URL)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for omniroute (e.g. OMNIROUTE_SWEEP_GRACE=60)",
    )
    parser.add_argument(
        "--quiet-pct",
        type=float,
        default=15.0,
        help="wait until other work uses less than this much CPU",
    )
    parser.add_argument("--quiet-timeout", type=float, default=300.0)
    args = parser.parse_args()
    logdir = Path(tempfile.mkdtemp(prefix="omniroute-bench-e2e-"))
    print(f"logs: {logdir}\ncode: {bl.code_version()}")
    try:
        with bl.exclusive_run():
            run(args, logdir)
    except RuntimeError as exc:
        print(f"end_to_end: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        bl.flush_redis(args.redis_url)


if __name__ == "__main__":
    main()
