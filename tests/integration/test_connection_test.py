"""Test connection: each connector's cheapest read call made with its stored configuration
and secrets, against real HTTP fakes on 127.0.0.1 (Shopify, the ERP); a failure says why,
and nothing is changed (health, audit)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.connectors.erp_rest.demo_server import FakeErp
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, list_entries
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.platform.security import Role
from tests.integration.builders import build_world
from tests.integration.console_kit import make_user, session_csrf, sign_in
from tests.integration.shopify_fake_api import API_VERSION, ShopifyFake

TOKEN = "shpat_test_connection_0123456789abcdef"


def shopify(ctx: Context, shop: ShopifyFake, token: str) -> int:
    row = connector_admin.create_connector(
        ctx,
        kind="shopify",
        name=f"shopify-{token[-4:]}",
        config={"api_base_url": shop.api_base_url, "api_version": API_VERSION},
        secrets={"webhook_secret": "whsec", "access_token": token},
        enabled=True,
        actor="test",
    )
    return row.id


def test_connections_are_tried_with_their_stored_secrets(cctx: Context, wms: FakeWms) -> None:
    world = build_world(cctx, wms.base_url)
    ops = {"Authorization": f"Bearer {create_token(cctx, role=Role.OPS, name='ops')}"}
    viewer = {"Authorization": f"Bearer {create_token(cctx, role=Role.VIEWER, name='v')}"}
    with (
        ShopifyFake(access_token=TOKEN, first_fulfillment_id=1) as shop,
        FakeErp() as erp,
        TestClient(create_app(cctx)) as client,
    ):
        good, bad = shopify(cctx, shop, TOKEN), shopify(cctx, shop, "shpat_wrong_token_0000")
        ledger = connector_admin.create_connector(
            cctx,
            kind="erp_rest",
            name="erp",
            config={"base_url": erp.base_url},
            secrets={"auth_header_value": "token k:s"},
            enabled=True,
            actor="test",
        ).id

        def test(connector_id: int, headers: dict[str, str] = ops) -> Any:
            answer = client.post(f"/api/v1/connectors/{connector_id}/test", headers=headers)
            assert answer.status_code == 200, answer.text
            return answer.json()

        assert test(good) == {
            "ok": True,
            "message": "Shopify's Admin API answered: orders can be read",
            "reason": None,
        }
        refused = test(bad)
        assert (refused["ok"], refused["reason"]) == (False, "http_401")
        assert test(ledger)["message"] == "the ERP answered: its item master can be read"
        assert test(world.shopify_id)["message"].startswith("webhooks only")
        assert "has no connection check" in test(world.wms_id)["message"]
        denied = client.post(f"/api/v1/connectors/{good}/test", headers=viewer)
        assert denied.status_code == 403
        missing = client.post("/api/v1/connectors/999999/test", headers=ops)
        assert missing.status_code == 404
        health = client.get(f"/api/v1/connectors/{bad}/health", headers=ops).json()
        assert health["consecutive_failures"] == 0  # a test changes nothing
    assert not [
        e
        for e in list_entries(cctx, AuditFilter(entity="connector"), limit=50)
        if e["action"] not in ("connector.create",)
    ]


def test_the_console_shows_what_answered(cctx: Context, wms: FakeWms) -> None:
    build_world(cctx, wms.base_url)
    make_user(cctx, "olga", Role.OPS)
    with (
        ShopifyFake(access_token=TOKEN, first_fulfillment_id=1) as shop,
        TestClient(create_app(cctx)) as client,
    ):
        bad = shopify(cctx, shop, "shpat_wrong_token_0000")
        sign_in(client, "olga")
        page = client.post(
            f"/console/connectors/{bad}/test", data={"csrf_token": session_csrf(client)}
        )
        assert page.status_code == 200, page.text
        assert 'id="connection-test"' in page.text and "failed (http_401)" in page.text
