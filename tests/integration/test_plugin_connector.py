"""A connector kind that is not part of omniroute, installed as a plugin by entry point.

``tests/plugin_connector/acme_connector`` is a channel with its own signature scheme, event
and delivery headers, dedupe key and mapping spec. It is registered the way an installed
package is, through a ``.dist-info`` folder on ``sys.path`` whose ``entry_points.txt`` names
it in the ``omniroute.connectors`` group, and omniroute is not changed for it: a signed Acme
webhook must become a routed, released order through the API and the worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors import testkit
from omniroute.connectors.base import ConnectorRuntime
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.orders import views as orders
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.live_connectors import ConnectorRegistry
from omniroute.core.platform.models import InboundMessage, SalesOrder
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_ROOT = ROOT / "tests" / "plugin_connector"
SECRET = "acme-signing-secret"
SKU = "ACME-WIDGET"


def _forget_plugin_modules() -> None:
    for name in [m for m in sys.modules if m.partition(".")[0] == "acme_connector"]:
        del sys.modules[name]


@pytest.fixture
def acme_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugin as an installed distribution: its metadata and its code on sys.path."""
    assert "acme" not in ConnectorRegistry.discover().kinds
    site = tmp_path / "site-packages"
    dist_info = site / "acme_connector-1.0.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-connector\nVersion: 1.0.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        "[omniroute.connectors]\nacme = acme_connector:AcmeConnector\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(PLUGIN_ROOT))
    monkeypatch.syspath_prepend(str(site))
    _forget_plugin_modules()
    yield
    _forget_plugin_modules()


@pytest.fixture
def acme_ctx(db_url: str, acme_installed: None) -> Iterator[Context]:
    context = bootstrap(make_settings(db_url), registry=ConnectorRegistry.discover())
    yield context
    context.close()


def acme_body(ref: str, qty: int) -> bytes:
    order = {
        "ref": ref,
        "number": f"A-{ref}",
        "placed_at": "2026-11-27T10:00:00+00:00",
        "currency": "usd",
        "total": "19.00",
        "status": "placed",
        "buyer": {"email": "ada@example.com", "name": "Ada Lovelace"},
        "deliver_to": {
            "name": "Ada Lovelace",
            "street": "1 Main St",
            "city": "New York",
            "zip": "10001",
            "country": "us",
        },
        "items": [{"line": "1", "code": SKU, "label": "Widget", "qty": qty, "price": "9.50"}],
    }
    return json.dumps({"order": order}).encode()


