"""Token lifecycle (create, list, revoke, expiry, last use) and scoped tokens over HTTP."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import LAST_USED_GRANULARITY, create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.exceptions.opening import Reason
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import ApiToken, FulfilmentOrder, OrderException, SalesOrder
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import SECRET, World, build_world, order_body, post, stock


class SteppedClock:
    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> None:
        self._now += by


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin(ctx: Context) -> dict[str, str]:
    return bearer(create_token(ctx, role=Role.ADMIN, name="admin"))


def test_a_token_is_shown_once_listed_without_its_value_and_refused_once_revoked(
    ctx: Context, client: TestClient
) -> None:
    boss = admin(ctx)
    made = client.post(
        "/api/v1/tokens",
        headers=boss,
        json={"role": "viewer", "name": "dashboard", "owner": "ops team"},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    value = body["token"]
    assert value.startswith("omr_")
    assert (body["role"], body["owner"], body["created_by"]) == (
        "viewer",
        "ops team",
        "token:1:admin",
    )
    assert client.get("/api/v1/orders", headers=bearer(value)).status_code == 200

    listed = client.get("/api/v1/tokens", headers=boss)
    assert listed.status_code == 200
    assert value not in listed.text
    mine = next(t for t in listed.json() if t["id"] == body["id"])
    assert "token" not in mine and "token_hash" not in mine
    assert mine["last_used_at"] is not None  # it was just used

    revoked = client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=boss)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = client.get("/api/v1/orders", headers=bearer(value))
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["code"] == "token_revoked"
    again = client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=boss).json()
    assert again["revoked_at"] == revoked.json()["revoked_at"]
    assert body["id"] not in [t["id"] for t in client.get("/api/v1/tokens", headers=boss).json()]
    everything = client.get("/api/v1/tokens?include_revoked=true", headers=boss).json()
    assert body["id"] in [t["id"] for t in everything]
    assert client.post("/api/v1/tokens/999/revoke", headers=boss).status_code == 404
    unknown = client.get("/api/v1/orders", headers=bearer("omr_nope"))
    assert (unknown.status_code, unknown.json()["code"]) == (401, "invalid_token")


def test_an_expired_token_is_a_401_and_last_use_is_written_once_a_minute(ctx: Context) -> None:
    clock = SteppedClock(ctx.clock.now())
    timed = dataclasses.replace(ctx, clock=clock)
    client = TestClient(create_app(timed))
    boss = admin(timed)
    expires = (clock.now() + timedelta(hours=1)).isoformat()
    made = client.post(
        "/api/v1/tokens", headers=boss, json={"role": "viewer", "name": "t", "expires_at": expires}
    ).json()
    past = (clock.now() - timedelta(seconds=1)).isoformat()
    late = client.post(
        "/api/v1/tokens", headers=boss, json={"role": "viewer", "name": "t", "expires_at": past}
    )
    assert (late.status_code, late.json()["code"]) == (422, "invalid_expiry")

    def last_used() -> object:
        with unit_of_work(ctx.sessions) as s:
            return s.get_one(ApiToken, made["id"]).last_used_at

    assert client.get("/api/v1/orders", headers=bearer(made["token"])).status_code == 200
    first = last_used()
    assert first == clock.now()
    clock.advance(LAST_USED_GRANULARITY - timedelta(seconds=1))
    client.get("/api/v1/orders", headers=bearer(made["token"]))
    assert last_used() == first  # within the minute: no write
    clock.advance(timedelta(seconds=1))
    client.get("/api/v1/orders", headers=bearer(made["token"]))
    assert last_used() == clock.now()

    clock.advance(timedelta(hours=1))
    expired = client.get("/api/v1/orders", headers=bearer(made["token"]))
    assert (expired.status_code, expired.json()["code"]) == (401, "token_expired")


def test_token_bodies_are_checked(ctx: Context, client: TestClient) -> None:
    boss = admin(ctx)
    for body in (
        {"role": "root", "name": "x"},
        {"role": "viewer", "name": ""},
        {"role": "viewer", "name": "x", "connector_ids": []},
        {"role": "viewer", "name": "x", "connector_ids": [0]},
        {"role": "viewer", "name": "x", "secret": "y"},
    ):
        assert client.post("/api/v1/tokens", headers=boss, json=body).status_code == 422, body
    missing = client.post(
        "/api/v1/tokens", headers=boss, json={"role": "viewer", "name": "x", "warehouse_ids": [77]}
    )
    assert (missing.status_code, missing.json()["code"]) == (422, "invalid_scope")


def two_channels(ctx: Context, wms: FakeWms) -> tuple[World, World]:
    world = build_world(ctx, wms.base_url)
    other = connector_admin.create_connector(
        ctx,
        kind="shopify",
        name="shop-2",
        config={},
        secrets={"webhook_secret": SECRET},
        enabled=True,
        actor="test",
    )
    return world, dataclasses.replace(world, shopify_id=other.id)


def test_a_connector_scoped_token_sees_only_its_channel(
    ctx: Context, client: TestClient, wms: FakeWms
) -> None:
    first, second = two_channels(ctx, wms)
    stock(ctx, first.warehouse_ids["EAST"], "A", 10)
    post(ctx, first, order_body(501, [("A", 1)]))
    post(ctx, second, order_body(502, [("A", 1)]))
    post(ctx, second, order_body(503, [("UNKNOWN-SKU", 1)]))  # an exception on channel 2
    post(ctx, first, order_body(504, [("UNKNOWN-SKU", 1)]))  # and one on channel 1
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        by_channel = {o.external_id: (o.id, o.connector_id) for o in s.scalars(select(SalesOrder))}
        exceptions = {
            e.order_id: e.id
            for e in s.scalars(
                select(OrderException).where(OrderException.reason == Reason.UNKNOWN_SKU)
            )
        }
    mine, theirs = by_channel["501"][0], by_channel["502"][0]
    scoped = bearer(
        create_token(ctx, role=Role.OPS, name="shop-1 ops", connector_ids=[first.shopify_id])
    )

    listed = client.get("/api/v1/orders", headers=scoped).json()
    assert {o["id"] for o in listed} == {mine, by_channel["504"][0]}
    assert client.get(f"/api/v1/orders/{mine}", headers=scoped).status_code == 200
    hidden = client.get(f"/api/v1/orders/{theirs}", headers=scoped)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    cancel = client.post(f"/api/v1/orders/{theirs}/cancel", headers=scoped, json={"reason": "x"})
    assert cancel.status_code == 404
    assert client.get(f"/api/v1/orders/{theirs}", headers=admin(ctx)).status_code == 200

    seen = client.get("/api/v1/exceptions", headers=scoped).json()
    assert {e["id"] for e in seen} == {exceptions[by_channel["504"][0]]}
    other_exception = exceptions[by_channel["503"][0]]
    assert client.get(f"/api/v1/exceptions/{other_exception}", headers=scoped).status_code == 404
    retry = client.post(f"/api/v1/exceptions/{other_exception}/retry", headers=scoped)
    assert retry.status_code == 404

    with unit_of_work(ctx.sessions) as s:
        fo_theirs = s.scalars(
            select(FulfilmentOrder.id).where(FulfilmentOrder.order_id == theirs)
        ).one()
    shipped = client.post(
        f"/api/v1/fulfilment-orders/{fo_theirs}/shipments",
        headers=scoped,
        json={"external_ref": "PKG"},
    )
    assert shipped.status_code == 404


def test_a_warehouse_scoped_token_ships_only_its_warehouses_fulfilment_orders(
    ctx: Context, client: TestClient, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    stock(ctx, east, "A", 5)
    stock(ctx, west, "B", 5)
    post(ctx, world, order_body(601, [("A", 1)]))
    post(ctx, world, order_body(602, [("B", 1)]))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        fos = {fo.warehouse_id: fo.id for fo in s.scalars(select(FulfilmentOrder))}
    east_wms = bearer(create_token(ctx, role=Role.WAREHOUSE, name="east", warehouse_ids=[east]))
    refused = client.post(
        f"/api/v1/fulfilment-orders/{fos[west]}/shipments",
        headers=east_wms,
        json={"external_ref": "W-1"},
    )
    assert refused.status_code == 404
    rejected = client.post(
        f"/api/v1/fulfilment-orders/{fos[west]}/reject",
        headers=east_wms,
        json={"reason": "rejected"},
    )
    assert rejected.status_code == 404
    shipped = client.post(
        f"/api/v1/fulfilment-orders/{fos[east]}/shipments",
        headers=east_wms,
        json={"external_ref": "E-1"},
    )
    assert shipped.status_code == 201, shipped.text
    # The warehouse role reads no orders at all.
    assert client.get("/api/v1/orders", headers=east_wms).status_code == 403
    east_ops = bearer(create_token(ctx, role=Role.OPS, name="east ops", warehouse_ids=[east]))
    assert [w["id"] for w in client.get("/api/v1/warehouses", headers=east_ops).json()] == [east]
    assert client.get(f"/api/v1/warehouses/{west}", headers=east_ops).status_code == 404
    patched = client.patch(f"/api/v1/warehouses/{west}", headers=east_ops, json={"priority": 1})
    assert patched.status_code == 404
    assert client.get(f"/api/v1/warehouses/{east}", headers=east_ops).status_code == 200


def generic(ctx: Context, name: str) -> int:
    row = connector_admin.create_connector(
        ctx,
        kind="generic_webhook",
        name=name,
        config={"default_channel": name},
        secrets={},
        enabled=True,
        actor="test",
    )
    return row.id


def test_a_connector_scoped_token_uploads_and_reads_only_its_connectors(
    ctx: Context, client: TestClient
) -> None:
    mine, theirs = generic(ctx, "phone"), generic(ctx, "fax")
    integrator = bearer(create_token(ctx, role=Role.INTEGRATOR, name="phone", connector_ids=[mine]))
    json_type = {"Content-Type": "application/json"}
    url = "/api/v1/orders/import"
    refused = client.post(
        url, params={"connector_id": theirs}, headers={**integrator, **json_type}, content=b"[]"
    )
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    allowed = client.post(
        url, params={"connector_id": mine}, headers={**integrator, **json_type}, content=b"[]"
    )
    assert allowed.status_code not in {403, 404}, allowed.text
    bad = client.post(
        url, params={"connector_id": "x"}, headers={**integrator, **json_type}, content=b"[]"
    )
    assert bad.status_code == 422

    ops = bearer(create_token(ctx, role=Role.OPS, name="phone ops", connector_ids=[mine]))
    assert [c["id"] for c in client.get("/api/v1/connectors", headers=ops).json()] == [mine]
    assert client.get(f"/api/v1/connectors/{theirs}", headers=ops).status_code == 404
    assert client.get(f"/api/v1/connectors/{mine}", headers=ops).status_code == 200
    assert client.get(f"/api/v1/connectors/{theirs}/listings", headers=ops).status_code == 404
    assert client.post(f"/api/v1/connectors/{theirs}/poll", headers=ops).status_code == 404
