"""Shopify Admin API calls (poll, fetch, fulfillment, inventory) against respx: no real network."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import respx

from omniroute.connectors import testkit
from omniroute.connectors.base import (
    ConnectorRuntime,
    FulfilmentNotice,
    PayloadError,
    PermanentError,
    PushReceipt,
    ShippedLine,
    StockUpdate,
    TransientError,
)
from omniroute.connectors.http import UnsafeUrlError
from omniroute.connectors.shopify.connector import ShopifyConfig, ShopifyConnector, ShopifySecrets

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "shopify"
ORDER_SAMPLE = SAMPLES / "shopify_python_api_order.json"
FULFILLMENT_SAMPLE = SAMPLES / "shopify_python_api_fulfillment.json"

SHOP = "example.myshopify.com"
BASE = f"https://{SHOP}/admin/api/2024-07"
TOKEN = "shpat_test_0123456789abcdef"
# retry_max_wait this small keeps the jittered backoff in the sub-millisecond range.
RUNTIME = ConnectorRuntime(retry_attempts=3, retry_max_wait=0.001)
SINCE = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)
NOW = SINCE + timedelta(minutes=5)
LOCATION = 905684977
# The sample order's three line item ids.
GREEN, RED, BLACK = 466157049, 518995019, 703073504


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {SHOP: "23.227.38.65", "shop.internal": "10.20.30.40"}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


class FakeTime:
    """A clock that only moves when the bucket sleeps, so pacing is observable and instant."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_connector(
    fake_time: FakeTime | None = None,
    *,
    token: str | None = TOKEN,
    runtime: ConnectorRuntime = RUNTIME,
    **config: Any,
) -> ShopifyConnector:
    timer = fake_time or FakeTime()
    values: dict[str, Any] = {"shop_domain": SHOP, "location_id": LOCATION}
    values.update(config)
    secrets: dict[str, Any] = {"webhook_secret": "whsec"}
    if token is not None:
        secrets["access_token"] = token
    return ShopifyConnector(values, secrets, runtime=runtime, clock=timer.clock, sleep=timer.sleep)


@pytest.fixture
def connector(fake_time: FakeTime) -> Iterator[ShopifyConnector]:
    conn = make_connector(fake_time)
    yield conn
    conn.close()


def sample_order() -> dict[str, Any]:
    order: dict[str, Any] = json.loads(ORDER_SAMPLE.read_bytes())["order"]
    return order


def order_variant(order_id: int, updated_at: str) -> dict[str, Any]:
    order = copy.deepcopy(sample_order())
    order["id"] = order_id
    order["updated_at"] = updated_at
    return order


def fulfillment_sample() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(FULFILLMENT_SAMPLE.read_bytes())
    return body


def link(*rels: tuple[str, str]) -> dict[str, str]:
    parts = [f'<{BASE}/orders.json?limit=250&page_info={info}>; rel="{rel}"' for rel, info in rels]
    return {"Link": ", ".join(parts)}


