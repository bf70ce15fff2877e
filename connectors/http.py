"""Shared outbound HTTP: SSRF guard, client factory, status classification, retry policy.

Every connector that calls another system over HTTP goes through here, so that timeouts,
redirect policy, retry/backoff and log redaction are the same everywhere::

    guard_url(config.base_url, allow_private=runtime.allow_private_urls)
    client = build_client(timeout=10.0, base_url=config.base_url)
    response, attempts = send_with_retry(
        lambda: client.post("/orders", json=body, headers={"Idempotency-Key": key}),
        attempts=runtime.retry_attempts,
        max_wait=runtime.retry_max_wait,
    )

Errors leave as the two connector errors: ``TransientError`` (retry later; ``retry_after`` set
when the remote said when) and ``PermanentError`` (dead-letter).

In-call retries suit a read, whose caller has no retries of its own. A delivery from the
outbox already has them (its attempts, with backoff), so it passes ``repeat_sent=False``: a
request that may have reached the remote is sent at most once per call, and the outbox's
attempts are the whole budget (README, "Deliveries and retries").
"""

from __future__ import annotations

import email.utils
import functools
import ipaddress
import logging
import math
import random
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from urllib.parse import urlsplit

import httpx
import tenacity

from omniroute.connectors.base import PermanentError, TransientError

__all__ = [
    "GUARD_TTL_SECONDS",
    "RETRY_AFTER_CAP",
    "UnsafeUrlError",
    "UrlGuard",
    "build_client",
    "check_base_url",
    "guard_url",
    "parse_retry_after",
    "raise_for_status",
    "redact_headers",
    "send_with_retry",
    "user_agent",
]

logger = logging.getLogger("omniroute.http")

#: Longest Retry-After we pass on (seconds); a remote asking for more is rescheduled at this.
RETRY_AFTER_CAP = 3600.0
#: First backoff ceiling (seconds); doubles per attempt, bounded by ``max_wait``.
BACKOFF_BASE = 0.5
BODY_SNIPPET_CHARS = 300

_ALLOWED_SCHEMES = frozenset({"http", "https"})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_RETRIED_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,  # connect, read, write and pool timeouts
    httpx.NetworkError,  # connect, read, write and close errors
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)
# Failures before any byte of the request left: no connection was made, or none was free.
# Anything else (a read or write timeout, a dropped connection, any answer) may have reached
# the remote, which may have acted on it.
_UNSENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
_REDACTED = "***"
_SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
_SENSITIVE_WORDS = ("secret", "token", "signature", "password", "apikey", "api-key")


class UnsafeUrlError(PermanentError):
    """The URL is not allowed as an outbound target (scheme, credentials or address)."""

    reason = "unsafe_url"


# --- SSRF guard -------------------------------------------------------------------------------


def guard_url(url: str, *, allow_private: bool) -> str:
    """Return ``url`` if it is a safe outbound target, else raise.

    Only ``http``/``https`` URLs with a host and without userinfo pass. The host (an IP
    literal directly, a name through ``socket.getaddrinfo``) must not resolve to any
    loopback, private, link-local (cloud metadata), multicast, reserved, unspecified or
    otherwise non-global address, including IPv4-mapped, 6to4 and NAT64 forms of those.

    ``allow_private=True`` (development and tests) keeps the syntax checks and skips the
    address checks, without resolving the name.

    Raises:
        UnsafeUrlError: a policy violation (a ``PermanentError``).
        TransientError: the name did not resolve (reason ``unresolvable_host``). At call time
            that is worth retrying; when validating configuration, callers should report it
            to the user as an error instead.

    Resolving here and connecting later are two lookups, so this does not defend against a
    name that is re-pointed in between (DNS rebinding); it keeps configured targets honest.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in _ALLOWED_SCHEMES:
        raise UnsafeUrlError(f"only http and https URLs are allowed, got {parts.scheme!r}")
    if "@" in parts.netloc:
        raise UnsafeUrlError("credentials in the URL are not allowed; configure them as secrets")
    host = parts.hostname
    if not host:
        raise UnsafeUrlError(f"URL has no host: {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"URL has an invalid port: {url!r}") from exc
    if allow_private:
        return url
    if host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost"):
        raise UnsafeUrlError(f"{host!r} is a loopback name")
    for address in _resolve(host, port):
        problem = _address_problem(address)
        if problem is not None:
            raise UnsafeUrlError(f"{host!r} resolves to {address}, a {problem} address")
    return url


def check_base_url(value: str, name: str) -> str:
    """Config-time check of a base URL's syntax, ``value`` stripped of blanks.

    The address check needs DNS, which does not belong in model validation: ``UrlGuard``
    runs it at first use. ``name`` is the config field, for the message.
    """
    try:
        guard_url(value, allow_private=True)
    except UnsafeUrlError as exc:
        raise ValueError(str(exc)) from exc
    if "?" in value or "#" in value:
        raise ValueError(f"{name} must not have a query string or fragment")
    return value.strip()


#: How long a passed SSRF check is trusted before the hosts are resolved and checked again.
GUARD_TTL_SECONDS = 300.0


class UrlGuard:
    """The SSRF check of a connector's configured URLs, at first use and then at most once
    per ``ttl`` seconds (a name may come to resolve elsewhere)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        ttl: float = GUARD_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allow_private = allow_private
        self._ttl = ttl
        self._clock = clock
        self._until = float("-inf")

    def check(self, *urls: str) -> None:
        """Raise ``UnsafeUrlError`` unless every URL is a safe target (cached while fresh)."""
        now = self._clock()
        if now < self._until:
            return
        for url in urls:
            guard_url(url, allow_private=self.allow_private)
        self._until = now + self._ttl


