"""Fixtures the integration tests share: a fake WMS on loopback, an API client, and the
console's context and client (plain http: the session cookie without Secure, so the test
client sends it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context, bootstrap
from tests.conftest import make_settings


@pytest.fixture
def wms() -> Iterator[FakeWms]:
    with FakeWms() as server:
        yield server


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


@pytest.fixture
def cctx(db_url: str) -> Iterator[Context]:
    context = bootstrap(make_settings(db_url, console_cookie_secure=False))
    yield context
    context.close()


@pytest.fixture
def app_client(cctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(cctx)) as c:
        yield c