def query(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


# --- configuration ----------------------------------------------------------------------------


def test_admin_base_url_defaults_from_shop_domain_and_version() -> None:
    assert ShopifyConfig(shop_domain=SHOP).admin_base_url() == BASE
    config = ShopifyConfig(shop_domain="Shop.MyShopify.com ", api_version="2025-01")
    assert config.admin_base_url() == "https://shop.myshopify.com/admin/api/2025-01"
    custom = ShopifyConfig(shop_domain=SHOP, api_base_url="http://127.0.0.1:9999/admin/api/x/")
    assert custom.admin_base_url() == "http://127.0.0.1:9999/admin/api/x"


def test_config_defaults_match_the_standard_plan() -> None:
    config = ShopifyConfig()
    assert (config.rate_limit_per_second, config.rate_limit_burst) == (2.0, 40)
    assert config.location_id is None
    assert config.notify_customer is False
    bucket = make_connector().rate_limits["admin_api"]
    assert (bucket.rate, bucket.burst) == (2.0, 40.0)
    plus = make_connector(rate_limit_per_second=20, rate_limit_burst=400)
    assert plus.rate_limits["admin_api"].burst == 400.0


@pytest.mark.parametrize(
    "values",
    [
        {"shop_domain": "https://example.myshopify.com"},
        {"shop_domain": "example.myshopify.com/admin"},
        {"shop_domain": "localhost"},
        {"api_version": "latest"},
        {"api_base_url": "ftp://example.myshopify.com/admin"},
        {"api_base_url": "https://user:pw@example.myshopify.com/admin"},
        {"api_base_url": "https://example.myshopify.com/admin?x=1"},
        {"location_id": 0},
        {"rate_limit_per_second": 0},
        {"access_token": "in the wrong model"},
    ],
)
def test_config_rejects(values: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        ShopifyConfig.model_validate(values)


def test_secrets_keep_the_token_hidden() -> None:
    secrets = ShopifySecrets.model_validate({"webhook_secret": "w", "access_token": TOKEN})
    assert TOKEN not in repr(secrets)
    schema = ShopifySecrets.model_json_schema()["properties"]["access_token"]
    assert any(option.get("writeOnly") for option in schema["anyOf"])


@respx.mock
def test_calls_need_a_base_url() -> None:
    conn = make_connector(shop_domain=None)
    with pytest.raises(PermanentError, match="api_base_url nor shop_domain") as caught:
        conn.fetch_order("450789469")
    assert caught.value.reason == "not_configured"
    assert not respx.calls


@respx.mock
def test_calls_need_an_access_token() -> None:
    conn = make_connector(token=None)
    with pytest.raises(PermanentError, match="access_token") as caught:
        conn.pull_orders(SINCE, None, now=NOW)
    assert caught.value.reason == "not_configured"
    assert not respx.calls


@respx.mock
def test_stock_push_needs_a_location() -> None:
    conn = make_connector(location_id=None)
    with pytest.raises(PermanentError, match="location_id"):
        conn.push_stock([StockUpdate("SKU", "808950810", 3)], idempotency_key="k")
    assert not respx.calls


def test_webhook_path_builds_no_http_client(connector: ShopifyConnector) -> None:
    body = json.dumps(sample_order()).encode()
    connector.parse_webhook({}, body)
    assert connector._http is None


# --- SSRF guard -------------------------------------------------------------------------------


@respx.mock
def test_private_api_base_url_is_refused_before_any_request() -> None:
    route = respx.get("http://shop.internal/admin/orders/1.json").respond(200, json={})
    conn = make_connector(api_base_url="http://shop.internal/admin")
    with pytest.raises(UnsafeUrlError):
        conn.fetch_order("1")
    assert not route.called


@respx.mock
def test_local_fake_is_allowed_in_dev_mode() -> None:
    route = respx.get("http://127.0.0.1:8099/admin/orders/450789469.json").respond(
        200, content=ORDER_SAMPLE.read_bytes()
    )
    dev = ConnectorRuntime(allow_private_urls=True, retry_max_wait=0.001)
    conn = make_connector(api_base_url="http://127.0.0.1:8099/admin", runtime=dev)
    assert conn.fetch_order("450789469").external_id == "450789469"
    assert route.called


# --- polling ----------------------------------------------------------------------------------


@respx.mock
def test_first_page_sends_the_filters_and_the_token(connector: ShopifyConnector) -> None:
    route = respx.get(f"{BASE}/orders.json").respond(200, json={"orders": [sample_order()]})
    page = connector.pull_orders(SINCE, None, now=NOW)

    sent = route.calls.last.request
    assert query(sent) == {
        "status": "any",
        "updated_at_min": "2026-11-27T10:00:00+00:00",
        "limit": "250",
        "order": "updated_at asc",
    }
    assert sent.headers["X-Shopify-Access-Token"] == TOKEN
    assert page.next_page_token is None
    (order,) = page.orders
    assert order.external_id == "450789469"
    assert order.updated_at == datetime(2008, 1, 10, 11, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert order.payload == sample_order()
    assert testkit.check_maps_to_canonical(connector, order.payload)["external_id"] == "450789469"


@respx.mock
def test_updated_at_min_is_sent_in_utc(connector: ShopifyConnector) -> None:
    route = respx.get(f"{BASE}/orders.json").respond(200, json={"orders": []})
    cest = timezone(timedelta(hours=2))
    connector.pull_orders(datetime(2026, 6, 1, 12, 30, tzinfo=cest), None, now=NOW)
    assert query(route.calls.last.request)["updated_at_min"] == "2026-06-01T10:30:00+00:00"


def test_naive_cursor_is_refused(connector: ShopifyConnector) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        connector.pull_orders(datetime(2026, 1, 1), None, now=NOW)


@respx.mock
def test_drain_follows_link_headers_over_three_pages(connector: ShopifyConnector) -> None:
    pages = [
        httpx.Response(
            200,
            json={"orders": [sample_order(), order_variant(2, "2026-11-27T10:01:00Z")]},
            headers=link(("next", "cDI")),
        ),
        httpx.Response(
            200,
            json={"orders": [order_variant(3, "2026-11-27T10:02:00-05:00")]},
            headers=link(("previous", "cDE"), ("next", "cDM")),
        ),
        httpx.Response(
            200,
            json={"orders": [order_variant(4, "2026-11-27T10:03:00+01:00")]},
            headers=link(("previous", "cDI")),
        ),
    ]
    route = respx.get(f"{BASE}/orders.json").mock(side_effect=pages)

    orders = testkit.drain(connector, SINCE, now=NOW)

    assert [o.external_id for o in orders] == ["450789469", "2", "3", "4"]
    assert orders[1].updated_at == datetime(2026, 11, 27, 10, 1, tzinfo=UTC)
    assert route.call_count == 3
    first, second, third = (query(call.request) for call in route.calls)
    assert set(first) == {"status", "updated_at_min", "limit", "order"}
    # With page_info Shopify accepts only limit (and fields) beside it.
    assert second == {"page_info": "cDI", "limit": "250"}
    assert third == {"page_info": "cDM", "limit": "250"}
    for order in orders:
        testkit.check_maps_to_canonical(connector, order.payload)


@respx.mock
def test_page_token_resumes_an_interrupted_run(connector: ShopifyConnector) -> None:
    route = respx.get(f"{BASE}/orders.json").respond(200, json={"orders": []})
    page = connector.pull_orders(SINCE, "eyJsYXN0X2lkIjo0fQ", now=NOW)
    assert page.orders == ()
    assert query(route.calls.last.request) == {"page_info": "eyJsYXN0X2lkIjo0fQ", "limit": "250"}


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, json={"order": {}}), "no 'orders' array"),
        (httpx.Response(200, json=[1]), "not a JSON object"),
        (httpx.Response(200, text="<html>"), "not JSON"),
        (
            httpx.Response(
                200,
                json={"orders": []},
                headers={"Link": f'<{BASE}/orders.json?limit=250>; rel="next"'},
            ),
            "no page_info",
        ),
    ],
)
@respx.mock
def test_odd_order_pages_are_payload_errors(
    connector: ShopifyConnector, response: httpx.Response, message: str
) -> None:
    respx.get(f"{BASE}/orders.json").mock(return_value=response)
    with pytest.raises(PayloadError, match=message):
        connector.pull_orders(SINCE, None, now=NOW)


