"""Retry delays for outbox deliveries."""

from __future__ import annotations

import random


def backoff_delay(attempts: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the remote asked."""
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay
