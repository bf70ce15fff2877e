"""Routing with no rule set, through the API: nearest warehouse first, a trace that says why
not the others, a warning on the order when its address cannot be placed."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import SECRET, order_body, signed_headers
from tests.integration.test_api import auth

SKU = "IPOD2008GREEN"


def coasts(client: TestClient, admin: dict[str, str], wms_url: str) -> int:
    """A WMS, a Shopify shop, and two warehouses of equal priority with stock: NYC (10001,
    its street given as line1) and LA (90001, as address1). The shop's id."""
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
    for code, street, postal_code in (("NYC", "line1", "10001"), ("LA", "address1", "90001")):
        made = client.post(
            "/api/v1/warehouses",
            headers=admin,
            json={
                "code": code,
                "name": code,
                "priority": 10,
                "wms_connector_id": wms["id"],
                "address": {street: "1 Dock Rd", "postal_code": postal_code, "country": "US"},
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["address"]["address1"] == "1 Dock Rd"
        assert "line1" not in made.json()["address"]
        stocked = client.put(
            "/api/v1/stock",
            headers=admin,
            json={"warehouse_id": made.json()["id"], "sku": SKU, "on_hand": 5},
        )
        assert stocked.status_code == 200, stocked.text
    return int(shop["id"])


def order_to(
    client: TestClient, ctx: Context, shop: int, number: int, **address: Any
) -> dict[str, Any]:
    """Post a Shopify order shipping to ``address`` (fields of its shipping_address), route
    it, and read it back through the API."""
    data = json.loads(order_body(number, [(SKU, 1)]))
    data["shipping_address"] |= address
    body = json.dumps(data).encode()
    posted = client.post(f"/webhooks/{shop}", content=body, headers=signed_headers(body))
    assert posted.status_code == 200, posted.text
    drain(ctx)
    admin = auth(ctx, Role.ADMIN)
    (listed,) = [
        o
        for o in client.get("/api/v1/orders", headers=admin).json()
        if o["external_id"] == str(number)
    ]
    detail: dict[str, Any] = client.get(f"/api/v1/orders/{listed['id']}", headers=admin).json()
    return detail


def test_without_rules_an_order_to_10003_ships_from_nyc_not_la(
    client: TestClient, ctx: Context, wms: FakeWms
) -> None:
    shop = coasts(client, auth(ctx, Role.ADMIN), wms.base_url)
    detail = order_to(client, ctx, shop, 17, zip="10003", country_code="US", province_code="NY")
    assert [fo["warehouse_code"] for fo in detail["fulfilment_orders"]] == ["NYC"]
    trace = detail["routing_decisions"][-1]["trace"]
    assert trace["headline"].startswith("Shipped from NYC: nearest with stock")
    la = next(c for c in trace["candidates"] if c["code"] == "LA")
    assert la["why_not"]["criterion"] == "distance"
    assert la["why_not"]["unit"] == "km"
    assert la["why_not"]["value"] > 3900
    assert detail["routing_warnings"] == []


def test_an_address_in_country_zz_routes_with_a_warning_on_the_order(
    client: TestClient, ctx: Context, wms: FakeWms
) -> None:
    shop = coasts(client, auth(ctx, Role.ADMIN), wms.base_url)
    detail = order_to(client, ctx, shop, 18, zip="12345", country_code="ZZ", country="Nowhere")
    assert detail["status"] == "released"
    (warning,) = detail["routing_warnings"]
    assert warning["code"] == "ship_to_not_located"
    assert "country ZZ" in warning["message"]
    (traced,) = detail["routing_decisions"][-1]["trace"]["warnings"]
    assert traced == {"code": warning["code"], "message": warning["message"]}


def test_a_warehouse_street_given_both_ways_must_agree(client: TestClient, ctx: Context) -> None:
    ops = auth(ctx, Role.OPS)
    address = {"line1": "1 Dock Rd", "address1": "2 Pier St", "postal_code": "1", "country": "US"}
    refused = client.post(
        "/api/v1/warehouses",
        headers=ops,
        json={"code": "X", "name": "X", "address": address},
    )
    assert refused.status_code == 422
    assert "give address1 or line1" in refused.text
    same = address | {"address1": "1 Dock Rd"}
    made = client.post(
        "/api/v1/warehouses", headers=ops, json={"code": "X", "name": "X", "address": same}
    )
    assert made.status_code == 201, made.text
    patched = client.patch(
        f"/api/v1/warehouses/{made.json()['id']}",
        headers=ops,
        json={"address": {"line2": "Gate 4", "postal_code": "2", "country": "US"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["address"]["address2"] == "Gate 4"


def test_the_api_says_in_words_why_a_warehouse_short_of_stock_lost(
    client: TestClient, ctx: Context, wms: FakeWms
) -> None:
    admin = auth(ctx, Role.ADMIN)
    shop = coasts(client, admin, wms.base_url)
    connectors = client.get("/api/v1/connectors", headers=admin).json()
    made = client.post(
        "/api/v1/warehouses",
        headers=admin,
        json={
            "code": "CHI",
            "name": "CHI",
            "priority": 10,
            "wms_connector_id": next(c["id"] for c in connectors if c["kind"] == "rest_wms"),
            "address": {"address1": "1 Dock Rd", "postal_code": "60601", "country": "US"},
        },
    )
    assert made.status_code == 201, made.text
    stocked = client.put(
        "/api/v1/stock",
        headers=admin,
        json={"warehouse_id": made.json()["id"], "sku": SKU, "on_hand": 0},
    )
    assert stocked.status_code == 200, stocked.text
    detail = order_to(client, ctx, shop, 18, zip="10003", country_code="US", province_code="NY")
    trace = detail["routing_decisions"][-1]["trace"]
    # Stored as figures; the API reads it in words, the figures left out.
    assert "short_of" not in trace
    chi = next(c for c in trace["candidates"] if c["code"] == "CHI")
    assert "stock" not in chi
    assert chi["why_not"] == {"reason": "no_stock", "short": {SKU: 1}, "text": f"short of {SKU}"}
    assert chi["verdict"] == f"lost: short of {SKU}"
    assert f"CHI short of {SKU}" in trace["headline"]