def without(order: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k not in keys}


@pytest.mark.parametrize(
    ("bad", "bad_id", "reason"),
    [
        pytest.param(
            without(order_variant(7, "x"), "updated_at", "created_at"),
            "7",
            "Shopify order 7 has no valid updated_at",
            id="no-updated_at",
        ),
        pytest.param(
            order_variant(7, "2026-13-45T10:00:00Z"),
            "7",
            "Shopify order 7 has no valid updated_at",
            id="malformed-updated_at",
        ),
        pytest.param(
            order_variant(7, "2026-11-27T10:00:00"),
            "7",
            "Shopify order 7 updated_at has no UTC offset",
            id="updated_at-without-offset",
        ),
        pytest.param(
            without(sample_order(), "id"),
            None,
            "Shopify order list holds an entry that is not an order object",
            id="no-id",
        ),
        pytest.param(
            "x", None, "Shopify order list holds an entry that is not an order object", id="text"
        ),
    ],
)
@respx.mock
def test_a_record_that_cannot_be_read_is_handed_back_and_the_rest_kept(
    connector: ShopifyConnector, bad: Any, bad_id: str | None, reason: str
) -> None:
    good = order_variant(8, "2026-11-27T10:01:00Z")
    respx.get(f"{BASE}/orders.json").respond(
        200, json={"orders": [sample_order(), bad, good]}, headers=link(("next", "cDI"))
    )
    page = connector.pull_orders(SINCE, None, now=NOW)
    assert [o.external_id for o in page.orders] == ["450789469", "8"]
    assert page.next_page_token == "cDI"
    (rejected,) = page.rejected
    assert (rejected.raw, rejected.external_id, rejected.reason) == (bad, bad_id, reason)
    with pytest.raises(PayloadError) as refused:
        connector.read_polled(json.loads(json.dumps(bad)))
    assert str(refused.value) == reason


@respx.mock
def test_poll_429_with_retry_after_then_success(connector: ShopifyConnector) -> None:
    route = respx.get(f"{BASE}/orders.json").mock(
        side_effect=[testkit.too_many(0), httpx.Response(200, json={"orders": [sample_order()]})]
    )
    page = testkit.check_retries_then_succeeds(
        lambda: connector.pull_orders(SINCE, None, now=NOW), route, calls=2
    )
    assert len(page.orders) == 1


@respx.mock
def test_poll_503_then_success(connector: ShopifyConnector) -> None:
    route = respx.get(f"{BASE}/orders.json").mock(
        side_effect=[testkit.server_error(503), httpx.Response(200, json={"orders": []})]
    )
    testkit.check_retries_then_succeeds(
        lambda: connector.pull_orders(SINCE, None, now=NOW), route, calls=2
    )


@respx.mock
def test_429_hands_retry_after_back_and_holds_the_bucket(fake_time: FakeTime) -> None:
    conn = make_connector(fake_time)
    route = respx.get(f"{BASE}/orders.json").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2.0"}),
            httpx.Response(200, json={"orders": []}),
        ]
    )
    with pytest.raises(TransientError) as caught:
        conn.pull_orders(SINCE, None, now=NOW)
    assert caught.value.retry_after == 2.0
    assert route.call_count == 1  # longer than retry_max_wait: handed back, not slept here
    conn.pull_orders(SINCE, None, now=NOW)
    assert fake_time.sleeps and sum(fake_time.sleeps) >= 2.0


@pytest.mark.parametrize(
    ("header", "expected_wait"), [("39/40", 2.0), ("36/40", 0.0), ("5/40", 0.0), ("odd", 0.0)]
)
@respx.mock
def test_call_limit_header_slows_down_near_a_full_bucket(
    fake_time: FakeTime, header: str, expected_wait: float
) -> None:
    conn = make_connector(fake_time)
    respx.get(f"{BASE}/orders.json").respond(
        200, json={"orders": []}, headers={"X-Shopify-Shop-Api-Call-Limit": header}
    )
    conn.pull_orders(SINCE, None, now=NOW)
    assert fake_time.sleeps == []
    conn.pull_orders(SINCE, None, now=NOW)
    # 39 of 40 used with 4 kept free: 3 over, 1.5 s at 2 leaks/s; the held-off bucket is then
    # empty, so our own next token takes 0.5 s more: the request goes out with 4 slots free.
    assert sum(fake_time.sleeps) == pytest.approx(expected_wait)


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "access_token"), (403, "access scope"), (404, "check the id"), (422, "")],
)
@respx.mock
def test_poll_permanent_errors(connector: ShopifyConnector, status: int, hint: str) -> None:
    route = respx.get(f"{BASE}/orders.json").respond(status, json={"errors": "Not allowed"})
    error = testkit.check_permanent_error(
        lambda: connector.pull_orders(SINCE, None, now=NOW), route
    )
    assert error.reason == f"http_{status}"
    assert hint in str(error)
    assert TOKEN not in str(error)


