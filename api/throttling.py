"""Abuse limits at the API's edge: failed-authentication lockouts and webhook shedding.

``authenticate_throttled`` wraps token authentication: a client address or a token locked
out by ``core.platform.throttle.AuthThrottle`` is refused before the token is looked up, and
each failure counts against both. ``WebhookShedder`` keeps one token bucket per connector
and says how long a webhook over the rate must wait, before anything reads the database.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from omniroute.core.access.tokens import Principal, TokenRefused, authenticate
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import hash_token
from omniroute.core.platform.throttle import AuthThrottle


@dataclass(frozen=True)
class AuthOutcome:
    principal: Principal | None  # None only when locked out
    retry_after: int = 0  # > 0: locked out, nothing was checked


def throttle_keys(client_ip: str, token: str) -> tuple[str, str]:
    # The token's hash, never the token: the keys may sit in Redis.
    return f"ip:{client_ip}", f"token:{hash_token(token)[:32]}"


def authenticate_throttled(
    ctx: Context, throttle: AuthThrottle, client_ip: str, token: str
) -> AuthOutcome:
    keys = throttle_keys(client_ip, token)
    now = ctx.clock.now().replace(tzinfo=UTC).timestamp()
    wait = throttle.retry_after(keys, now)
    if wait:
        return AuthOutcome(None, wait)
    try:
        principal = authenticate(ctx, token)
    except TokenRefused:
        throttle.failed(keys, now)  # unknown, revoked or expired: each counts
        raise
    return AuthOutcome(principal)


class WebhookShedder:
    """A token bucket per connector in this process (``rate`` a second, ``burst`` on top);
    ``rate`` 0 turns shedding off. Connector ids come from the URL, so the table is bounded:
    idle buckets (full again) are dropped when it grows past ``max_connectors``."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_connectors: int = 10_000,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._max = max_connectors
        self._buckets: dict[int, tuple[float, float]] = {}  # id -> (tokens, at)
        self._lock = threading.Lock()

    def retry_after(self, connector_id: int) -> int:
        """0 when the webhook may go in (it took a token), else whole seconds to wait."""
        if self.rate <= 0:
            return 0
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(connector_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1:
                tokens -= 1
                wait = 0
            else:
                wait = max(1, math.ceil((1 - tokens) / self.rate))
            if connector_id not in self._buckets and len(self._buckets) >= self._max:
                self._drop_idle(now)
            self._buckets[connector_id] = (tokens, now)
            return wait

    def _drop_idle(self, now: float) -> None:
        self._buckets = {
            cid: (tokens, at)
            for cid, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate < self.burst
        }
