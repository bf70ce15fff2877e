"""Carrier tracking events ingested and applied per second, in one process.

Seeds shipped orders (one shipment each, written directly: what the warehouse path writes),
then sends EasyPost ``tracker.updated`` deliveries built from the recorded sample through the
intake service (signature checked, inbox row committed) and processes each inbox row
(parse, keep its checkpoints, match the shipment, fold its status, deliver the order) as a
worker does. Each parcel gets three deliveries, each carrying its whole history so far as
EasyPost sends it, shuffled across parcels so some arrive late, plus a share of exact
redeliveries. Printed: deliveries, checkpoints processed and new events stored per second,
and how many orders ended delivered (all of them, or the run is wrong).

SQLite (a temp file) by default; PostgreSQL when OMNIROUTE_BENCH_PG_URL is set (a server
URL: the run drops and recreates the database ``--db`` on that server).

    python bench/tracking_ingest.py                      # SQLite, 1,000 parcels
    OMNIROUTE_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/tracking_ingest.py --parcels 3000
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import itertools
import json
import os
import pstats
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import event, func, insert, select

from omniroute.connectors.easypost import webhooks as easypost
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.intake.processing import process_inbound
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.migrate import upgrade
from omniroute.core.platform.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OrderLine,
    RoutingDecision,
    SalesOrder,
    Shipment,
    TrackingEvent,
    Warehouse,
)
from omniroute.core.platform.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "fixtures" / "third_party" / "easypost"
SAMPLE /= "event-body.tracker.updated.json"
SECRET = "bench-easypost-secret"  # noqa: S105 - a throwaway webhook secret of the run
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
# Each parcel's history, as (status, status_detail, hours after START); the three deliveries
# carry the first 2, 4 and all 5 of these.
HISTORY = [
    ("pre_transit", "label_created", 0),
    ("in_transit", "arrived_at_facility", 6),
    ("in_transit", "departed_facility", 12),
    ("out_for_delivery", "out_for_delivery", 30),
    ("delivered", "arrived_at_destination", 34),
]
CUTS = (2, 4, 5)


class StatementCounter:
    """Statements and commits on the context's engine, by phase (intake, processing) and by
    kind (the first word, the table it names)."""

    def __init__(self, ctx: Context) -> None:
        self.phase = "seed"
        self.statements: Counter[str] = Counter()
        self.commits: Counter[str] = Counter()
        self.kinds: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()  # the processing threads share it
        event.listen(ctx.engine, "before_cursor_execute", self._statement)
        event.listen(ctx.engine, "commit", self._commit)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        verb = words[0].upper() if words else "?"
        target = next(
            (w.strip('"') for k, w in itertools.pairwise(words) if k.upper() in _NAMING),
            "",
        )
        with self._lock:
            self.statements[self.phase] += 1
            self.kinds[(self.phase, f"{verb} {target}".strip())] += 1

    def _commit(self, _conn: Any) -> None:
        with self._lock:
            self.commits[self.phase] += 1

    def report(self, phase: str, per: int) -> str:
        kinds = sorted(((n, k) for (p, k), n in self.kinds.items() if p == phase), reverse=True)
        lines = [
            f"  {phase}: {self.statements[phase] / per:.2f} statements and "
            f"{self.commits[phase] / per:.2f} commits a delivery"
        ]
        lines += [f"    {n / per:6.2f}  {k}" for n, k in kinds]
        return "\n".join(lines)


_NAMING = {"INTO", "UPDATE", "FROM"}  # the word before the table a statement is about


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=1000)
    parser.add_argument("--redeliveries", type=float, default=0.1, help="share sent twice")
    parser.add_argument("--db", default="omniroute_bench_tracking")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="threads processing the inbox rows at once, as several workers would "
        "(PostgreSQL; SQLite has one writer)",
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the N functions taking most CPU"
    )
    return parser.parse_args()


def database(args: argparse.Namespace) -> tuple[str, str]:
    server = os.environ.get("OMNIROUTE_BENCH_PG_URL")
    if server:
        import benchlib  # noqa: PLC0415 - only the PostgreSQL run needs psycopg and redis

        return benchlib.recreate_database(server, args.db), "postgresql"
    path = Path(tempfile.mkdtemp(prefix="omniroute-bench-tracking-")) / "bench.db"
    return f"sqlite:///{path}", "sqlite"


def seed(ctx: Context, parcels: int) -> int:
    """A channel, a warehouse, and ``parcels`` shipped orders of one shipment each; the
    EasyPost connector's id."""
    shop = connector_admin.create_connector(
        ctx, kind="generic_webhook", name="shop", config={}, secrets={}, enabled=True, actor="b"
    )
    carrier = connector_admin.create_connector(
        ctx,
        kind="easypost",
        name="easypost",
        config={},
        secrets={"webhook_secret": SECRET},
        enabled=True,
        actor="bench",
    )
    with unit_of_work(ctx.sessions) as s:
        wh = Warehouse(code="W1", name="W1", address={}, country="US", postal_code="10001")
        s.add(wh)
        s.flush()
        orders = (
            s.execute(
                insert(SalesOrder).returning(SalesOrder.id, sort_by_parameter_order=True),
                [
                    {
                        "connector_id": shop.id,
                        "external_id": f"o{n}",
                        "channel": "bench",
                        "status": "shipped",
                        "currency": "USD",
                        "canonical": {},
                    }
                    for n in range(parcels)
                ],
            )
            .scalars()
            .all()
        )
        lines = (
            s.execute(
                insert(OrderLine).returning(OrderLine.id, sort_by_parameter_order=True),
                [{"order_id": o, "line_no": 1, "sku": "SKU", "quantity": 1} for o in orders],
            )
            .scalars()
            .all()
        )
        decisions = (
            s.execute(
                insert(RoutingDecision).returning(RoutingDecision.id, sort_by_parameter_order=True),
                [{"order_id": o, "policy": "bench", "outcome": "routed"} for o in orders],
            )
            .scalars()
            .all()
        )
        fos = (
            s.execute(
                insert(FulfilmentOrder).returning(FulfilmentOrder.id, sort_by_parameter_order=True),
                [
                    {"order_id": o, "warehouse_id": wh.id, "decision_id": d, "status": "shipped"}
                    for o, d in zip(orders, decisions, strict=True)
                ],
            )
            .scalars()
            .all()
        )
        s.execute(
            insert(FulfilmentLine),
            [
                {
                    "fulfilment_order_id": fo,
                    "order_line_id": line,
                    "sku": "SKU",
                    "quantity": 1,
                    "shipped_quantity": 1,
                }
                for fo, line in zip(fos, lines, strict=True)
            ],
        )
        s.execute(
            insert(Shipment),
            [
                {
                    "fulfilment_order_id": fo,
                    "order_id": o,
                    "external_ref": f"pkg{n}",
                    "carrier": "FedEx",
                    "tracking_number": number(n),
                    "tracking_key": number(n),
                    "lines": [],
                    "shipped_at": START.replace(tzinfo=None),
                    "status": "unknown",
                }
                for n, (o, fo) in enumerate(zip(orders, fos, strict=True))
            ],
        )
    return carrier.id


