"""Out-of-range ids and nulls through the real API: 422 problem+json, nothing written.

Every integer id the API takes (path, query or body) is declared 1 .. 2^63-1 (``after_id``
0 .. 2^63-1), the range of the BIGINT ids; beyond it the database driver would fail (500).
Both webhook paths (the lean ASGI handler and FastAPI's route) hold to it as well.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from omniroute.api.schemas import MAX_ID, MAX_STOCK_UNITS
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Invalid
from omniroute.core.platform.models import AuditLog, Warehouse
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.mapping.engine import MAX_LINE_QUANTITY

OUT_OF_RANGE = [0, -1, MAX_ID + 1, 2**64, 10**30]
IN_RANGE = [1, MAX_ID]

# (method, path with {id}, JSON body or None): every route that takes an id in its path.
PATH_IDS: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/warehouses/{id}", None),
    ("PATCH", "/api/v1/warehouses/{id}", {}),
    ("GET", "/api/v1/connectors/{id}", None),
    ("PATCH", "/api/v1/connectors/{id}", {}),
    ("GET", "/api/v1/connectors/{id}/health", None),
    ("POST", "/api/v1/connectors/{id}/poll", None),
    ("GET", "/api/v1/connectors/{id}/listings", None),
    ("PUT", "/api/v1/connectors/{id}/listings", []),
    ("POST", "/api/v1/connectors/{id}/stock-sync", None),
    ("GET", "/api/v1/consolidations/{id}", None),
    ("POST", "/api/v1/consolidations/{id}/release", None),
    ("POST", "/api/v1/fulfilment-orders/{id}/shipments", {"external_ref": "PKG-1"}),
    ("POST", "/api/v1/fulfilment-orders/{id}/reject", {"reason": "rejected"}),
    ("GET", "/api/v1/orders/{id}", None),
    ("POST", "/api/v1/orders/{id}/cancel", {"reason": "asked"}),
    ("POST", "/api/v1/orders/{id}/route", {"warehouse_code": "EAST"}),
    ("POST", "/api/v1/orders/{id}/reroute", None),
    ("GET", "/api/v1/routing/rule-sets/{id}", None),
    ("PUT", "/api/v1/routing/rule-sets/{id}", {"document": {}}),
    ("POST", "/api/v1/routing/rule-sets/{id}/publish", {}),
]

# (path, query parameter, smallest valid value)
QUERY_IDS: list[tuple[str, str, int]] = [
    ("/api/v1/orders", "after_id", 0),
    ("/api/v1/stock", "warehouse_id", 1),
    ("/api/v1/stock", "after_id", 0),
    ("/api/v1/stock/ledger", "warehouse_id", 1),
    ("/api/v1/stock/ledger", "after_id", 0),
    ("/api/v1/sku-aliases", "connector_id", 1),
]

# (method, path, body with {id} where the id goes): integer ids in JSON bodies.
BODY_IDS: list[tuple[str, str, Any]] = [
    ("PUT", "/api/v1/stock", {"warehouse_id": "{id}", "sku": "MUG", "on_hand": 1}),
    (
        "POST",
        "/api/v1/stock/adjustments",
        {"warehouse_id": "{id}", "sku": "MUG", "delta": 1, "reason": "count"},
    ),
    ("POST", "/api/v1/sku-aliases", {"connector_id": "{id}", "alias": "A", "sku": "MUG"}),
    (
        "POST",
        "/api/v1/warehouses",
        {
            "code": "X",
            "name": "X",
            "address": {"postal_code": "10001", "country": "US"},
            "wms_connector_id": "{id}",
        },
    ),
    ("PATCH", "/api/v1/warehouses/1", {"wms_connector_id": "{id}"}),
    (
        "POST",
        "/api/v1/orders/1/route",
        {"lines": [{"line_id": "{id}", "warehouse_code": "EAST"}]},
    ),
    ("POST", "/api/v1/routing/simulate", {"order_id": "{id}"}),
    ("POST", "/api/v1/routing/simulate", {"order_id": 1, "rule_set_id": "{id}"}),
    ("POST", "/api/v1/routing/backtest", {"rule_set_id": "{id}"}),
]


def admin(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=Role.ADMIN, name='admin')}"}


def fill(template: Any, value: int) -> Any:
    if template == "{id}":
        return value
    if isinstance(template, dict):
        return {key: fill(item, value) for key, item in template.items()}
    if isinstance(template, list):
        return [fill(item, value) for item in template]
    return template


def assert_invalid_request(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_request"


def assert_not_a_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "body"), PATH_IDS, ids=[f"{m} {p}" for m, p, _ in PATH_IDS]
)
def test_path_ids_out_of_range_are_422_and_in_range_404(
    client: TestClient, ctx: Context, method: str, path: str, body: Any
) -> None:
    headers = admin(ctx)
    for value in OUT_OF_RANGE:
        r = client.request(method, path.format(id=value), headers=headers, json=body)
        assert_invalid_request(r)
    for value in IN_RANGE:
        r = client.request(method, path.format(id=value), headers=headers, json=body)
        assert r.status_code == 404, (value, r.text)
        assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("path", "name", "lowest"), QUERY_IDS)
def test_query_ids_out_of_range_are_422(
    client: TestClient, ctx: Context, path: str, name: str, lowest: int
) -> None:
    headers = admin(ctx)
    for value in [lowest - 1, MAX_ID + 1, 10**30]:
        assert_invalid_request(client.get(path, params={name: value}, headers=headers))
    for value in [lowest, MAX_ID]:
        r = client.get(path, params={name: value}, headers=headers)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("method", "path", "body"), BODY_IDS, ids=[f"{m} {p} {b}" for m, p, b in BODY_IDS]
)
def test_body_ids_out_of_range_are_422(
    client: TestClient, ctx: Context, method: str, path: str, body: Any
) -> None:
    headers = admin(ctx)
    for value in OUT_OF_RANGE:
        assert_invalid_request(
            client.request(method, path, headers=headers, json=fill(body, value))
        )
    r = client.request(method, path, headers=headers, json=fill(body, MAX_ID))
    assert_not_a_server_error(r)


def test_the_import_connector_id_is_held_to_the_range(client: TestClient, ctx: Context) -> None:
    headers = {**admin(ctx), "Content-Type": "text/csv"}
    body = b"order_ref,sku,quantity\nA,X,1\n"
    for value in OUT_OF_RANGE:
        r = client.post(
            "/api/v1/orders/import", params={"connector_id": value}, headers=headers, content=body
        )
        assert_invalid_request(r)
    r = client.post(
        "/api/v1/orders/import", params={"connector_id": MAX_ID}, headers=headers, content=body
    )
    assert r.status_code == 404


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=st.one_of(
        st.integers(min_value=-3, max_value=3),
        st.integers(min_value=MAX_ID - 3, max_value=MAX_ID + 3),
        st.integers(min_value=MAX_ID, max_value=10**40),
    )
)
def test_any_order_id_is_404_or_422_never_500(client: TestClient, ctx: Context, value: int) -> None:
    r = client.get(f"/api/v1/orders/{value}", headers=admin(ctx))
    assert r.status_code == (404 if 1 <= value <= MAX_ID else 422), r.text
    assert r.headers["content-type"] == "application/problem+json"


# --- webhooks: the lean path and FastAPI's --------------------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=st.one_of(
        st.integers(min_value=0, max_value=3),
        st.integers(min_value=10**17 - 2, max_value=10**18 + 2),
        st.integers(min_value=MAX_ID - 3, max_value=MAX_ID + 3),
        st.integers(min_value=MAX_ID, max_value=10**40),
    )
)
def test_a_webhook_to_any_connector_id_is_404_or_422_never_500(
    client: TestClient, value: int
) -> None:
    r = client.post(
        f"/webhooks/{value}", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == (404 if 1 <= value <= MAX_ID else 422), r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "path", ["/webhooks/-1", "/webhooks/0009223372036854775807", "/webhooks/1e3"]
)
def test_odd_webhook_paths_are_problems(client: TestClient, path: str) -> None:
    r = client.post(path, content=b"{}")
    assert r.status_code in (404, 422), r.text
    assert r.headers["content-type"] == "application/problem+json"


# --- quantities and counts in bodies ----------------------------------------------------------


COUNTS: list[tuple[str, str, Any, int]] = [
    (
        "POST",
        "/api/v1/fulfilment-orders/1/shipments",
        {"external_ref": "P", "lines": [{"sku": "MUG", "quantity": "{id}"}]},
        MAX_LINE_QUANTITY,
    ),
    (
        "POST",
        "/api/v1/fulfilment-orders/1/reject",
        {"reason": "stock_discrepancy", "counted": [{"sku": "MUG", "on_hand": "{id}"}]},
        MAX_STOCK_UNITS,
    ),
    (
        "PUT",
        "/api/v1/stock",
        {"warehouse_id": 1, "sku": "MUG", "on_hand": "{id}"},
        MAX_STOCK_UNITS,
    ),
    (
        "PUT",
        "/api/v1/stock",
        {"warehouse_id": 1, "sku": "MUG", "safety": "{id}"},
        MAX_STOCK_UNITS,
    ),
    (
        "POST",
        "/api/v1/stock/adjustments",
        {"warehouse_id": 1, "sku": "MUG", "delta": "{id}", "reason": "count"},
        MAX_STOCK_UNITS,
    ),
    (
        "PUT",
        "/api/v1/connectors/1/listings",
        [{"sku": "MUG", "channel_ref": "r", "buffer": "{id}"}],
        1_000_000,
    ),
    ("PATCH", "/api/v1/warehouses/1", {"daily_order_capacity": "{id}"}, 1_000_000),
]


@pytest.mark.parametrize("case", COUNTS, ids=[f"{m} {p} {b}" for m, p, b, _ in COUNTS])
def test_counts_in_bodies_are_bounded(
    client: TestClient, ctx: Context, case: tuple[str, str, Any, int]
) -> None:
    method, path, body, limit = case
    headers = admin(ctx)
    for value in [limit + 1, 2**31, 2**63, 10**20]:
        assert_invalid_request(
            client.request(method, path, headers=headers, json=fill(body, value))
        )
    assert_not_a_server_error(client.request(method, path, headers=headers, json=fill(body, limit)))


def test_a_stock_adjustment_may_not_take_more_than_the_bound_either(
    client: TestClient, ctx: Context
) -> None:
    body = {"warehouse_id": 1, "sku": "MUG", "delta": -MAX_STOCK_UNITS - 1, "reason": "count"}
    assert_invalid_request(client.post("/api/v1/stock/adjustments", headers=admin(ctx), json=body))


# --- PATCH with null ---------------------------------------------------------------------


def make_warehouse(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    body = {
        "code": "EAST",
        "name": "East",
        "address": {"postal_code": "10001", "country": "US"},
        "tags": ["cold-chain"],
        "channels": ["shopify"],
        "rate_table": [{"max_km": 500, "base": 4.5, "per_kg": 0.2}],
        "calendar": {"closed_weekdays": [6]},
        "channel_buffers": {"amazon": 2},
        "daily_order_capacity": 50,
        "cutoff_local_time": "15:00",
        "latitude": 40.7,
        "longitude": -74.0,
    }
    created = client.post("/api/v1/warehouses", json=body, headers=headers)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def audit_actions(ctx: Context) -> list[str]:
    with unit_of_work(ctx.sessions) as s:
        return list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))


@pytest.mark.parametrize(
    "field",
    ["name", "address", "priority", "enabled", "tags", "channels", "timezone", "rate_table"],
)
def test_null_for_a_field_that_cannot_be_null_is_422_and_writes_nothing(
    client: TestClient, ctx: Context, field: str
) -> None:
    headers = admin(ctx)
    before = make_warehouse(client, headers)
    body: dict[str, Any] = {"name": "Renamed", "priority": 7}
    body[field] = None
    r = client.patch(f"/api/v1/warehouses/{before['id']}", json=body, headers=headers)
    assert_invalid_request(r)
    assert [f["field"] for f in r.json()["fields"]] == [f"body.{field}"]
    assert client.get(f"/api/v1/warehouses/{before['id']}", headers=headers).json() == before
    listed = client.get("/api/v1/warehouses", headers=headers)
    assert listed.status_code == 200 and listed.json() == [before]
    assert "warehouse.update" not in audit_actions(ctx)


def test_null_clears_the_fields_that_may_be_cleared(client: TestClient, ctx: Context) -> None:
    headers = admin(ctx)
    before = make_warehouse(client, headers)
    cleared = {
        "calendar": None,
        "channel_buffers": None,
        "daily_order_capacity": None,
        "cutoff_local_time": None,
        "latitude": None,
        "longitude": None,
        "wms_connector_id": None,
    }
    r = client.patch(f"/api/v1/warehouses/{before['id']}", json=cleared, headers=headers)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["calendar"] == {"closed_weekdays": [], "holidays": []}
    assert after["channel_buffers"] == {}
    for key in ("daily_order_capacity", "cutoff_local_time", "latitude", "longitude"):
        assert after[key] is None, key
    assert after["tags"] == before["tags"]
    assert client.get("/api/v1/warehouses", headers=headers).status_code == 200


def test_the_service_refuses_null_for_a_field_that_cannot_be_null(
    client: TestClient, ctx: Context
) -> None:
    before = make_warehouse(client, admin(ctx))
    with pytest.raises(Invalid, match="tags"):
        warehouses.update_warehouse(ctx, before["id"], {"tags": None, "name": "X"}, actor="test")
    assert warehouses.get_warehouse(ctx, before["id"]).name == "East"


def test_a_null_already_stored_does_not_break_the_list(client: TestClient, ctx: Context) -> None:
    headers = admin(ctx)
    before = make_warehouse(client, headers)
    with unit_of_work(ctx.sessions) as s:  # as the old PATCH wrote it
        row = s.get_one(Warehouse, before["id"])
        row.tags = None  # type: ignore[assignment]
        row.channels = None  # type: ignore[assignment]
        row.rate_table = None  # type: ignore[assignment]
    listed = client.get("/api/v1/warehouses", headers=headers)
    assert listed.status_code == 200, listed.text
    (shown,) = listed.json()
    assert (shown["tags"], shown["channels"], shown["rate_table"]) == ([], [], [])
    assert client.get(f"/api/v1/warehouses/{before['id']}", headers=headers).status_code == 200


# --- a simulated order ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "order",
    [
        {"connector_id": 2**64, "lines": [{"sku": "MUG", "quantity": 1}]},
        {"connector_id": "abc", "lines": [{"sku": "MUG", "quantity": 1}]},
        {"connector_id": 1, "lines": "MUG"},
        {"connector_id": 1, "lines": ["MUG"]},
        {"connector_id": 1, "lines": [{"sku": "MUG", "quantity": 10**20}]},
        {"connector_id": 1, "lines": [{"sku": "MUG", "quantity": 1}] * 1_001},
    ],
    ids=["id-too-big", "id-not-a-number", "lines-a-string", "line-a-string", "quantity", "lines"],
)
def test_a_simulated_order_out_of_shape_is_422(
    client: TestClient, ctx: Context, order: dict[str, Any]
) -> None:
    r = client.post("/api/v1/routing/simulate", headers=admin(ctx), json={"order": order})
    assert_invalid_request(r)
