"""Token bucket pacing, with a fake clock so no test sleeps."""

from __future__ import annotations

import pytest

from omniroute.connectors.ratelimit import TokenBucket, total_wait_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def bucket(rate: float, burst: float, clock: FakeClock) -> TokenBucket:
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)


def test_burst_is_free_then_requests_are_paced_at_the_rate() -> None:
    clock = FakeClock()
    b = bucket(2.0, 3, clock)
    assert [b.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.acquire() == pytest.approx(0.5)
    assert b.acquire() == pytest.approx(0.5)
    assert b.waits == 2
    assert b.wait_seconds == pytest.approx(1.0)


def test_concurrent_reservations_queue_behind_each_other() -> None:
    clock = FakeClock()
    b = TokenBucket(1.0, 1, clock=clock, sleep=lambda _s: None)  # callers never advance time
    assert [b.acquire() for _ in range(3)] == [0.0, 1.0, 2.0]


def test_tokens_refill_up_to_the_burst_only() -> None:
    clock = FakeClock()
    b = bucket(1.0, 2, clock)
    b.acquire()
    b.acquire()
    clock.now += 100
    assert [b.acquire() for _ in range(2)] == [0.0, 0.0]
    assert b.acquire() == pytest.approx(1.0)


def test_hold_off_blocks_until_the_remote_allows_again() -> None:
    clock = FakeClock()
    b = TokenBucket(10.0, 10, clock=clock, sleep=clock.sleep, max_wait=None)
    b.hold_off(30)
    assert b.acquire() == pytest.approx(30.1)
    clock.now += 100
    assert b.acquire() == 0.0


def test_a_bucket_needs_a_positive_rate_and_a_burst() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst >= 1"):
        TokenBucket(1, 0.5)


def test_total_wait_counts_every_bucket_of_a_connector() -> None:
    clock = FakeClock()

    class Paced:
        def __init__(self) -> None:
            self.rate_limits = {"a": bucket(1, 1, clock), "b": bucket(1, 1, clock)}

    paced = Paced()
    for b in paced.rate_limits.values():
        b.acquire()
        b.acquire()
    assert total_wait_seconds(paced) == pytest.approx(2.0)
    assert total_wait_seconds(object()) == 0.0


def test_a_wait_beyond_max_wait_is_not_slept_but_handed_back() -> None:
    from omniroute.connectors.base import TransientError

    clock = FakeClock()
    b = TokenBucket(1.0, 1, clock=clock, sleep=clock.sleep, max_wait=5)
    b.acquire()
    b.hold_off(60)
    with pytest.raises(TransientError) as caught:
        b.acquire()
    assert caught.value.retry_after == pytest.approx(61.0)  # the hold, then one token
    assert clock.slept == []
    clock.now += 61
    assert b.acquire() == 0.0  # the refused call reserved nothing