# --- fetch ------------------------------------------------------------------------------------


@respx.mock
def test_fetch_returns_the_bare_order_of_the_untouched_sample(
    connector: ShopifyConnector,
) -> None:
    route = respx.get(f"{BASE}/orders/450789469.json").respond(
        200, content=ORDER_SAMPLE.read_bytes(), headers={"Content-Type": "application/json"}
    )
    order = connector.fetch_order("450789469")
    assert route.calls.last.request.headers["X-Shopify-Access-Token"] == TOKEN
    assert order.external_id == "450789469"
    assert order.payload == sample_order()
    assert order.updated_at.utcoffset() == timedelta(hours=-5)
    testkit.check_maps_to_canonical(connector, order.payload)


@pytest.mark.parametrize("bad_id", ["../shop", "12/34", "", "#1001", "١٢٣"])
@respx.mock
def test_fetch_refuses_ids_that_are_not_numbers(connector: ShopifyConnector, bad_id: str) -> None:
    with pytest.raises(PermanentError, match="numeric id"):
        connector.fetch_order(bad_id)
    assert not respx.calls


@pytest.mark.parametrize("status", [401, 404, 422])
@respx.mock
def test_fetch_permanent_errors(connector: ShopifyConnector, status: int) -> None:
    route = respx.get(f"{BASE}/orders/1.json").respond(status, json={"errors": "Not Found"})
    testkit.check_permanent_error(lambda: connector.fetch_order("1"), route)


@respx.mock
def test_fetch_429_then_success(connector: ShopifyConnector) -> None:
    route = respx.get(f"{BASE}/orders/450789469.json").mock(
        side_effect=[testkit.too_many(0), httpx.Response(200, content=ORDER_SAMPLE.read_bytes())]
    )
    order = testkit.check_retries_then_succeeds(
        lambda: connector.fetch_order("450789469"), route, calls=2
    )
    assert order.external_id == "450789469"


# --- fulfilment -------------------------------------------------------------------------------

FULFILLMENTS = f"{BASE}/orders/450789469/fulfillments.json"
FULFILLMENT_ORDERS = f"{BASE}/orders/450789469/fulfillment_orders.json"
CREATE = f"{BASE}/fulfillments.json"


def fo_line(fo_line_id: int, line_item_id: int, quantity: int, fulfillable: int) -> dict[str, Any]:
    return {
        "id": fo_line_id,
        "shop_id": 548380009,
        "fulfillment_order_id": 0,
        "quantity": quantity,
        "line_item_id": line_item_id,
        "inventory_item_id": 808950810,
        "fulfillable_quantity": fulfillable,
        "variant_id": 39072856,
    }


def fulfillment_order(
    fo_id: int, status: str, lines: list[dict[str, Any]], location: int = 24826418
) -> dict[str, Any]:
    for line in lines:
        line["fulfillment_order_id"] = fo_id
    return {
        "id": fo_id,
        "order_id": 450789469,
        "assigned_location_id": location,
        "request_status": "unsubmitted",
        "status": status,
        "line_items": lines,
    }


def open_fulfillment_orders() -> dict[str, Any]:
    """The sample order's three lines, one unit each, in one open fulfillment order."""
    return {
        "fulfillment_orders": [
            fulfillment_order(
                1046000778,
                "open",
                [
                    fo_line(1025578633, GREEN, 1, 1),
                    fo_line(1025578634, RED, 1, 1),
                    fo_line(1025578635, BLACK, 1, 1),
                ],
            )
        ]
    }


def notice(
    *lines: tuple[int | None, int], tracking: str | None = "1Z2345", **extra: Any
) -> FulfilmentNotice:
    values: dict[str, Any] = {
        "external_order_id": "450789469",
        "shipment_ref": "shp-7",
        "lines": tuple(
            ShippedLine(
                sku=f"SKU-{line_id}",
                quantity=qty,
                external_line_id=None if line_id is None else str(line_id),
            )
            for line_id, qty in lines
        ),
        "shipped_at": NOW,
        "idempotency_key": "fulfil-shp-7",
        "carrier": "UPS",
        "tracking_number": tracking,
        "tracking_url": "https://www.ups.com/track?tracknum=1Z2345",
    }
    values.update(extra)
    return FulfilmentNotice(**values)


