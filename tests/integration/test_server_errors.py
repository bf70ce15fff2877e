"""5xx answers as clients see them: problem+json with a correlation id; one traceback logged."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import create_engine

from omniroute.api.app import create_app
from omniroute.api.errors import DETAIL
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses

SECRET_TEXT = "password=hunter2 in a message no client may see"
NEW_ID = re.compile(r"[0-9a-f]{32}")


def boom() -> None:
    raise RuntimeError(SECRET_TEXT)


@pytest.fixture
def boom_client(ctx: Context) -> Iterator[TestClient]:
    """The real application plus one test-only route that raises an unexpected exception."""
    app = create_app(ctx)
    app.add_api_route("/test-only/boom", boom)
    with TestClient(app) as c:
        yield c


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info is not None]


def assert_internal_error(response: Response, cid: str | None = None) -> str:
    """The 500 problem body and header; returns the correlation id they share."""
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    found = response.headers["x-correlation-id"]
    assert body == {
        "status": 500,
        "code": "internal_error",
        "detail": DETAIL,
        "correlation_id": found,
    }
    assert SECRET_TEXT not in response.text and "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    if cid is not None:
        assert found == cid
    return found


def assert_logged_once(caplog: pytest.LogCaptureFixture, cid: str) -> None:
    [record] = tracebacks(caplog)
    assert record.name == "omniroute.api.errors"
    assert record.levelno == logging.ERROR
    assert cid in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == [record]


def test_an_exception_in_a_route_is_a_500_problem_logged_once_with_its_id(
    boom_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # TestClient re-raises whatever escapes the application: getting a response at all
    # shows the exception went no further than the error middleware.
    response = boom_client.get("/test-only/boom")
    cid = assert_internal_error(response)
    assert NEW_ID.fullmatch(cid)
    assert_logged_once(caplog, cid)


def test_an_exception_in_a_real_route_or_its_dependency_is_a_500_problem(
    client: TestClient,
    ctx: Context,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = create_token(ctx, role=Role.OPS, name="ops")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/warehouses", headers=headers).status_code == 200

    monkeypatch.setattr(warehouses, "list_warehouses", lambda _ctx: boom())
    cid = assert_internal_error(client.get("/api/v1/warehouses", headers=headers))
    assert_logged_once(caplog, cid)
    caplog.clear()

    monkeypatch.setattr("omniroute.api.throttling.authenticate", lambda _ctx, _token: boom())
    cid = assert_internal_error(client.get("/api/v1/warehouses", headers=headers))
    assert_logged_once(caplog, cid)


@pytest.mark.parametrize(
    "header",
    ["X-Request-ID", "X-Correlation-ID", "x-request-id"],
)
@pytest.mark.parametrize("value", ["abc-123", "req_42.retry-1", "A" * 128])
def test_a_sane_incoming_request_id_is_the_correlation_id(
    boom_client: TestClient, caplog: pytest.LogCaptureFixture, header: str, value: str
) -> None:
    response = boom_client.get("/test-only/boom", headers={header: value})
    assert_internal_error(response, cid=value)
    assert_logged_once(caplog, value)


@pytest.mark.parametrize(
    "value",
    ["A" * 129, "", "has space", "semi;colon", "<script>", "a/b", 'quote"d', "tab\there"],
)
def test_an_insane_incoming_request_id_is_replaced(
    boom_client: TestClient, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    response = boom_client.get("/test-only/boom", headers={"X-Request-ID": value})
    cid = assert_internal_error(response)
    assert NEW_ID.fullmatch(cid) and cid != value
    assert_logged_once(caplog, cid)


def test_the_request_id_wins_over_the_correlation_id_and_an_insane_one_is_skipped(
    boom_client: TestClient,
) -> None:
    both = {"X-Request-ID": "from-request", "X-Correlation-ID": "from-correlation"}
    assert_internal_error(boom_client.get("/test-only/boom", headers=both), cid="from-request")
    skipped = {"X-Request-ID": "not sane", "X-Correlation-ID": "from-correlation"}
    assert_internal_error(
        boom_client.get("/test-only/boom", headers=skipped), cid="from-correlation"
    )


def test_an_exception_after_the_response_started_is_logged_once_and_the_answer_cut(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"first chunk;"
        boom()

    app = create_app(ctx)
    app.add_api_route("/test-only/stream", lambda: StreamingResponse(chunks()))
    with TestClient(app) as client:
        response = client.get("/test-only/stream", headers={"X-Request-ID": "stream-1"})
    assert response.status_code == 200
    assert response.content == b"first chunk;"
    assert "x-correlation-id" not in response.headers
    assert_logged_once(caplog, "stream-1")


def test_the_webhook_fast_path_answers_an_unexpected_exception_the_same_way(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Only the lean handler calls receive_webhook through this module's name.
    monkeypatch.setattr("omniroute.api.webhook_intake.receive_webhook", lambda *_args: boom())
    response = client.post("/webhooks/1", content=b"{}", headers={"X-Request-ID": "hook-7"})
    assert_internal_error(response, cid="hook-7")
    assert_logged_once(caplog, "hook-7")
    caplog.clear()

    cid = assert_internal_error(client.post("/webhooks/1", content=b"{}"))
    assert NEW_ID.fullmatch(cid)
    assert_logged_once(caplog, cid)


def test_readyz_answers_503_as_a_problem_with_its_checks_when_the_database_is_down(
    client: TestClient,
    ctx: Context,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # SQLite cannot open a file in a directory that does not exist: a database that is down.
    down = create_engine(f"sqlite:///{tmp_path / 'missing' / 'omniroute.db'}")
    monkeypatch.setattr(ctx, "engine", down)
    response = client.get("/readyz", headers={"X-Request-ID": "probe-1"})
    down.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-correlation-id"] == "probe-1"
    assert response.json() == {
        "status": 503,
        "code": "not_ready",
        "detail": "not ready: database cannot be reached",
        "correlation_id": "probe-1",
        "checks": {
            "database": {"ok": False, "error": "OperationalError"},
            "broker": {"ok": True, "mode": "embedded"},
        },
    }
    assert tracebacks(caplog) == []


def test_readyz_answers_200_with_its_checks_when_ready(client: TestClient, ctx: Context) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "x-correlation-id" not in response.headers
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": {"ok": True, "dialect": ctx.engine.dialect.name},
            "broker": {"ok": True, "mode": "embedded"},
        },
    }


def test_a_5xx_http_exception_carries_a_correlation_id_and_a_4xx_one_does_not(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    def upstream_down() -> None:
        raise HTTPException(502, "the WMS did not answer")

    def gone() -> None:
        raise HTTPException(404, "nothing here")

    app = create_app(ctx)
    app.add_api_route("/test-only/502", upstream_down)
    app.add_api_route("/test-only/404", gone)
    with TestClient(app) as client:
        bad_gateway = client.get("/test-only/502", headers={"X-Request-ID": "gw-1"})
        not_found = client.get("/test-only/404", headers={"X-Request-ID": "nf-1"})
    assert bad_gateway.status_code == 502
    assert bad_gateway.headers["content-type"] == "application/problem+json"
    assert bad_gateway.headers["x-correlation-id"] == "gw-1"
    assert bad_gateway.json() == {
        "status": 502,
        "code": "http_502",
        "detail": "the WMS did not answer",
        "correlation_id": "gw-1",
    }
    assert not_found.status_code == 404
    assert "x-correlation-id" not in not_found.headers
    assert not_found.json() == {"status": 404, "code": "not_found", "detail": "nothing here"}
    assert tracebacks(caplog) == []
