"""The console's connector and stock pages on a large database (issue 16: pages fast on a
large database, keyset pagination, indexed filters).

Builds a migrated database (SQLite in a temp file; PostgreSQL when OMNIROUTE_BENCH_PG_URL is
set: the run drops and recreates ``--db`` on that server) with two connectors, a busy one
with most of ``--inbox`` raw inbox messages and a quiet one whose few messages are the
oldest (one in 50 failed, each with its open exception), ``--skus`` SKUs at ``--warehouses``
warehouses, and ``--ledger`` ledger rows, then signs in an admin through the real form and
times each page ``--repeat`` times through the ASGI app (TestClient: no network):

    python bench/console_admin_pages.py
    python bench/console_admin_pages.py --inbox 50000 --skus 2000 --repeat 10
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import insert

from omniroute.api.app import create_app
from omniroute.core.access.users import NewUser, create_user
from omniroute.core.bootstrap import bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.migrate import upgrade
from omniroute.core.platform.models import (
    InboundMessage,
    OrderException,
    Sku,
    StockLedger,
    StockLevel,
    Warehouse,
)
from omniroute.core.platform.security import Role
from omniroute.core.platform.settings import Settings

NOW = datetime(2026, 12, 1, 12, 0, 0)
PASSWORD = "correct horse battery"  # noqa: S105 - the bench user's, a throwaway database
BATCH = 5_000


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--inbox", type=int, default=200_000)
    p.add_argument("--skus", type=int, default=10_000)
    p.add_argument("--warehouses", type=int, default=5)
    p.add_argument("--ledger", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--db", default="omniroute_bench_console_admin")
    return p.parse_args()


def database(args: argparse.Namespace) -> str:
    server = os.environ.get("OMNIROUTE_BENCH_PG_URL")
    if not server:
        return f"sqlite:///{Path(tempfile.mkdtemp()) / 'console.db'}"
    import benchlib  # noqa: PLC0415 - only the PostgreSQL run needs psycopg

    return str(benchlib.recreate_database(server, args.db))


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def fill(ctx: Any, args: argparse.Namespace) -> dict[str, int]:
    busy = connector_admin.create_connector(
        ctx, kind="shopify", name="busy", config={}, secrets={"webhook_secret": "s"},
        enabled=True, actor="bench",
    )  # fmt: skip
    quiet = connector_admin.create_connector(
        ctx, kind="shopify", name="quiet", config={}, secrets={"webhook_secret": "s"},
        enabled=True, actor="bench",
    )  # fmt: skip
    quiet_count = max(args.inbox // 1000, 10)
    body = b'{"id": 1, "line_items": []}'
    with unit_of_work(ctx.sessions) as s:
        msgs = [
            {
                "connector_id": quiet.id if i < quiet_count else busy.id,
                "dedupe_key": f"m{i}",
                "topic": "orders/create",
                "headers": {},
                "body": body,
                "status": "failed" if i % 50 == 0 else "done",
                "attempts": 1,
                "next_attempt_at": NOW,
                "received_at": NOW - timedelta(seconds=args.inbox - i),
                "last_error": "mapping: bad" if i % 50 == 0 else None,
            }
            for i in range(args.inbox)
        ]
        for chunk in _chunks(msgs):
            s.execute(insert(InboundMessage), chunk)
        # Ids follow insertion order on both databases (a fresh table).
        failed = [
            {
                "reason": "invalid_payload",
                "detail": {},
                "status": "open",
                "inbound_message_id": i + 1,
                "subject": f"inbound:{i + 1}",
                "first_seen_at": NOW,
                "last_seen_at": NOW,
                "created_at": NOW,
            }
            for i in range(0, args.inbox, 50)
        ]
        for chunk in _chunks(failed):
            s.execute(insert(OrderException), chunk)
        whs = []
        for w in range(args.warehouses):
            wh = Warehouse(
                code=f"W{w}", name=f"Warehouse {w}", address={}, country="US",
                postal_code="10001", priority=w,
            )  # fmt: skip
            s.add(wh)
            s.flush()
            whs.append(wh.id)
        codes = [f"SKU-{i:05d}" for i in range(args.skus)]
        for chunk in _chunks([{"code": c, "name": c} for c in codes]):
            s.execute(insert(Sku), chunk)
        levels = [
            {"warehouse_id": w, "sku": c, "on_hand": (i * 7) % 40, "reserved": 0,
             "safety": 3, "updated_at": NOW}
            for w in whs
            for i, c in enumerate(codes)
        ]  # fmt: skip
        for chunk in _chunks(levels):
            s.execute(insert(StockLevel), chunk)
        ledger = [
            {"warehouse_id": whs[i % len(whs)], "sku": codes[(i // len(whs)) % 50],
             "delta_on_hand": 1, "delta_reserved": 0, "delta_safety": 0, "reason": "count",
             "actor": "bench", "created_at": NOW}
            for i in range(args.ledger)
        ]  # fmt: skip
        for chunk in _chunks(ledger):
            s.execute(insert(StockLedger), chunk)
    create_user(ctx, NewUser("ada", Role.ADMIN), PASSWORD, actor="bench")
    return {"busy": busy.id, "quiet": quiet.id, "warehouse": whs[0]}


def sign_in(client: TestClient) -> None:
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    answer = client.post(
        "/console/login",
        data={"username": "ada", "password": PASSWORD, "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def time_page(client: TestClient, url: str, repeat: int) -> list[float]:
    took = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = client.get(url)
        took.append((time.perf_counter() - t0) * 1000)
        assert answer.status_code == 200, (url, answer.status_code)
    return took


def main() -> None:
    args = parse()
    url = database(args)
    upgrade(url)
    settings = Settings(
        database_url=url,
        log_level="WARNING",
        secret_key=Fernet.generate_key().decode(),
        console_cookie_secure=False,
    )
    ctx = bootstrap(settings, clock=FixedClock(NOW))
    try:
        t0 = time.perf_counter()
        ids = fill(ctx, args)
        print(f"filled in {time.perf_counter() - t0:.1f} s ({ctx.engine.dialect.name})")
        middle = args.inbox // 2
        wh = ids["warehouse"]
        pages = {
            "connectors list": "/console/connectors",
            "busy connector, newest inbox": f"/console/connectors/{ids['busy']}",
            "busy connector, older page": f"/console/connectors/{ids['busy']}?before={middle}",
            "quiet connector (oldest rows)": f"/console/connectors/{ids['quiet']}",
            "stock, first page": "/console/stock",
            "stock, a late page": f"/console/stock?after={args.skus * args.warehouses - 100}",
            "stock, by SKU": f"/console/stock?sku=SKU-{args.skus - 1:05d}",
            "stock, one warehouse": f"/console/stock?warehouse_id={wh}",
            "ledger, newest": f"/console/stock/ledger?warehouse_id={wh}&sku=SKU-00000",
            "ledger, older page": f"/console/stock/ledger?warehouse_id={wh}&sku=SKU-00000"
            f"&before={args.ledger // 2}",
        }
        print(f"load average {os.getloadavg()}")
        with TestClient(create_app(ctx)) as client:
            sign_in(client)
            print(f"{'page':34} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8}")
            for name, page in pages.items():
                took = sorted(time_page(client, page, args.repeat))
                p90 = took[min(len(took) - 1, int(len(took) * 0.9))]
                print(f"{name:34} {statistics.median(took):8.1f} {p90:8.1f} {took[-1]:8.1f}")
        print(f"load average {os.getloadavg()}")
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
