"""Helpers that set up a world through the same services ops use."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniroute.connectors.shopify.webhooks import sign
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.intake.webhooks import IntakeResult, receive_webhook
from omniroute.core.stock import inventory, warehouses

FIXTURES = Path(__file__).parent.parent / "fixtures" / "third_party"
SECRET = "shpss_test_secret"


@dataclass
class World:
    shopify_id: int
    wms_id: int
    warehouse_ids: dict[str, int]


def build_world(
    ctx: Context,
    wms_url: str,
    warehouses_spec: list[tuple[str, int]] | None = None,
) -> World:
    wms = connector_admin.create_connector(
        ctx,
        kind="rest_wms",
        name="wms",
        config={"base_url": wms_url},
        secrets={},
        enabled=True,
        actor="test",
    )
    shop = connector_admin.create_connector(
        ctx,
        kind="shopify",
        name="shop",
        config={},
        secrets={"webhook_secret": SECRET},
        enabled=True,
        actor="test",
    )
    ids = {}
    for code, priority in warehouses_spec or [("EAST", 1), ("WEST", 2)]:
        wh = warehouses.create_warehouse(
            ctx,
            {
                "code": code,
                "name": code,
                "address": {"postal_code": "10001", "country": "US"},
                "country": "US",
                "postal_code": "10001",
                "priority": priority,
                "enabled": True,
                "wms_connector_id": wms.id,
            },
            actor="test",
        )
        ids[code] = wh.id
    return World(shopify_id=shop.id, wms_id=wms.id, warehouse_ids=ids)


def stock(ctx: Context, warehouse_id: int, sku: str, on_hand: int, safety: int = 0) -> None:
    inventory.set_stock(ctx, warehouse_id, sku, on_hand=on_hand, safety=safety, actor="test")


def sample_order() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / "shopify" / "shopify_python_api_order.json").read_text()
    )
    return data["order"]  # type: ignore[no-any-return]


def order_body(order_id: int, lines: list[tuple[str, int]]) -> bytes:
    """A webhook body shaped by the real sample, with our own id and lines."""
    order = sample_order()
    template = order["line_items"][0]
    order["id"] = order_id
    order["name"] = f"#{order_id}"
    order["line_items"] = [
        {**template, "id": order_id * 100 + i, "sku": sku, "quantity": qty}
        for i, (sku, qty) in enumerate(lines)
    ]
    return json.dumps(order).encode()


def signed_headers(
    body: bytes, webhook_id: str | None = None, topic: str = "orders/create"
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Hmac-Sha256": sign(SECRET.encode(), body),
    }


def post(ctx: Context, world: World, body: bytes, webhook_id: str | None = None) -> IntakeResult:
    return receive_webhook(ctx, world.shopify_id, signed_headers(body, webhook_id), body)
