"""Fixtures the integration tests share: a fake WMS on loopback and an API client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context


@pytest.fixture
def wms() -> Iterator[FakeWms]:
    with FakeWms() as server:
        yield server


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c