def _resolve(host: str, port: int | None) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise UnsafeUrlError(f"invalid host name {host!r}") from exc
    except OSError as exc:  # socket.gaierror and friends
        raise TransientError(f"cannot resolve {host!r}: {exc}", reason="unresolvable_host") from exc
    if not infos:
        raise TransientError(f"{host!r} resolved to no address", reason="unresolvable_host")
    # sockaddr[0] may carry an IPv6 scope ("fe80::1%eth0"); ip_address accepts that form.
    return [ipaddress.ip_address(str(info[4][0])) for info in infos]


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``address`` is not a public unicast address, or None if it is one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = _address_problem(embedded)
            return None if inner is None else f"{inner} (embedded in IPv6)"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-global", not address.is_global),  # e.g. 100.64.0.0/10 carrier-grade NAT
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


# --- client -----------------------------------------------------------------------------------


@functools.cache
def user_agent() -> str:
    """``omniroute/<version>`` from the installed distribution (``dev`` in a bare checkout)."""
    try:
        version = metadata.version("omniroute")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"omniroute/{version}"


def build_client(
    *,
    timeout: float,
    base_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` with every timeout set and redirects never followed.

    Redirects are refused because a 30x to an internal host would slip past ``guard_url``;
    ``raise_for_status`` turns them into a ``PermanentError``.
    """
    merged = {"User-Agent": user_agent()}
    merged.update(headers or {})
    return httpx.Client(
        base_url=base_url or "",
        headers=merged,
        timeout=httpx.Timeout(connect=timeout, read=timeout, write=timeout, pool=timeout),
        follow_redirects=False,
        transport=transport,
    )


# --- status classification --------------------------------------------------------------------


def parse_retry_after(
    value: str | None, *, now: datetime | None = None, cap: float = RETRY_AFTER_CAP
) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), capped at ``cap``.

    Returns None when the header is absent or unparseable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until_http_date(text, now)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, cap)


def _seconds_until_http_date(text: str, now: datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def raise_for_status(response: httpx.Response) -> None:
    """Return on 2xx; raise ``TransientError`` or ``PermanentError`` for everything else.

    429, 408, 425 and any 5xx are transient (``retry_after`` from Retry-After when sent);
    3xx and the other 4xx are permanent with reason ``http_<code>``.
    """
    code = response.status_code
    if 200 <= code < 300:
        return
    reason = f"http_{code}"
    if code in _TRANSIENT_STATUSES or code >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientError(
            f"HTTP {code} from {_loggable_url(response.request)}",
            retry_after=retry_after,
            reason=reason,
        )
    if 300 <= code < 400:
        raise PermanentError(f"redirects are not followed (HTTP {code})", reason=reason)
    raise PermanentError(
        f"HTTP {code} from {_loggable_url(response.request)}: {_body_snippet(response)}",
        reason=reason,
    )


def _body_snippet(response: httpx.Response) -> str:
    try:
        text = response.text
    except httpx.ResponseNotRead:
        return "<body not read>"
    return " ".join(text.split())[:BODY_SNIPPET_CHARS]


# --- retry ------------------------------------------------------------------------------------


def send_with_retry(
    call: Callable[[], httpx.Response],
    *,
    attempts: int,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
    check: Callable[[httpx.Response], None] = raise_for_status,
    repeat_sent: bool = True,
) -> tuple[httpx.Response, int]:
    """Run ``call`` until ``check`` accepts the response; return it and the attempts made.

    Only ``TransientError`` is retried; timeouts, connection and protocol errors from httpx
    become one. Waits are exponential backoff with full jitter, capped at ``max_wait``, except
    that a Retry-After hint is used as the wait; a hint longer than ``max_wait`` stops at once,
    re-raising the ``TransientError`` (with its ``retry_after``) for the caller to reschedule.
    When attempts run out the last ``TransientError`` is raised; a ``PermanentError`` is raised
    on first sight. ``call`` must be safe to repeat: send the same idempotency key each time.

    ``check`` classifies a response (default ``raise_for_status``); a connector with its own
    rules (a WMS whose 409 means "already have it") passes a wrapper around it.

    ``repeat_sent=False`` (an outbox delivery, which is retried by its outbox row): only a
    failure before the request left (connect error or timeout, no pooled connection free) is
    tried again here. An answer (5xx, 429, with its ``retry_after``) and a failure after the
    request may have arrived (read or write timeout, a dropped connection) are raised at
    once, so the remote sees the request at most once per call, however slow it is.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    made = 0

    def attempt() -> httpx.Response:
        nonlocal made
        made += 1
        return _one_attempt(call, check, made)

    retrying = tenacity.Retrying(
        sleep=sleep,
        stop=tenacity.stop_after_attempt(attempts) | _StopOnLongHint(max_wait),
        wait=_wait_policy(max_wait),
        retry=tenacity.retry_if_exception(_any_transient if repeat_sent else _unsent),
        reraise=True,
    )
    response = retrying(attempt)
    return response, made


def _any_transient(error: BaseException) -> bool:
    return isinstance(error, TransientError)


def _unsent(error: BaseException) -> bool:
    """A transient failure whose request never left (see ``_UNSENT_ERRORS``), or that the
    remote says it did not act on (``TransientError.not_applied``)."""
    return isinstance(error, TransientError) and (
        error.not_applied or isinstance(error.__cause__, _UNSENT_ERRORS)
    )


def _one_attempt(
    call: Callable[[], httpx.Response], check: Callable[[httpx.Response], None], number: int
) -> httpx.Response:
    started = time.monotonic()
    try:
        response = call()
    except _RETRIED_TRANSPORT_ERRORS as exc:
        _log_failure(exc, started, number)
        raise TransientError(
            f"{type(exc).__name__} calling {_loggable_url(_request_of(exc))}: {exc}",
            reason="http_transport",
        ) from exc
    except httpx.HTTPError as exc:  # unsupported protocol, local protocol, decoding errors
        _log_failure(exc, started, number)
        raise PermanentError(f"{type(exc).__name__}: {exc}", reason="http_error") from exc
    _log_response(response, started, number)
    check(response)
    return response


class _StopOnLongHint(tenacity.stop.stop_base):
    """Give up at once when the remote asks for a longer pause than we are willing to sleep."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        hint = _retry_after_of(retry_state)
        return hint is not None and hint > self.max_wait


def _wait_policy(max_wait: float) -> Callable[[tenacity.RetryCallState], float]:
    def wait(state: tenacity.RetryCallState) -> float:
        hint = _retry_after_of(state)
        if hint is not None:
            return min(hint, max_wait)
        ceiling = min(max_wait, BACKOFF_BASE * 2 ** (state.attempt_number - 1))
        return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography

    return wait


def _retry_after_of(state: tenacity.RetryCallState) -> float | None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None and outcome.failed else None
    return error.retry_after if isinstance(error, TransientError) else None


# --- logging ----------------------------------------------------------------------------------


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credentials, cookies, tokens and signatures masked."""
    return {name: _REDACTED if _is_sensitive(name) else value for name, value in headers.items()}


def _is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SENSITIVE_HEADERS or any(word in lowered for word in _SENSITIVE_WORDS)


def _loggable_url(request: httpx.Request | None) -> str:
    """Scheme, host and path only: query strings often carry tokens or personal data."""
    if request is None:
        return "<unknown url>"
    url = request.url
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"


def _request_of(exc: httpx.RequestError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # raised when the error was built without a request
        return None


def _log_response(response: httpx.Response, started: float, number: int) -> None:
    request = response.request
    level = logging.DEBUG if response.is_success else logging.WARNING
    logger.log(
        level,
        "%s %s -> %s in %d ms (attempt %d)",
        request.method,
        _loggable_url(request),
        response.status_code,
        _elapsed_ms(started),
        number,
    )
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("request headers: %s", redact_headers(request.headers))


def _log_failure(exc: httpx.HTTPError, started: float, number: int) -> None:
    request = _request_of(exc) if isinstance(exc, httpx.RequestError) else None
    logger.warning(
        "%s %s -> %s in %d ms (attempt %d)",
        request.method if request is not None else "?",
        _loggable_url(request),
        type(exc).__name__,
        _elapsed_ms(started),
        number,
    )


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
