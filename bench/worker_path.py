"""Worker path per order, in one process: what a Celery worker does for each order, without
Celery, so its CPU, its statements and PostgreSQL's CPU can be read per order.

Signed Shopify webhooks go through the intake service into the inbox (not timed); then every
order is processed (parse, map, upsert, validate, route, reserve) and its fulfilment orders
are released to the fake WMS (connectors/wms/demo_server.py, a subprocess), one order at a
time in the order a worker runs them. Printed per order: worker CPU, PostgreSQL CPU,
statements and commits by task, and with --profile the functions that took the most time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchlib as bl
from celery import Celery
from end_to_end import seed
from sqlalchemy import event, func, select

from omniroute.cli.demo.orders import shopify_order
from omniroute.connectors.shopify.webhooks import sign
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.intake import processing
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import RecordingDispatcher, Task
from omniroute.core.platform.models import OutboxMessage
from omniroute.core.platform.settings import Settings
from omniroute.worker import handlers
from omniroute.worker.celery_app import CeleryDispatcher


class StatementCounter:
    """Statements and commits on the context's engine, by the task that ran them."""

    def __init__(self, ctx: Context) -> None:
        self.task = "intake"
        self.statements: Counter[str] = Counter()
        self.commits: Counter[str] = Counter()
        self.kinds: Counter[tuple[str, str]] = Counter()
        self.trace: list[str] | None = None  # statements kept for --trace
        event.listen(ctx.engine, "before_cursor_execute", self._statement)
        event.listen(ctx.engine, "commit", self._commit)

    def reset(self) -> None:
        self.statements.clear()
        self.commits.clear()
        self.kinds.clear()

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements[self.task] += 1
        self.kinds[(self.task, statement.lstrip().split(None, 1)[0].upper())] += 1
        if self.trace is not None:
            self.trace.append(f"{self.task:16s} {' '.join(statement.split())[:150]}")

    def _commit(self, _conn: Any) -> None:
        self.commits[self.task] += 1
        if self.trace is not None:
            self.trace.append(f"{self.task:16s} COMMIT")


def post_orders(ctx: Context, shop_id: int, skus: list[str], count: int, secret: str) -> None:
    rng, now = random.Random(42), datetime.now(UTC)
    for i in range(count):
        body = json.dumps(shopify_order(6_000_000 + i, skus, rng, now=now)).encode()
        headers = {
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": f"bench-{i}",
            "x-shopify-hmac-sha256": sign(secret.encode(), body),
            "content-type": "application/json",
        }
        receive_webhook(ctx, shop_id, headers, body)


def run_orders(ctx: Context, counter: StatementCounter, intake: list[int]) -> dict[str, int]:
    """Each process_inbound as a worker runs it (either deployment): it sends the releases of
    the order it routed itself, right after the routing commits."""
    ran: Counter[str] = Counter()
    with counting_tasks(counter, ran):
        for inbound_id in intake:
            handlers.run_task(ctx, Task.PROCESS_INBOUND, inbound_id)
    return dict(ran)


@contextmanager
def counting_tasks(counter: StatementCounter, ran: Counter[str]) -> Iterator[None]:
    """Attribute statements to the task running them (the releases process_inbound sends
    itself to deliver_outbox), and count the runs."""
    original_run, original_send = handlers.HANDLERS, processing._send_releases

    def counted(task: Task, run: Any) -> Any:
        def wrapped(ctx: Context, row_id: int) -> None:
            counter.task = task.name.lower()
            ran[counter.task] += 1
            run(ctx, row_id)

        return wrapped

    def send(deps: Any, outbox_ids: list[int], prepared: list[Any]) -> None:
        counter.task = Task.DELIVER_OUTBOX.name.lower()
        ran[counter.task] += len(outbox_ids)
        original_send(deps, outbox_ids, prepared)

    handlers.HANDLERS = {task: counted(task, run) for task, run in original_run.items()}
    processing._send_releases = send  # type: ignore[assignment]
    try:
        yield
    finally:
        handlers.HANDLERS = original_run
        processing._send_releases = original_send  # type: ignore[assignment]


def report(
    orders: int, *, cpu: float, wall: float, pg_cpu: float, counter: StatementCounter, ran: Any
) -> None:
    print(f"orders {orders}, tasks {ran}")
    per = 1000 / orders
    print(f"  worker CPU      {cpu * per:6.2f} ms/order  (wall {wall * per:.2f})")
    print(f"  PostgreSQL CPU  {1000 * pg_cpu / orders:6.2f} ms/order")
    for task in sorted(counter.statements):
        if task == "intake":
            continue
        kinds = ", ".join(
            f"{kind} {n / orders:.2f}"
            for (t, kind), n in sorted(counter.kinds.items())
            if t == task
        )
        print(
            f"  {task:16s} statements {counter.statements[task] / orders:5.2f}/order, "
            f"commits {counter.commits[task] / orders:4.2f}/order ({kinds})"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50, help="orders run before timing")
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--warehouses", type=int, default=20)
    parser.add_argument("--stock-density", type=float, default=0.6)
    parser.add_argument("--wms-port", type=int, default=8762)
    parser.add_argument("--pg-admin-url", default=bl.PG_ADMIN_URL)
    parser.add_argument("--db", default="omniroute_bench_worker")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the N functions taking most CPU"
    )
    parser.add_argument(
        "--trace", type=int, default=0, metavar="N", help="print the SQL of N orders after timing"
    )
    return parser.parse_args()


