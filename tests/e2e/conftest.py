"""Fixtures for the end-to-end tests that run real processes on PostgreSQL and Redis.

They skip (never fail) when OMNIROUTE_TEST_PG_URL is unset (see tests/conftest.py) or when
Redis does not answer at OMNIROUTE_TEST_REDIS_URL (default redis://127.0.0.1:6379/11; the
database number is used by nothing else and is flushed before and after each test).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.platform.security import Role
from tests.conftest import SECRET_KEY, _truncate_pg, make_settings
from tests.e2e.flows import ClientFactory
from tests.e2e.processes import GatedProxy, ProcessStack, ProcessStackFactory, omniroute_env

REDIS_URL = os.environ.get("OMNIROUTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="session")
def redis_server() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def broker_url(redis_server: str) -> Iterator[str]:
    """A Redis database for this test alone: emptied before and after."""
    client = redis.Redis.from_url(redis_server, socket_timeout=5)
    client.flushdb()
    yield redis_server
    client.flushdb()
    client.close()


@pytest.fixture
def e2e_db(pg_migrated: str) -> str:
    _truncate_pg(pg_migrated)
    return pg_migrated


@pytest.fixture
def e2e_ctx(e2e_db: str) -> Iterator[Context]:
    """An in-process context on the same database as the processes (to build the world and
    look at the truth); its dispatcher only records, so it enqueues nothing."""
    context = bootstrap(make_settings(e2e_db))
    yield context
    context.close()


@pytest.fixture
def wms() -> Iterator[FakeWms]:
    with FakeWms() as server:
        yield server


def stack_settings(database_url: str, broker_url: str, /, **overrides: object) -> dict[str, object]:
    """Settings for every process of a test (OMNIROUTE_ environment variables)."""
    values: dict[str, object] = {
        "database_url": database_url,
        "broker_url": broker_url,
        "secret_key": SECRET_KEY,
        "allow_private_urls": "true",
        "log_level": "INFO",
        "sweep_interval": 1,
        "sweep_grace": 2,
        "claim_timeout": 30,
        "http_retry_max_wait": 0.2,
        "outbox_backoff_base": 0.2,
        "outbox_backoff_max": 1,
        "db_pool_size": 4,
    }
    values.update(overrides)
    return values


@pytest.fixture
def make_stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    broker_url: str,
    e2e_db: str,
) -> Iterator[ProcessStackFactory]:
    """``make_stack(**setting_overrides)``: a ProcessStack whose processes all die at teardown
    (passed or failed); on failure their logs are printed."""
    stacks: list[ProcessStack] = []

    def factory(**overrides: object) -> ProcessStack:
        log_dir = tmp_path / f"stack{len(stacks) + 1}"
        log_dir.mkdir()
        env = omniroute_env(stack_settings(e2e_db, broker_url, **overrides), log_dir)
        stack = ProcessStack(log_dir, env)
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        stack.stop_all()
    if request.node.stash.get(FAILED, False):
        for stack in stacks:
            print(f"\n===== process logs ({stack.tmp_dir}) =====\n{stack.logs(lines=400)}")
    else:
        for stack in stacks:
            stack.assert_logs_clean()


@pytest.fixture
def api(e2e_ctx: Context) -> Iterator[ClientFactory]:
    """A factory of httpx clients for a running server, with an admin token."""
    token = create_token(e2e_ctx, role=Role.ADMIN, name="e2e")
    clients: list[httpx.Client] = []

    def client(base_url: str) -> httpx.Client:
        c = httpx.Client(
            base_url=base_url, timeout=15, headers={"Authorization": f"Bearer {token}"}
        )
        clients.append(c)
        return c

    yield client
    for c in clients:
        c.close()


@pytest.fixture
def wms_proxy(wms: FakeWms) -> Iterator[GatedProxy]:
    proxy = GatedProxy(wms.base_url)
    proxy.start()
    yield proxy
    proxy.stop()
