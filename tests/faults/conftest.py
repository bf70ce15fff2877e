"""Fixtures for the fault drills: the end-to-end fixtures, private servers to crash, and a
process stack that tolerates the tracebacks an outage makes processes log."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (  # the same fixtures as the end-to-end tests
    FAILED,
    api,
    broker_url,
    e2e_ctx,
    e2e_db,
    pytest_runtest_makereport,
    redis_server,
    stack_settings,
    wms,
)
from tests.e2e.processes import ProcessStack, ProcessStackFactory, omniroute_env
from tests.faults.services import PrivatePostgres, PrivateRedis

__all__ = [
    "api",
    "broker_url",
    "e2e_ctx",
    "e2e_db",
    "pytest_runtest_makereport",
    "redis_server",
    "wms",
]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.workdir.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    workdir = Path(tempfile.mkdtemp(prefix="omniroute-pg-drill-"))
    server = PrivatePostgres(workdir)
    try:
        server.init()
    except FileNotFoundError as exc:
        pytest.skip(f"cannot run a private PostgreSQL here: {exc}")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def fault_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcessStackFactory]:
    """``fault_stack(database_url=..., broker_url=..., **overrides)``: like the end-to-end
    ``make_stack``, but a process may log tracebacks while a server is down (the drill checks
    the outcome, not the noise); on failure every log is printed."""
    stacks: list[ProcessStack] = []

    def factory(**overrides: object) -> ProcessStack:
        log_dir = tmp_path / f"stack{len(stacks) + 1}"
        log_dir.mkdir()
        database_url = str(overrides.pop("database_url"))
        broker = str(overrides.pop("broker_url"))
        env = omniroute_env(stack_settings(database_url, broker, **overrides), log_dir)
        stack = ProcessStack(log_dir, env)
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        stack.stop_all()
    if request.node.stash.get(FAILED, False):
        for stack in stacks:
            print(f"\n===== process logs ({stack.tmp_dir}) =====\n{stack.logs(lines=400)}")
