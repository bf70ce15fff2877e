"""Amazon polling catch-up: N orders read through SP-API at its rate limit, against a fake.

    python bench/amazon_catch_up.py                        # 10,000 orders at x200 Amazon's rates
    python bench/amazon_catch_up.py --orders 2000 --speedup 400

A fake SP-API (tests/integration/amazon_fake_api.py on tests/e2e/fake_http.py) runs in a
child process on 127.0.0.1. It holds ``--orders`` orders built from the recorded sample's
shape (tests/fixtures/third_party/amazon/): distinct AmazonOrderIds, LastUpdateDate spread
over the last day, 1-5 OrderItems each, all paid (Unshipped), so every order costs one
getOrderItems call. It enforces SP-API's usage plans per operation as token buckets, scaled
by ``--speedup`` (getOrders 0.0167/s burst 20, getOrderItems and getOrderAddress 0.5/s burst
30, the Tokens API 1/s burst 10), answering 429
QuotaExceeded with Retry-After when a bucket is empty. The connector's own buckets are
configured to the same scaled plans.

This process bootstraps omniroute on a migrated SQLite file (no Celery, no worker) and calls
``core.intake.polling.poll_connector`` in a loop, as the worker would, until a run finishes
(the cursor has caught up). The orders land in the inbox; they are not processed further.

Printed: orders read, pages, requests per operation, 429s, wall time, the theoretical minimum
and the ratio wall / minimum, peak RSS of the poller and of the fake, CPU and machine load.

The theoretical minimum: a bucket of burst ``b`` refilling ``r``/s lets ``n`` calls of one
operation finish no sooner than ``max(0, n - b) / r`` seconds after the first; the operations
have separate buckets, so the whole catch-up takes at least the largest of those, over
getOrders (n = ceil(orders / page size)) and getOrderItems (n = orders).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the fake lives in tests/, which is not installed

import benchlib as bl  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from omniroute.core.bootstrap import bootstrap  # noqa: E402
from omniroute.core.channels import connector_admin  # noqa: E402
from omniroute.core.intake.polling import poll_connector  # noqa: E402
from omniroute.core.platform.db import unit_of_work  # noqa: E402
from omniroute.core.platform.migrate import upgrade  # noqa: E402
from omniroute.core.platform.models import Connector  # noqa: E402
from omniroute.core.platform.settings import Settings  # noqa: E402
from tests.integration.amazon_fake_api import (  # noqa: E402
    FakeAmazon,
    iso,
    items_sample,
    orders_sample,
)

#: Amazon's published usage plans (Orders v0): (requests per second, burst).
PLANS = {
    "get_orders": (0.0167, 20),
    "get_order_items": (0.5, 30),
    "get_order_address": (0.5, 30),  # one per merchant-fulfilled order
    "create_restricted_data_token": (1.0, 10),  # the address calls' token, cached
}
MARKETPLACE = "ATVPDKIKX0DER"


def build_orders(
    count: int, seed: int, now: datetime
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(order, getOrderItems answer) pairs shaped like the samples, over the last day."""
    rng = random.Random(seed)
    order_shape = orders_sample()["payload"]["Orders"][0]
    item_shapes = items_sample()["payload"]["OrderItems"]
    start = now - timedelta(days=1)
    span = 86_400.0 - 600.0  # the last day, up to 10 minutes ago
    out = []
    for n in range(count):
        updated = start + timedelta(seconds=span * n / max(count, 1) + rng.random())
        order_id = f"114-{n:07d}-{seed % 10_000_000:07d}"
        order = {
            **order_shape,
            "AmazonOrderId": order_id,
            "PurchaseDate": iso(updated - timedelta(minutes=rng.randint(1, 60))),
            "LastUpdateDate": iso(updated),
            "OrderStatus": "Unshipped",
            "NumberOfItemsUnshipped": 0,
            "OrderTotal": {"CurrencyCode": "USD", "Amount": "0.00"},
        }
        items = []
        total = 0
        for k in range(rng.randint(1, 5)):
            qty = rng.randint(1, 3)
            cents = rng.randint(100, 9999) * qty
            total += cents
            items.append(
                {
                    **item_shapes[k % len(item_shapes)],
                    "OrderItemId": f"{n:08d}{k:06d}",
                    "SellerSKU": f"SKU-{rng.randint(0, 1999):04d}",
                    "ASIN": f"B0{rng.randint(0, 99_999_999):08d}",
                    "QuantityOrdered": qty,
                    "ItemPrice": {"CurrencyCode": "USD", "Amount": f"{cents / 100:.2f}"},
                }
            )
        order["OrderTotal"] = {"CurrencyCode": "USD", "Amount": f"{total / 100:.2f}"}
        order["NumberOfItemsUnshipped"] = sum(i["QuantityOrdered"] for i in items)
        out.append((order, {"payload": {"AmazonOrderId": order_id, "OrderItems": items}}))
    return out


