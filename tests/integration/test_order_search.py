"""Order search by customer (e-mail any case, name prefix), SKU and created-at range, in the
API and the console, with keyset pages; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.orders import views
from omniroute.core.orders.search import OrderFilter
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, post, sample_order, stock
from tests.integration.console_kit import make_user, sign_in

# (channel order id, e-mail, first name, last name, SKUs, created at)
ORDERS = [
    (701, "Bob.Norman@Hostmail.com", "Bob", "Norman", ["SKU-A"], datetime(2025, 1, 10, 9)),
    (702, "ana.silva@example.org", "Ana", "Silva", ["SKU-B", "SKU-C"], datetime(2025, 2, 1, 0)),
    (703, "bob.norman@hostmail.com", "Bob", "Norman", ["SKU-C"], datetime(2025, 2, 20, 23)),
    (704, "bo_b@example.org", "Bo%b", "Berg", ["SKU-A"], datetime(2025, 3, 5, 12)),
]


def _body(number: int, email: str, first: str, last: str, skus: list[str]) -> bytes:
    order = sample_order()
    template = order["line_items"][0]
    order.update(id=number, name=f"#{number}", email=email)
    order["customer"] = {**order.get("customer", {}), "first_name": first, "last_name": last}
    order["line_items"] = [
        {**template, "id": number * 100 + i, "sku": sku, "quantity": 1}
        for i, sku in enumerate(skus)
    ]
    return json.dumps(order).encode()


def _orders(ctx: Context, wms: FakeWms) -> tuple[World, dict[int, int]]:
    """The four orders through intake; their created_at set to fixed days. {number: id}"""
    world = build_world(ctx, wms.base_url)
    for sku in ("SKU-A", "SKU-B", "SKU-C"):
        stock(ctx, world.warehouse_ids["EAST"], sku, 50)
    for number, email, first, last, skus, _ in ORDERS:
        post(ctx, world, _body(number, email, first, last, skus))
    drain(ctx)
    ids = {}
    with unit_of_work(ctx.sessions) as session:
        for number, *_, at in ORDERS:
            order = session.query(SalesOrder).filter_by(external_id=str(number)).one()
            ids[number] = order.id
            session.execute(
                update(SalesOrder).where(SalesOrder.id == order.id).values(created_at=at)
            )
    return world, ids


def _numbers(rows: list[dict[str, object]]) -> list[str]:
    return [str(r["external_id"]) for r in rows]


def test_the_service_filters_by_customer_sku_and_dates(ctx: Context, wms: FakeWms) -> None:
    _, ids = _orders(ctx, wms)

    def found(**kw: object) -> list[str]:
        return _numbers(views.list_orders(ctx, where=OrderFilter(**kw), limit=10))  # type: ignore[arg-type]

    assert found(customer="BOB.NORMAN@hostmail.com") == ["701", "703"]
    assert found(customer="  bob.norman@HOSTMAIL.com ") == ["701", "703"]
    assert found(customer="bob.norman@hostmail") == []  # an e-mail matches whole, not a prefix
    assert found(customer="bob") == ["701", "703"]
    assert found(customer="Ana S") == ["702"]
    assert found(customer="ana silva") == ["702"]
    assert found(customer="nor") == []  # the start of the name only
    assert found(customer="bo%") == ["704"]  # '%' and '_' match themselves
    assert found(customer="b_") == []
    assert found(sku="SKU-C") == ["702", "703"]
    assert found(sku="SKU-C", customer="bob") == ["703"]
    assert found(sku="SKU-Z") == []
    assert found(created_from=datetime(2025, 2, 1), created_to=datetime(2025, 2, 20, 23)) == ["702"]
    assert found(created_from=datetime(2025, 2, 1)) == ["702", "703", "704"]
    assert found(created_to=datetime(2025, 2, 1)) == ["701"]
    newest = views.search_orders(ctx, where=OrderFilter(customer="bob"), limit=1)
    assert _numbers(newest) == ["703"]
    older = views.search_orders(ctx, where=OrderFilter(customer="bob"), before_id=ids[703], limit=1)
    assert _numbers(older) == ["701"]
    assert newest[0]["customer_name"] == "Bob Norman"


def test_the_api_filters_pages_and_keeps_scopes(
    ctx: Context, wms: FakeWms, client: TestClient
) -> None:
    world, ids = _orders(ctx, wms)
    admin = {"Authorization": f"Bearer {create_token(ctx, role=Role.VIEWER, name='v')}"}
    first = client.get("/api/v1/orders?customer=bob&limit=1", headers=admin)
    assert first.status_code == 200, first.text
    assert _numbers(first.json()) == ["701"] and first.json()[0]["customer_name"] == "Bob Norman"
    after = ids[701]
    second = client.get(f"/api/v1/orders?customer=bob&limit=1&after_id={after}", headers=admin)
    assert _numbers(second.json()) == ["703"]
    by_sku = client.get("/api/v1/orders", params={"sku": "SKU-A"}, headers=admin).json()
    assert _numbers(by_sku) == ["701", "704"]
    dated = client.get(
        "/api/v1/orders",
        params={"created_from": "2025-02-01T00:00:00Z", "created_to": "2025-03-01"},
        headers=admin,
    ).json()
    assert _numbers(dated) == ["702", "703"]
    offset = client.get(
        "/api/v1/orders", params={"created_to": "2025-01-10T10:00:00+02:00"}, headers=admin
    ).json()
    assert _numbers(offset) == []  # 08:00 UTC, before order 701's 09:00
    assert client.get("/api/v1/orders?created_from=soon", headers=admin).status_code == 422
    scoped = create_token(ctx, role=Role.VIEWER, name="s", connector_ids=[world.wms_id])
    hidden = client.get(
        "/api/v1/orders?customer=bob", headers={"Authorization": f"Bearer {scoped}"}
    )
    assert hidden.status_code == 200 and hidden.json() == []
    spec = client.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/api/v1/orders"]["get"]["parameters"]}
    assert {"customer", "sku", "created_from", "created_to", "number"} <= names


def test_the_console_orders_page_filters_and_pages(
    cctx: Context,
    app_client: TestClient,
    wms: FakeWms,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from omniroute.api.console import order_routes

    monkeypatch.setattr(order_routes, "PAGE", 1)
    _, ids = _orders(cctx, wms)
    make_user(cctx, "ida", Role.VIEWER)
    sign_in(app_client, "ida")
    page = app_client.get("/console/orders", params={"customer": "BOB.norman@hostmail.com"}).text
    assert f"/console/orders/{ids[703]}" in page and f"/console/orders/{ids[701]}" not in page
    assert f"before={ids[703]}" in page and "customer=BOB.norman%40hostmail.com" in page
    following = app_client.get(
        f"/console/orders?customer=BOB.norman%40hostmail.com&before={ids[703]}"
    ).text
    assert f"/console/orders/{ids[701]}" in following and "Next page" not in following
    by_sku = app_client.get("/console/orders?sku=SKU-B").text
    assert f"/console/orders/{ids[702]}" in by_sku
    dated = app_client.get("/console/orders?created_from=2025-02-20&created_to=2025-02-20").text
    assert f"/console/orders/{ids[703]}" in dated and "Next page" not in dated
