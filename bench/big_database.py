"""Fill a PostgreSQL database of its own with a year of realistic order history.

    python bench/big_database.py --orders 1000000 --until 2026-12-07

Drops and recreates the database (default ``omniroute_bench_big``), runs ``omniroute
migrate`` so the schema is the real one, then writes 20 connectors, 50 warehouses, SKUs,
stock, and per order its lines, routing decision, fulfilment orders (some split), shipments,
timeline, inbox row (raw body kept), outbox rows, stock ledger and exceptions
(bench/big_history.py), with COPY in batches. Plain indexes are dropped for the load and
built again after it; foreign keys are not checked during the load (the rows are made
consistent; tests/integration/test_big_database.py checks a small run). Prints rows/s.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import benchlib as bl
import big_history as h
import psycopg

BATCH = 20_000


# Tables written by the second connection (the first takes the rest), so that PostgreSQL
# works on two COPYs while this process makes the next rows.
SECOND = {"inbound_message", "order_event", "stock_ledger", "order_line"}


class Writer(threading.Thread):
    """One connection sending the COPYs queued for it."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.work: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=6)
        self.failed: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("SET session_replication_role = replica")  # no FK triggers
                while (item := self.work.get()) is not None:
                    table, data = item
                    columns = ", ".join(h.COLUMNS[table])
                    with (
                        conn.cursor() as cur,
                        cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
                    ):
                        copy.write(data)
        except BaseException as exc:
            self.failed = exc
            while self.work.get() is not None:  # unblock the producer
                pass


