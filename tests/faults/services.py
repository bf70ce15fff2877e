"""Private Redis and PostgreSQL servers that a fault drill may crash and restart.

The machine's shared servers are never touched: each drill starts its own on a free port in
its tmp dir, so killing one hurts nothing else that runs at the same time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from tests.e2e.processes import free_port

PG_BIN_ROOT = Path("/usr/lib/postgresql")


def _wait(what: str, probe: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout:.0f}s")


@dataclass
class PrivateRedis:
    """``redis-server`` on 127.0.0.1:<port>, no persistence: a restart loses every queued
    message, as a crashed broker without AOF does."""

    workdir: Path
    port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _wait(f"redis on {self.port}", self._answers, 15)

    def _answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def crash(self) -> None:
        """SIGKILL: queued and in-flight messages are gone with it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)

    def queued(self) -> int:
        client = redis.Redis.from_url(self.url, socket_timeout=2)
        try:
            lists = [k for k in client.scan_iter(match="*") if client.type(k) == b"list"]
            return sum(int(client.llen(key)) for key in lists)
        except redis.RedisError:
            return -1
        finally:
            client.close()

    def stop(self) -> None:
        self.crash()


def _pg_bin() -> Path:
    versions = sorted(PG_BIN_ROOT.glob("*/bin/pg_ctl"))
    if not versions:
        raise FileNotFoundError(f"no PostgreSQL server binaries under {PG_BIN_ROOT}")
    return versions[-1].parent


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb in the drill's tmp dir, trust auth, one port)."""

    workdir: Path
    port: int = field(default_factory=free_port)

    @property
    def datadir(self) -> Path:
        return self.workdir / "pgdata"

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(_pg_bin() / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
            f"{self.workdir} -c fsync=off -c max_connections=100"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(_pg_bin() / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.workdir / "postgres.log"),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        _wait(f"postgres on {self.port}", self._answers, 30)

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.admin_url(), connect_timeout=1) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def crash(self) -> None:
        """Stop in immediate mode: every backend killed at once, as a crash or a failover
        does; the next start runs crash recovery."""
        self._ctl("immediate")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("fast")

    def _ctl(self, mode: str) -> None:
        subprocess.run(
            _as_postgres(
                [str(_pg_bin() / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]
            ),
            check=True,
            capture_output=True,
        )

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url(name)
