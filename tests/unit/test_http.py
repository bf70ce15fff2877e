"""connectors.http: SSRF guard, status classification, Retry-After, retry policy, redaction."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from omniroute.connectors.base import PermanentError, TransientError
from omniroute.connectors.http import (
    RETRY_AFTER_CAP,
    UnsafeUrlError,
    build_client,
    guard_url,
    parse_retry_after,
    raise_for_status,
    redact_headers,
    send_with_retry,
    user_agent,
)

API = "https://api.example.com"

# Names the fake resolver knows; anything else fails like a real NXDOMAIN.
FAKE_DNS: dict[str, list[str]] = {
    "api.example.com": ["93.184.216.34"],
    "intranet.example.com": ["10.0.0.7"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.10"],
    "v6.example.com": ["2606:4700::1111"],
    "nat64.example.com": ["64:ff9b::5db8:d822"],  # 93.184.216.34 via the NAT64 prefix
    "nat64-loop.example.com": ["64:ff9b::7f00:1"],  # 127.0.0.1 via the NAT64 prefix
}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    looked_up: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        looked_up.append(host)
        if host not in FAKE_DNS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in FAKE_DNS[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with build_client(timeout=5.0, base_url=API) as c:
        yield c


def post_with_key(client: httpx.Client, key: str = "key-1") -> Callable[[], httpx.Response]:
    return lambda: client.post("/orders?token=abc", json={"a": 1}, headers={"Idempotency-Key": key})


# --- guard_url --------------------------------------------------------------------------------

PRIVATE_TARGETS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/x",
    "http://10.1.2.3/api",
    "http://192.168.0.1/",
    "http://172.16.5.4/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::]/",  # 6to4 form of 127.0.0.1
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST:8000/",
    "http://api.localhost/",
    "http://localhost./",
    "https://intranet.example.com/",
    "https://mixed.example.com/",
    "https://nat64-loop.example.com/",
]


@pytest.mark.parametrize("url", PRIVATE_TARGETS)
def test_guard_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as caught:
        guard_url(url, allow_private=False)
    assert caught.value.reason == "unsafe_url"
    assert isinstance(caught.value, PermanentError)


@pytest.mark.parametrize("url", PRIVATE_TARGETS)
def test_guard_allows_non_public_addresses_when_private_allowed(url: str) -> None:
    assert guard_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
        "gopher://93.184.216.34/",
        "93.184.216.34/no-scheme",
        "http://user:pw@93.184.216.34/",
        "http://user@93.184.216.34/",
        "http:///no-host",
        "http://93.184.216.34:99999/",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_guard_refuses_bad_syntax_even_when_private_allowed(url: str, allow_private: bool) -> None:
    with pytest.raises(UnsafeUrlError):
        guard_url(url, allow_private=allow_private)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/",
        "https://93.184.216.34:8443/api",
        "https://[2606:4700::1111]/",
        "https://api.example.com/orders",
        "https://v6.example.com/",
        "https://nat64.example.com/",
    ],
)
def test_guard_allows_public_targets(url: str) -> None:
    assert guard_url(url, allow_private=False) == url


def test_guard_checks_ip_literals_without_dns(fake_dns: list[str]) -> None:
    guard_url("http://93.184.216.34/", allow_private=False)
    with pytest.raises(UnsafeUrlError):
        guard_url("http://10.0.0.1/", allow_private=False)
    assert fake_dns == []


def test_guard_skips_dns_when_private_allowed(fake_dns: list[str]) -> None:
    guard_url("https://unknown.invalid/", allow_private=True)
    assert fake_dns == []


def test_guard_reports_resolution_failure_as_transient() -> None:
    with pytest.raises(TransientError) as caught:
        guard_url("https://unknown.invalid/", allow_private=False)
    assert caught.value.reason == "unresolvable_host"
    assert not isinstance(caught.value, PermanentError)


def test_guard_message_names_host_and_address() -> None:
    with pytest.raises(UnsafeUrlError, match=r"intranet\.example\.com.*10\.0\.0\.7.*private"):
        guard_url("https://intranet.example.com/", allow_private=False)


# --- build_client -----------------------------------------------------------------------------


def test_build_client_sets_timeouts_user_agent_and_no_redirects() -> None:
    with build_client(timeout=7.5, base_url=API, headers={"X-Extra": "1"}) as c:
        assert c.timeout == httpx.Timeout(connect=7.5, read=7.5, write=7.5, pool=7.5)
        assert c.follow_redirects is False
        assert c.headers["User-Agent"] == user_agent()
        assert c.headers["X-Extra"] == "1"
        assert c.base_url.host == "api.example.com"
    assert user_agent().startswith("omniroute/")


def test_build_client_uses_given_transport() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(204))
    with build_client(timeout=1.0, transport=transport) as c:
        assert c.get("https://anywhere.example/").status_code == 204


@respx.mock
def test_redirect_is_not_followed(client: httpx.Client) -> None:
    respx.post(f"{API}/orders").respond(302, headers={"Location": "http://169.254.169.254/"})
    metadata_route = respx.get("http://169.254.169.254/").respond(200)
    with pytest.raises(PermanentError, match="redirects are not followed"):
        send_with_retry(post_with_key(client), attempts=3, max_wait=0.0)
    assert not metadata_route.called


# --- raise_for_status -------------------------------------------------------------------------


def response(
    status: int, *, headers: dict[str, str] | None = None, text: str = ""
) -> httpx.Response:
    request = httpx.Request("POST", f"{API}/orders?secret=1")
    return httpx.Response(status, headers=headers, text=text, request=request)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_success_statuses_pass(status: int) -> None:
    raise_for_status(response(status))


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 507, 599])
def test_transient_statuses(status: int) -> None:
    with pytest.raises(TransientError) as caught:
        raise_for_status(response(status))
    assert caught.value.reason == f"http_{status}"
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 413, 422, 451])
def test_permanent_statuses(status: int) -> None:
    with pytest.raises(PermanentError) as caught:
        raise_for_status(response(status, text='{"error": "nope"}'))
    assert caught.value.reason == f"http_{status}"
    assert "nope" in str(caught.value)
    assert "secret=1" not in str(caught.value)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_statuses_are_permanent(status: int) -> None:
    with pytest.raises(PermanentError, match="redirects are not followed"):
        raise_for_status(response(status))


def test_permanent_error_carries_a_short_body_snippet() -> None:
    with pytest.raises(PermanentError) as caught:
        raise_for_status(response(400, text="x" * 5000))
    assert "x" * 300 in str(caught.value)
    assert "x" * 301 not in str(caught.value)


def test_429_carries_retry_after_seconds() -> None:
    with pytest.raises(TransientError) as caught:
        raise_for_status(response(429, headers={"Retry-After": "17"}))
    assert caught.value.retry_after == 17.0


def test_503_carries_retry_after_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    with pytest.raises(TransientError) as caught:
        raise_for_status(response(503, headers={"Retry-After": later}))
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


# --- parse_retry_after ------------------------------------------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("-5", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("99999999", RETRY_AFTER_CAP),
        ("Wed, 01 May 2024 12:01:30 GMT", 90.0),
        ("Wednesday, 01-May-24 12:00:10 GMT", 10.0),  # obsolete RFC 850 form
        ("Wed May  1 12:00:05 2024", 5.0),  # asctime form
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),  # in the past
        ("Wed, 01 May 2025 12:00:00 GMT", RETRY_AFTER_CAP),
        ("Wed, 99 Foo 2024 12:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_custom_cap() -> None:
    assert parse_retry_after("600", cap=60.0) == 60.0


# --- send_with_retry --------------------------------------------------------------------------


@respx.mock
def test_retries_5xx_then_succeeds_with_the_same_idempotency_key(
    client: httpx.Client, sleep: RecordingSleep
) -> None:
    route = respx.post(f"{API}/orders").mock(
        side_effect=[httpx.Response(500), httpx.Response(500), httpx.Response(200, json={})]
    )
    result, attempts = send_with_retry(
        post_with_key(client, "key-42"), attempts=3, max_wait=2.0, sleep=sleep
    )
    assert result.status_code == 200
    assert attempts == 3
    assert route.call_count == 3
    assert [call.request.headers["Idempotency-Key"] for call in route.calls] == ["key-42"] * 3
    assert [call.request.content for call in route.calls] == [route.calls[0].request.content] * 3
    assert len(sleep.calls) == 2
    assert all(0 <= s <= 2.0 for s in sleep.calls)


@respx.mock
def test_first_success_makes_one_attempt(client: httpx.Client, sleep: RecordingSleep) -> None:
    respx.post(f"{API}/orders").respond(201)
    result, attempts = send_with_retry(post_with_key(client), attempts=5, max_wait=1.0, sleep=sleep)
    assert (result.status_code, attempts, sleep.calls) == (201, 1, [])


@respx.mock
def test_429_retry_after_is_honoured(client: httpx.Client, sleep: RecordingSleep) -> None:
    respx.post(f"{API}/orders").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200)]
    )
    _, attempts = send_with_retry(post_with_key(client), attempts=3, max_wait=5.0, sleep=sleep)
    assert attempts == 2
    assert sleep.calls == [2.0]


@respx.mock
def test_retry_after_longer_than_max_wait_gives_up_at_once(
    client: httpx.Client, sleep: RecordingSleep
) -> None:
    route = respx.post(f"{API}/orders").respond(429, headers={"Retry-After": "30"})
    with pytest.raises(TransientError) as caught:
        send_with_retry(post_with_key(client), attempts=5, max_wait=5.0, sleep=sleep)
    assert caught.value.retry_after == 30.0
    assert route.call_count == 1
    assert sleep.calls == []


@respx.mock
def test_permanent_error_is_not_retried(client: httpx.Client, sleep: RecordingSleep) -> None:
    route = respx.post(f"{API}/orders").respond(400, json={"error": "bad sku"})
    with pytest.raises(PermanentError) as caught:
        send_with_retry(post_with_key(client), attempts=5, max_wait=1.0, sleep=sleep)
    assert caught.value.reason == "http_400"
    assert route.call_count == 1
    assert sleep.calls == []


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow read"),
        httpx.WriteTimeout("slow write"),
        httpx.PoolTimeout("pool exhausted"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
@respx.mock
def test_transport_errors_are_retried(
    client: httpx.Client, sleep: RecordingSleep, error: httpx.TransportError
) -> None:
    route = respx.post(f"{API}/orders").mock(side_effect=[error, httpx.Response(200)])
    result, attempts = send_with_retry(post_with_key(client), attempts=3, max_wait=1.0, sleep=sleep)
    assert (result.status_code, attempts, route.call_count) == (200, 2, 2)
    assert len(sleep.calls) == 1


@respx.mock
def test_exhausted_attempts_raise_the_last_transient_error(
    client: httpx.Client, sleep: RecordingSleep
) -> None:
    route = respx.post(f"{API}/orders").mock(
        side_effect=[httpx.Response(500), httpx.ConnectError("down"), httpx.Response(503)]
    )
    with pytest.raises(TransientError) as caught:
        send_with_retry(post_with_key(client), attempts=3, max_wait=1.0, sleep=sleep)
    assert caught.value.reason == "http_503"
    assert route.call_count == 3
    assert len(sleep.calls) == 2


@respx.mock
def test_exhausted_transport_errors_raise_transient_error(
    client: httpx.Client, sleep: RecordingSleep
) -> None:
    respx.post(f"{API}/orders").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError) as caught:
        send_with_retry(post_with_key(client), attempts=2, max_wait=1.0, sleep=sleep)
    assert caught.value.reason == "http_transport"
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@respx.mock
def test_backoff_is_bounded_by_max_wait(client: httpx.Client, sleep: RecordingSleep) -> None:
    respx.post(f"{API}/orders").respond(500)
    with pytest.raises(TransientError):
        send_with_retry(post_with_key(client), attempts=8, max_wait=0.25, sleep=sleep)
    assert len(sleep.calls) == 7
    assert all(0 <= s <= 0.25 for s in sleep.calls)


@respx.mock
def test_retry_after_hint_replaces_backoff(client: httpx.Client, sleep: RecordingSleep) -> None:
    respx.post(f"{API}/orders").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "0"}),
            httpx.Response(503, headers={"Retry-After": "1"}),
            httpx.Response(200),
        ]
    )
    send_with_retry(post_with_key(client), attempts=3, max_wait=1.0, sleep=sleep)
    assert sleep.calls == [0.0, 1.0]


def test_non_retryable_httpx_error_becomes_permanent(sleep: RecordingSleep) -> None:
    def call() -> httpx.Response:
        raise httpx.UnsupportedProtocol("no scheme")

    with pytest.raises(PermanentError):
        send_with_retry(call, attempts=3, max_wait=1.0, sleep=sleep)
    assert sleep.calls == []


@respx.mock
def test_custom_check_decides_success(client: httpx.Client, sleep: RecordingSleep) -> None:
    respx.post(f"{API}/orders").respond(409, json={"duplicate": True})

    def check(resp: httpx.Response) -> None:
        if resp.status_code != 409:
            raise_for_status(resp)

    result, attempts = send_with_retry(
        post_with_key(client), attempts=3, max_wait=1.0, sleep=sleep, check=check
    )
    assert (result.status_code, attempts) == (409, 1)


# --- repeat_sent=False: one request that may reach the remote per call -----------------------

UNSENT = [
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("slow connect"),
    httpx.PoolTimeout("pool exhausted"),
]
MAYBE_SENT = [
    httpx.ReadTimeout("slow read"),
    httpx.WriteTimeout("slow write"),
    httpx.ReadError("reset"),
    httpx.WriteError("broken pipe"),
    httpx.RemoteProtocolError("server disconnected"),
]


@pytest.mark.parametrize("error", UNSENT)
@respx.mock
def test_without_repeats_a_request_that_never_left_is_tried_again(
    client: httpx.Client, sleep: RecordingSleep, error: httpx.TransportError
) -> None:
    route = respx.post(f"{API}/orders").mock(side_effect=[error, error, httpx.Response(201)])
    result, attempts = send_with_retry(
        post_with_key(client), attempts=3, max_wait=1.0, sleep=sleep, repeat_sent=False
    )
    assert (result.status_code, attempts, route.call_count) == (201, 3, 3)
    assert len(sleep.calls) == 2


@pytest.mark.parametrize("error", MAYBE_SENT)
@respx.mock
def test_without_repeats_a_request_that_may_have_arrived_is_not_sent_again(
    client: httpx.Client, sleep: RecordingSleep, error: httpx.TransportError
) -> None:
    route = respx.post(f"{API}/orders").mock(side_effect=[error, httpx.Response(201)])
    with pytest.raises(TransientError) as caught:
        send_with_retry(
            post_with_key(client), attempts=3, max_wait=1.0, sleep=sleep, repeat_sent=False
        )
    assert caught.value.reason == "http_transport"
    assert route.call_count == 1
    assert sleep.calls == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@respx.mock
def test_without_repeats_an_answer_goes_back_to_the_caller(
    client: httpx.Client, sleep: RecordingSleep, status: int
) -> None:
    route = respx.post(f"{API}/orders").mock(
        side_effect=[httpx.Response(status, headers={"Retry-After": "1"}), httpx.Response(201)]
    )
    with pytest.raises(TransientError) as caught:
        send_with_retry(
            post_with_key(client), attempts=3, max_wait=5.0, sleep=sleep, repeat_sent=False
        )
    assert caught.value.reason == f"http_{status}"
    assert caught.value.retry_after == 1.0  # for the caller's own rescheduling
    assert route.call_count == 1
    assert sleep.calls == []


@respx.mock
def test_without_repeats_connection_failures_still_stop_at_attempts(
    client: httpx.Client, sleep: RecordingSleep
) -> None:
    route = respx.post(f"{API}/orders").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError):
        send_with_retry(
            post_with_key(client), attempts=2, max_wait=1.0, sleep=sleep, repeat_sent=False
        )
    assert route.call_count == 2


@respx.mock
def test_without_repeats_an_unsent_failure_then_an_answer_stops_at_the_answer(
    client: httpx.Client, sleep: RecordingSleep
) -> None:
    route = respx.post(f"{API}/orders").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(201)]
    )
    with pytest.raises(TransientError) as caught:
        send_with_retry(
            post_with_key(client), attempts=3, max_wait=1.0, sleep=sleep, repeat_sent=False
        )
    assert caught.value.reason == "http_503"
    assert route.call_count == 2  # one request reached the remote


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        send_with_retry(lambda: httpx.Response(200), attempts=0, max_wait=1.0)


# --- redaction and logging --------------------------------------------------------------------


def test_redact_headers_masks_credentials() -> None:
    headers = {
        "Authorization": "Bearer s3cr3t",
        "X-Api-Key": "k",
        "Cookie": "session=1",
        "Set-Cookie": "session=1",
        "X-Shopify-Hmac-Signature": "sig",
        "X-Client-Secret": "cs",
        "X-Access-Token": "tok",
        "Content-Type": "application/json",
        "Idempotency-Key": "key-1",
    }
    redacted = redact_headers(headers)
    assert redacted == {
        "Authorization": "***",
        "X-Api-Key": "***",
        "Cookie": "***",
        "Set-Cookie": "***",
        "X-Shopify-Hmac-Signature": "***",
        "X-Client-Secret": "***",
        "X-Access-Token": "***",
        "Content-Type": "application/json",
        "Idempotency-Key": "key-1",
    }
    assert headers["Authorization"] == "Bearer s3cr3t"  # the input is not modified


def test_redact_headers_accepts_httpx_headers() -> None:
    assert redact_headers(httpx.Headers({"authorization": "x", "accept": "*/*"})) == {
        "authorization": "***",
        "accept": "*/*",
    }


@respx.mock
def test_logs_show_method_url_status_and_attempt_but_no_secrets(
    caplog: pytest.LogCaptureFixture, sleep: RecordingSleep
) -> None:
    respx.post(f"{API}/orders").mock(side_effect=[httpx.Response(503), httpx.Response(201)])
    caplog.set_level(logging.DEBUG, logger="omniroute.http")
    with build_client(timeout=1.0, base_url=API, headers={"Authorization": "Bearer s3cr3t"}) as c:
        send_with_retry(post_with_key(c), attempts=2, max_wait=0.0, sleep=sleep)
    text = caplog.text
    assert f"POST {API}/orders -> 503" in text
    assert "(attempt 1)" in text
    assert f"POST {API}/orders -> 201" in text
    assert "(attempt 2)" in text
    assert " ms " in text
    assert "s3cr3t" not in text
    assert "token=abc" not in text
    assert all(record.name == "omniroute.http" for record in caplog.records)