@respx.mock
def test_partial_shipment_posts_the_fulfillment_order_lines(connector: ShopifyConnector) -> None:
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    respx.get(FULFILLMENT_ORDERS).respond(200, json=open_fulfillment_orders())
    create = respx.post(CREATE).respond(201, content=FULFILLMENT_SAMPLE.read_bytes())

    receipt = connector.push_fulfilment(notice((GREEN, 1), (RED, 1)))

    assert receipt == PushReceipt(external_ref="255858046", attempts=3)
    sent = create.calls.last.request
    assert sent.headers["X-Shopify-Access-Token"] == TOKEN
    assert json.loads(sent.content) == {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": 1046000778,
                    "fulfillment_order_line_items": [
                        {"id": 1025578633, "quantity": 1},
                        {"id": 1025578634, "quantity": 1},
                    ],
                }
            ],
            "notify_customer": False,
            "tracking_info": {
                "number": "1Z2345",
                "url": "https://www.ups.com/track?tracknum=1Z2345",
                "company": "UPS",
            },
        }
    }


@respx.mock
def test_partial_quantity_of_one_line(fake_time: FakeTime) -> None:
    conn = make_connector(fake_time, notify_customer=True)
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    respx.get(FULFILLMENT_ORDERS).respond(
        200,
        json={
            "fulfillment_orders": [
                fulfillment_order(11, "closed", [fo_line(110, GREEN, 5, 0)]),
                fulfillment_order(12, "in_progress", [fo_line(120, GREEN, 5, 3)]),
            ]
        },
    )
    create = respx.post(CREATE).respond(201, json={"fulfillment": {"id": 99}})

    receipt = conn.push_fulfilment(notice((GREEN, 2), tracking=None, carrier=None))

    assert receipt.external_ref == "99"
    assert json.loads(create.calls.last.request.content) == {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": 12,
                    "fulfillment_order_line_items": [{"id": 120, "quantity": 2}],
                }
            ],
            "notify_customer": True,
            "tracking_info": {"url": "https://www.ups.com/track?tracknum=1Z2345"},
        }
    }
    # Without a tracking number there is nothing to match earlier fulfillments by.
    assert not respx.routes[0].called


@respx.mock
def test_lines_at_two_locations_make_two_fulfillments(connector: ShopifyConnector) -> None:
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    respx.get(FULFILLMENT_ORDERS).respond(
        200,
        json={
            "fulfillment_orders": [
                fulfillment_order(21, "open", [fo_line(210, GREEN, 1, 1)], location=1),
                fulfillment_order(22, "open", [fo_line(220, RED, 1, 1)], location=2),
            ]
        },
    )
    create = respx.post(CREATE).mock(
        side_effect=[
            httpx.Response(201, json={"fulfillment": {"id": 501}}),
            httpx.Response(201, json={"fulfillment": {"id": 502}}),
        ]
    )
    receipt = connector.push_fulfilment(notice((GREEN, 1), (RED, 1)))
    assert receipt.external_ref == "501,502"
    bodies = [json.loads(call.request.content)["fulfillment"] for call in create.calls]
    assert [b["line_items_by_fulfillment_order"][0]["fulfillment_order_id"] for b in bodies] == [
        21,
        22,
    ]


@respx.mock
def test_shipment_already_in_shopify_is_not_posted_again(connector: ShopifyConnector) -> None:
    # The recorded fulfillment carries tracking 1Z2345 for one unit of the green iPod.
    respx.get(FULFILLMENTS).respond(
        200, json={"fulfillments": [fulfillment_sample()["fulfillment"]]}
    )
    orders = respx.get(FULFILLMENT_ORDERS).respond(200, json=open_fulfillment_orders())
    create = respx.post(CREATE).respond(201, json={"fulfillment": {"id": 1}})

    receipt = connector.push_fulfilment(notice((GREEN, 1)))

    assert receipt == PushReceipt(external_ref="255858046", attempts=1)
    assert not orders.called
    assert not create.called


@respx.mock
def test_only_the_unreported_rest_is_posted(connector: ShopifyConnector) -> None:
    respx.get(FULFILLMENTS).respond(
        200, json={"fulfillments": [fulfillment_sample()["fulfillment"]]}
    )
    respx.get(FULFILLMENT_ORDERS).respond(200, json=open_fulfillment_orders())
    create = respx.post(CREATE).respond(201, json={"fulfillment": {"id": 2}})
    connector.push_fulfilment(notice((GREEN, 1), (RED, 1)))
    (item,) = json.loads(create.calls.last.request.content)["fulfillment"][
        "line_items_by_fulfillment_order"
    ]
    assert item["fulfillment_order_line_items"] == [{"id": 1025578634, "quantity": 1}]


@respx.mock
def test_failed_fulfillments_with_the_same_tracking_do_not_count(
    connector: ShopifyConnector,
) -> None:
    # The order sample's embedded fulfillment has tracking 1Z2345 but status "failure".
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": sample_order()["fulfillments"]})
    respx.get(FULFILLMENT_ORDERS).respond(200, json=open_fulfillment_orders())
    create = respx.post(CREATE).respond(201, content=FULFILLMENT_SAMPLE.read_bytes())
    assert connector.push_fulfilment(notice((GREEN, 1))).external_ref == "255858046"
    assert create.call_count == 1


