"""Webhook intake: omniroute's ``POST /webhooks/{id}`` against a bare HMAC + INSERT baseline.

Both servers run as one uvicorn process on PostgreSQL; omniroute in broker mode, so the API
only commits to the inbox and enqueues a Celery message to Redis (nothing consumes it here).
A separate load-generator process (bench/loadgen.py) replays unique, pre-signed Shopify
webhooks: a warm-up, then (a) max throughput at a bounded concurrency and (b) a fixed rate.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchlib as bl
import psycopg

from omniroute.cli.demo.orders import demo_skus, shopify_order
from omniroute.core.bootstrap import bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.platform.settings import Settings

TARGET_P99_MS = 100.0
TARGET_RATIO = 0.5


def seed_connector(env: dict[str, str], secret: str) -> int:
    """The Shopify connector, created through the service ops use; its id."""
    ctx = bootstrap(
        Settings(
            database_url=env["OMNIROUTE_DATABASE_URL"],
            secret_key=env["OMNIROUTE_SECRET_KEY"],
            log_level="WARNING",
        )
    )
    try:
        row = connector_admin.create_connector(
            ctx,
            kind="shopify",
            name="bench-shopify",
            config={"shop_domain": "bench.myshopify.com"},
            secrets={"webhook_secret": secret},
            enabled=True,
            actor="bench",
        )
        return int(row.id)
    finally:
        ctx.close()


def prepare(logdir: Path, secret: str, counts: dict[str, int]) -> dict[str, Path]:
    """Unique signed bodies for each phase (1-5 lines over 2,000 SKUs), written before timing."""
    rng = random.Random(42)
    skus = demo_skus(2000)
    now = datetime.now(UTC)
    files, next_id = {}, 1_000_000
    for phase, n in counts.items():
        bodies = [json_bytes(shopify_order(next_id + i, skus, rng, now=now)) for i in range(n)]
        next_id += n
        files[phase] = logdir / f"{phase}.jsonl"
        bl.write_requests(files[phase], bodies, secret)
    return files


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def run_phases(
    name: str,
    *,
    port: int,
    path: str,
    files: dict[str, Path],
    pid: int,
    args: argparse.Namespace,
    logdir: Path,
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    plans = {
        "warmup": ["--mode", "max", "--concurrency", str(args.concurrency)],
        "max": ["--mode", "max", "--concurrency", str(args.concurrency)],
        "rate": ["--mode", "rate", "--rate", str(args.rate), "--duration", str(args.duration)],
    }
    for phase, extra in plans.items():
        sessions0 = pg_sessions(args.database_url)
        pids = bl.descendants(pid)  # one process, or a uvicorn supervisor and its workers
        cpu0, pg0, box0 = bl.cpu_seconds(pids), pg_cpu(), bl.machine_cpu()
        result = bl.run_loadgen(
            bl.loadgen_argv(port, path, files[phase], *extra), logdir, f"loadgen-{name}-{phase}"
        )
        box1 = bl.machine_cpu()
        result["server_cpu_s"] = round(bl.cpu_seconds(pids) - cpu0, 2)
        result["postgres_cpu_s"] = round(pg_cpu() - pg0, 2)
        result["new_pg_sessions"] = pg_sessions(args.database_url) - sessions0 - 1
        result["machine_busy_pct"] = round(100 * (box1[0] - box0[0]) / (box1[1] - box0[1]), 1)
        result["other_cpu_s"] = round(
            max(
                0.0,
                box1[0]
                - box0[0]
                - result["server_cpu_s"]
                - result["postgres_cpu_s"]
                - result["loadgen_cpu_s"],
            ),
            2,
        )
        results[phase] = result
        time.sleep(1.0)  # let the server settle between phases
    rss = sum(bl.peak_rss_mib(p) for p in bl.descendants(pid))
    results["rss"] = {"peak_rss_mib": round(rss, 1)}
    return results


def pg_cpu() -> float:
    return bl.postgres_cpu()


def pg_sessions(url: str) -> int:
    """Connections ever opened to the database (PostgreSQL 14+)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0


def bench_omniroute(
    group: bl.Procs,
    env: dict[str, str],
    secret: str,
    files: dict[str, Path],
    args: argparse.Namespace,
) -> dict[str, dict[str, Any]]:
    bl.run_checked("migrate", ["omniroute", "migrate"], env, group.logdir)
    connector_id = seed_connector(env, secret)
    api = group.start(
        "omniroute-serve",
        ["omniroute", "serve", "--port", str(args.port), "--workers", str(args.api_workers)],
        env,
    )
    bl.wait_http(f"http://127.0.0.1:{args.port}/healthz", group)
    try:
        results = run_phases(
            "omniroute",
            port=args.port,
            path=f"/webhooks/{connector_id}",
            files=files,
            pid=api.pid,
            args=args,
            logdir=group.logdir,
        )
    finally:
        group.stop(api)
    results["rss"]["rows"] = count_rows(env["OMNIROUTE_DATABASE_URL"], "inbound_message")
    return results


