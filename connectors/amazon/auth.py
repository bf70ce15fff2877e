"""A thread-safe cache of a short-lived token: the LWA access token, or a Restricted Data Token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Renew a token this share of its lifetime before it expires...
EXPIRY_MARGIN_FRACTION = 0.1
#: ...but never more than this many seconds early (an hour's token is renewed at 59 minutes).
EXPIRY_MARGIN_SECONDS = 60.0


def renewal_margin(lifetime: float, *, cap: float = EXPIRY_MARGIN_SECONDS) -> float:
    """How long before its expiry a token of ``lifetime`` seconds is replaced.

    Relative to the lifetime, so a 30 s token is used for 27 s; a flat minute would make a
    token living under a minute stale on arrival, fetched again before every call.
    """
    return min(cap, lifetime * EXPIRY_MARGIN_FRACTION)


class AccessTokenCache:
    """Hands out the current token, fetching a new one when it is missing or about to expire.

    ``fetch`` returns ``(token, expires_in_seconds)``. One thread fetches at a time; the
    others wait for its token instead of asking again (no stampede on the token endpoint).
    The lifetime counts from before the request, so the network time only shortens it.
    """

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float]],
        *,
        clock: Callable[[], float] = time.monotonic,
        margin: float = EXPIRY_MARGIN_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = float("-inf")
        self.fetches = 0

    def get(self) -> str:
        """A token with at least its renewal margin of life left."""
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._renew_at:
                token, lifetime = self._fetch()
                self.fetches += 1
                margin = renewal_margin(lifetime, cap=self._margin)
                self._token, self._renew_at = token, now + lifetime - margin
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the API refused it) unless another thread has already replaced it."""
        with self._lock:
            if self._token == token:
                self._token, self._renew_at = None, float("-inf")