@respx.mock
def test_fulfillment_post_is_never_repeated_blindly(connector: ShopifyConnector) -> None:
    listed = respx.get(FULFILLMENTS).mock(
        side_effect=[
            httpx.Response(200, json={"fulfillments": []}),
            # Shopify did create it before the 503: the caller's retry finds it.
            httpx.Response(200, json={"fulfillments": [fulfillment_sample()["fulfillment"]]}),
        ]
    )
    respx.get(FULFILLMENT_ORDERS).respond(200, json=open_fulfillment_orders())
    create = respx.post(CREATE).respond(503)

    with pytest.raises(TransientError):
        connector.push_fulfilment(notice((GREEN, 1)))
    assert create.call_count == 1  # not retried in-call: it may have been applied

    receipt = connector.push_fulfilment(notice((GREEN, 1)))
    assert receipt.external_ref == "255858046"
    assert create.call_count == 1
    assert listed.call_count == 2


@pytest.mark.parametrize(
    "first", [testkit.too_many(0), testkit.server_error(503)], ids=["429", "503"]
)
@respx.mock
def test_fulfillment_transient_then_success(
    connector: ShopifyConnector, first: httpx.Response
) -> None:
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    respx.get(FULFILLMENT_ORDERS).respond(200, json=open_fulfillment_orders())
    create = respx.post(CREATE).mock(
        side_effect=[first, httpx.Response(201, content=FULFILLMENT_SAMPLE.read_bytes())]
    )
    receipt = testkit.check_retries_then_succeeds(
        lambda: connector.push_fulfilment(notice((GREEN, 1))), create, calls=2
    )
    assert receipt.external_ref == "255858046"


@respx.mock
def test_fulfillment_order_list_503_is_retried_in_call(connector: ShopifyConnector) -> None:
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    route = respx.get(FULFILLMENT_ORDERS).mock(
        side_effect=[testkit.server_error(503), httpx.Response(200, json=open_fulfillment_orders())]
    )
    respx.post(CREATE).respond(201, content=FULFILLMENT_SAMPLE.read_bytes())
    testkit.check_retries_then_succeeds(
        lambda: connector.push_fulfilment(notice((GREEN, 1))), route, calls=2
    )


@pytest.mark.parametrize("status", [401, 404, 422])
@respx.mock
def test_fulfillment_permanent_errors(connector: ShopifyConnector, status: int) -> None:
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    respx.get(FULFILLMENT_ORDERS).respond(200, json=open_fulfillment_orders())
    create = respx.post(CREATE).respond(
        status, json={"errors": ["Invalid fulfillment order line item quantity requested."]}
    )
    error = testkit.check_permanent_error(
        lambda: connector.push_fulfilment(notice((GREEN, 1))), create
    )
    assert error.reason == f"http_{status}"


@respx.mock
def test_more_than_fulfillable_is_a_clear_permanent_error(connector: ShopifyConnector) -> None:
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    respx.get(FULFILLMENT_ORDERS).respond(200, json=open_fulfillment_orders())
    create = respx.post(CREATE).respond(201, json={"fulfillment": {"id": 1}})
    with pytest.raises(PermanentError, match="Shopify admin") as caught:
        connector.push_fulfilment(notice((GREEN, 2)))
    assert caught.value.reason == "not_fulfillable"
    assert f"line item {GREEN} (1 of 2 not fulfillable)" in str(caught.value)
    assert not create.called


def old_api_line(fo_line_id: int, line_item_id: int, quantity: int) -> dict[str, Any]:
    """A fulfillment-order line as an older API version sends it: no fulfillable_quantity."""
    line = fo_line(fo_line_id, line_item_id, quantity, 0)
    del line["fulfillable_quantity"]
    return line


def posted_lines(create: respx.Route) -> list[tuple[int, list[dict[str, int]]]]:
    body = json.loads(create.calls.last.request.content)["fulfillment"]
    return [
        (group["fulfillment_order_id"], group["fulfillment_order_line_items"])
        for group in body["line_items_by_fulfillment_order"]
    ]


@pytest.mark.parametrize("tracking", ["1Z9999", None], ids=["tracked", "untracked"])
@respx.mock
def test_a_line_without_fulfillable_quantity_is_not_read_as_zero(
    connector: ShopifyConnector, tracking: str | None
) -> None:
    listed = respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    respx.get(FULFILLMENT_ORDERS).respond(
        200,
        json={
            "fulfillment_orders": [
                fulfillment_order(1046000778, "open", [old_api_line(1025578633, GREEN, 1)])
            ]
        },
    )
    create = respx.post(CREATE).respond(201, json={"fulfillment": {"id": 77}})
    receipt = connector.push_fulfilment(notice((GREEN, 1), tracking=tracking))
    assert receipt.external_ref == "77"
    assert posted_lines(create) == [(1046000778, [{"id": 1025578633, "quantity": 1}])]
    # What is already fulfilled is read once, also for a shipment without tracking.
    assert listed.call_count == 1


@respx.mock
def test_without_fulfillable_quantity_what_is_known_fulfilled_is_taken_off(
    connector: ShopifyConnector,
) -> None:
    # Three green iPods in one fulfillment order; the recorded fulfillment (pending, another
    # tracking number) already carries one of them.
    respx.get(FULFILLMENTS).respond(
        200, json={"fulfillments": [fulfillment_sample()["fulfillment"]]}
    )
    respx.get(FULFILLMENT_ORDERS).respond(
        200,
        json={
            "fulfillment_orders": [
                fulfillment_order(51, "in_progress", [old_api_line(510, GREEN, 3)])
            ]
        },
    )
    create = respx.post(CREATE).respond(201, json={"fulfillment": {"id": 78}})
    connector.push_fulfilment(notice((GREEN, 2), tracking="1Z0002"))
    assert posted_lines(create) == [(51, [{"id": 510, "quantity": 2}])]

    with pytest.raises(PermanentError, match=rf"line item {GREEN} \(1 of 3 not fulfillable\)"):
        connector.push_fulfilment(notice((GREEN, 3), tracking="1Z0003"))
    assert create.call_count == 1


