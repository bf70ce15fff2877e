"""The worker's fan-out of one big stored X12 interchange, and a 50 MB file end to end (issue 14).

    OMNIROUTE_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/edi_fan_out.py                 # fan-out of 5 and 50 MB, then end to end
    python bench/edi_fan_out.py --megabytes 50 --no-e2e   # SQLite when no PostgreSQL URL

1. Fan-out: an interchange of ``--megabytes`` MB of 850s (the sets of bench/edi_x12_parse.py:
   5 PO1 lines each, with PID, DTM, REF and an N1/N3/N4 ship-to; ~470 bytes a set), and
   one of a tenth of that, each stored through ``core/edi/intake.store_file`` from a file,
   then taken by ``process_inbound`` (the worker's task: every 850 mapped, one child inbox
   row per set, the 997 numbered and queued, one commit) in a fresh process. Printed: sets
   fanned out per second (wall and per CPU second of the process, and PostgreSQL's backend
   CPU per set), peak RSS of that process beside its RSS once imported and bootstrapped,
   and the child rows counted after. Flat: the big run peaks about where the small one does.
2. End to end (PostgreSQL and Redis): ``omniroute serve`` (broker mode) and a solo
   ``omniroute worker``; the file POSTed to ``/edi/{id}`` (streamed from disk), stored,
   nudged, fanned out by the worker; printed: the POST's time, the time until the
   interchange row is done, child rows, and each process's RSS before and its peak after
   (VmHWM, read when the row is done, before the worker gets far into the children).
   The API's request timeout is raised to ``--timeout`` for the run.

The database ``--db`` is dropped and created on the server of OMNIROUTE_BENCH_PG_URL (without
it, a temporary SQLite file; no end to end run then). Before/after: run the same script with
PYTHONPATH pointing at a snapshot of the older tree (``git archive``), back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl
import httpx
from cryptography.fernet import Fernet
from edi_x12_parse import write_big
from sqlalchemy import create_engine, func, select, text

import omniroute
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.edi.intake import partner_of, store_file
from omniroute.core.intake.processing import process_inbound
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.migrate import upgrade
from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.settings import Settings

TOKEN = "bench-partner-token-0001"  # noqa: S105 - the bench partner's own
PARTNER = {
    "our_qualifier": "ZZ",
    "our_id": "SELLER",
    "their_qualifier": "ZZ",
    "their_id": "BUYER",
    "our_code": "SELLER",
    "their_code": "BUYER",
    "send": ["997", "TA1"],
}


def settings(url: str, key: str) -> Settings:
    return Settings(database_url=url, secret_key=key, log_level="WARNING", broker_url=None)


def database(args: argparse.Namespace, folder: Path) -> str:
    server = os.environ.get("OMNIROUTE_BENCH_PG_URL")
    if not server:
        return f"sqlite:///{folder / 'fan_out.db'}"
    return bl.recreate_database(server.rsplit("/", 1)[0] + "/postgres", args.db)


def new_partner(ctx: Context, out: Path) -> int:
    config = {**PARTNER, "delivery_directory": str(out)}
    row = connector_admin.create_connector(
        ctx,
        kind="edi_x12",
        name=f"bench partner {time.time_ns()}",
        config=config,
        secrets={"intake_token": TOKEN},
        enabled=True,
        actor="bench",
    )
    return row.id


def store(ctx: Context, partner: int, path: Path) -> int:
    with path.open("rb") as handle:
        (entry,) = store_file(ctx, partner, partner_of(ctx, partner), handle, source="bench")
    assert entry.inbound_id is not None, entry
    return entry.inbound_id


def children(url: str) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(InboundMessage)
                    .where(InboundMessage.topic == "edi.set")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def backend_cpu(ctx: Context) -> float:
    """CPU seconds of this database's PostgreSQL backends (0 on SQLite)."""
    if ctx.engine.dialect.name != "postgresql":
        return 0.0
    with ctx.engine.connect() as conn:
        pids = [int(p) for p in conn.execute(text(_BACKENDS)).scalars()]
    return bl.cpu_seconds(pids)


_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"


def fan_out_only(url: str, key: str, row_id: int) -> None:
    """Child process: the worker's task on one stored interchange; prints JSON figures."""
    ctx = bootstrap(settings(url, key))
    with ctx.sessions() as session:  # a pooled connection and its backend, as a worker has
        session.execute(text("SELECT 1"))
    ready_rss = bl.peak_rss_mib(os.getpid())
    pg0, cpu0, wall0 = backend_cpu(ctx), time.process_time(), time.perf_counter()
    process_inbound(ctx, row_id)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    pg = backend_cpu(ctx) - pg0
    # VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across exec
    peak = bl.peak_rss_mib(os.getpid())
    with unit_of_work(ctx.sessions) as s:
        status = s.get_one(InboundMessage, row_id).status
    ctx.close()
    figures = {"wall": wall, "cpu": cpu, "pg": pg, "ready": ready_rss, "peak": peak}
    print(json.dumps({**figures, "status": status}))


