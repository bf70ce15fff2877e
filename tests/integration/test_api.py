"""The REST API as clients see it: auth, errors, secrets, webhooks, stock and exceptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import Connector, InboundMessage
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import FIXTURES, SECRET, order_body, signed_headers


def auth(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def setup_world(client: TestClient, admin: dict[str, str], wms_url: str) -> dict[str, int]:
    wms = client.post(
        "/api/v1/connectors",
        headers=admin,
        json={"kind": "rest_wms", "name": "wms", "config": {"base_url": wms_url}},
    ).json()
    shop = client.post(
        "/api/v1/connectors",
        headers=admin,
        json={"kind": "shopify", "name": "shop", "secrets": {"webhook_secret": SECRET}},
    ).json()
    wh = client.post(
        "/api/v1/warehouses",
        headers=admin,
        json={
            "code": "EAST",
            "name": "East",
            "priority": 1,
            "wms_connector_id": wms["id"],
            "address": {"line1": "1 Dock Rd", "postal_code": "07102", "country": "us"},
        },
    )
    assert wh.status_code == 201, wh.text
    return {"wms": wms["id"], "shop": shop["id"], "warehouse": wh.json()["id"]}


def test_every_endpoint_needs_a_token_with_the_right_role(client: TestClient, ctx: Context) -> None:
    r = client.get("/api/v1/orders")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unauthorized"
    assert client.get("/api/v1/orders", headers={"Authorization": "Bearer nope"}).status_code == 401
    support, integration = auth(ctx, Role.SUPPORT), auth(ctx, Role.INTEGRATION)
    denied = client.post(
        "/api/v1/warehouses",
        headers=support,
        json={"code": "X", "name": "X", "address": {"postal_code": "1", "country": "US"}},
    )
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden"
    assert client.get("/api/v1/orders", headers=integration).status_code == 200
    assert client.get("/api/v1/exceptions", headers=integration).status_code == 403
    assert client.get("/api/v1/connectors", headers=support).status_code == 403
    ops = auth(ctx, Role.OPS)
    assert (
        client.post(
            "/api/v1/connectors",
            headers=ops,
            json={"kind": "shopify", "name": "s", "secrets": {"webhook_secret": "x"}},
        ).status_code
        == 403
    )
    assert (
        client.post("/api/v1/tokens", headers=ops, json={"role": "admin", "name": "x"}).status_code
        == 403
    )


def test_connector_secrets_are_write_only_and_encrypted(client: TestClient, ctx: Context) -> None:
    admin = auth(ctx, Role.ADMIN)
    created = client.post(
        "/api/v1/connectors",
        headers=admin,
        json={
            "kind": "shopify",
            "name": "shop",
            "config": {"shop_domain": "x.myshopify.com"},
            "secrets": {"webhook_secret": "very-secret-value", "access_token": "shpat_zzz"},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secrets_set"] == ["access_token", "webhook_secret"]
    assert body["webhook_url"].endswith(f"/webhooks/{body['id']}")
    for response in (
        created,
        client.get(f"/api/v1/connectors/{body['id']}", headers=admin),
        client.get("/api/v1/connectors", headers=admin),
    ):
        assert "very-secret-value" not in response.text
        assert "shpat_zzz" not in response.text
    with unit_of_work(ctx.sessions) as s:
        blob = s.scalars(select(Connector.secrets_encrypted)).one()
    assert blob is not None and b"very-secret-value" not in blob


def test_connector_config_errors_name_the_field(client: TestClient, ctx: Context) -> None:
    admin = auth(ctx, Role.ADMIN)
    r = client.post(
        "/api/v1/connectors",
        headers=admin,
        json={"kind": "rest_wms", "name": "w", "config": {"base_url": "ftp://x", "bogus": 1}},
    )
    assert r.status_code == 422
    fields = {f["field"] for f in r.json()["fields"]}
    assert {"config.base_url", "config.bogus"} <= fields
    r = client.post("/api/v1/connectors", headers=admin, json={"kind": "nope", "name": "n"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_kind"
    kinds = client.get("/api/v1/connector-kinds", headers=admin).json()
    assert {k["kind"] for k in kinds} >= {"shopify", "rest_wms"}


def test_private_wms_url_is_refused_without_the_dev_flag(ctx: Context) -> None:
    from omniroute.core.bootstrap import bootstrap
    from tests.conftest import make_settings

    strict = bootstrap(make_settings(ctx.settings.database_url, allow_private_urls=False))
    try:
        with TestClient(create_app(strict)) as c:
            r = c.post(
                "/api/v1/connectors",
                headers=auth(strict, Role.ADMIN),
                json={
                    "kind": "rest_wms",
                    "name": "w",
                    "config": {"base_url": "http://169.254.169.254/latest"},
                },
            )
        assert r.status_code == 422
        assert r.json()["code"] == "unsafe_url"
    finally:
        strict.close()


def test_webhook_intake_over_http(client: TestClient, ctx: Context, wms: FakeWms) -> None:
    admin = auth(ctx, Role.ADMIN)
    ids = setup_world(client, admin, wms.base_url)
    assert (
        client.put(
            "/api/v1/stock",
            headers=admin,
            json={"warehouse_id": ids["warehouse"], "sku": "IPOD2008GREEN", "on_hand": 5},
        ).status_code
        == 200
    )
    url = f"/webhooks/{ids['shop']}"
    body = order_body(9, [("IPOD2008GREEN", 1)])
    headers = signed_headers(body, "hook-1")
    first = client.post(url, content=body, headers=headers)
    again = client.post(url, content=body, headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "accepted"
    assert again.status_code == 200 and again.json() == {
        "status": "duplicate",
        "inbound_id": None,
        "duplicate": True,
    }

    tampered = client.post(
        url,
        content=body.replace(b'"quantity": 1', b'"quantity": 9'),
        headers=signed_headers(body, "hook-2"),
    )
    assert tampered.status_code == 401 and tampered.json()["code"] == "bad_signature"
    assert client.post("/webhooks/999", content=body, headers=headers).status_code == 404
    huge = b"{" + b" " * (ctx.settings.max_body_bytes + 1) + b"}"
    too_big = client.post(url, content=huge, headers=signed_headers(huge, "hook-3"))
    assert too_big.status_code == 413 and too_big.json()["code"] == "body_too_large"
    with unit_of_work(ctx.sessions) as s:
        assert len(list(s.scalars(select(InboundMessage)))) == 1

    metrics = client.get("/metrics").text
    assert 'omniroute_webhook_signature_failures_total{kind="shopify"}' in metrics
    drain(ctx)
    orders = client.get("/api/v1/orders", headers=admin).json()
    assert [o["status"] for o in orders] == ["released"]
    detail = client.get(f"/api/v1/orders/{orders[0]['id']}", headers=admin).json()
    assert detail["fulfilment_orders"][0]["warehouse_code"] == "EAST"
    assert detail["timeline"][-1]["from"] == "routed"
    assert detail["timeline"][-1]["to"] == "released"
    assert detail["lines"][0]["sku"] == "IPOD2008GREEN"
    assert detail["routing_decisions"][0]["trace"]["candidates"][0]["code"] == "EAST"


@pytest.mark.parametrize(
    "sample", sorted((FIXTURES / "shopify").glob("*order*.json")), ids=lambda p: p.name
)
def test_every_shopify_sample_goes_through_unchanged(
    client: TestClient, ctx: Context, wms: FakeWms, sample: Path
) -> None:
    admin = auth(ctx, Role.ADMIN)
    ids = setup_world(client, admin, wms.base_url)
    raw = sample.read_bytes()
    order = json.loads(raw)["order"]
    for line in order["line_items"]:
        client.put(
            "/api/v1/stock",
            headers=admin,
            json={"warehouse_id": ids["warehouse"], "sku": line["sku"], "on_hand": 10},
        )
    # The file as it is (REST shape, wrapped) and the bare object a webhook carries.
    bare = json.dumps(order).encode()
    for n, body in enumerate((raw, bare)):
        r = client.post(
            f"/webhooks/{ids['shop']}", content=body, headers=signed_headers(body, f"sample-{n}")
        )
        assert r.status_code == 200, r.text
    drain(ctx)
    (listed,) = client.get("/api/v1/orders", headers=admin).json()
    assert listed["external_id"] == str(order["id"])
    assert listed["status"] == "released"
    assert listed["total"] == order["total_price"]


def test_bad_payload_is_kept_with_a_reason_and_replayable(
    client: TestClient, ctx: Context, wms: FakeWms
) -> None:
    admin = auth(ctx, Role.ADMIN)
    ids = setup_world(client, admin, wms.base_url)
    body = b'{"id": 5, "line_items": "not a list"}'
    assert (
        client.post(
            f"/webhooks/{ids['shop']}", content=body, headers=signed_headers(body)
        ).status_code
        == 200
    )
    drain(ctx)
    (exc,) = client.get("/api/v1/exceptions", headers=admin).json()
    assert exc["reason"] == "invalid_payload"
    assert exc["created_at"].endswith("+00:00")
    assert exc["inbound_message_id"] is not None
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(InboundMessage, exc["inbound_message_id"]).body == body
    retried = client.post(f"/api/v1/exceptions/{exc['id']}/retry", headers=admin)
    assert retried.status_code == 202 and retried.json()["task"] == "omniroute.process_inbound"
    again = client.post(f"/api/v1/exceptions/{exc['id']}/retry", headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "not_open"


def test_stock_set_adjust_ledger_and_guards(client: TestClient, ctx: Context, wms: FakeWms) -> None:
    admin = auth(ctx, Role.ADMIN)
    ids = setup_world(client, admin, wms.base_url)
    wid = ids["warehouse"]
    r = client.put(
        "/api/v1/stock",
        headers=admin,
        json={"warehouse_id": wid, "sku": "S1", "on_hand": 10, "safety": 2},
    )
    assert r.json()["available"] == 8
    r = client.post(
        "/api/v1/stock/adjustments",
        headers=admin,
        json={"warehouse_id": wid, "sku": "S1", "delta": -3, "reason": "damage"},
    )
    assert r.json()["on_hand"] == 7
    r = client.post(
        "/api/v1/stock/adjustments",
        headers=admin,
        json={"warehouse_id": wid, "sku": "S1", "delta": -30, "reason": "count"},
    )
    assert r.status_code == 409 and r.json()["code"] == "negative_stock"
    ledger = client.get("/api/v1/stock/ledger", headers=admin, params={"sku": "S1"}).json()
    assert [(e["delta_on_hand"], e["delta_safety"], e["reason"]) for e in ledger] == [
        (10, 2, "set"),
        (-3, 0, "damage"),
    ]
    bad = client.put(
        "/api/v1/stock", headers=admin, json={"warehouse_id": wid, "sku": "S1", "on_hand": -1}
    )
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "body.on_hand"
    missing = client.put(
        "/api/v1/stock", headers=admin, json={"warehouse_id": 999, "sku": "S1", "on_hand": 1}
    )
    assert missing.status_code == 404


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["broker"]["mode"] == "embedded"
    assert client.get("/docs").status_code == 200
    assert "/api/v1/orders" in client.get("/openapi.json").json()["paths"]


def test_warehouse_routing_attributes_are_kept_and_updated(
    client: TestClient, ctx: Context
) -> None:
    ops = auth(ctx, Role.OPS)
    body = {
        "code": "COLD",
        "name": "Cold store",
        "address": {"country": "US", "postal_code": "60601"},
        "tags": ["cold-chain"],
        "channels": ["shopify"],
        "daily_order_capacity": 500,
        "cutoff_local_time": "15:30",
        "timezone": "America/Chicago",
        "latitude": 41.88,
        "longitude": -87.62,
        "rate_table": [{"max_km": 500, "base": 4.5, "per_kg": 0.2}],
    }
    created = client.post("/api/v1/warehouses", json=body, headers=ops)
    assert created.status_code == 201, created.text
    got = client.get(f"/api/v1/warehouses/{created.json()['id']}", headers=ops).json()
    for key in ("tags", "channels", "daily_order_capacity", "cutoff_local_time", "timezone"):
        assert got[key] == body[key], key
    assert got["rate_table"] == body["rate_table"]
    patched = client.patch(
        f"/api/v1/warehouses/{got['id']}",
        json={"channels": [], "tags": ["cold-chain", "hazmat"]},
        headers=ops,
    ).json()
    assert patched["channels"] == [] and patched["tags"] == ["cold-chain", "hazmat"]
