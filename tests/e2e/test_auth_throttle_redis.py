"""The failed-authentication lockout with its counters in a real Redis (as the Celery
deployment runs it): the same scenario as the in-process store, and shared by processes."""

from __future__ import annotations

import pytest
import redis

from omniroute.core.platform.throttle import AuthThrottle, RedisStore
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
