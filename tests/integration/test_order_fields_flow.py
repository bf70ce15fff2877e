"""The fields a warehouse and people need, end to end: a Shopify order's note, attributes
and line properties reach the WMS and the API; an upload without a total is routed by the
value its lines add up to. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OrderException, SalesOrder
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, post, sample_order, stock

GREEN, RED, BLACK = "IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"
ENGRAVING = [{"name": "Custom Engraving", "value": "Happy Birthday"}]
SAMPLE_ATTRIBUTES = [
    {"name": "custom engraving", "value": "Happy Birthday"},
    {"name": "colour", "value": "green"},
]


def auth(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


@pytest.fixture
def world(ctx: Context, wms: FakeWms) -> World:
    built = build_world(ctx, wms.base_url)
    for sku in (GREEN, RED, BLACK, "MUG", "TEA"):
        stock(ctx, built.warehouse_ids["EAST"], sku, 10)
        stock(ctx, built.warehouse_ids["WEST"], sku, 10)
    return built


def the_order(ctx: Context, external_id: str) -> int:
    with unit_of_work(ctx.sessions) as s:
        found = s.scalars(select(SalesOrder.id).where(SalesOrder.external_id == external_id))
        return found.one()


# --- a Shopify order's fields reach the warehouse and the API ---------------------------------


def shopify_order_with_properties() -> dict[str, Any]:
    """The recorded order #1001 (its green line engraved, two note attributes), with a note
    and a hidden ("_") property on its red line, as a storefront app would add."""
    order = sample_order()
    order["note"] = "Please ring the bell"
    order["line_items"][1]["properties"] = [{"name": "_gift_box", "value": "blue"}]
    return order


def test_shopify_note_attributes_and_line_properties_reach_the_wms(
    ctx: Context, world: World, wms: FakeWms
) -> None:
    post(ctx, world, json.dumps(shopify_order_with_properties()).encode())
    drain(ctx)

    (payload,) = wms.accepted.values()
    assert payload["note"] == "Please ring the bell"
    assert payload["gift_message"] is None
    assert payload["attributes"] == SAMPLE_ATTRIBUTES
    by_sku = {line["sku"]: line for line in payload["lines"]}
    assert by_sku[GREEN]["properties"] == ENGRAVING
    assert by_sku[RED]["properties"] == [{"name": "_gift_box", "value": "blue"}]
    assert by_sku[BLACK]["properties"] == []
    assert all(line["gift_message"] is None for line in payload["lines"])


def test_the_api_order_view_shows_every_field(
    client: TestClient, ctx: Context, world: World
) -> None:
    post(ctx, world, json.dumps(shopify_order_with_properties()).encode())
    drain(ctx)
    order_id = the_order(ctx, "450789469")

    detail = client.get(f"/api/v1/orders/{order_id}", headers=auth(ctx, Role.SUPPORT))
    assert detail.status_code == 200, detail.text
    shown = detail.json()
    assert shown["note"] == "Please ring the bell"
    assert shown["gift_message"] is None
    assert shown["financial_status"] == "authorized"
    assert shown["bill_to"]["address1"] == "Chestnut Street 92"
    assert shown["bill_to"]["name"] == "Bob Norman"
    assert {key: shown[key] for key in ("total", "subtotal", "discount_total")} == {
        "total": "409.94",
        "subtotal": "398.00",
        "discount_total": "0.00",
    }
    assert (shown["shipping_total"], shown["tax_total"]) == ("0.00", "11.94")
    assert shown["attributes"] == SAMPLE_ATTRIBUTES
    lines = {line["channel_sku"]: line for line in shown["lines"]}
    assert lines[GREEN]["properties"] == ENGRAVING
    assert lines[RED]["properties"] == [{"name": "_gift_box", "value": "blue"}]
    assert lines[GREEN]["gift_message"] is None
    assert (lines[GREEN]["discount_total"], lines[GREEN]["tax_total"]) == (None, None)
    assert lines[GREEN]["line_total"] is None


# --- an upload without a total is routed by its computed value --------------------------------

BIG_ORDERS_WEST = {
    "name": "big-orders-west",
    "timezone": "UTC",
    "default": {"ranking": ["priority"]},  # EAST first
    "rules": [
        {
            "id": "big",
            "when": {"field": "order_value", "op": "gte", "value": "25"},
            "then": {"warehouses": {"include": ["WEST"]}},
        }
    ],
}
ADDRESS = "Ann Lee,1 Main St,New York,NY,10001,US"
CSV = (
    "order_ref,ship_to_name,ship_to_address1,ship_to_city,ship_to_region,ship_to_postal_code,"
    "ship_to_country,currency,shipping_total,sku,quantity,unit_price,line_discount_total,"
    "property:Grind,attribute:Gift wrap\n"
    # 12.50 + 2 x 4.00 - 0.50 off the tea + 5.45 shipping = 25.45: a big order
    f"PH-1,{ADDRESS},USD,5.45,MUG,1,12.50,,,yes\n"
    "PH-1,,,,,,,,,TEA,2,4.00,0.50,Espresso,\n"
    # 12.50: a small one
    f"PH-2,{ADDRESS},USD,,MUG,1,12.50,,,\n"
    # a line without a price: its value is not known
    f"PH-3,{ADDRESS},USD,,MUG,1,12.50,,,\n"
    "PH-3,,,,,,,,,TEA,1,,,,\n"
)


def test_an_upload_without_a_total_routes_by_the_value_of_its_lines(
    client: TestClient, ctx: Context, world: World, wms: FakeWms
) -> None:
    ops = auth(ctx, Role.OPS)
    draft = client.post(
        "/api/v1/routing/rule-sets", headers=ops, json={"document": BIG_ORDERS_WEST}
    )
    published = client.post(
        f"/api/v1/routing/rule-sets/{draft.json()['id']}/publish", headers=ops, json={}
    )
    assert published.status_code == 200, published.text
    generic = connector_admin.create_connector(
        ctx,
        kind="generic_webhook",
        name="phone orders",
        config={"default_channel": "phone"},
        secrets={},
        enabled=True,
        actor="test",
    ).id
    uploaded = client.post(
        "/api/v1/orders/import",
        params={"connector_id": generic},
        headers={**ops, "Content-Type": "text/csv"},
        content=CSV.encode(),
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["created"] == 3
    drain(ctx)

    def decided(ref: str) -> dict[str, Any]:
        shown = client.get(f"/api/v1/orders/{the_order(ctx, ref)}", headers=ops).json()
        assert shown["total"] is None
        trace: dict[str, Any] = shown["routing_decisions"][0]["trace"]
        return trace

    big, small, unknown = decided("PH-1"), decided("PH-2"), decided("PH-3")
    assert big["chosen"] == ["WEST"]
    assert big["order_value"] == {"value": "25.45", "currency": "USD", "source": "computed"}
    assert big["rules"]["steps"][0]["why"] == (
        "order_value gte 25 (was 25.45 USD, computed from the lines)"
    )
    assert small["chosen"] == ["EAST"]
    assert small["order_value"]["value"] == "12.50"
    assert unknown["chosen"] == ["EAST"]
    assert unknown["order_value"] == {"value": None, "currency": "USD", "source": "missing"}
    assert unknown["rules"]["steps"][0]["why"] == (
        "order_value gte 25 (was missing: no total, and line 2 has no unit price)"
    )

    sim = client.post(
        "/api/v1/routing/simulate", headers=ops, json={"order_id": the_order(ctx, "PH-1")}
    )
    assert sim.status_code == 200, sim.text
    assert sim.json()["trace"]["order_value"]["source"] == "computed"
    assert "computed from the lines" in sim.json()["trace"]["rules"]["steps"][0]["why"]

    # The properties and attributes of the upload reach the warehouse too.
    (released,) = [p for p in wms.accepted.values() if p["order_reference"] == "PH-1"]
    assert released["attributes"] == [{"name": "Gift wrap", "value": "yes"}]
    assert [line["properties"] for line in released["lines"]] == [
        [],
        [{"name": "Grind", "value": "Espresso"}],
    ]


# --- bounds: an order beyond them is kept as invalid_payload, never a server error ------------


@pytest.mark.parametrize(
    ("change", "path", "source"),
    [
        (
            lambda order: order["line_items"][0].update(
                properties=[{"name": f"p{n}", "value": "v"} for n in range(101)]
            ),
            "lines[0].properties",
            "line_items[0].properties",
        ),
        (
            lambda order: order["note_attributes"][0].update(value="x" * 2001),
            "attributes[0].value",
            "note_attributes",
        ),
    ],
)
def test_too_many_properties_or_too_long_a_value_is_an_invalid_payload(
    ctx: Context, world: World, wms: FakeWms, *, change: Any, path: str, source: str
) -> None:
    order = sample_order()
    change(order)
    post(ctx, world, json.dumps(order).encode())
    drain(ctx)

    with unit_of_work(ctx.sessions) as s:
        inbox = s.scalars(select(InboundMessage)).one()
        exception = s.scalars(select(OrderException)).one()
        assert inbox.status == "failed"
        assert (exception.reason, exception.detail["path"]) == ("invalid_payload", path)
        assert exception.detail["source"] == source
        assert s.scalars(select(SalesOrder)).first() is None
    assert wms.accepted_count == 0