def serve(conn: Connection, count: int, seed: int, speedup: float) -> None:
    """The fake SP-API's process: build the orders, serve, report its counters when told."""
    quotas = {op: (rate * speedup, burst) for op, (rate, burst) in PLANS.items()}
    api = FakeAmazon(quotas=quotas)
    for order, items in build_orders(count, seed, datetime.now(UTC)):
        api.orders[order["AmazonOrderId"]] = order
        api.item_pages[order["AmazonOrderId"]] = [items]
    with api.server:
        conn.send(api.server.base_url)
        conn.recv()  # stop
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(
            {
                "calls": dict(api.calls),
                "throttled": dict(api.throttled),
                "peak_rss_mib": usage.ru_maxrss / 1024,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        )


def minimum_seconds(calls: dict[str, int], speedup: float) -> tuple[float, dict[str, float]]:
    per_op = {
        op: max(0, calls.get(op, 0) - burst) / (rate * speedup)
        for op, (rate, burst) in PLANS.items()
    }
    return max(per_op.values()), per_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--speedup", type=float, default=200.0, help="x Amazon's real rates")
    parser.add_argument("--page-size", type=int, default=100, help="MaxResultsPerPage (1-100)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--quiet-pct", type=float, default=15.0)
    parser.add_argument("--quiet-timeout", type=float, default=60.0)
    args = parser.parse_args()

    with bl.exclusive_run(), tempfile.TemporaryDirectory(prefix="amazon-catch-up-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:  # noqa: PLR0915 - one linear script: set up, run, print
    print(f"code: {bl.code_version()}")
    print(f"temp dir: {tmp}")
    speedup = args.speedup
    plans = ", ".join(
        f"{op} {rate}/s x{speedup:g} = {rate * speedup:.3f}/s burst {burst}"
        for op, (rate, burst) in PLANS.items()
    )
    print(f"speedup: x{speedup:g} Amazon's usage plans ({plans})")

    parent, child = mp.get_context("fork").Pipe()
    fake = mp.get_context("fork").Process(
        target=serve, args=(child, args.orders, args.seed, speedup), daemon=True
    )
    fake.start()
    base_url = parent.recv()
    print(f"fake SP-API: {base_url} (pid {fake.pid}), {args.orders} orders")

    url = f"sqlite:///{tmp / 'omniroute.db'}"
    upgrade(url)
    ctx = bootstrap(
        Settings(
            database_url=url,
            secret_key=Fernet.generate_key().decode(),
            allow_private_urls=True,
            http_retry_attempts=3,
            http_retry_max_wait=5.0,
            poll_initial_lookback=86_400.0,
            poll_max_pages=20,
            broker_url=None,
            log_level="ERROR",
        )
    )
    row = connector_admin.create_connector(
        ctx,
        kind="amazon_sp",
        name="amazon-bench",
        config={
            "marketplace_ids": [MARKETPLACE],
            "api_base_url": base_url,
            "token_url": f"{base_url}/auth/o2/token",
            "page_size": args.page_size,
            "rate_limits": {
                op: {"rate": rate * speedup, "burst": burst} for op, (rate, burst) in PLANS.items()
            },
        },
        secrets={"lwa_client_id": "bench", "lwa_client_secret": "bench", "refresh_token": "bench"},
        enabled=True,
        actor="bench",
    )

    with unit_of_work(ctx.sessions) as session:
        source = ctx.connectors.for_row(session.get_one(Connector, row.id))
    busy = bl.wait_quiet(args.quiet_pct, args.quiet_timeout)
    print(f"machine busy with other work before the run: {busy:.0f}% of 2 cores")
    load_before = os.getloadavg()
    cpu0 = bl.machine_cpu()
    own0 = resource.getrusage(resource.RUSAGE_SELF)

    started = time.perf_counter()
    deadline = started + args.timeout
    polls = pages = seen = new = errors = 0
    finished = False
    while not finished and time.perf_counter() < deadline:
        result = poll_connector(ctx, row.id)
        polls += 1
        pages += result.pages
        seen += result.orders_seen
        new += result.new_messages
        if result.error:
            errors += 1
            print(f"poll {polls} failed: {result.error}", file=sys.stderr)
        finished = result.finished
        ctx.dispatcher.drain()  # type: ignore[attr-defined]  # nobody processes the inbox here
    wall = time.perf_counter() - started

    cpu1 = bl.machine_cpu()
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    parent.send("stop")
    stats = parent.recv()
    fake.join(10)
    ctx.close()

    own_cpu = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
    busy_run = 100 * (cpu1[0] - cpu0[0]) / max(cpu1[1] - cpu0[1], 1e-9)
    needed = {
        "get_orders": max(1, math.ceil(args.orders / args.page_size)),
        "get_order_items": args.orders,
        "get_order_address": args.orders,  # every order is merchant-fulfilled and unshipped
        "create_restricted_data_token": 1,
    }
    t_min, per_op = minimum_seconds(needed, speedup)

    print()
    print(f"caught up: {finished} after {polls} poll_connector calls ({errors} failed)")
    print(f"orders read: {seen} (new inbox rows {new}); getOrders pages: {pages}")
    for op, wanted in needed.items():
        print(
            f"  {op}: {stats['calls'].get(op, 0)} requests received, "
            f"{stats['throttled'].get(op, 0)} answered 429; needed {wanted}"
        )
    waits = {name: b.waits for name, b in getattr(source, "rate_limits", {}).items()}
    print(f"connector bucket waits (count): {waits}")
    print(f"wall time: {wall:.1f} s")
    print(
        "theoretical minimum: max over operations of max(0, calls - burst) / (rate x speedup) = "
        + ", ".join(f"{op} {sec:.1f} s" for op, sec in per_op.items())
        + f" -> {t_min:.1f} s"
    )
    print(f"ratio wall / minimum: {wall / t_min:.3f}" if t_min > 0 else "ratio: n/a")
    print(f"orders/s: {seen / wall:.0f}")
    print(
        f"peak RSS: poller {own1.ru_maxrss / 1024:.0f} MiB, fake SP-API "
        f"{stats['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"CPU during the run: poller {own_cpu:.1f} s, fake SP-API {stats['cpu_s']:.1f} s (total); "
        f"machine {busy_run:.0f}% busy of 2 cores; load average before {load_before[0]:.2f}, "
        f"after {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