def print_profile(profiler: cProfile.Profile, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def main() -> None:
    args = parse_args()
    logdir = Path(tempfile.mkdtemp(prefix="omniroute-bench-worker-"))
    print(f"logs: {logdir}\ncode: {bl.code_version()}")
    url = bl.recreate_database(args.pg_admin_url, args.db)
    env = bl.omniroute_env(url, None, OMNIROUTE_ALLOW_PRIVATE_URLS="true")
    secret = secrets.token_hex(16)
    with bl.exclusive_run(), bl.procs(logdir) as group:
        bl.run_checked("migrate", ["omniroute", "migrate"], env, logdir)
        argv = [
            sys.executable,
            "-m",
            "omniroute.connectors.wms.demo_server",
            "--port",
            str(args.wms_port),
        ]
        group.start("fake-wms", argv, env)
        bl.wait_http(f"http://127.0.0.1:{args.wms_port}/healthz", group)
        shop_id, skus = seed(env, args, f"http://127.0.0.1:{args.wms_port}", secret)
        ctx = bootstrap(
            Settings(
                database_url=url,
                secret_key=env["OMNIROUTE_SECRET_KEY"],
                allow_private_urls=True,
                log_level="WARNING",
            )
        )
        try:
            counter = StatementCounter(ctx)
            post_orders(ctx, shop_id, skus, args.warmup + args.orders + args.trace, secret)
            assert isinstance(ctx.dispatcher, RecordingDispatcher)
            intake = [row for task, row in ctx.dispatcher.drain() if task is Task.PROCESS_INBOUND]
            # What a worker process has (no broker here: nothing is sent to one).
            ctx.dispatcher = CeleryDispatcher(Celery("worker-path", broker="memory://"))
            run_orders(ctx, counter, intake[: args.warmup])  # caches, geocoder index, plans
            counter.reset()
            speed = bl.speed_probe()
            profiler = cProfile.Profile(time.process_time) if args.profile else None
            own = own_backends_cpu(ctx, args.db)
            pg0, cpu0, wall0 = bl.postgres_cpu(), time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            ran = run_orders(ctx, counter, intake[args.warmup : args.warmup + args.orders])
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            pg_cpu = bl.postgres_cpu() - pg0
            own_cpu = own()
            trace: list[str] = []
            if args.trace:
                counter.trace = trace
                run_orders(ctx, counter, intake[args.warmup + args.orders :])
            unsent = unsent_releases(ctx)
        finally:
            ctx.close()
    report(args.orders, cpu=cpu, wall=wall, pg_cpu=pg_cpu, counter=counter, ran=ran)
    print(
        f"  PostgreSQL CPU of this run's own backends {1000 * own_cpu / args.orders:6.2f} "
        "ms/order (the figure above counts every database on the server)"
    )
    print(f"  machine speed probe {speed:.0f} ms before timing (lower is faster)")
    if args.trace:
        print(f"SQL of {args.trace} more order(s), in order:", *trace, sep="\n  ")
    if profiler:
        print_profile(profiler, args.profile)
    if unsent:
        sys.exit(f"{unsent} releases were not sent: the figures above are not of the whole path")


def backends_of(ctx: Context, db: str) -> list[int]:
    """The PostgreSQL backends serving this database (the context's pooled connections),
    so a shared server's other work stays out of the figure."""
    with ctx.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = %(db)s AND backend_type = "
            "'client backend'",
            {"db": db},
        )
        return sorted(int(r[0]) for r in rows)


def own_backends_cpu(ctx: Context, db: str) -> Callable[[], float]:
    """From now, the CPU seconds of this database's backends (NaN if one came or went)."""
    pids = backends_of(ctx, db)
    start = bl.cpu_seconds(pids)

    def spent() -> float:
        if backends_of(ctx, db) != pids:
            return float("nan")
        return bl.cpu_seconds(pids) - start

    return spent


def unsent_releases(ctx: Context) -> int:
    with unit_of_work(ctx.sessions) as session:
        stmt = select(func.count()).where(OutboxMessage.status != "sent")
        return int(session.scalar(stmt) or 0)


if __name__ == "__main__":
    main()