@respx.mock
def test_without_fulfillable_quantity_a_closed_order_accounts_for_its_own_units(
    connector: ShopifyConnector,
) -> None:
    # Five green iPods: two were fulfilled (and their fulfillment order closed), three wait in
    # an open one. The two fulfilled units are the closed order's, not the open one's.
    shipped = {**fulfillment_sample()["fulfillment"], "status": "success"}
    shipped["line_items"] = [{**shipped["line_items"][0], "quantity": 2}]
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": [shipped]})
    respx.get(FULFILLMENT_ORDERS).respond(
        200,
        json={
            "fulfillment_orders": [
                fulfillment_order(61, "closed", [old_api_line(610, GREEN, 2)]),
                fulfillment_order(62, "open", [old_api_line(620, GREEN, 3)]),
            ]
        },
    )
    create = respx.post(CREATE).respond(201, json={"fulfillment": {"id": 79}})
    connector.push_fulfilment(notice((GREEN, 3), tracking="1Z0004"))
    assert posted_lines(create) == [(62, [{"id": 620, "quantity": 3}])]


@respx.mock
def test_untracked_shipment_of_closed_lines_counts_as_reported(
    connector: ShopifyConnector,
) -> None:
    respx.get(FULFILLMENT_ORDERS).respond(
        200,
        json={"fulfillment_orders": [fulfillment_order(31, "closed", [fo_line(310, GREEN, 1, 0)])]},
    )
    create = respx.post(CREATE).respond(201, json={"fulfillment": {"id": 1}})
    receipt = connector.push_fulfilment(notice((GREEN, 1), tracking=None))
    assert receipt == PushReceipt(external_ref=None, attempts=1)
    assert not create.called


@respx.mock
def test_cancelled_fulfillment_order_is_not_taken_as_shipped(
    connector: ShopifyConnector,
) -> None:
    respx.get(FULFILLMENT_ORDERS).respond(
        200,
        json={
            "fulfillment_orders": [fulfillment_order(41, "cancelled", [fo_line(410, GREEN, 1, 0)])]
        },
    )
    with pytest.raises(PermanentError, match="cancelled"):
        connector.push_fulfilment(notice((GREEN, 1), tracking=None))


@pytest.mark.parametrize(
    ("lines", "message"),
    [(((None, 1),), "no Shopify line item id"), (((GREEN, 0),), "no quantity")],
)
@respx.mock
def test_notice_that_cannot_be_reported(
    connector: ShopifyConnector, lines: tuple[tuple[int | None, int], ...], message: str
) -> None:
    with pytest.raises(PermanentError, match=message):
        connector.push_fulfilment(notice(*lines))
    assert not respx.calls


@respx.mock
def test_odd_fulfillment_order_list_is_a_payload_error(connector: ShopifyConnector) -> None:
    respx.get(FULFILLMENTS).respond(200, json={"fulfillments": []})
    respx.get(FULFILLMENT_ORDERS).respond(
        200, json={"fulfillment_orders": [{"id": 1, "status": "open", "line_items": [{}]}]}
    )
    with pytest.raises(PayloadError, match="unexpected shape"):
        connector.push_fulfilment(notice((GREEN, 1)))


# --- stock ------------------------------------------------------------------------------------

INVENTORY_SET = f"{BASE}/inventory_levels/set.json"
# Compare-and-set (GraphQL) has its own tests in test_shopify_stock.py; these are the REST
# path a shop takes with inventory_compare_and_set off.


@pytest.fixture
def rest_stock(fake_time: FakeTime) -> Iterator[ShopifyConnector]:
    conn = make_connector(fake_time, inventory_compare_and_set=False)
    yield conn
    conn.close()


@respx.mock
def test_stock_sets_each_inventory_item_at_the_location(rest_stock: ShopifyConnector) -> None:
    route = respx.post(INVENTORY_SET).respond(
        200,
        json={
            "inventory_level": {
                "inventory_item_id": 808950810,
                "location_id": LOCATION,
                "available": 6,
                "updated_at": "2018-05-07T15:51:26-04:00",
            }
        },
    )
    updates = [
        StockUpdate("SKU-RED", "808950810", 6, previous=9, channel_units_since=1),
        StockUpdate("SKU-BLUE", "39072856", 0),
    ]
    receipt = rest_stock.push_stock(updates, idempotency_key="stock-42")

    assert receipt == PushReceipt(external_ref=None, attempts=2)
    assert [json.loads(call.request.content) for call in route.calls] == [
        {"location_id": LOCATION, "inventory_item_id": 808950810, "available": 6},
        {"location_id": LOCATION, "inventory_item_id": 39072856, "available": 0},
    ]
    assert route.calls.last.request.headers["X-Shopify-Access-Token"] == TOKEN