def acme_headers(body: bytes, delivery: str, *, secret: str = SECRET) -> dict[str, str]:
    """What Acme sends, signed here from its documented scheme (not with the plugin's code)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Acme-Event": "order.placed",
        "X-Acme-Delivery": delivery,
        "X-Acme-Signature": f"sha256={digest}",
    }


def setup_acme_world(client: TestClient, admin: dict[str, str], wms_url: str) -> int:
    """An Acme connector, a warehouse released to the fake WMS and stock, through the API."""
    acme = client.post(
        "/api/v1/connectors",
        headers=admin,
        json={"kind": "acme", "name": "acme store", "secrets": {"signing_secret": SECRET}},
    )
    assert acme.status_code == 201, acme.text
    assert "signing_secret" not in json.dumps(acme.json().get("config", {}))
    wms = client.post(
        "/api/v1/connectors",
        headers=admin,
        json={"kind": "rest_wms", "name": "wms", "config": {"base_url": wms_url}},
    )
    assert wms.status_code == 201, wms.text
    warehouse = client.post(
        "/api/v1/warehouses",
        headers=admin,
        json={
            "code": "EAST",
            "name": "East",
            "priority": 1,
            "wms_connector_id": wms.json()["id"],
            "address": {"line1": "1 Dock Rd", "postal_code": "10001", "country": "US"},
        },
    )
    assert warehouse.status_code == 201, warehouse.text
    stocked = client.put(
        "/api/v1/stock",
        headers=admin,
        json={"warehouse_id": warehouse.json()["id"], "sku": SKU, "on_hand": 10},
    )
    assert stocked.status_code == 200, stocked.text
    acme_id: int = acme.json()["id"]
    return acme_id


def test_omniroute_does_not_know_the_plugin() -> None:
    folders = [link.resolve() for link in (ROOT / "omniroute").iterdir()]
    files = [ROOT / "pyproject.toml"]
    files += [
        path
        for folder in folders
        for path in ([folder] if folder.is_file() else folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert len(files) > 100
    assert [str(p.relative_to(ROOT)) for p in files if b"acme" in p.read_bytes().lower()] == []


def test_the_plugin_is_found_through_its_entry_point_and_passes_the_kit(
    acme_installed: None,
) -> None:
    registry = ConnectorRegistry.discover()
    assert registry.broken == {}
    kind = registry.get("acme")
    assert kind.__module__ == "acme_connector.connector"  # not a module of omniroute
    source: Any = kind(
        kind.config_model.model_validate({}),
        kind.secrets_model.model_validate({"signing_secret": SECRET}),
        runtime=ConnectorRuntime(),
    )
    testkit.check_kind(kind, source)
    body = acme_body("7", 1)
    headers = acme_headers(body, "dlv-7")
    testkit.check_signature(source, headers, body, signature_header="X-Acme-Signature")
    testkit.check_duplicate_delivery(source, (headers, body), (acme_headers(body, "dlv-8"), body))
    stored = testkit.check_stored_headers(
        source, headers, body, signature_header="X-Acme-Signature"
    )
    assert stored == {
        "content-type": "application/json",
        "x-acme-event": "order.placed",
        "x-acme-delivery": "dlv-7",
    }
    order = source.parse_webhook(stored, body).order
    canonical = testkit.check_maps_to_canonical(source, order)
    assert (canonical["channel"], canonical["external_id"], canonical["currency"]) == (
        "acme",
        "7",
        "USD",
    )
    assert canonical["ship_to"]["postal_code"] == "10001"
    assert canonical["lines"] == [
        {
            "external_line_id": "1",
            "channel_sku": SKU,
            "title": "Widget",
            "quantity": 1,
            "unit_price": "9.50",
        }
    ]
    ignored = {**acme_headers(body, "dlv-9"), "X-Acme-Event": "order.viewed"}
    assert source.parse_webhook(ignored, body).order is None


def test_a_signed_plugin_webhook_becomes_a_released_order(acme_ctx: Context, wms: FakeWms) -> None:
    admin = {"Authorization": f"Bearer {create_token(acme_ctx, role=Role.ADMIN, name='a')}"}
    with TestClient(create_app(acme_ctx)) as client:
        kinds = client.get("/api/v1/connector-kinds", headers=admin).json()
        assert "acme" in {k["kind"] for k in kinds}
        acme_id = setup_acme_world(client, admin, wms.base_url)
        body = acme_body("1001", 2)
        headers = acme_headers(body, "dlv-1")

        wrong_key = {
            **headers,
            "X-Acme-Signature": acme_headers(body, "x", secret="x")["X-Acme-Signature"],
        }
        tampered_body = body.replace(b'"qty": 2', b'"qty": 9')
        for sent_headers, sent_body in ((wrong_key, body), (headers, tampered_body)):
            refused = client.post(f"/webhooks/{acme_id}", content=sent_body, headers=sent_headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["code"] == "bad_signature"

        accepted = client.post(f"/webhooks/{acme_id}", content=body, headers=headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        duplicate = {"status": "duplicate", "inbound_id": None, "duplicate": True}
        again = client.post(f"/webhooks/{acme_id}", content=body, headers=headers)
        assert (again.status_code, again.json()) == (200, duplicate)
        drain(acme_ctx)
        # Acme retries a delivery it already made after omniroute processed it.
        late = client.post(f"/webhooks/{acme_id}", content=body, headers=headers)
        assert (late.status_code, late.json()) == (200, duplicate)
        drain(acme_ctx)

    with unit_of_work(acme_ctx.sessions) as s:
        (row,) = s.scalars(select(InboundMessage)).all()
        stored: dict[str, Any] = dict(row.headers)
        assert (row.status, row.topic, row.dedupe_key) == ("done", "order.placed", "acme:dlv-1")
        order_id = s.scalars(select(SalesOrder.id)).one()
    assert stored["x-acme-event"] == "order.placed"
    assert stored["x-acme-delivery"] == "dlv-1"
    assert "x-acme-signature" not in stored
    detail = orders.order_detail(acme_ctx, order_id)
    assert (detail["channel"], detail["external_id"], detail["status"]) == (
        "acme",
        "1001",
        "released",
    )
    assert [fo["warehouse_code"] for fo in detail["fulfilment_orders"]] == ["EAST"]
    assert wms.accepted_count == 1
    (released,) = wms.accepted.values()
    assert [(line["sku"], line["quantity"]) for line in released["lines"]] == [(SKU, 2)]
