"""Routing rules through the API: draft, validate, simulate, publish."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import SECRET, order_body, signed_headers


@pytest.fixture
def ops(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=Role.OPS, name='ops')}"}


def world(client: TestClient, ctx: Context, wms_url: str) -> dict[str, int]:
    admin = {"Authorization": f"Bearer {create_token(ctx, role=Role.ADMIN, name='a')}"}
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
    ids = {"shop": shop["id"]}
    for code, postal, priority in [("NYC", "10001", 1), ("LAX", "90012", 2)]:
        r = client.post(
            "/api/v1/warehouses",
            headers=admin,
            json={
                "code": code,
                "name": code,
                "priority": priority,
                "wms_connector_id": wms["id"],
                "address": {"postal_code": postal, "country": "US"},
            },
        )
        assert r.status_code == 201, r.text
        ids[code] = r.json()["id"]
        client.put(
            "/api/v1/stock",
            headers=admin,
            json={"warehouse_id": ids[code], "sku": "A", "on_hand": 10},
        )
    return ids


WEST_FIRST = {
    "name": "west-first",
    "timezone": "UTC",
    "default": {"ranking": ["priority", "stock_depth"]},
    "rules": [
        {
            "id": "west",
            "when": {"field": "country", "op": "eq", "value": "US"},
            "then": {"warehouses": {"include": ["LAX"]}},
        }
    ],
}


def test_draft_validate_simulate_publish_and_roll_back(
    client: TestClient, ctx: Context, ops: dict[str, str], wms: FakeWms
) -> None:
    ids = world(client, ctx, wms.base_url)
    bad = {
        "name": "broken",
        "timezone": "Mars/Olympus",
        "default": {},
        "rules": [{"id": "x", "when": {"field": "colour", "op": "eq", "value": 1}, "then": {}}],
    }
    draft = client.post("/api/v1/routing/rule-sets", headers=ops, json={"document": bad})
    assert draft.status_code == 201
    paths = {e["path"] for e in draft.json()["errors"]}
    assert "timezone" in paths and any(p.startswith("rules[0].when") for p in paths)
    refused = client.post(
        f"/api/v1/routing/rule-sets/{draft.json()['id']}/publish", headers=ops, json={}
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_rule_set"
    checked = client.post(
        "/api/v1/routing/rule-sets/validate", headers=ops, json={"document": WEST_FIRST}
    )
    assert checked.json() == {"valid": True, "errors": [], "warnings": []}

    body = order_body(700, [("A", 1)])
    client.post(f"/webhooks/{ids['shop']}", content=body, headers=signed_headers(body))
    drain(ctx)
    (order,) = client.get("/api/v1/orders", headers=ops).json()
    detail = client.get(f"/api/v1/orders/{order['id']}", headers=ops).json()
    assert detail["fulfilment_orders"][0]["warehouse_code"] == "NYC"  # default: priority
    assert detail["routing_decisions"][0]["policy"] == "default"

    sim = client.post(
        "/api/v1/routing/simulate",
        headers=ops,
        json={"order_id": order["id"], "document": WEST_FIRST},
    )
    assert sim.status_code == 200, sim.text
    assert [s["warehouse_code"] for s in sim.json()["shipments"]] == ["LAX"]
    assert sim.json()["trace"]["rules"]["matched"] == ["west"]

    good = client.post(
        "/api/v1/routing/rule-sets",
        headers=ops,
        json={"document": WEST_FIRST, "notes": "try the west"},
    ).json()
    published = client.post(
        f"/api/v1/routing/rule-sets/{good['id']}/publish", headers=ops, json={}
    ).json()
    assert published["status"] == "published" and published["version"] == 2
    frozen = client.put(
        f"/api/v1/routing/rule-sets/{good['id']}", headers=ops, json={"document": WEST_FIRST}
    )
    assert frozen.status_code == 409 and frozen.json()["code"] == "immutable"

    body = order_body(701, [("A", 1)])
    client.post(f"/webhooks/{ids['shop']}", content=body, headers=signed_headers(body))
    drain(ctx)
    newest = client.get("/api/v1/orders", headers=ops).json()[-1]
    detail = client.get(f"/api/v1/orders/{newest['id']}", headers=ops).json()
    assert detail["fulfilment_orders"][0]["warehouse_code"] == "LAX"
    assert detail["routing_decisions"][0]["policy"] == "west-first@v2"

    again = client.post(f"/api/v1/routing/rule-sets/{good['id']}/publish", headers=ops, json={})
    assert again.status_code == 409 and again.json()["code"] == "already_active"
    versions = client.get("/api/v1/routing/rule-sets", headers=ops).json()
    assert [(v["version"], v["status"], v["state"]) for v in versions] == [
        (1, "draft", "draft"),
        (2, "published", "active"),
    ]
    assert client.get("/api/v1/routing/schema", headers=ops).json()["type"] == "object"


def test_simulate_a_hypothetical_order_and_roles(
    client: TestClient, ctx: Context, ops: dict[str, str], wms: FakeWms
) -> None:
    ids = world(client, ctx, wms.base_url)
    order = {
        "connector_id": ids["shop"],
        "currency": "USD",
        "total": "10.00",
        "ship_to": {"country": "US", "postal_code": "94103", "city": "San Francisco"},
        "lines": [{"sku": "A", "quantity": 2}],
    }
    by_distance = {
        "name": "near",
        "timezone": "UTC",
        "default": {"ranking": ["distance", "priority"]},
        "rules": [],
    }
    sim = client.post(
        "/api/v1/routing/simulate", headers=ops, json={"order": order, "document": by_distance}
    )
    assert sim.status_code == 200, sim.text
    result = sim.json()
    assert [s["warehouse_code"] for s in result["shipments"]] == ["LAX"]
    assert result["trace"]["ship_to"]["level"] == "postal_code"
    integration = {"Authorization": f"Bearer {create_token(ctx, role=Role.INTEGRATION, name='i')}"}
    assert (
        client.post(
            "/api/v1/routing/rule-sets", headers=integration, json={"document": by_distance}
        ).status_code
        == 403
    )
    assert client.get("/api/v1/orders", headers=ops).json() == []  # nothing was written
    unknown = client.post(
        "/api/v1/routing/simulate",
        headers=ops,
        json={"order": {**order, "connector_id": 987_654}, "document": by_distance},
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["code"] == "invalid_order"


def test_backtest_reports_changed_decisions_against_the_stored_ones(
    client: TestClient, ctx: Context, ops: dict[str, str], wms: FakeWms
) -> None:
    ids = world(client, ctx, wms.base_url)
    for n in range(3):
        body = order_body(800 + n, [("A", 3)])
        client.post(f"/webhooks/{ids['shop']}", content=body, headers=signed_headers(body))
    drain(ctx)
    same = {"name": "same", "timezone": "UTC", "default": {"ranking": ["priority"]}, "rules": []}
    unchanged = client.post(
        "/api/v1/routing/backtest", headers=ops, json={"document": same, "last": 10}
    ).json()
    # Each order's own reservation is added back, so today's stock still fits it in NYC.
    assert unchanged["orders"] == 3 and unchanged["changed_decisions"] == 0
    report = client.post(
        "/api/v1/routing/backtest", headers=ops, json={"document": WEST_FIRST, "last": 10}
    )
    assert report.status_code == 200, report.text
    result = report.json()
    assert result["orders"] == 3 and result["changed_decisions"] == 3
    assert result["before"]["shipments_per_order"] == 1.0
    assert result["before"]["mean_distance_km"] is not None
    assert {c["after"]["warehouses"][0] for c in result["changes"]} == {"LAX"}
    assert {c["before"]["warehouses"][0] for c in result["changes"]} == {"NYC"}
    missing = client.post("/api/v1/routing/backtest", headers=ops, json={"last": 5})
    assert missing.status_code == 422 and missing.json()["code"] == "missing_rule_set"