def number(n: int) -> str:
    return f"BENCH{n:08d}"


Delivery = tuple[dict[str, str], bytes]


def deliveries(parcels: int, share: float, rnd: random.Random) -> list[Delivery]:
    template = json.loads(SAMPLE.read_text())
    detail = template["result"]["tracking_details"][1]
    out = []
    for n in range(parcels):
        for cut in CUTS:
            event = copy.deepcopy(template)
            event["id"] = f"evt_{n}_{cut}"
            tracker = event["result"]
            history = HISTORY[:cut]
            tracker["tracking_code"] = number(n)
            tracker["tracking_details"] = [
                {
                    **detail,
                    "status": status,
                    "status_detail": sub,
                    "message": sub,
                    "datetime": (START + timedelta(hours=h, minutes=n % 60)).isoformat(),
                }
                for status, sub, h in history
            ]
            tracker["status"], tracker["status_detail"], last = history[-1]
            tracker["updated_at"] = (START + timedelta(hours=last, minutes=n % 60)).isoformat()
            body = json.dumps(event).encode()
            out.append(({easypost.SIGNATURE_HEADER: easypost.sign(SECRET, body)}, body))
    rnd.shuffle(out)
    return out + rnd.sample(out, int(len(out) * share))


def server_cpu(dialect: str) -> float:
    """CPU seconds of the PostgreSQL server's processes so far (0 on SQLite)."""
    if dialect != "postgresql":
        return 0.0
    import benchlib  # noqa: PLC0415 - as in database()

    return benchlib.postgres_cpu()


