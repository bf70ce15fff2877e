"""Request bodies take JSON types as they are, and every error answer is declared."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role

ADDRESS = {"postal_code": "10001", "country": "US"}


@pytest.fixture
def admin(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=Role.ADMIN, name='a')}"}


def make_warehouse(client: TestClient, admin: dict[str, str]) -> int:
    r = client.post(
        "/api/v1/warehouses", headers=admin, json={"code": "W", "name": "W", "address": ADDRESS}
    )
    assert r.status_code == 201, r.text
    wid: int = r.json()["id"]
    return wid


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("on_hand", False),
        ("on_hand", True),
        ("on_hand", "5"),
        ("on_hand", 5.5),
        ("warehouse_id", True),
    ],
)
def test_a_boolean_or_a_string_is_not_an_integer(
    client: TestClient, admin: dict[str, str], field: str, value: Any
) -> None:
    wid = make_warehouse(client, admin)
    body = {"warehouse_id": wid, "sku": "A", "on_hand": 5, field: value}
    r = client.put("/api/v1/stock", headers=admin, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [f["field"] for f in r.json()["fields"]] == [f"body.{field}"]
    assert (
        client.put(
            "/api/v1/stock", headers=admin, json={**body, field: 5 if field == "on_hand" else wid}
        ).status_code
        == 200
    )


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_zero_or_one_is_not_a_boolean(
    client: TestClient, admin: dict[str, str], value: Any
) -> None:
    body = {"code": "W", "name": "W", "address": ADDRESS, "enabled": value}
    r = client.post("/api/v1/warehouses", headers=admin, json=body)
    assert r.status_code == 422, r.text
    assert "must be a boolean" in r.json()["fields"][0]["message"]


def test_lists_and_maps_of_numbers_refuse_booleans_too(
    client: TestClient, admin: dict[str, str]
) -> None:
    wid = make_warehouse(client, admin)
    for patch in (
        {"calendar": {"closed_weekdays": [True]}},
        {"channel_buffers": {"shopify": False}},
        {"priority": "1"},
    ):
        r = client.patch(f"/api/v1/warehouses/{wid}", headers=admin, json=patch)
        assert r.status_code == 422, (patch, r.text)
    ok = {"calendar": {"closed_weekdays": [6]}, "channel_buffers": {"shopify": 2}, "priority": 3}
    assert client.patch(f"/api/v1/warehouses/{wid}", headers=admin, json=ok).status_code == 200


def test_enums_and_dates_still_come_as_strings(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/api/v1/tokens", headers=admin, json={"role": "ops", "name": "n"})
    assert r.status_code == 201, r.text
    body = {"code": "C", "name": "C", "address": ADDRESS, "calendar": {"holidays": ["2026-12-25"]}}
    assert client.post("/api/v1/warehouses", headers=admin, json=body).status_code == 201


def test_strings_in_bodies_are_bounded(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/connectors",
        headers=admin,
        json={"kind": "k" * 10_001, "name": "n"},
    )
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "body.kind"


def test_a_body_that_is_not_even_text_is_a_400_problem(
    client: TestClient, admin: dict[str, str]
) -> None:
    r = client.put(
        "/api/v1/stock", headers={**admin, "Content-Type": "application/json"}, content=b"\x80\xfe{"
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "malformed_body"
    r = client.put(
        "/api/v1/stock", headers={**admin, "Content-Type": "application/json"}, content=b"{no"
    )
    assert r.status_code == 422  # text, but not JSON: a validation problem naming the body


def test_every_operation_declares_its_problems(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]
    assert len(operations) > 40
    for path, method, op in operations:
        responses = op["responses"]
        assert responses["500"]["content"] == problem, (path, method)
        for status, entry in responses.items():
            if int(status) >= 400:
                assert entry["content"] == problem, (path, method, status)
        if op.get("security"):
            assert {"401", "403", "429"} <= set(responses), (path, method)
            assert "Retry-After" in responses["429"]["headers"]
        if "requestBody" in op:
            assert {"400", "413", "422"} <= set(responses), (path, method)
    assert "HTTPValidationError" not in document["components"]["schemas"]
