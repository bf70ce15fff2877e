"""Shared helpers of the benchmarks: databases, subprocesses, requests files, /proc readings."""

from __future__ import annotations

import fcntl
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
import redis
from cryptography.fernet import Fernet
from psycopg import sql

from omniroute.connectors.shopify.webhooks import sign

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/12"


# --- PostgreSQL and Redis ------------------------------------------------------------------


def db_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``admin_url``."""
    return admin_url.rsplit("/", 1)[0] + "/" + name


def recreate_database(admin_url: str, name: str) -> str:
    """Drop and create ``name``; its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    return db_url(admin_url, name)


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def omniroute_env(database_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of every omniroute process of one run (fresh Fernet key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    env.update(
        {
            "OMNIROUTE_DATABASE_URL": database_url,
            "OMNIROUTE_SECRET_KEY": Fernet.generate_key().decode(),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["OMNIROUTE_BROKER_URL"] = redis_url
    env.update(extra)
    return env


def code_version() -> str:
    """The commit under test, and which files outside bench/ differ from it."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout

    # Porcelain lines are "XY path": two status columns and a space (the first may be blank).
    changed = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if line[3:] and not line[3:].startswith("bench/")
    ]
    dirty = f" + uncommitted changes in {', '.join(changed)}" if changed else ""
    return f"commit {git('rev-parse', '--short', 'HEAD').strip()}{dirty}"


@contextmanager
def exclusive_run() -> Iterator[None]:
    """One benchmark run at a time on this machine: they share a database, ports and Redis."""
    path = Path(tempfile.gettempdir()) / "omniroute-bench.run.lock"
    with path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another benchmark run holds {path}; waiting for it", file=sys.stderr)
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# --- subprocesses --------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stopped: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class Procs:
    """Subprocesses with logs in ``logdir``; every one is ended on exit (own process group)."""

    logdir: Path
    items: list[Proc] = field(default_factory=list)
    _files: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Proc:
        log = self.logdir / f"{name}.log"
        fh = log.open("wb")
        self._files.append(fh)
        popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc(name, popen, log)
        self.items.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 10.0) -> None:
        proc.stopped = True
        if proc.popen.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.popen.wait(5)
        _signal_group(proc.pid, signal.SIGKILL)  # leftovers of the group (prefork children)

    def check_alive(self) -> None:
        for proc in self.items:
            code = proc.popen.poll()
            if code is not None and not proc.stopped:
                raise RuntimeError(f"{proc.name} exited early with code {code}")

    def show_logs(self, lines: int = 40) -> None:
        for proc in self.items:
            text = proc.log.read_text(errors="replace").splitlines()[-lines:]
            print(f"----- {proc.name} ({proc.log}), last {len(text)} lines -----", file=sys.stderr)
            print("\n".join(text), file=sys.stderr)

    def close(self) -> None:
        for proc in reversed(self.items):
            self.stop(proc)
        for fh in self._files:
            fh.close()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@contextmanager
def procs(logdir: Path) -> Iterator[Procs]:
    """Run subprocesses; on an error show their logs; always end them (SIGTERM included)."""
    group = Procs(logdir)

    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield group
    except BaseException:
        group.show_logs()
        raise
    finally:
        group.close()
        signal.signal(signal.SIGTERM, previous)


def run_checked(name: str, argv: list[str], env: Mapping[str, str], logdir: Path) -> None:
    log = logdir / f"{name}.log"
    with log.open("wb") as fh:
        code = subprocess.call(argv, env=dict(env), cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
    if code != 0:
        print(log.read_text(errors="replace"), file=sys.stderr)
        raise RuntimeError(f"{' '.join(argv)} failed with code {code}")


def wait_http(url: str, group: Procs, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group.check_alive()
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


# --- requests files and the load generator ------------------------------------------------


def write_requests(
    path: Path, bodies: list[bytes], secret: str, topic: str = "orders/create"
) -> None:
    """One signed Shopify webhook per line: headers and the exact body (UTF-8 JSON text)."""
    with path.open("w") as fh:
        for body in bodies:
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Hmac-Sha256": sign(secret.encode(), body),
            }
            fh.write(json.dumps({"headers": headers, "body": body.decode()}) + "\n")


def loadgen_argv(port: int, path: str, requests_file: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(BENCH_DIR / "loadgen.py"),
        "--port",
        str(port),
        "--path",
        path,
        "--requests",
        str(requests_file),
        *extra,
    ]


def run_loadgen(argv: list[str], logdir: Path, name: str) -> dict[str, Any]:
    """Run the load generator in its own process; its JSON summary."""
    err = logdir / f"{name}.stderr"
    with err.open("wb") as fh:
        done = subprocess.run(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=fh, check=False, timeout=900
        )
    if done.returncode != 0:
        print(err.read_text(errors="replace"), file=sys.stderr)
        raise RuntimeError(f"load generator {name} failed with code {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- /proc readings ------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of one process, in MiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: list[int], *, reaped_children: bool = False) -> float:
    """User + system CPU time of these processes so far (plus that of their exited children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if reaped_children:
            total += int(fields[13]) + int(fields[14])
    return total / tick


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process, backends that already exited included."""
    pids = pids_named("postgres")
    live = cpu_seconds(pids)
    # The postmaster reaps exited backends, so their time is in its cutime/cstime.
    postmaster = [p for p in pids if _ppid(p) not in pids]
    return live + cpu_seconds(postmaster, reaped_children=True) - cpu_seconds(postmaster)


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def speed_probe(rounds: int = 5) -> float:
    """CPU ms that a fixed pure-Python loop takes here now, best of ``rounds``.

    The same code on this kind of machine runs 15-30 % faster in some runs than in others
    (bench/RESULTS.md); printed before and after a run, this tells a slow machine from slow
    code. Lower is faster.
    """
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.process_time() - started)
    return 1000 * best


def wait_quiet(max_busy_pct: float, timeout: float) -> float:
    """Wait (up to ``timeout`` s) until the machine is under ``max_busy_pct`` busy over 2 s.

    The figures mean little while other work shares the 2 cores; returns the last reading.
    """
    deadline = time.monotonic() + timeout
    while True:
        b0 = machine_cpu()
        time.sleep(2.0)
        b1 = machine_cpu()
        busy = 100 * (b1[0] - b0[0]) / max(b1[1] - b0[1], 1e-9)
        if busy <= max_busy_pct or time.monotonic() >= deadline:
            return busy
        print(
            f"machine is {busy:.0f}% busy with other work; waiting for it to calm down",
            file=sys.stderr,
        )


def pids_named(name: str) -> list[int]:
    """Processes whose command name is ``name`` (e.g. every postgres backend)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores added up."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick
