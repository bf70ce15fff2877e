"""The exception queue over HTTP: each exception's occurrences, first and last seen and
retries, and filters that accept only known values; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.exceptions.opening import Reason
from omniroute.core.orders import cancellation
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import build_world, order_body, post, stock


def headers(ctx: Context, role: Role = Role.SUPPORT) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def order_ids(ctx: Context) -> list[int]:
    with unit_of_work(ctx.sessions) as s:
        return list(s.scalars(select(SalesOrder.id).order_by(SalesOrder.id)))


def test_the_api_shows_occurrences_first_and_last_seen_and_retries(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "GONE", 0)
    post(ctx, world, order_body(305, [("GONE", 1)]))
    drain(ctx)
    client = TestClient(create_app(ctx))
    who = headers(ctx)
    (listed,) = client.get("/api/v1/exceptions", headers=who).json()
    assert client.post(f"/api/v1/exceptions/{listed['id']}/retry", headers=who).status_code == 202
    drain(ctx)

    (listed,) = client.get("/api/v1/exceptions", headers=who).json()
    detail = client.get(f"/api/v1/exceptions/{listed['id']}", headers=who).json()
    assert listed == detail
    assert (detail["status"], detail["occurrences"], detail["retries"]) == ("open", 2, 1)
    for key in ("first_seen_at", "last_seen_at", "last_retried_at"):
        assert detail[key].endswith("+00:00"), key
    assert detail["first_seen_at"] <= detail["last_retried_at"] <= detail["last_seen_at"]


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "status=",
        "reason=bogus",
        "reason=",
        "order_id=0",
        "order_id=-3",
        f"order_id={2**63}",
        "order_id=abc",
        "after_id=-1",
        f"after_id={2**63}",
        "limit=0",
        "limit=1001",
    ],
)
def test_unknown_or_out_of_range_filters_are_refused(ctx: Context, query: str) -> None:
    client = TestClient(create_app(ctx))
    r = client.get(f"/api/v1/exceptions?{query}", headers=headers(ctx))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_request"


@pytest.mark.parametrize("path", [f"/api/v1/exceptions/{2**63}", "/api/v1/exceptions/0"])
def test_an_exception_id_out_of_range_is_refused(ctx: Context, path: str) -> None:
    client = TestClient(create_app(ctx))
    r = client.get(path, headers=headers(ctx))
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = client.post(f"{path}/retry", headers=headers(ctx))
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_known_filters_are_accepted_and_listed_in_the_openapi(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "GONE", 0)
    post(ctx, world, order_body(306, [("GONE", 1)]))
    drain(ctx)
    (order_id,) = order_ids(ctx)
    client = TestClient(create_app(ctx))
    who = headers(ctx)

    def ids(query: str) -> list[int]:
        r = client.get(f"/api/v1/exceptions?{query}", headers=who)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()]

    (exc_id,) = ids("")
    assert ids("status=open&reason=no_stock") == [exc_id]
    assert ids(f"order_id={order_id}&after_id=0&limit=1") == [exc_id]
    assert ids(f"order_id={2**63 - 1}") == []
    assert ids("status=retried") == [] and ids("reason=unknown_sku") == []
    cancellation.cancel_order(ctx, order_id, reason="gone", actor="ops")
    assert ids("") == [] and ids("status=resolved") == [exc_id]
    assert ids("status=all") == [exc_id]

    params = {
        p["name"]: p["schema"]
        for p in client.get("/openapi.json").json()["paths"]["/api/v1/exceptions"]["get"][
            "parameters"
        ]
    }
    spec = client.get("/openapi.json").json()["components"]["schemas"]

    def enum_of(schema: dict[str, Any]) -> list[str]:
        for option in schema.get("anyOf", [schema]):
            ref = option.get("$ref")
            if ref:
                return list(spec[ref.rsplit("/", 1)[1]]["enum"])
            if "enum" in option:
                return list(option["enum"])
        raise AssertionError(schema)

    assert set(enum_of(params["status"])) == {"open", "retried", "resolved", "dismissed", "all"}
    assert set(enum_of(params["reason"])) == {r.value for r in Reason}
    assert params["order_id"]["anyOf"][0]["maximum"] == 2**63 - 1


def test_a_person_resolves_or_dismisses_with_a_note_once(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    for number in (311, 312):
        post(ctx, world, order_body(number, [("NOT-A-SKU", 1)]))
    drain(ctx)
    client = TestClient(create_app(ctx))
    who = headers(ctx)
    first, second = client.get("/api/v1/exceptions", headers=who).json()
    blank = client.post(f"/api/v1/exceptions/{first['id']}/resolve", headers=who, json={})
    assert blank.status_code == 422
    done = client.post(
        f"/api/v1/exceptions/{first['id']}/resolve", headers=who, json={"note": "re-keyed"}
    )
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["close_note"]) == ("resolved", "re-keyed")
    assert done.json()["closed_by"].startswith("token:")
    again = client.post(
        f"/api/v1/exceptions/{first['id']}/dismiss", headers=who, json={"note": "twice"}
    )
    assert (again.status_code, again.json()["code"]) == (409, "closed")
    dismissed = client.post(
        f"/api/v1/exceptions/{second['id']}/dismiss", headers=who, json={"note": "a test order"}
    )
    assert dismissed.json()["status"] == "dismissed"
    listed = client.get("/api/v1/exceptions?status=dismissed", headers=who).json()
    assert [x["id"] for x in listed] == [second["id"]]
    viewer = headers(ctx, Role.VIEWER)
    refused = client.post(
        f"/api/v1/exceptions/{second['id']}/resolve", headers=viewer, json={"note": "x"}
    )
    assert refused.status_code == 403
