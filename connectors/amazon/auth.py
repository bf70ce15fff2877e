"""A thread-safe cache of the Login with Amazon access token (valid about an hour)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Renew this many seconds before the token's stated expiry, so no call carries a stale one.
EXPIRY_MARGIN_SECONDS = 60.0


class AccessTokenCache:
    """Hands out the current access token, fetching a new one when it is missing or stale.

    ``fetch`` returns ``(access_token, expires_in_seconds)``. One thread fetches at a time;
    the others wait for its token instead of asking LWA again.
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
        self._expires_at = float("-inf")
        self.fetches = 0

    def get(self) -> str:
        """A token good for at least ``margin`` more seconds."""
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._expires_at - self._margin:
                token, lifetime = self._fetch()
                self.fetches += 1
                self._token, self._expires_at = token, now + lifetime
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the API refused it) unless another thread has already replaced it."""
        with self._lock:
            if self._token == token:
                self._token, self._expires_at = None, float("-inf")
