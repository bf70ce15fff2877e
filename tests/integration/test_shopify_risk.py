"""Shopify's fraud risk, read through GraphQL before an order is routed (issue 13, item 2).

A real Shopify order webhook carries no risk; with ``fetch_risk_assessment`` on, omniroute asks
the fake Admin API for ``Order.risk`` outside the processing transaction and holds what the
release policy says to hold. ``orders/risk_assessment_changed`` makes it read the risk again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omniroute.connectors.shopify.webhooks import sign
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import build_world, stock
from tests.integration.shopify_fake_api import (
    API_VERSION,
    GRAPHQL_PATH,
    FulfillmentOrderSpec,
    ShopifyFake,
    sample_order,
)

TOKEN = "shpat_risk_test"
SECRET = "risk-webhook-secret"
LOCATION = 655441491
GREEN = "IPOD2008GREEN"


@dataclass
class Env:
    ctx: Context
    client: TestClient
    wms: FakeWms
    shop: ShopifyFake
    connector_id: int
    ops: dict[str, str]


def _bearer(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=f'risk-{role.value}')}"}


def _connector(client: TestClient, admin: dict[str, str], shop: ShopifyFake, fetch: bool) -> int:
    r = client.post(
        "/api/v1/connectors",
        json={
            "kind": "shopify",
            "name": f"shopify-risk-{fetch}",
            "config": {
                "api_base_url": shop.api_base_url,
                "api_version": API_VERSION,
                "fetch_risk_assessment": fetch,
            },
            "secrets": {"webhook_secret": SECRET, "access_token": TOKEN},
            "enabled": True,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    connector_id: int = r.json()["id"]
    return connector_id


@pytest.fixture(params=[True], ids=["fetch_risk"])
def env(ctx: Context, wms: FakeWms, client: TestClient, request: Any) -> Iterator[Env]:
    with ShopifyFake(access_token=TOKEN, first_fulfillment_id=1) as shop:
        world = build_world(ctx, wms.base_url)
        stock(ctx, world.warehouse_ids["EAST"], GREEN, 50)
        admin = _bearer(ctx, Role.ADMIN)
        connector_id = _connector(client, admin, shop, request.param)
        yield Env(ctx, client, wms, shop, connector_id, _bearer(ctx, Role.OPS))


def order(order_id: int, *, updated_at: str = "2026-11-02T10:00:00-05:00") -> dict[str, Any]:
    """The recorded sample order with our id and one line of GREEN."""
    body = copy.deepcopy(sample_order())
    line = {**body["line_items"][0], "id": order_id * 10, "sku": GREEN, "quantity": 1}
    body.update(id=order_id, name=f"#{order_id}", updated_at=updated_at, line_items=[line])
    body["fulfillments"] = []
    return body


def deliver(env: Env, body: dict[str, Any], topic: str = "orders/create") -> None:
    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": f"{topic}-{body.get('id', body.get('order_id'))}-{len(raw)}",
        "X-Shopify-Hmac-Sha256": sign(SECRET.encode(), raw),
    }
    receive_webhook(env.ctx, env.connector_id, headers, raw)
    drain(env.ctx)


def publish(env: Env, body: dict[str, Any], risk: dict[str, Any] | None) -> None:
    """Shopify holds the order (and its risk, if any) for the connector to read."""
    spec = FulfillmentOrderSpec(body["id"] * 100, LOCATION, (body["id"] * 10,))
    env.shop.add_order(body, [spec])
    if risk is not None:
        env.shop.risks[body["id"]] = risk


def detail(env: Env, external_id: int) -> dict[str, Any]:
    rows = env.client.get("/api/v1/orders", headers=env.ops, params={"limit": 1000}).json()
    (row,) = [r for r in rows if r["external_id"] == str(external_id)]
    found: dict[str, Any] = env.client.get(f"/api/v1/orders/{row['id']}", headers=env.ops).json()
    return found


def risk_calls(env: Env) -> int:
    return sum(
        1
        for r in env.shop.http.requests_to("POST", GRAPHQL_PATH)
        if "risk" in str((r.json or {}).get("query"))
    )


def assessment(level: str) -> dict[str, Any]:
    return {"riskLevel": level, "provider": None}


def test_a_high_risk_assessment_holds_the_order_for_review(env: Env) -> None:
    body = order(7001)
    publish(env, body, {"recommendation": "INVESTIGATE", "assessments": [assessment("HIGH")]})
    deliver(env, body)

    held = detail(env, 7001)
    assert (held["status"], held["hold"]["code"]) == ("on_hold", "risk")
    assert "high" in held["hold"]["reason"]
    (review,) = held["exceptions"]
    assert (review["reason"], review["detail"]["hold"]) == ("held_for_review", "risk")
    assert env.wms.accepted_count == 0
    assert risk_calls(env) == 1
    (call,) = [r for r in env.shop.http.requests_to("POST", GRAPHQL_PATH)]
    assert call.json["variables"] == {"id": "gid://shopify/Order/7001"}


def test_a_cancel_recommendation_counts_as_high_whatever_the_levels(env: Env) -> None:
    body = order(7002)
    publish(env, body, {"recommendation": "CANCEL", "assessments": [assessment("LOW")]})
    deliver(env, body)
    assert detail(env, 7002)["hold"]["code"] == "risk"


def test_a_low_risk_order_routes_and_a_later_version_reads_the_risk_again(env: Env) -> None:
    body = order(7003)
    publish(env, body, {"recommendation": "ACCEPT", "assessments": [assessment("LOW")]})
    deliver(env, body)
    routed = detail(env, 7003)
    assert routed["status"] == "released"
    assert env.wms.accepted_count == 1
    assert risk_calls(env) == 1

    # Once a warehouse holds it, a newer version costs no risk call.
    deliver(env, order(7003, updated_at="2026-11-02T11:00:00-05:00"), topic="orders/updated")
    assert risk_calls(env) == 1


def test_a_pending_assessment_holds_until_shopify_says_it_ended(env: Env) -> None:
    body = order(7004)
    publish(env, body, {"recommendation": "NONE", "assessments": [assessment("PENDING")]})
    deliver(env, body)
    waiting = detail(env, 7004)
    assert (waiting["status"], waiting["hold"]["code"]) == ("on_hold", "risk_pending")
    assert waiting["exceptions"] == []  # it ends by itself: nobody needs to look yet
    assert env.wms.accepted_count == 0

    # The same pending verdict again changes nothing.
    changed = {
        "order_id": 7004,
        "admin_graphql_api_order_id": "gid://shopify/Order/7004",
        "risk_level": "pending",
        "provider_title": "Shopify",
    }
    deliver(env, changed, topic="orders/risk_assessment_changed")
    assert detail(env, 7004)["hold"]["code"] == "risk_pending"

    # The assessment ends low: the same order version, read again, is routed.
    env.shop.risks[7004] = {"recommendation": "ACCEPT", "assessments": [assessment("LOW")]}
    deliver(env, {**changed, "risk_level": "low"}, topic="orders/risk_assessment_changed")
    released = detail(env, 7004)
    assert released["status"] == "released"
    assert released["hold"] is None
    assert env.wms.accepted_count == 1


def test_a_pending_assessment_that_ends_high_goes_to_review(env: Env) -> None:
    body = order(7005)
    publish(env, body, {"recommendation": "NONE", "assessments": [assessment("PENDING")]})
    deliver(env, body)
    env.shop.risks[7005] = {"recommendation": "CANCEL", "assessments": [assessment("HIGH")]}
    deliver(env, {"order_id": 7005, "risk_level": "high"}, topic="orders/risk_assessment_changed")
    held = detail(env, 7005)
    assert (held["status"], held["hold"]["code"]) == ("on_hold", "risk")
    assert [x["reason"] for x in held["exceptions"]] == ["held_for_review"]
    assert env.wms.accepted_count == 0


def test_an_order_shopify_does_not_know_is_kept_failed_with_the_reason(env: Env) -> None:
    body = order(7006)  # delivered by webhook, but the fake has no such order
    deliver(env, body)
    r = env.client.get("/api/v1/exceptions", headers=env.ops, params={"status": "open"})
    reasons = [(x["reason"], json.dumps(x["detail"])) for x in r.json()]
    assert any("fraud risk of order 7006" in text for _, text in reasons), reasons
    assert env.wms.accepted_count == 0


@pytest.mark.parametrize("env", [False], indirect=True, ids=["no_fetch"])
def test_without_the_option_no_risk_is_read(env: Env) -> None:
    body = order(7007)
    publish(env, body, {"recommendation": "CANCEL", "assessments": [assessment("HIGH")]})
    deliver(env, body)
    assert detail(env, 7007)["status"] == "released"
    assert risk_calls(env) == 0
