"""The order path with only the unavoidable work: the bare baseline for bench/end_to_end.py.

Per order, as omniroute must at least do it: commit the raw body to an inbox; in one
transaction insert the order and its lines, reserve each line with one conditional UPDATE
(at the first warehouse by priority that has the whole order, else where the line is found),
write ledger rows and one outbox row per warehouse; POST each outbox row to the fake WMS of
connectors/wms with an Idempotency-Key over a keep-alive connection; record it sent. No
framework, no ORM, no routing rules, no trace, no queue, no HTTP intake or signature check:
worker processes take their share of the bodies and run them one after the other.

It runs on PostgreSQL in its own database with its own small schema, against a fake WMS
process of its own. Run alone (``python bench/order_path_baseline.py``) or from
bench/end_to_end.py, which runs it in the same invocation and reports the ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib as bl
import httpx
import psycopg

from omniroute.cli.demo.orders import demo_skus, shopify_order

SCHEMA = """
CREATE TABLE inbox (
  id bigserial PRIMARY KEY, dedupe_key text NOT NULL UNIQUE, body text NOT NULL,
  status text NOT NULL DEFAULT 'received', received_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE sales_order (
  id bigserial PRIMARY KEY, external_id text NOT NULL UNIQUE, number text, email text,
  ship_to jsonb, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE order_line (
  id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES sales_order(id),
  sku text NOT NULL, quantity int NOT NULL, price numeric(12, 2), warehouse_id int);
CREATE TABLE stock (
  id serial PRIMARY KEY, warehouse_id int NOT NULL, rank int NOT NULL, sku text NOT NULL,
  on_hand int NOT NULL, reserved int NOT NULL, safety int NOT NULL,
  UNIQUE (warehouse_id, sku), CHECK (reserved >= 0 AND reserved <= on_hand));
CREATE INDEX stock_by_sku ON stock (sku, rank);
CREATE TABLE ledger (
  id bigserial PRIMARY KEY, warehouse_id int NOT NULL, sku text NOT NULL,
  delta_reserved int NOT NULL, reference text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE outbox (
  id bigserial PRIMARY KEY, order_id bigint NOT NULL, warehouse_id int NOT NULL,
  body jsonb NOT NULL, status text NOT NULL DEFAULT 'pending', response jsonb,
  sent_at timestamptz);
"""

INSERT_INBOX = (
    "INSERT INTO inbox (dedupe_key, body) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING id"
)
INSERT_ORDER = (
    "INSERT INTO sales_order (external_id, number, email, ship_to, status)"
    " VALUES (%s, %s, %s, %s, 'received') RETURNING id"
)
RESERVE = """
UPDATE stock SET reserved = reserved + %(q)s
WHERE id = (SELECT id FROM stock WHERE sku = %(s)s AND on_hand - reserved - safety >= %(q)s
            ORDER BY rank LIMIT 1)
  AND on_hand - reserved - safety >= %(q)s
RETURNING warehouse_id
"""
# The first warehouse by priority that has every line, so a whole order ships from one place
# when it can (as omniroute's fewest-shipments plan does); else each line where it is first found.
ONE_WAREHOUSE = """
SELECT s.warehouse_id FROM stock s
JOIN unnest(%(skus)s::text[], %(qs)s::int[]) AS w(sku, q) ON w.sku = s.sku
WHERE s.on_hand - s.reserved - s.safety >= w.q
GROUP BY s.warehouse_id HAVING count(*) = %(n)s ORDER BY min(s.rank) LIMIT 1
"""
RESERVE_AT = """
UPDATE stock SET reserved = reserved + %(q)s
WHERE warehouse_id = %(w)s AND sku = %(s)s AND on_hand - reserved - safety >= %(q)s
RETURNING warehouse_id
"""
INSERT_LINE = (
    "INSERT INTO order_line (order_id, sku, quantity, price, warehouse_id)"
    " VALUES (%s, %s, %s, %s, %s)"
)
INSERT_LEDGER = (
    "INSERT INTO ledger (warehouse_id, sku, delta_reserved, reference) VALUES (%s, %s, %s, %s)"
)
INSERT_OUTBOX = "INSERT INTO outbox (order_id, warehouse_id, body) VALUES (%s, %s, %s) RETURNING id"


def seed_stock(url: str, warehouses: int, skus: list[str], density: float) -> None:
    """The same stock as bench/end_to_end.py seeds (same generator, same draws)."""
    rng = random.Random(7)
    rows = [
        (w, w, s, rng.randint(500, 1500), 0, 2)
        for w in range(1, warehouses + 1)
        for s in skus
        if rng.random() < density
    ]
    with psycopg.connect(url) as conn:
        conn.execute(SCHEMA)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO stock (warehouse_id, rank, sku, on_hand, reserved, safety)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )


def take_order(conn: psycopg.Connection[Any], raw: str) -> list[tuple[int, dict[str, Any]]]:
    """Inbox commit, then the order's one transaction; returns the outbox rows to send."""
    order = json.loads(raw)
    external = str(order["id"])
    with conn.transaction():
        if conn.execute(INSERT_INBOX, (f"orders/create:{external}", raw)).fetchone() is None:
            return []  # a duplicate: already taken
    with conn.transaction():
        row = conn.execute(
            INSERT_ORDER,
            (
                external,
                order.get("name"),
                order.get("email"),
                json.dumps(order["shipping_address"]),
            ),
        ).fetchone()
        assert row is not None
        order_id = int(row[0])
        by_warehouse: dict[int, list[dict[str, Any]]] = {}
        lines, ledger = [], []
        items = order["line_items"]
        whole = conn.execute(
            ONE_WAREHOUSE,
            {
                "skus": [str(line["sku"]) for line in items],
                "qs": [int(line["quantity"]) for line in items],
                "n": len(items),
            },
        ).fetchone()
        for line in items:
            q, sku = int(line["quantity"]), str(line["sku"])
            got = None
            if whole is not None:
                got = conn.execute(RESERVE_AT, {"q": q, "s": sku, "w": whole[0]}).fetchone()
            if got is None:
                got = conn.execute(RESERVE, {"q": q, "s": sku}).fetchone()
            warehouse = int(got[0]) if got else None
            lines.append((order_id, sku, q, line["price"], warehouse))
            if warehouse is not None:
                ledger.append((warehouse, sku, q, f"order {order_id}"))
                by_warehouse.setdefault(warehouse, []).append(
                    {"line_id": line["id"], "sku": sku, "quantity": q}
                )
        with conn.cursor() as cur:
            cur.executemany(INSERT_LINE, lines)
            if ledger:
                cur.executemany(INSERT_LEDGER, ledger)
        outbox = []
        for warehouse, wlines in sorted(by_warehouse.items()):
            body = {
                "fulfilment_order_id": order_id * 100 + warehouse,
                "order_reference": order.get("name"),
                "lines": wlines,
            }
            out = conn.execute(INSERT_OUTBOX, (order_id, warehouse, json.dumps(body))).fetchone()
            assert out is not None
            outbox.append((int(out[0]), body))
        conn.execute(
            "UPDATE inbox SET status = 'processed' WHERE dedupe_key = %s",
            (f"orders/create:{external}",),
        )
    return outbox


def send(conn: psycopg.Connection[Any], client: httpx.Client, outbox_id: int, body: Any) -> None:
    response = client.post(
        "/fulfilment-orders", json=body, headers={"Idempotency-Key": f"release-{outbox_id}"}
    )
    response.raise_for_status()
    with conn.transaction():
        conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = now(), response = %s WHERE id = %s",
            (response.text, outbox_id),
        )


def worker(url: str, wms_url: str, bodies_file: str, share: tuple[int, int], cpu: Any) -> None:
    """One worker process: its share of the bodies, one after the other; its CPU into ``cpu``."""
    index, processes = share
    bodies = Path(bodies_file).read_text().splitlines()[index::processes]
    started = time.process_time()
    with (
        psycopg.connect(url, autocommit=True) as conn,
        httpx.Client(base_url=wms_url, timeout=10.0) as client,
    ):
        for raw in bodies:
            for outbox_id, body in take_order(conn, raw):
                send(conn, client, outbox_id, body)
    cpu[index] = time.process_time() - started


def run_baseline(
    *,
    pg_admin_url: str,
    db: str,
    bodies: list[bytes],
    warehouses: int,
    skus: list[str],
    stock_density: float,
    processes: int,
    wms_port: int,
    logdir: Path,
) -> dict[str, Any]:
    """Seed, run ``processes`` workers over the bodies and measure. Returns the figures."""
    url = bl.recreate_database(pg_admin_url, db)
    seed_stock(url, warehouses, skus, stock_density)
    bodies_file = logdir / "baseline-bodies.txt"
    bodies_file.write_text("\n".join(b.decode() for b in bodies) + "\n")
    with bl.procs(logdir) as group:
        fake = group.start(
            "baseline-wms",
            [sys.executable, "-m", "omniroute.connectors.wms.demo_server", "--port", str(wms_port)],
            dict(os.environ),
        )
        wms_url = f"http://127.0.0.1:{wms_port}"
        bl.wait_http(f"{wms_url}/healthz", group)
        fake_pids = bl.descendants(fake.pid)
        pg0, fake0, box0 = bl.postgres_cpu(), bl.cpu_seconds(fake_pids), bl.machine_cpu()
        started = time.monotonic()
        context = multiprocessing.get_context("fork")  # no open connection in this process now
        cpu = context.Array("d", processes)
        workers = [
            context.Process(
                target=worker, args=(url, wms_url, str(bodies_file), (i, processes), cpu)
            )
            for i in range(processes)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - started
        if any(w.exitcode != 0 for w in workers):
            raise RuntimeError("a baseline worker failed: " + str([w.exitcode for w in workers]))
        workers_cpu = sum(cpu)  # the order work only: not the processes' start and imports
        pg_cpu = bl.postgres_cpu() - pg0
        fake_cpu = bl.cpu_seconds(fake_pids) - fake0
        box1 = bl.machine_cpu()
    with psycopg.connect(url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM sales_order), (SELECT count(*) FROM outbox),"
            " (SELECT count(*) FROM outbox WHERE status = 'sent'),"
            " (SELECT count(*) FROM order_line WHERE warehouse_id IS NULL)"
        ).fetchone()
    assert counts is not None
    orders, outbox, sent, short = (int(v) for v in counts)
    busy = box1[0] - box0[0]
    return {
        "orders": orders,
        "outbox": outbox,
        "sent": sent,
        "lines_short": short,
        "elapsed_s": elapsed,
        "orders_per_s": orders / max(elapsed, 1e-9),
        "postgres_cpu_s": pg_cpu,
        "fake_wms_cpu_s": fake_cpu,
        "workers_cpu_s": workers_cpu,
        "machine_busy_pct": 100 * busy / max(box1[1] - box0[1], 1e-9),
    }


def describe(figures: dict[str, Any]) -> str:
    n = max(figures["orders"], 1)
    return (
        f"bare path: {figures['orders']} orders, {figures['sent']} of {figures['outbox']} "
        f"releases sent, in {figures['elapsed_s']:.1f} s: {figures['orders_per_s']:.1f} orders/s "
        f"(CPU per order: workers {1000 * figures['workers_cpu_s'] / n:.2f} ms, "
        f"PostgreSQL {1000 * figures['postgres_cpu_s'] / n:.2f} ms, fake WMS "
        f"{1000 * figures['fake_wms_cpu_s'] / n:.2f} ms; machine {figures['machine_busy_pct']:.0f}%"
        " busy)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--warehouses", type=int, default=20)
    parser.add_argument("--stock-density", type=float, default=0.6)
    parser.add_argument("--wms-port", type=int, default=8762)
    parser.add_argument("--pg-admin-url", default=bl.PG_ADMIN_URL)
    parser.add_argument("--db", default="omniroute_bench_bare")
    args = parser.parse_args()
    skus = demo_skus(args.skus)
    rng = random.Random(42)
    bodies = [
        json.dumps(shopify_order(5_000_000 + i, skus, rng)).encode() for i in range(args.orders)
    ]
    logdir = Path(tempfile.mkdtemp(prefix="omniroute-bench-bare-"))
    print(f"logs: {logdir}\ncode: {bl.code_version()}")
    with bl.exclusive_run():
        figures = run_baseline(
            pg_admin_url=args.pg_admin_url,
            db=args.db,
            bodies=bodies,
            warehouses=args.warehouses,
            skus=skus,
            stock_density=args.stock_density,
            processes=args.processes,
            wms_port=args.wms_port,
            logdir=logdir,
        )
    print(describe(figures))


if __name__ == "__main__":
    main()
