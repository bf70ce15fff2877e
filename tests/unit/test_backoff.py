from __future__ import annotations

from omniroute.core.outbox.backoff import backoff_delay


def test_backoff_grows_is_jittered_and_capped() -> None:
    for attempts, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)]:
        delays = [backoff_delay(attempts, 2.0, 60.0, None) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, so retries do not stampede together


def test_backoff_honours_retry_after_up_to_the_cap() -> None:
    assert backoff_delay(1, 2.0, 60.0, 30.0) == 30.0
    assert backoff_delay(1, 2.0, 60.0, 3600.0) == 60.0