def bench_baseline(
    group: bl.Procs,
    env: dict[str, str],
    secret: str,
    files: dict[str, Path],
    args: argparse.Namespace,
) -> dict[str, dict[str, Any]]:
    url = env["OMNIROUTE_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS baseline_inbox")
        conn.execute(
            "CREATE TABLE baseline_inbox (id bigserial PRIMARY KEY, body bytea NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now())"
        )
    port = args.port + 1
    app = group.start(
        "baseline",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(bl.BENCH_DIR),
            "baseline_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.api_workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        {**env, "BENCH_PG_DSN": url, "BENCH_WEBHOOK_SECRET": secret},
    )
    bl.wait_http(f"http://127.0.0.1:{port}/healthz", group)
    try:
        results = run_phases(
            "baseline",
            port=port,
            path="/webhooks/1",
            files=files,
            pid=app.pid,
            args=args,
            logdir=group.logdir,
        )
    finally:
        group.stop(app)
    results["rss"]["rows"] = count_rows(url, "baseline_inbox")
    return results


def report(name: str, results: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n== {name} ==  peak RSS {results['rss']['peak_rss_mib']} MiB, "
        f"rows committed {results['rss']['rows']}"
    )
    print(
        f"{'phase':8} {'sent':>6} {'ok':>6} {'err':>4} {'req/s':>8} {'p50':>7} {'p90':>7} "
        f"{'p99':>7} {'max':>8}  server-cpu  pg-cpu  loadgen-cpu  other-cpu  box-busy  "
        "new-pg-conns"
    )
    for phase in ("warmup", "max", "rate"):
        r = results[phase]
        print(
            f"{phase:8} {r['sent']:>6} {r['ok']:>6} {r['errors']:>4} {r['rps']:>8} "
            f"{r['p50_ms']:>7} {r['p90_ms']:>7} {r['p99_ms']:>7} {r['max_ms']:>8}  "
            f"{r['server_cpu_s']:>8}s {r['postgres_cpu_s']:>6}s {r['loadgen_cpu_s']:>11}s "
            f"{r['other_cpu_s']:>8}s {r['machine_busy_pct']:>7}% "
            f"{r['new_pg_sessions']:>12}" + (f"  errors: {r['error_kinds']}" if r["errors"] else "")
        )


def compare(omni: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]]) -> None:
    ratio = omni["max"]["rps"] / max(base["max"]["rps"], 1e-9)
    print("\n== omniroute / baseline ==")
    print(
        f"max throughput: {omni['max']['rps']} / {base['max']['rps']} req/s = {ratio:.2f}"
        f"  (target >= {TARGET_RATIO:.2f}: {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    for phase in ("max", "rate"):
        o, b = omni[phase]["p99_ms"], base[phase]["p99_ms"]
        print(f"p99 at {phase}: {o} / {b} ms = {o / max(b, 1e-9):.2f}")
    p99 = omni["rate"]["p99_ms"]
    print(
        f"omniroute p99 at {omni['rate']['rps']} req/s: {p99} ms  (target < {TARGET_P99_MS:.0f}"
        f" ms: {'met' if p99 < TARGET_P99_MS and omni['rate']['errors'] == 0 else 'MISSED'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="max-throughput requests")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--port", type=int, default=8731, help="omniroute; baseline uses +1")
    parser.add_argument("--pg-admin-url", default=bl.PG_ADMIN_URL)
    parser.add_argument("--db", default="omniroute_bench")
    parser.add_argument("--redis-url", default=bl.REDIS_URL)
    parser.add_argument(
        "--api-workers",
        type=int,
        default=1,
        help="uvicorn worker processes, the same for both servers",
    )
    parser.add_argument("--only", choices=["omniroute", "baseline"], help="run one side only")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for omniroute (e.g. OMNIROUTE_DB_POOL_SIZE=40)",
    )
    parser.add_argument(
        "--quiet-pct",
        type=float,
        default=15.0,
        help="wait until other work uses less than this much CPU",
    )
    parser.add_argument("--quiet-timeout", type=float, default=300.0)
    args = parser.parse_args()

    with bl.exclusive_run():
        run(args)


def run(args: argparse.Namespace) -> None:
    logdir = Path(tempfile.mkdtemp(prefix="omniroute-bench-intake-"))
    print(f"logs and request files: {logdir}\ncode: {bl.code_version()}")
    url = args.database_url = bl.recreate_database(args.pg_admin_url, args.db)
    bl.flush_redis(args.redis_url)
    env = bl.omniroute_env(url, args.redis_url, **dict(e.split("=", 1) for e in args.env))
    secret = secrets.token_hex(16)
    files = prepare(
        logdir,
        secret,
        {"warmup": args.warmup, "max": args.requests, "rate": int(args.rate * args.duration)},
    )
    busy = bl.wait_quiet(args.quiet_pct, args.quiet_timeout)
    print(f"background load before the run: {busy:.0f}% of the machine's 2 cores")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        with bl.procs(logdir) as group:
            if args.only != "baseline":
                results["omniroute"] = bench_omniroute(group, env, secret, files, args)
                report("omniroute (FastAPI, broker mode, PostgreSQL)", results["omniroute"])
            if args.only != "omniroute":
                results["baseline"] = bench_baseline(group, env, secret, files, args)
                report("baseline (plain ASGI, HMAC + INSERT)", results["baseline"])
    finally:
        bl.flush_redis(args.redis_url)  # the unconsumed process_inbound messages
    if len(results) == 2:
        compare(results["omniroute"], results["baseline"])


if __name__ == "__main__":
    main()
