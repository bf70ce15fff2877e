"""Demo data: two connectors, three warehouses, a catalogue with stock. Safe to run twice."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from omniroute.cli.demo.orders import demo_skus
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import Connector, StockLevel, Warehouse
from omniroute.core.platform.security import Role
from omniroute.core.stock import inventory, warehouses

ACTOR = "demo"
WAREHOUSES = [
    {
        "code": "EAST",
        "name": "East coast DC",
        "priority": 1,
        "address": {
            "address1": "1 Dock Rd",
            "city": "Newark",
            "region": "NJ",
            "postal_code": "07102",
            "country": "US",
        },
    },
    {
        "code": "WEST",
        "name": "West coast DC",
        "priority": 2,
        "address": {
            "address1": "9 Harbor Way",
            "city": "Seattle",
            "region": "WA",
            "postal_code": "98101",
            "country": "US",
        },
    },
    {
        "code": "NORTH",
        "name": "Canada DC",
        "priority": 3,
        "address": {
            "address1": "5 Front St",
            "city": "Toronto",
            "region": "ON",
            "postal_code": "M5V 2T6",
            "country": "CA",
        },
    },
]


@dataclass(frozen=True)
class DemoSetup:
    shopify_connector_id: int
    webhook_secret: str
    admin_token: str
    skus: list[str]


def seed(ctx: Context, *, wms_url: str, sku_count: int = 50, seed_value: int = 7) -> DemoSetup:
    wms = _connector(ctx, "demo-wms", "rest_wms", {"base_url": wms_url}, {})
    shop = _connector(
        ctx,
        "demo-shopify",
        "shopify",
        {"shop_domain": "demo.myshopify.com"},
        {"webhook_secret": secrets.token_hex(16)},
    )
    ids = _warehouses(ctx, wms.id)
    skus = demo_skus(sku_count)
    _stock(ctx, ids, skus, random.Random(seed_value))  # noqa: S311 - demo data
    secret = str(ctx.secret_box.open(shop.secrets_encrypted)["webhook_secret"])
    token = create_token(ctx, role=Role.ADMIN, name="demo admin")
    return DemoSetup(
        shopify_connector_id=shop.id, webhook_secret=secret, admin_token=token, skus=skus
    )


def _connector(
    ctx: Context, name: str, kind: str, config: dict[str, str], secret: dict[str, str]
) -> Connector:
    with unit_of_work(ctx.sessions) as session:
        existing = session.scalars(select(Connector).where(Connector.name == name)).first()
    if existing is None:
        return connector_admin.create_connector(
            ctx, kind=kind, name=name, config=config, secrets=secret, enabled=True, actor=ACTOR
        )
    return connector_admin.update_connector(
        ctx, existing.id, config=config, secrets=None, enabled=True, actor=ACTOR
    )


def _warehouses(ctx: Context, wms_id: int) -> list[int]:
    with unit_of_work(ctx.sessions) as session:
        have = {w.code: w.id for w in session.scalars(select(Warehouse))}
    ids = []
    for spec in WAREHOUSES:
        if spec["code"] in have:
            ids.append(have[str(spec["code"])])
            continue
        address = dict(spec["address"])  # type: ignore[call-overload]
        wh = warehouses.create_warehouse(
            ctx,
            {
                **spec,
                "country": address["country"],
                "postal_code": address["postal_code"],
                "enabled": True,
                "wms_connector_id": wms_id,
            },
            actor=ACTOR,
        )
        ids.append(wh.id)
    return ids


def _stock(ctx: Context, warehouse_ids: list[int], skus: list[str], rng: random.Random) -> None:
    with unit_of_work(ctx.sessions) as session:
        have = {(w, s) for w, s in session.execute(select(StockLevel.warehouse_id, StockLevel.sku))}
    for wid in warehouse_ids:
        for sku in skus:
            if (wid, sku) not in have:
                inventory.set_stock(
                    ctx,
                    wid,
                    sku,
                    on_hand=rng.randint(20, 200),
                    safety=2,
                    actor=ACTOR,
                    reason="demo seed",
                )
