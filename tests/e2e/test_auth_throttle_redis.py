"""The failed-authentication lockout with its counters in a real Redis (as the Celery
deployment runs it): the same scenario as the in-process store, and shared by processes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import bootstrap
from omniroute.core.platform.security import Role
from omniroute.core.platform.throttle import AuthThrottle, RedisStore
from tests.conftest import make_settings
from tests.unit.test_auth_throttle import T0, lockout_scenario

pytestmark = pytest.mark.celery


def test_the_lockout_holds_with_redis_counters(broker_url: str) -> None:
    lockout_scenario(RedisStore.from_url(broker_url))


def test_two_processes_share_the_counts(broker_url: str) -> None:
    one = AuthThrottle(RedisStore.from_url(broker_url), max_failures=2, window=60, lockout=60)
    two = AuthThrottle(RedisStore.from_url(broker_url), max_failures=2, window=60, lockout=60)
    key = ("ip:192.0.2.7",)
    one.failed(key, T0)
    two.failed(key, T0 + 1)
    assert one.retry_after(key, T0 + 2) == 59
    ttl = redis.Redis.from_url(broker_url).ttl("omniroute:auth:lock:ip:192.0.2.7")
    assert 0 < ttl <= 60  # Redis drops it by itself


def test_redis_out_of_reach_locks_nobody_out() -> None:
    throttle = AuthThrottle(
        RedisStore.from_url("redis://127.0.0.1:1/0"), max_failures=1, window=60, lockout=60
    )
    throttle.failed(("ip:x",), T0)
    assert throttle.retry_after(("ip:x",), T0) == 0


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "omniroute.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_a_lockout_earned_at_one_api_process_holds_at_another(
    broker_url: str, sqlite_url: str
) -> None:
    settings = make_settings(sqlite_url, broker_url=broker_url, auth_max_failures=2)
    one, two = bootstrap(settings), bootstrap(settings)
    try:
        good = {"Authorization": f"Bearer {create_token(one, role=Role.OPS, name='ops')}"}
        first = TestClient(create_app(one), client=("203.0.113.50", 1000))
        second = TestClient(create_app(two), client=("203.0.113.50", 1000))
        for n in range(2):
            bad = {"Authorization": f"Bearer wrong-{n}"}
            assert first.get("/api/v1/warehouses", headers=bad).status_code == 401
        locked = second.get("/api/v1/warehouses", headers=good)
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 0
    finally:
        one.close()
        two.close()
