"""Failed-authentication throttling on the in-process store (the Redis one: tests/e2e)."""

from __future__ import annotations

from omniroute.core.platform.throttle import AuthThrottle, CounterStore, MemoryStore

T0 = 1_800_000_000.0  # a fixed time; the throttle is given time, it never reads a clock


def lockout_scenario(store: CounterStore) -> None:
    """Shared with the Redis test: the same rules whatever holds the counters."""
    throttle = AuthThrottle(store, max_failures=3, window=60, lockout=300)
    ip, other = ("ip:10.0.0.1",), ("ip:10.0.0.2",)
    for n in range(2):
        throttle.failed(ip, T0 + n)
        assert throttle.retry_after(ip, T0 + n) == 0
    throttle.failed(ip, T0 + 2)
    assert throttle.retry_after(ip, T0 + 2) == 300
    assert throttle.retry_after(ip, T0 + 100.5) == 202  # whole seconds, rounded up
    assert throttle.retry_after(other, T0 + 3) == 0
    # A key is locked when any of the keys presented is.
    assert throttle.retry_after((*other, *ip), T0 + 3) == 299
    assert throttle.retry_after(ip, T0 + 302) == 0  # the lockout is over


def test_failures_in_a_window_lock_the_key_until_the_lockout_ends() -> None:
    lockout_scenario(MemoryStore())


def test_failures_in_different_windows_do_not_add_up() -> None:
    throttle = AuthThrottle(MemoryStore(), max_failures=3, window=60, lockout=300)
    key = ("token:abc",)
    throttle.failed(key, T0)
    throttle.failed(key, T0 + 1)
    throttle.failed(key, T0 + 121)  # two windows later: the count started again
    assert throttle.retry_after(key, T0 + 121) == 0


def test_the_memory_store_stays_bounded_under_a_flood_of_keys() -> None:
    store = MemoryStore(max_entries=100)
    for n in range(1_000):
        store.incr(f"k{n}", now=T0, ttl=60)
    assert len(store._entries) <= 100
    assert store.get("k999", now=T0) == "1"
    assert store.get("k999", now=T0 + 61) is None
