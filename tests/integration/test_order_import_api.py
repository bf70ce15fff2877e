"""Order upload through the API: stored in the inbox, processed like any order, idempotent."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.generic.webhooks import decode_secret, sign
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.orders import views as orders
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import AuditLog, InboundMessage, SalesOrder
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, stock

URL = "/api/v1/orders/import"
CSV_TYPE = {"Content-Type": "text/csv; charset=utf-8"}
HEADER = (
    "order_ref,customer_name,customer_email,ship_to_name,ship_to_address1,ship_to_city,"
    "ship_to_region,ship_to_postal_code,ship_to_country,currency,sku,quantity,unit_price\n"
)
FILE = (
    HEADER
    + "PH-1,Ann Lee,ann@example.com,Ann Lee,1 Main St,New York,NY,10001,US,USD,MUG,1,12.50\n"
    + "PH-1,,,,,,,,,,TEA,2,4.00\n"
    + "PH-2,Bob Ray,bob@example.com,Bob Ray,2 High St,Boston,MA,02108,US,USD,MUG,1,12.50\n"
    + "PH-3,Cy Doe,cy@example.com,Cy Doe,3 Low St,Austin,TX,73301,US,USD,TEA,two,4.00\n"
)


def auth(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def generic_connector(ctx: Context) -> int:
    row = connector_admin.create_connector(
        ctx,
        kind="generic_webhook",
        name="phone orders",
        config={"default_channel": "phone"},
        secrets={},
        enabled=True,
        actor="test",
    )
    return row.id


@pytest.fixture
def world(ctx: Context, wms: FakeWms) -> World:
    built = build_world(ctx, wms.base_url)
    for sku in ("MUG", "TEA"):
        stock(ctx, built.warehouse_ids["EAST"], sku, 10)
    return built


def upload(
    client: TestClient, headers: dict[str, str], connector_id: int, body: bytes, **extra: str
) -> httpx.Response:
    return client.post(
        URL, params={"connector_id": connector_id}, headers={**headers, **extra}, content=body
    )


def test_csv_upload_creates_and_processes_orders_and_reports_the_bad_row(
    client: TestClient, ctx: Context, world: World, wms: FakeWms
) -> None:
    generic = generic_connector(ctx)
    ops = {**auth(ctx, Role.OPS), **CSV_TYPE}
    r = client.post(URL, params={"connector_id": generic}, headers=ops, content=FILE.encode())
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], report["duplicates"], report["failed"]) == (2, 0, 1)
    assert [o["external_id"] for o in report["orders"]] == ["PH-1", "PH-2"]
    assert report["errors"] == [
        {
            "row": 5,
            "line": 5,
            "column": "quantity",
            "message": "expected a whole number of at least 1, got 'two'",
            "order_ref": "PH-3",
        }
    ]
    with unit_of_work(ctx.sessions) as s:
        inbox = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [(m.topic, m.status, m.headers) for m in inbox] == [("import", "pending", {})] * 2
        assert all(m.dedupe_key.startswith("import:PH-") for m in inbox)
        assert json.loads(inbox[0].body)["external_id"] == "PH-1"
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "orders.import")).one()
        assert audit.detail == {"created": 2, "duplicates": 0, "failed": 1}

    drain(ctx)  # the embedded worker: process_inbound, route, release

    with unit_of_work(ctx.sessions) as s:
        rows = s.scalars(select(SalesOrder).order_by(SalesOrder.external_id)).all()
        found = [(o.external_id, o.connector_id, o.channel) for o in rows]
        ids = [o.id for o in rows]
    assert found == [("PH-1", generic, "phone"), ("PH-2", generic, "phone")]
    first = orders.order_detail(ctx, ids[0])
    assert first["status"] == "released"
    assert sorted((ln["sku"], ln["quantity"]) for ln in first["lines"]) == [("MUG", 1), ("TEA", 2)]
    assert orders.order_detail(ctx, ids[1])["status"] == "released"
    assert wms.accepted_count == 2


def test_reupload_is_all_duplicates_and_creates_nothing(
    client: TestClient, ctx: Context, world: World
) -> None:
    generic = generic_connector(ctx)
    ops = {**auth(ctx, Role.OPS), **CSV_TYPE}
    assert upload(client, ops, generic, FILE.encode()).json()["created"] == 2
    drain(ctx)
    again = upload(client, ops, generic, FILE.encode())
    assert again.status_code == 200
    report = again.json()
    assert (report["created"], report["duplicates"], report["failed"]) == (0, 2, 1)
    assert all(o["duplicate"] and o["inbound_id"] is None for o in report["orders"])
    assert drain(ctx) == 0
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 2
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 2


def test_a_changed_order_is_stored_as_a_new_version(
    client: TestClient, ctx: Context, world: World
) -> None:
    generic = generic_connector(ctx)
    ops = {**auth(ctx, Role.OPS), **CSV_TYPE}
    upload(client, ops, generic, FILE.encode())
    changed = FILE.replace(
        "PH-2,Bob Ray,bob@example.com,Bob Ray,2 High St",
        "PH-2,Bob Ray,bob@example.com,Bob Ray,9 New St",
    )
    report = upload(client, ops, generic, changed.encode()).json()
    assert (report["created"], report["duplicates"]) == (1, 1)


def test_json_upload_by_an_integration_token(client: TestClient, ctx: Context) -> None:
    generic = generic_connector(ctx)
    order = {
        "external_id": "J-1",
        "channel": "store-7",
        "currency": "EUR",
        "cancelled": False,
        "ship_to": {"postal_code": "10115", "country": "DE"},
        "lines": [{"external_line_id": "1", "channel_sku": "MUG", "quantity": 1}],
    }
    refused = {**auth(ctx, Role.INTEGRATION), "Content-Type": "application/json"}
    assert upload(client, refused, generic, json.dumps([order]).encode()).status_code == 403
    headers = {**auth(ctx, Role.INTEGRATOR), "Content-Type": "application/json"}
    r = upload(client, headers, generic, json.dumps([order]).encode())
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1


def test_roles_other_than_admin_ops_and_integration_are_refused(
    client: TestClient, ctx: Context
) -> None:
    generic = generic_connector(ctx)
    r = upload(client, {**auth(ctx, Role.SUPPORT), **CSV_TYPE}, generic, FILE.encode())
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    assert upload(client, CSV_TYPE, generic, FILE.encode()).status_code == 401
    admin = {**auth(ctx, Role.ADMIN), **CSV_TYPE}
    assert upload(client, admin, generic, FILE.encode()).status_code == 200


def test_only_generic_connectors_take_uploads(
    client: TestClient, ctx: Context, world: World
) -> None:
    ops = {**auth(ctx, Role.OPS), **CSV_TYPE}
    r = upload(client, ops, world.shopify_id, FILE.encode())
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_an_import_connector"
    assert upload(client, ops, 999_999, FILE.encode()).status_code == 404
    generic = generic_connector(ctx)
    connector_admin.update_connector(
        ctx, generic, config=None, secrets=None, enabled=False, actor="test"
    )
    disabled = upload(client, ops, generic, FILE.encode())
    assert disabled.status_code == 409
    assert disabled.json()["code"] == "connector_disabled"
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_a_completely_invalid_file_is_422_with_its_errors(client: TestClient, ctx: Context) -> None:
    generic = generic_connector(ctx)
    ops = {**auth(ctx, Role.OPS), **CSV_TYPE}
    bad = HEADER + "X-1,A,a@b.c,A,1 St,NYC,NY,10001,US,USD,MUG,0,1\n"
    r = upload(client, ops, generic, bad.encode())
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "invalid_import"
    assert [(e["row"], e["column"]) for e in problem["errors"]] == [(2, "quantity")]
    unreadable = upload(client, ops, generic, b"order_ref,qty\nA,1\n")
    assert unreadable.status_code == 422
    assert "unknown columns" in unreadable.json()["errors"][0]["message"]
    xml = upload(client, auth(ctx, Role.OPS), generic, b"<a/>", **{"Content-Type": "text/xml"})
    assert xml.status_code == 415
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_an_oversized_upload_is_413(client: TestClient, ctx: Context) -> None:
    generic = generic_connector(ctx)
    ops = {**auth(ctx, Role.OPS), **CSV_TYPE}
    limit = ctx.settings.max_body_bytes
    body = (HEADER + "PH-1,,,,,,,,,USD,MUG,1,1\n" * (limit // 20)).encode()
    assert len(body) > limit
    r = upload(client, ops, generic, body)
    assert r.status_code == 413
    assert r.json()["code"] == "body_too_large"
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_a_signed_webhook_order_goes_the_same_way(
    client: TestClient, ctx: Context, world: World, wms: FakeWms
) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    row = connector_admin.create_connector(
        ctx,
        kind="generic_webhook",
        name="pos",
        config={},
        secrets={"webhook_secret": secret},
        enabled=True,
        actor="test",
    )
    order = {
        "external_id": "W-1",
        "channel": "pos",
        "currency": "USD",
        "cancelled": False,
        "ship_to": {"address1": "1 Main St", "postal_code": "10001", "country": "US"},
        "lines": [{"external_line_id": "1", "channel_sku": "MUG", "quantity": 1}],
    }
    body = json.dumps({"type": "order.created", "data": order}).encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": "msg_w1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(decode_secret(secret), "msg_w1", stamp, body),
    }
    assert client.post(f"/webhooks/{row.id}", headers=headers, content=body).status_code == 200
    again = client.post(f"/webhooks/{row.id}", headers=headers, content=body)
    assert again.json()["duplicate"] is True
    tampered = client.post(f"/webhooks/{row.id}", headers=headers, content=body + b" ")
    assert tampered.status_code == 401
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        (msg,) = s.scalars(select(InboundMessage)).all()
        assert msg.dedupe_key == "wh:msg_w1" and msg.status == "done"
        assert "webhook-signature" not in msg.headers
        status = s.scalars(select(SalesOrder.status)).one()
    assert status == "released"
    assert wms.accepted_count == 1