def fan_out(args: argparse.Namespace, url: str, key: str, folder: Path) -> None:
    ctx = bootstrap(settings(url, key))
    try:
        for megabytes in (max(args.megabytes // 10, 1), args.megabytes):
            with ctx.engine.begin() as conn:  # each run alone in the inbox
                conn.execute(text("DELETE FROM inbound_message"))
            path = folder / f"big_{megabytes}.x12"
            sets = write_big(path, megabytes)
            size = path.stat().st_size / 1e6
            row_id = store(ctx, new_partner(ctx, folder / "out"), path)
            path.unlink()
            argv = [sys.executable, __file__, "--fan-out-only", url, key, str(row_id)]
            load = os.getloadavg()[0]
            done = subprocess.run(argv, check=True, capture_output=True, text=True)
            got = json.loads(done.stdout.strip().splitlines()[-1])
            made = children(url)
            print(
                f"fan-out {size:.1f} MB, {sets:,} sets (load {load:.2f}): {got['status']}, "
                f"{made:,} child rows; wall {got['wall']:.1f} s "
                f"({sets / got['wall']:,.0f} sets/s); "
                f"CPU {got['cpu'] / sets * 1e6:.0f} us/set ({sets / got['cpu']:,.0f} sets per "
                f"CPU-s), PostgreSQL {got['pg'] / sets * 1e6:.0f} us/set; RSS after imports "
                f"{got['ready']:.0f} MiB, peak {got['peak']:.0f} MiB "
                f"(+{got['peak'] - got['ready']:.0f})"
            )
    finally:
        ctx.close()


def end_to_end(args: argparse.Namespace, url: str, key: str, folder: Path) -> None:
    env = bl.omniroute_env(url, bl.REDIS_URL, OMNIROUTE_SECRET_KEY=key)
    env["OMNIROUTE_LOG_LEVEL"] = "WARNING"
    # 30 s by default: a loaded 2-core box reads 50 MB slower than that (the answer comes
    # after the whole file is cut and stored)
    env["OMNIROUTE_REQUEST_TIMEOUT"] = str(args.timeout)
    ctx = bootstrap(settings(url, key))
    try:
        with ctx.engine.begin() as conn:
            conn.execute(text("DELETE FROM inbound_message"))
        partner = new_partner(ctx, folder / "out")
    finally:
        ctx.close()
    path = folder / "e2e.x12"
    sets = write_big(path, args.megabytes)
    size = path.stat().st_size / 1e6
    omniroute = str(Path(sys.executable).parent / "omniroute")
    bl.flush_redis(bl.REDIS_URL)
    with bl.procs(folder) as group:
        api = group.start("api", [omniroute, "serve", "--port", str(args.port)], env)
        worker = group.start("worker", [omniroute, "worker", "--pool", "solo"], env)
        bl.wait_http(f"http://127.0.0.1:{args.port}/healthz", group)
        time.sleep(3)  # the worker connected to the broker
        rss0 = {p.name: _rss(p.pid) for p in (api, worker)}
        cpu0 = {p.name: bl.cpu_seconds([p.pid]) for p in (api, worker)}
        load = os.getloadavg()[0]
        started = time.perf_counter()
        with path.open("rb") as handle:
            answer = httpx.post(
                f"http://127.0.0.1:{args.port}/edi/{partner}",
                content=handle,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/edi-x12"},
                timeout=600,
            )
        posted = time.perf_counter() - started
        assert answer.status_code == 202, answer.text[:500]
        (entry,) = answer.json()["interchanges"]
        status = _wait_settled(url, int(entry["inbound_id"]), group, timeout=args.timeout)
        settled = time.perf_counter() - started
        peaks = {p.name: bl.peak_rss_mib(p.pid) for p in (api, worker)}
        cpu = {p.name: bl.cpu_seconds([p.pid]) - cpu0[p.name] for p in (api, worker)}
        made = children(url)
    print(
        f"end to end {size:.1f} MB, {sets:,} sets (load {load:.2f}): POST {posted:.1f} s "
        f"({entry['status']}), row {status} after {settled:.1f} s, {made:,} child rows"
    )
    for name in ("api", "worker"):
        print(
            f"  {name}: RSS before {rss0[name]:.0f} MiB, peak {peaks[name]:.0f} MiB "
            f"(+{peaks[name] - rss0[name]:.0f}); CPU {cpu[name]:.1f} s "
            f"({cpu[name] / sets * 1e6:.0f} us/set)"
        )


def _rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _wait_settled(url: str, row_id: int, group: bl.Procs, timeout: float) -> str:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            group.check_alive()
            with engine.connect() as conn:
                status = conn.execute(
                    select(InboundMessage.status).where(InboundMessage.id == row_id)
                ).scalar_one()
            if status in ("done", "failed"):
                return str(status)
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise RuntimeError(f"interchange row {row_id} not settled within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--db", default="omni_edistream_bench")
    parser.add_argument("--port", type=int, default=18431)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--no-fan-out", action="store_true")
    parser.add_argument("--fan-out-only", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fan_out_only:
        url, key, row_id = args.fan_out_only
        fan_out_only(url, key, int(row_id))
        return
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus")
    print(f"code: {Path(omniroute.__file__).parent} ({bl.code_version()})")
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.2f}")
    key = Fernet.generate_key().decode()
    with bl.exclusive_run(), tempfile.TemporaryDirectory(prefix="edi_fan_out_") as name:
        folder = Path(name)
        url = database(args, folder)
        upgrade(url)
        if not args.no_fan_out:
            fan_out(args, url, key, folder)
        if not args.no_e2e and url.startswith("postgresql"):
            end_to_end(args, url, key, folder)


if __name__ == "__main__":
    main()
