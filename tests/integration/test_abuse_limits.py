"""Abuse limits at the API: failed-login lockouts, webhook shedding, the request timeout,
and URLs handed out from the configured public URL, never from the Host header."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.api.app import create_app
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from tests.clocks import MovableClock
from tests.conftest import make_settings
from tests.integration.builders import SECRET, order_body, signed_headers


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 3, 1, 12, 0))


def make_ctx(db_url: str, clock: MovableClock, **settings: object) -> Iterator[Context]:
    ctx = bootstrap(make_settings(db_url, **settings), clock=clock)
    yield ctx
    ctx.close()


@pytest.fixture
def limited(db_url: str, clock: MovableClock) -> Iterator[Context]:
    yield from make_ctx(
        db_url,
        clock,
        auth_max_failures=3,
        auth_failure_window=60,
        auth_lockout=120,
        webhook_rate=1.0,
        webhook_burst=2,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_failed_logins_from_an_address_lock_it_out_then_the_lockout_ends(
    limited: Context, clock: MovableClock
) -> None:
    good = bearer(create_token(limited, role=Role.OPS, name="ops"))
    app = create_app(limited)
    attacker = TestClient(app, client=("203.0.113.9", 4000))
    bystander = TestClient(app, client=("198.51.100.4", 4000))
    for n in range(3):
        r = attacker.get("/api/v1/warehouses", headers=bearer(f"guess-{n}"))
        assert r.status_code == 401, r.text
    locked = attacker.get("/api/v1/warehouses", headers=bearer("guess-4"))
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    assert locked.json()["code"] == "too_many_requests"
    assert locked.headers["Retry-After"] == "120"
    # Locked means locked: a good token from that address waits too ...
    assert attacker.get("/api/v1/warehouses", headers=good).status_code == 429
    # ... while the same token from another address goes through.
    assert bystander.get("/api/v1/warehouses", headers=good).status_code == 200

    clock.at += timedelta(seconds=100)
    assert attacker.get("/api/v1/warehouses", headers=good).headers["Retry-After"] == "20"
    clock.at += timedelta(seconds=21)
    assert attacker.get("/api/v1/warehouses", headers=good).status_code == 200


def test_one_bad_token_tried_from_many_addresses_is_locked_by_itself(
    limited: Context,
) -> None:
    good = bearer(create_token(limited, role=Role.OPS, name="ops"))
    app = create_app(limited)
    stolen = bearer("revoked-or-guessed")
    for n in range(3):
        spread = TestClient(app, client=(f"192.0.2.{n}", 4000))
        assert spread.get("/api/v1/warehouses", headers=stolen).status_code == 401
    fresh = TestClient(app, client=("192.0.2.200", 4000))
    assert fresh.get("/api/v1/warehouses", headers=stolen).status_code == 429
    assert fresh.get("/api/v1/warehouses", headers=good).status_code == 200


def test_webhooks_over_a_connectors_rate_are_shed_before_the_database(
    limited: Context,
) -> None:
    admin = bearer(create_token(limited, role=Role.ADMIN, name="admin"))
    client = TestClient(create_app(limited))
    shops = [
        client.post(
            "/api/v1/connectors",
            headers=admin,
            json={"kind": "shopify", "name": name, "secrets": {"webhook_secret": SECRET}},
        ).json()["id"]
        for name in ("busy", "quiet")
    ]
    answers = []
    for n in range(3):
        body = order_body(5000 + n, [("SKU-1", 1)])
        answers.append(
            client.post(f"/webhooks/{shops[0]}", content=body, headers=signed_headers(body))
        )
    assert [a.status_code for a in answers] == [200, 200, 429]
    shed = answers[2]
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.json()["code"] == "webhook_rate_exceeded"
    assert int(shed.headers["Retry-After"]) >= 1
    with unit_of_work(limited.sessions) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 2
    body = order_body(6000, [("SKU-1", 1)])
    other = client.post(f"/webhooks/{shops[1]}", content=body, headers=signed_headers(body))
    assert other.status_code == 200
    # Shed before anything is looked up: an unknown connector over the rate is a 429 too.
    for _ in range(2):
        assert client.post("/webhooks/987654", content=b"{}").status_code == 404
    assert client.post("/webhooks/987654", content=b"{}").status_code == 429


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        ("https://oms.example.com/", "https://oms.example.com/webhooks/"),
        (None, "http://testserver/webhooks/"),
    ],
)
def test_the_webhook_url_never_comes_from_the_host_header(
    db_url: str, clock: MovableClock, public_url: str | None, expected: str
) -> None:
    for ctx in make_ctx(db_url, clock, public_url=public_url):
        admin = bearer(create_token(ctx, role=Role.ADMIN, name="admin"))
        client = TestClient(create_app(ctx))
        evil = {**admin, "Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        created = client.post(
            "/api/v1/connectors",
            headers=evil,
            json={"kind": "shopify", "name": "s", "secrets": {"webhook_secret": SECRET}},
        ).json()
        assert created["webhook_url"] == f"{expected}{created['id']}"
        listed = client.get("/api/v1/connectors", headers=evil).json()
        assert "evil" not in listed[0]["webhook_url"]


def test_a_request_over_the_timeout_is_a_503_problem(
    db_url: str, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A timeout long enough for the ordinary request below on a loaded machine, and a route
    # far slower than it.
    for ctx in make_ctx(db_url, clock, request_timeout=1.0):
        ops = bearer(create_token(ctx, role=Role.OPS, name="ops"))
        client = TestClient(create_app(ctx))
        assert client.get("/api/v1/warehouses", headers=ops).status_code == 200

        def slow(_ctx: Context) -> list[object]:
            time.sleep(4.0)
            return []

        monkeypatch.setattr(warehouses, "list_warehouses", slow)
        started = time.monotonic()
        r = client.get("/api/v1/warehouses", headers=ops)
        assert time.monotonic() - started < 3.5  # not the 4 s the route takes
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "request_timeout"
        assert r.json()["correlation_id"] == r.headers["X-Correlation-ID"]
        assert r.headers["Retry-After"] == "5"
