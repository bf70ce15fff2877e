"""The generic REST ERP connector against respx (no real network)."""

from __future__ import annotations

import json
import socket
from datetime import date
from typing import Any

import httpx
import pydantic
import pytest
import respx

from omniroute.connectors import testkit
from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    PayloadError,
    PermanentError,
    TransientError,
    enabled_capabilities,
)
from omniroute.connectors.erp import (
    ErpLine,
    ErpPoster,
    InvoiceDocument,
    ItemMasterSource,
    ItemRecord,
    PurchaseRequestSink,
    SalesOrderDocument,
    StockRecord,
    StockSnapshotSource,
)
from omniroute.connectors.erp_rest import ErpRestConfig, ErpRestConnector
from omniroute.connectors.http import UnsafeUrlError

BASE = "https://erp.example.com/api"
RUNTIME = ConnectorRuntime(allow_private_urls=False, retry_attempts=3, retry_max_wait=0.001)
SECRET = "token abc:def"


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"erp.example.com": "93.184.216.34", "erp.internal": "10.20.30.40"}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def erp(**config: Any) -> ErpRestConnector:
    return ErpRestConnector(
        {"base_url": BASE, **config}, {"auth_header_value": SECRET}, runtime=RUNTIME
    )


def sales_order() -> SalesOrderDocument:
    return SalesOrderDocument(
        reference="order-3",
        order_number="#1001",
        channel="shopify",
        currency="EUR",
        ordered_at="2026-03-01T10:00:00Z",
        customer={"email": "ada@example.com", "name": "Ada"},
        ship_to={"country": "NL", "postal_code": "1011 AB"},
        bill_to=None,
        lines=(ErpLine("11", "SKU-RED", 2, "Red", "10.00", "1.00", "3.80", "19.00"),),
        subtotal="20.00",
        discount_total="1.00",
        shipping_total="4.95",
        tax_total="3.80",
        total="27.75",
    )


def invoice() -> InvoiceDocument:
    return InvoiceDocument(
        reference="shipment-5-order-3",
        order_reference="order-3",
        order_number="#1001",
        currency="EUR",
        shipped_at="2026-03-02T09:00:00",
        lines=(ErpLine("11", "SKU-RED", 1, None, "10.00", "0.50", "1.90", "9.50"),),
        freight="4.95",
        discount_total="0.50",
        tax_total="1.90",
        total="16.35",
    )


def test_kind_is_declared_properly() -> None:
    testkit.check_kind(ErpRestConnector, erp())
    connector = erp()
    assert isinstance(connector, ErpPoster)
    assert isinstance(connector, PurchaseRequestSink)
    assert isinstance(connector, StockSnapshotSource)
    assert isinstance(connector, ItemMasterSource)


def test_an_empty_path_turns_its_feature_off() -> None:
    connector = erp(stock_path="", purchase_request_path="")
    assert enabled_capabilities(connector) == {
        Capability.ERP_POSTING,
        Capability.ERP_ITEM_MASTER,
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"base_url": "ftp://erp.example.com"},
        {"base_url": BASE, "invoice_path": "//evil.example.com/x"},
        {"base_url": BASE, "items_path": "/items?all=1"},
        {"base_url": BASE, "auth_header_name": "Bad Header"},
        {"base_url": BASE, "unknown": 1},
    ],
)
def test_bad_config_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        ErpRestConfig.model_validate(bad)


@respx.mock
def test_sales_order_posted_with_key_and_secret_header_and_number_read() -> None:
    route = respx.post(f"{BASE}/sales-orders").mock(
        return_value=httpx.Response(201, json={"data": {"name": "SO-0001"}})
    )
    receipt = erp().post_sales_order(sales_order(), idempotency_key="erp-so-1-3")
    assert receipt.reference == "SO-0001"
    assert receipt.attempts == 1
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "erp-so-1-3"
    assert sent.headers["Authorization"] == SECRET
    body = json.loads(sent.content)
    assert body["reference"] == "order-3"
    assert body["items"] == [
        {
            "line_reference": "11",
            "item_code": "SKU-RED",
            "item_name": "Red",
            "qty": 2,
            "rate": "10.00",
            "discount_amount": "1.00",
            "tax_amount": "3.80",
            "amount": "19.00",
        }
    ]
    assert (body["shipping_total"], body["tax_total"], body["grand_total"]) == (
        "4.95",
        "3.80",
        "27.75",
    )


@respx.mock
def test_custom_auth_header_name() -> None:
    route = respx.post(f"{BASE}/invoices").mock(return_value=httpx.Response(200, json={"id": 9}))
    receipt = erp(auth_header_name="X-Api-Key").post_invoice(invoice(), idempotency_key="k")
    assert receipt.reference == "9"
    assert route.calls.last.request.headers["X-Api-Key"] == SECRET
    assert "Authorization" not in route.calls.last.request.headers
    body = json.loads(route.calls.last.request.content)
    assert (body["posting_date"], body["shipped_at"]) == ("2026-03-02", "2026-03-02T09:00:00")
    assert (body["freight"], body["tax_total"], body["grand_total"]) == ("4.95", "1.90", "16.35")
    assert body["sales_order_reference"] == "order-3"