class Copier:
    """Rows per table, sent with COPY (on two connections) whenever a table has a batch."""

    def __init__(self, url: str, batch: int = BATCH) -> None:
        self.batch = batch
        self.writers = (Writer(url), Writer(url))
        for w in self.writers:
            w.start()
        self.rows: dict[str, list[str]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def emit(self, table: str, row: h.Row) -> None:
        rows = self.rows[table]
        rows.append("\t".join(map(_field, row)))
        if len(rows) >= self.batch:
            self.flush(table)

    def flush(self, table: str) -> None:
        rows = self.rows.pop(table, [])
        if not rows:
            return
        writer = self.writers[table in SECOND]
        if writer.failed is not None:
            raise RuntimeError(f"COPY failed: {writer.failed}") from writer.failed
        writer.work.put((table, "\n".join(rows) + "\n"))
        self.counts[table] += len(rows)

    def flush_all(self) -> None:
        for table in list(self.rows):
            self.flush(table)

    def close(self) -> None:
        """Send what is left and wait for both connections to finish."""
        self.flush_all()
        for w in self.writers:
            w.work.put(None)
        for w in self.writers:
            w.join()
            if w.failed is not None:
                raise RuntimeError(f"COPY failed: {w.failed}") from w.failed


def _field(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return r"\N"
    if isinstance(value, str):
        return value.replace("\\", "\\\\") if "\\" in value else value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value)


def migrate(url: str) -> None:
    env = {**os.environ, "OMNIROUTE_DATABASE_URL": url}
    exe = Path(sys.executable).with_name("omniroute")
    subprocess.run([str(exe), "migrate"], env=env, check=True, capture_output=True)


def plain_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of the indexes that back no constraint: dropped for the load."""
    rows = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
    ).fetchall()
    return [(str(n), str(d)) for n, d in rows]


def world(args: argparse.Namespace) -> tuple[list[tuple[int, str]], int, h.Catalogue]:
    """Connectors, the WMS connector's id and the catalogue: the same in every process."""
    rng = random.Random(args.seed)
    connectors = [(n, kind) for n, (kind, _) in enumerate(h.CONNECTORS, start=1)]
    catalogue = h.Catalogue(rng, args.skus, list(range(1, WAREHOUSES + 1)))
    return connectors, len(connectors) + 1, catalogue


def base_rows(copier: Copier, args: argparse.Namespace, start: datetime) -> None:
    """Connectors (disabled: the history's channels are not polled), warehouses, SKUs."""
    connectors, wms, catalogue = world(args)
    kinds: dict[str, int] = defaultdict(int)
    for n, kind in connectors:
        kinds[kind] += 1
        copier.emit("connector", (n, kind, f"{kind}-{kinds[kind]}", "{}", False, start, start))
    copier.emit("connector", (wms, "rest_wms", "history-wms", "{}", False, start, start))
    for n in range(1, WAREHOUSES + 1):
        city, province, postal = h.CITIES[n % len(h.CITIES)]
        address = h.js({"city": city, "province": province, "postal_code": postal, "country": "US"})
        copier.emit(
            "warehouse",
            (n, f"WH{n:03d}", f"{city} DC {n}", address, "US", postal, n, True, wms, start, start),
        )
    weights = random.Random(args.seed + 1)
    for code in catalogue.codes:
        copier.emit(
            "sku", (code, f"Product {code[4:]}", start, weights.choice((0.2, 0.5, 1.0, 2.5)))
        )


BASE_COLUMNS = {
    "connector": ("id", "kind", "name", "config", "enabled", "created_at", "updated_at"),
    "warehouse": (
        "id",
        "code",
        "name",
        "address",
        "country",
        "postal_code",
        "priority",
        "enabled",
        "wms_connector_id",
        "created_at",
        "updated_at",
    ),
    "sku": ("code", "name", "created_at", "weight_kg"),
    "stock_level": ("id", "warehouse_id", "sku", "on_hand", "reserved", "safety", "updated_at"),
}


def settle_stock(  # noqa: PLR0917 - one call, in fill()
    copier: Copier,
    rng: random.Random,
    catalogue: h.Catalogue,
    stock: h.Stock,
    start: datetime,
    until: datetime,
) -> None:
    """Stock levels that the ledger adds up to: an opening count that covered the year's
    shipments, ledger ids 1.. (kept free for it) dated at the start of the year."""
    n = 0
    for sku, where in catalogue.stocked.items():
        for warehouse_id in where:
            n += 1
            key = (warehouse_id, sku)
            reserved = stock.reserved.get(key, 0)
            on_hand = reserved + rng.randint(0, 400)
            opening = on_hand + stock.shipped.get(key, 0)
            copier.emit("stock_level", (n, warehouse_id, sku, on_hand, reserved, 2, until))
            copier.emit(
                "stock_ledger",
                (n, warehouse_id, sku, opening, 0, 2, "set", "opening count", "bench", start),
            )


# Ids per order at most, per table: each process writes its part of the year with ids from
# its own block, so ids still grow with time.
PER_ORDER = {
    "sales_order": 1,
    "order_line": 5,
    "order_event": 8,
    "routing_decision": 1,
    "fulfilment_order": 5,
    "fulfilment_line": 5,
    "shipment": 5,
    "inbound_message": 2,
    "outbox_message": 10,
    "stock_ledger": 10,
    "order_exception": 2,
}
WAREHOUSES = 50


def fill_part(url: str, args: argparse.Namespace, part: int) -> tuple[dict[str, int], h.Stock]:
    """The orders of one part of the year (of ``args.jobs``), written by this process."""
    until = datetime.fromisoformat(args.until)
    h.COLUMNS.update(BASE_COLUMNS)
    connectors, wms, catalogue = world(args)
    times = h.order_times(random.Random(args.seed + 2), until, args.orders)
    chunk = -(-args.orders // args.jobs)
    mine = times[part * chunk : (part + 1) * chunk]
    levels = stock_rows(catalogue)
    ids = h.Ids(
        {
            t: 1 + part * chunk * k + (levels if t == "stock_ledger" else 0)
            for t, k in PER_ORDER.items()
        }
    )
    rng = random.Random(args.seed * 1000 + part)
    copier = Copier(url)
    maker = h.OrderMaker(
        rng=rng,
        until=until,
        emit=copier.emit,
        ids=ids,
        catalogue=catalogue,
        connectors=connectors,
        wms_connector_id=wms,
        customers=h.Customers(rng, args.orders // 3),
        seq_base=part * chunk,
    )
    for n, at in enumerate(mine, start=1):
        maker.order(at)
        if rng.random() < 0.003:
            maker.bad_payload(rng.choice(connectors)[0], at)
        if n % 50_000 == 0:
            print(f"  part {part}: {n:>9,} of {len(mine):,} orders", flush=True)
    copier.close()
    return dict(copier.counts), maker.stock


def stock_rows(catalogue: h.Catalogue) -> int:
    return sum(len(w) for w in catalogue.stocked.values())


def fill(url: str, args: argparse.Namespace) -> dict[str, int]:
    until = datetime.fromisoformat(args.until)
    start = until - timedelta(days=365)
    h.COLUMNS.update(BASE_COLUMNS)
    copier = Copier(url)
    base_rows(copier, args, start)
    counts: dict[str, int] = defaultdict(int)
    stock = h.Stock()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        parts = [pool.submit(fill_part, url, args, k) for k in range(args.jobs)]
        for done in parts:
            part_counts, part_stock = done.result()
            for table, n in part_counts.items():
                counts[table] += n
            for key, q in part_stock.shipped.items():
                stock.shipped[key] += q
            for key, q in part_stock.reserved.items():
                stock.reserved[key] += q
    settle_stock(copier, random.Random(args.seed + 3), world(args)[2], stock, start, until)
    copier.close()
    for table, n in copier.counts.items():
        counts[table] += n
    return dict(counts)


def finish(conn: psycopg.Connection[Any], indexes: list[tuple[str, str]]) -> None:
    conn.execute("SET maintenance_work_mem = '256MB'")
    for _, definition in indexes:
        conn.execute(definition)
    for (table,) in conn.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'id' AND column_default LIKE 'nextval%'"
    ).fetchall():
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument(
        "--until",
        default=datetime.now().date().isoformat(),
        help="the history's last day (YYYY-MM-DD); it covers the year before",
    )
    parser.add_argument("--db", default="omniroute_bench_big")
    parser.add_argument("--pg-admin-url", default=bl.PG_ADMIN_URL)
    parser.add_argument("--skus", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--jobs", type=int, default=4, help="processes writing orders")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> str:
    """Create, migrate and fill the database; its URL. Prints what it wrote and how fast."""
    began = time.perf_counter()
    url = bl.recreate_database(args.pg_admin_url, args.db)
    migrate(url)
    print(f"{args.db}: schema migrated in {time.perf_counter() - began:.1f} s", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = plain_indexes(conn)
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        loaded = time.perf_counter()
        counts = fill(url, args)
        load_s = time.perf_counter() - loaded
        indexed = time.perf_counter()
        finish(conn, indexes)
        index_s = time.perf_counter() - indexed
        conn.execute("VACUUM (ANALYZE)")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        pretty = size.fetchone()
    total = sum(counts.values())
    for table, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {table:<18} {n:>12,}")
    print(
        f"rows: {total:,} in {load_s:.1f} s ({total / load_s:,.0f} rows/s); indexes "
        f"{index_s:.1f} s; total {time.perf_counter() - began:.1f} s; size "
        f"{pretty[0] if pretty else '?'}; load average {os.getloadavg()[0]:.1f}"
    )
    return url


if __name__ == "__main__":
    build(parse())
