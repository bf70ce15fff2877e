"""Schemathesis over the OpenAPI document, in process, against a seeded SQLite database.

Every operation of ``/openapi.json`` (51 on the day this was written, 42 of them taking
parameters or a body) is called with up to ``MAX_EXAMPLES`` (30) generated requests that fit
its schema and, for the operations that take input, up to as many that do not (fewer where
hypothesis runs out of distinct inputs): 2,703 requests in 2 minutes on a shared 2-core
machine. Each answer is checked for

- no 5xx (``not_a_server_error``),
- a status code the operation declares (``status_code_conformance``),
- a declared content type (``content_type_conformance``: errors are problem+json),
- a body that fits the declared schema (``response_schema_conformance``).

The database holds two warehouses with stock, a WMS and a Shopify connector, and three
orders (one parked on an unknown SKU), so that low ids find rows; requests carry an admin
token, so that they get past authentication to the routes (the throttling of failed tokens
has its own tests). Not checked: that every schema-valid request is accepted (cross-field
rules such as "warehouse_code or lines" are not in the JSON Schema) and that every invalid
one is refused (FastAPI ignores unknown query parameters, which schemathesis counts as
invalid); the strict JSON types are tested in tests/integration/test_strict_bodies.py.

``OMNIROUTE_FUZZ_EXAMPLES`` raises or lowers the bound for one run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from omniroute.api.app import OmnirouteApp, create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import bootstrap
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import build_world, order_body, post, stock

MAX_EXAMPLES = int(os.environ.get("OMNIROUTE_FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def seeded(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[OmnirouteApp, str]]:
    path = tmp_path_factory.mktemp("fuzz") / "omniroute.db"
    shutil.copy(sqlite_template, path)
    ctx = bootstrap(make_settings(f"sqlite:///{path}"))
    with FakeWms() as wms:
        world = build_world(ctx, wms.base_url)
        for warehouse_id in world.warehouse_ids.values():
            stock(ctx, warehouse_id, "SKU-1", 50)
        post(ctx, world, order_body(1001, [("SKU-1", 1)]))
        post(ctx, world, order_body(1002, [("SKU-1", 2)]))
        post(ctx, world, order_body(1003, [("SKU-1", 1), ("NO-SUCH-SKU", 1)]))
        drain(ctx)
        yield create_app(ctx), create_token(ctx, role=Role.ADMIN, name="fuzz")
    ctx.close()


def takes_input(operation: Any) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


def test_no_server_error_and_every_answer_as_declared(
    seeded: tuple[OmnirouteApp, str],
) -> None:
    app, token = seeded
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in GenerationMode:
            if mode is GenerationMode.NEGATIVE and not takes_input(operation):
                continue

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:
                continue  # nothing invalid can be made for its parameters (an enum of one)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:2000]}")
    assert len(operations) >= 45
    assert calls >= len(operations) * min(MAX_EXAMPLES, 5)
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