@respx.mock
def test_a_duplicate_answer_is_success() -> None:
    respx.post(f"{BASE}/invoices").mock(
        return_value=httpx.Response(409, json={"duplicate": True, "name": "SINV-7"})
    )
    assert erp().post_invoice(invoice(), idempotency_key="k").reference == "SINV-7"


@respx.mock
def test_a_5xx_is_sent_once_and_left_to_the_outbox() -> None:
    route = respx.post(f"{BASE}/invoices").mock(side_effect=[testkit.server_error(503)])
    with pytest.raises(TransientError):
        erp().post_invoice(invoice(), idempotency_key="k")
    assert route.call_count == 1


@respx.mock
def test_429_then_success_through_the_outbox_budget() -> None:
    route = respx.post(f"{BASE}/sales-orders").mock(
        side_effect=[testkit.too_many(0), httpx.Response(201, json={"name": "SO-1"})]
    )
    receipt = testkit.check_retries_then_succeeds(
        lambda: erp().post_sales_order(sales_order(), idempotency_key="k"), route, calls=2
    )
    assert receipt.reference == "SO-1"


@respx.mock
def test_a_refusal_is_permanent() -> None:
    route = respx.post(f"{BASE}/invoices").mock(
        return_value=httpx.Response(422, json={"error": "unknown customer"})
    )
    exc = testkit.check_permanent_error(
        lambda: erp().post_invoice(invoice(), idempotency_key="k"), route
    )
    assert exc.reason == "http_422"
    assert SECRET not in str(exc)


def test_a_private_address_is_refused_before_any_call() -> None:
    connector = ErpRestConnector({"base_url": "https://erp.internal/api"}, {}, runtime=RUNTIME)
    with pytest.raises(UnsafeUrlError):
        connector.post_invoice(invoice(), idempotency_key="k")


@respx.mock
def test_stock_snapshot_follows_pages_and_keeps_bad_rows_apart() -> None:
    route = respx.get(f"{BASE}/stock").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "stock": [
                        {"warehouse": "AMS", "item_code": "A", "actual_qty": 5.0},
                        {"warehouse": "AMS", "sku": "B", "on_hand": -1},
                    ],
                    "next": "p2",
                },
            ),
            httpx.Response(200, json=[{"warehouse_code": "RTM", "sku": "A", "on_hand": 0}]),
        ]
    )
    got = erp().fetch_stock_snapshot()
    assert got.records == (StockRecord("AMS", "A", 5), StockRecord("RTM", "A", 0))
    assert len(got.rejected) == 1
    assert "whole number" in got.rejected[0][1]
    assert route.calls[1].request.url.params["page"] == "p2"


@respx.mock
def test_items_read_with_barcodes() -> None:
    respx.get(f"{BASE}/items").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    {
                        "item_code": "A",
                        "item_name": "Apple",
                        "weight_per_unit": 0.25,
                        "barcodes": [{"barcode": "4006381333931"}, "4006381333931", "123"],
                    },
                    {"name": "no sku"},
                ]
            },
        )
    )
    got = erp().fetch_items()
    assert got.records == (ItemRecord("A", "Apple", 0.25, ("4006381333931", "123")),)
    assert len(got.rejected) == 1


@respx.mock
def test_endless_paging_is_cut_off() -> None:
    respx.get(f"{BASE}/items").mock(
        return_value=httpx.Response(200, json={"items": [], "next": "again"})
    )
    with pytest.raises(PayloadError):
        erp(max_pages=3).fetch_items()


@respx.mock
def test_invoice_list_asks_for_the_range() -> None:
    route = respx.get(f"{BASE}/invoices").mock(
        return_value=httpx.Response(
            200,
            json={
                "invoices": [
                    {
                        "name": "SINV-1",
                        "reference": "shipment-5-order-3",
                        "posting_date": "2026-03-02",
                        "grand_total": "16.35",
                    }
                ]
            },
        )
    )
    (found,) = erp().list_invoices(date(2026, 3, 1), date(2026, 3, 31))
    assert (found.number, found.reference, found.issued_on) == (
        "SINV-1",
        "shipment-5-order-3",
        date(2026, 3, 2),
    )
    params = route.calls.last.request.url.params
    assert (params["from"], params["to"]) == ("2026-03-01", "2026-03-31")


@respx.mock
def test_purchase_request_payload_is_checked_then_posted() -> None:
    route = respx.post(f"{BASE}/purchase-requests").mock(
        return_value=httpx.Response(201, json={"name": "MR-1"})
    )
    payload = {"sku": "A", "warehouse": "AMS", "quantity": 40, "needed_by": "2026-04-01"}
    assert erp().send_purchase_request(payload, idempotency_key="po-1").reference == "MR-1"
    sent = json.loads(route.calls.last.request.content)
    assert sent == payload | {"reference": None, "note": None}
    with pytest.raises(PayloadError):
        erp().send_purchase_request(
            {"sku": "A", "warehouse": "AMS", "quantity": 0}, idempotency_key="x"
        )
    with pytest.raises(PermanentError):
        erp(purchase_request_path="").send_purchase_request(payload, idempotency_key="x")
    assert route.call_count == 1