@pytest.mark.parametrize("compare_and_set", [True, False], ids=["graphql", "rest"])
@respx.mock
def test_stock_refuses_a_channel_ref_that_is_not_an_inventory_item_id(
    fake_time: FakeTime, compare_and_set: bool
) -> None:
    connector = make_connector(fake_time, inventory_compare_and_set=compare_and_set)
    updates = [StockUpdate("A", "808950810", 1), StockUpdate("B", "gid://shopify/Variant/1", 1)]
    with pytest.raises(PermanentError, match="inventory item id of B"):
        connector.push_stock(updates, idempotency_key="k")
    assert not respx.calls  # checked before anything is sent


@pytest.mark.parametrize(
    "first", [testkit.too_many(0), testkit.server_error(503)], ids=["429", "503"]
)
@respx.mock
def test_stock_transient_then_success(rest_stock: ShopifyConnector, first: httpx.Response) -> None:
    route = respx.post(INVENTORY_SET).mock(side_effect=[first, httpx.Response(200, json={})])
    receipt = testkit.check_retries_then_succeeds(
        lambda: rest_stock.push_stock([StockUpdate("A", "1", 1)], idempotency_key="k"),
        route,
        calls=2,
    )
    assert receipt.external_ref is None


@pytest.mark.parametrize("status", [401, 404, 422])
@respx.mock
def test_stock_permanent_errors(rest_stock: ShopifyConnector, status: int) -> None:
    route = respx.post(INVENTORY_SET).respond(
        status,
        json={"errors": ["Inventory item does not have inventory tracking enabled"]},
    )
    error = testkit.check_permanent_error(
        lambda: rest_stock.push_stock([StockUpdate("A", "1", 1)], idempotency_key="k"), route
    )
    assert error.reason == f"http_{status}"


# --- client lifecycle -------------------------------------------------------------------------


@respx.mock
def test_client_is_reused_and_reopened_after_close(connector: ShopifyConnector) -> None:
    respx.get(f"{BASE}/orders.json").respond(200, json={"orders": []})
    connector.pull_orders(SINCE, None, now=NOW)
    first = connector._http
    connector.pull_orders(SINCE, None, now=NOW)
    assert connector._http is first is not None
    connector.close()
    assert first.is_closed
    connector.pull_orders(SINCE, None, now=NOW)
    assert connector._http is not first


def test_an_instance_enables_only_what_its_config_allows() -> None:
    from omniroute.connectors.base import Capability, ConnectorRuntime, enabled_capabilities
    from omniroute.connectors.shopify.connector import ShopifyConnector

    runtime = ConnectorRuntime()
    webhook_only = ShopifyConnector({}, {"webhook_secret": "s"}, runtime=runtime)
    assert enabled_capabilities(webhook_only) == {
        Capability.ORDER_WEBHOOKS,
        Capability.RETURN_WEBHOOKS,
    }
    api = ShopifyConnector(
        {"shop_domain": "shop.myshopify.com"},
        {"webhook_secret": "s", "access_token": "t"},
        runtime=runtime,
    )
    assert Capability.ORDER_POLLING in enabled_capabilities(api)
    assert Capability.STOCK_PUSH not in enabled_capabilities(api)
    stock = ShopifyConnector(
        {"shop_domain": "shop.myshopify.com", "location_id": 7},
        {"webhook_secret": "s", "access_token": "t"},
        runtime=runtime,
    )
    assert enabled_capabilities(stock) == ShopifyConnector.capabilities - {
        Capability.RISK_ASSESSMENT
    }
    risk = ShopifyConnector(
        {"shop_domain": "shop.myshopify.com", "location_id": 7, "fetch_risk_assessment": True},
        {"webhook_secret": "s", "access_token": "t"},
        runtime=runtime,
    )
    assert enabled_capabilities(risk) == ShopifyConnector.capabilities
    webhook_only_risk = ShopifyConnector(
        {"fetch_risk_assessment": True}, {"webhook_secret": "s"}, runtime=runtime
    )
    assert enabled_capabilities(webhook_only_risk) == {
        Capability.ORDER_WEBHOOKS,
        Capability.RETURN_WEBHOOKS,
    }


@respx.mock
def test_cancel_order_posts_cancel_once_and_skips_cancelled_orders(
    connector: ShopifyConnector,
) -> None:
    from omniroute.connectors.base import CancelNotice

    order = sample_order()
    order["cancelled_at"] = None
    respx.get(f"{BASE}/orders/450789469.json").respond(200, json={"order": order})
    cancel = respx.post(f"{BASE}/orders/450789469/cancel.json").respond(
        200, json={"order": {**order, "cancelled_at": "2026-11-27T12:00:00-05:00"}}
    )
    connector.cancel_order(CancelNotice("450789469", "customer called", "cancel-1"))
    assert json.loads(cancel.calls[0].request.content) == {"reason": "other", "email": False}
    assert cancel.calls[0].request.headers["X-Shopify-Access-Token"] == TOKEN

    respx.get(f"{BASE}/orders/450789469.json").respond(
        200, json={"order": {**order, "cancelled_at": "2026-11-27T12:00:00-05:00"}}
    )
    connector.cancel_order(CancelNotice("450789469", "customer called", "cancel-1"))
    assert cancel.call_count == 1
