"""Token buckets that keep a connector within a channel's published request rates.

One bucket per connector instance and remote operation (Amazon rates each SP-API operation on
its own; Shopify's REST Admin API is one leaky bucket per shop)::

    orders = TokenBucket(rate=0.0167, burst=20)   # getOrders: 1 request per 60 s, burst 20
    orders.acquire()                                # sleeps until a token is free
    ...
    orders.hold_off(retry_after)                    # the remote said 429: stop for this long

Waits are counted so connector health can show how much time rate limits cost. A wait longer
than ``max_wait`` is not slept: ``acquire`` raises ``TransientError`` with ``retry_after``, so
a worker thread is never held for minutes and the caller's work is rescheduled instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from omniroute.connectors.base import TransientError

__all__ = ["DEFAULT_MAX_WAIT", "RateLimited", "TokenBucket", "total_wait_seconds"]

#: The longest a call sleeps for a token before it gives up with TransientError instead.
DEFAULT_MAX_WAIT = 30.0


class TokenBucket:
    """``rate`` tokens per second refill a bucket of ``burst``; each request takes one."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float | None = DEFAULT_MAX_WAIT,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.max_wait = max_wait
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = clock()
        self.waits = 0
        self.wait_seconds = 0.0

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, sleeping first if the bucket is short; the seconds slept."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            # ``_tokens`` is the count at ``_stamp``, which may lie in the future when earlier
            # callers have already reserved the tokens still to come.
            start = max(now, self._stamp)
            extra = max(tokens - self._tokens, 0.0) / self.rate
            ready = start + extra
            if self.max_wait is not None and ready - now > self.max_wait:
                raise TransientError(
                    f"rate limit: the next call is allowed in {ready - now:.1f}s",
                    retry_after=ready - now,
                    reason="rate_limited",
                )
            self._tokens += extra * self.rate - tokens
            self._stamp = ready
            delay = ready - now
            if delay > 0:
                self.waits += 1
                self.wait_seconds += delay
        if delay > 0:
            self._sleep(delay)
        return max(delay, 0.0)

    def hold_off(self, seconds: float) -> None:
        """The remote asked for a pause (429 + Retry-After): no token before ``seconds``."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            until = now + max(seconds, 0.0)
            self._stamp = max(self._stamp, until)
            self._tokens = min(self._tokens, 0.0)

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now


@runtime_checkable
class RateLimited(Protocol):
    """A connector that paces its calls; health reports the time its buckets made it wait."""

    @property
    def rate_limits(self) -> Mapping[str, TokenBucket]: ...


def total_wait_seconds(source: object) -> float:
    """Seconds a connector instance has spent waiting on its buckets (0 if it has none)."""
    if not isinstance(source, RateLimited):
        return 0.0
    return sum(bucket.wait_seconds for bucket in source.rate_limits.values())