def print_cpu(
    *, cpu: float, intake_cpu: float, pg_cpu: float, sent: int, new: int, dialect: str
) -> None:
    print(
        f"  CPU per delivery {cpu / sent * 1000:.2f} ms: intake {intake_cpu / sent * 1000:.2f} "
        f"ms, processing {(cpu - intake_cpu) / new * 1000:.2f} ms a new row"
    )
    if dialect == "postgresql":
        print(f"  PostgreSQL CPU per delivery {pg_cpu / sent * 1000:.2f} ms (every backend)")


def print_profile(profiler: cProfile.Profile, top: int) -> None:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def outcome(ctx: Context) -> tuple[int, int]:
    """The events stored and the orders delivered."""
    with unit_of_work(ctx.sessions) as s:
        stored = s.scalar(select(func.count()).select_from(TrackingEvent)) or 0
        delivered = (
            s.scalar(
                select(func.count())
                .select_from(SalesOrder)
                .join(Connector, Connector.id == SalesOrder.connector_id)
                .where(SalesOrder.status == "delivered")
            )
            or 0
        )
    return stored, delivered


def main() -> None:
    args = parse_args()
    url, dialect = database(args)
    upgrade(url)
    ctx = bootstrap(
        Settings(database_url=url, secret_key=Fernet.generate_key().decode(), log_level="WARNING")
    )
    counter = StatementCounter(ctx)
    try:
        carrier_id = seed(ctx, args.parcels)
        work = deliveries(args.parcels, args.redeliveries, random.Random(args.seed))
        checkpoints = sum(len(json.loads(b)["result"]["tracking_details"]) for _, b in work)
        ctx.dispatcher.drain()  # type: ignore[attr-defined]  # nudges are run below, by id
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        if profiler:
            profiler.enable()
        counter.phase = "intake"
        pg0 = server_cpu(dialect)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        inbound = [receive_webhook(ctx, carrier_id, h, b).inbound_id for h, b in work]
        intake_wall, intake_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        ids = [i for i in inbound if i is not None]
        counter.phase = "processing"
        if args.workers > 1:
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(lambda row_id: process_inbound(ctx, row_id), ids))
        else:
            for row_id in ids:
                process_inbound(ctx, row_id)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        pg_cpu = server_cpu(dialect) - pg0
        if profiler:
            profiler.disable()
        ctx.dispatcher.drain()  # type: ignore[attr-defined]
        counter.phase = "check"
        stored, delivered = outcome(ctx)
    finally:
        ctx.close()
    print(
        f"tracking ingest on {dialect}: {args.parcels} parcels, {len(work)} deliveries "
        f"({len(ids)} new, the rest redeliveries), {args.workers} worker(s)"
    )
    print(f"  {len(work) / wall:8.0f} deliveries/s, intake and processing")
    print(f"  {checkpoints / wall:8.0f} checkpoints processed/s (a delivery repeats its history)")
    print(f"  {stored / wall:8.0f} new events stored and applied/s ({stored} events)")
    print(f"  intake alone: {len(work) / intake_wall:.0f} deliveries/s")
    process_wall = wall - intake_wall
    print(
        f"  processing alone: {len(ids) / process_wall:.0f} new deliveries/s, "
        f"{stored / process_wall:.0f} new events/s"
    )
    print(f"  wall {wall:.2f} s, process CPU {cpu:.2f} s")
    print(f"  orders delivered: {delivered} of {args.parcels}")
    print_cpu(
        cpu=cpu, intake_cpu=intake_cpu, pg_cpu=pg_cpu, sent=len(work), new=len(ids), dialect=dialect
    )
    print(counter.report("processing", len(ids)))
    if profiler:
        print_profile(profiler, args.profile)
    if delivered != args.parcels or stored != args.parcels * len(HISTORY):
        sys.exit("not every parcel ended delivered with its 5 events: the figures are not valid")


if __name__ == "__main__":
    main()
