"""Throttling of failed authentication: counters per key (an IP, a token), then a lockout.

``max_failures`` failures of one key within a fixed window of ``window`` seconds lock that
key for ``lockout`` seconds; while it is locked every request with it is refused (the API
answers 429 with ``Retry-After``), a good token included, so guessing gets nowhere.

Time is an argument (``now``, seconds since the epoch by the caller's clock), so the counting
is the same in both stores and a test moves the clock instead of sleeping. The counters live
in a ``CounterStore``: in process memory on the embedded deployment, in Redis when the
deployment has one, so that every API process sees the same counts.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis

from omniroute.core.platform.settings import Settings

PREFIX = "omniroute:auth"
log = logging.getLogger("omniroute.throttle")


class CounterStore(Protocol):
    """Counters and values that expire ``ttl`` seconds after ``now``."""

    def incr(self, key: str, *, now: float, ttl: int) -> int:
        """Add one to ``key`` (0 when absent or expired) and return the count."""
        ...

    def get(self, key: str, *, now: float) -> str | None: ...

    def put(self, key: str, value: str, *, now: float, ttl: int) -> None: ...


class MemoryStore:
    """One process's counters; expired entries are dropped as the store is written."""

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def incr(self, key: str, *, now: float, ttl: int) -> int:
        with self._lock:
            value, expires = self._entries.get(key, ("0", 0.0))
            count = (int(value) if expires > now else 0) + 1
            self._write(key, str(count), now + ttl if count == 1 else expires, now)
            return count

    def get(self, key: str, *, now: float) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def put(self, key: str, value: str, *, now: float, ttl: int) -> None:
        with self._lock:
            self._write(key, value, now + ttl, now)

    def _write(self, key: str, value: str, expires: float, now: float) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries = {k: e for k, e in self._entries.items() if e[1] > now}
            if len(self._entries) >= self._max_entries:
                # Still full of live keys (a flood of distinct addresses): forget the oldest
                # half rather than grow without bound.
                keep = sorted(self._entries.items(), key=lambda kv: kv[1][1])
                self._entries = dict(keep[len(keep) // 2 :])
        self._entries[key] = (value, expires)


class RedisStore:
    """Counters shared by every API process. Redis expires them by its own clock after
    ``ttl`` seconds; the lock's end is stored as a time by the caller's clock.

    Redis unreachable: nothing is counted and nothing is locked (logged), so an outage of the
    broker does not also refuse every token."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        return cls(redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0))

    def incr(self, key: str, *, now: float, ttl: int) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
        try:
            count, _ = pipe.execute()
        except redis.RedisError as exc:
            log.warning("failed logins not counted, Redis: %s", exc)
            return 0
        return int(count)

    def get(self, key: str, *, now: float) -> str | None:
        try:
            value = self._redis.get(key)
        except redis.RedisError as exc:
            log.warning("login lockouts not checked, Redis: %s", exc)
            return None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def put(self, key: str, value: str, *, now: float, ttl: int) -> None:
        try:
            self._redis.set(key, value, ex=ttl)
        except redis.RedisError as exc:
            log.warning("login lockout not stored, Redis: %s", exc)


@dataclass(frozen=True)
class AuthThrottle:
    store: CounterStore
    max_failures: int
    window: int
    lockout: int

    def retry_after(self, keys: Sequence[str], now: float) -> int:
        """Seconds until the longest lock on any of ``keys`` ends; 0 when none is locked."""
        wait = 0.0
        for key in keys:
            until = self.store.get(f"{PREFIX}:lock:{key}", now=now)
            if until is not None:
                wait = max(wait, float(until) - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, keys: Sequence[str], now: float) -> None:
        """Count a failure against each key; the one that reaches the limit is locked."""
        bucket = int(now // self.window)
        for key in keys:
            count = self.store.incr(f"{PREFIX}:fail:{key}:{bucket}", now=now, ttl=self.window * 2)
            if count >= self.max_failures:
                self.store.put(
                    f"{PREFIX}:lock:{key}", repr(now + self.lockout), now=now, ttl=self.lockout
                )


def auth_throttle_for(settings: Settings) -> AuthThrottle:
    """Counters in the deployment's Redis when it has one, else in this process."""
    url = settings.redis_url
    store: CounterStore = RedisStore.from_url(url) if url else MemoryStore()
    return AuthThrottle(
        store,
        max_failures=settings.auth_max_failures,
        window=settings.auth_failure_window,
        lockout=settings.auth_lockout,
    )
