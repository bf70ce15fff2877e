"""WooCommerce connector: webhooks, mapping of the real sample, polling and pushes (respx)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import respx

from omniroute.connectors import testkit
from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    FulfilmentNotice,
    PayloadError,
    PermanentError,
    PingAware,
    ShippedLine,
    SignatureError,
    StockUpdate,
    TransientError,
    webhook_topic_of,
)
from omniroute.connectors.http import UnsafeUrlError
from omniroute.connectors.ratelimit import RateLimited
from omniroute.connectors.woocommerce import webhooks
from omniroute.connectors.woocommerce.connector import (
    WooCommerceConfig,
    WooCommerceConnector,
    WooCommerceSecrets,
)
from omniroute.connectors.woocommerce.mapping import (
    StockTarget,
    format_gmt,
    note_shipment_refs,
    parse_channel_ref,
    tracking_note,
)

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "woocommerce"
ORDER_SAMPLE = SAMPLES / "wp-api-v3_orders_retrieve.response.json"
ALL_SAMPLES = sorted(SAMPLES.glob("*.json"))

BASE = "https://shop.example.com"
API = f"{BASE}/wp-json/wc/v3"
WEBHOOK_SECRET = b"wc-webhook-secret-for-tests"
CONSUMER_KEY = "ck_0123456789abcdef"
CONSUMER_SECRET = "cs_fedcba9876543210"
DELIVERY_ID = "4b8c6c8ae1e0a0c7c3d0f3a8e3b0b1f2"
SINCE = datetime(2017, 3, 22, 21, 0, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
NOW = datetime(2017, 3, 23, 0, 0, tzinfo=UTC)
# retry_max_wait this small keeps jittered backoff tiny; sleeps go to a fake clock anyway.
RUNTIME = ConnectorRuntime(allow_private_urls=False, retry_attempts=3, retry_max_wait=0.001)


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"shop.example.com": "93.184.216.34", "shop.internal": "10.1.2.3"}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_connector(
    clock: FakeClock | None = None,
    *,
    runtime: ConnectorRuntime = RUNTIME,
    webhook_secret: str | None = WEBHOOK_SECRET.decode(),
    **config: Any,
) -> WooCommerceConnector:
    fake = clock or FakeClock()
    return WooCommerceConnector(
        {"base_url": config.pop("base_url", BASE), **config},
        {
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
            "webhook_secret": webhook_secret,
        },
        runtime=runtime,
        sleep=fake.sleep,
        clock=fake.time,
    )


@pytest.fixture
def connector(clock: FakeClock) -> Iterator[WooCommerceConnector]:
    built = make_connector(clock)
    yield built
    built.close()


def raw_sample() -> bytes:
    return ORDER_SAMPLE.read_bytes()


def sample_order() -> dict[str, Any]:
    order: dict[str, Any] = json.loads(raw_sample())
    return order


def variant(order_id: int, modified: str = "2017-03-22T19:28:08", **changes: Any) -> dict[str, Any]:
    """The sample with another id and modification time (and any other field changed)."""
    order = copy.deepcopy(sample_order())
    order.update({"id": order_id, "number": str(order_id), "date_modified_gmt": modified})
    order.update(changes)
    return order


def wc_signature(body: bytes, secret: bytes = WEBHOOK_SECRET) -> str:
    """Signed independently of the connector: base64(HMAC-SHA256(secret, body))."""
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode("ascii")


def delivery_headers(
    body: bytes,
    *,
    topic: str = "order.updated",
    delivery_id: str | None = DELIVERY_ID,
    secret: bytes = WEBHOOK_SECRET,
) -> dict[str, str]:
    """Headers of a WooCommerce webhook delivery (WC_Webhook::deliver) carrying ``body``."""
    resource, _, event = topic.partition(".")
    headers = {
        "User-Agent": "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)",
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": wc_signature(body, secret),
        "X-WC-Webhook-ID": "12",
    }
    if delivery_id is not None:
        headers["X-WC-Webhook-Delivery-ID"] = delivery_id
    return headers


def notice(**changes: Any) -> FulfilmentNotice:
    values: dict[str, Any] = {
        "external_order_id": "727",
        "shipment_ref": "shp-41",
        "lines": (ShippedLine(sku="BAR3", quantity=1, external_line_id="316", channel_sku="Bar3"),),
        "shipped_at": datetime(2017, 3, 24, 9, 30, tzinfo=UTC),
        "idempotency_key": "fulfilment-shp-41",
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "order_complete": True,
    }
    values.update(changes)
    return FulfilmentNotice(**values)


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


# --- kind and configuration -------------------------------------------------------------------


def test_kind_passes_the_contract_kit(connector: WooCommerceConnector) -> None:
    testkit.check_kind(WooCommerceConnector, connector)
    assert WooCommerceConnector.kind == "woocommerce"
    assert WooCommerceConnector.capabilities == frozenset(
        {
            Capability.ORDER_WEBHOOKS,
            Capability.ORDER_POLLING,
            Capability.ORDER_FETCH,
            Capability.FULFILMENT_PUSH,
            Capability.STOCK_PUSH,
            Capability.CANCEL_PUSH,
            Capability.RETURN_PUSH,
        }
    )
    assert isinstance(connector, PingAware)
    assert isinstance(connector, RateLimited)


def test_entry_point_names_the_connector_class() -> None:
    points = metadata.entry_points(group="omniroute.connectors", name="woocommerce")
    assert [point.load() for point in points] == [WooCommerceConnector]


def test_config_defaults() -> None:
    config = WooCommerceConfig(base_url=BASE + "/")
    assert config.base_url == BASE
    assert config.api_path == "/wp-json/wc/v3"
    assert config.per_page == 100
    assert (config.requests_per_second, config.burst) == (5.0, 10)
    assert config.complete_orders and config.notify_customer


@pytest.mark.parametrize(
    "values",
    [
        {"base_url": "ftp://shop.example.com"},
        {"base_url": "shop.example.com"},
        {"base_url": "https://ck:cs@shop.example.com"},
        {"base_url": "https://shop.example.com/?x=1"},
        {"base_url": BASE, "per_page": 101},
        {"base_url": BASE, "per_page": 0},
        {"base_url": BASE, "requests_per_second": 0},
        {"base_url": BASE, "api_path": "//evil.example/wc"},
        {"base_url": BASE, "api_path": "wp-json/wc/v3"},
        {"base_url": BASE, "unknown": 1},
    ],
)
def test_config_rejects(values: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        WooCommerceConfig.model_validate(values)


def test_secrets_are_required_write_only_and_never_printed() -> None:
    with pytest.raises(pydantic.ValidationError):
        WooCommerceSecrets.model_validate({"consumer_key": CONSUMER_KEY})
    with pytest.raises(pydantic.ValidationError):
        WooCommerceSecrets.model_validate(
            {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET, "extra": "x"}
        )
    secrets = WooCommerceSecrets.model_validate(
        {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET, "webhook_secret": "w"}
    )
    assert CONSUMER_SECRET not in repr(secrets)
    assert CONSUMER_SECRET not in str(secrets.model_dump())


def test_rate_limit_bucket_follows_the_config() -> None:
    bucket = make_connector(requests_per_second=2.5, burst=4).rate_limits["rest_api"]
    assert (bucket.rate, bucket.burst) == (2.5, 4.0)


# --- mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: p.name)
def test_every_recorded_sample_maps_to_a_canonical_order(
    connector: WooCommerceConnector, path: Path
) -> None:
    testkit.check_maps_to_canonical(connector, json.loads(path.read_bytes()))


def test_sample_maps_field_by_field(connector: WooCommerceConnector) -> None:
    canonical = testkit.check_maps_to_canonical(connector, sample_order())
    assert canonical["external_id"] == "727"
    assert canonical["external_number"] == "727"
    assert canonical["channel"] == "woocommerce"
    assert canonical["created_at"] == "2017-03-22T19:28:02+00:00"
    assert canonical["updated_at"] == "2017-03-22T19:28:08+00:00"
    assert canonical["currency"] == "USD"
    assert canonical["total"] == "29.35"
    assert canonical["financial_status"] == "paid"
    assert canonical["taxes_included"] is False  # prices_include_tax
    assert connector.map_order({**sample_order(), "prices_include_tax": True})["taxes_included"]
    assert canonical["cancelled"] is False
    assert canonical["service_level"] == "standard"
    assert canonical["note"] is None  # customer_note is ""
    assert canonical["customer"] == {
        "email": "john.doe@example.com",
        "name": "John Doe",
        "phone": "(555) 555-5555",
    }
    address = {
        "name": "John Doe",
        "company": None,
        "address1": "969 Market",
        "address2": None,
        "city": "San Francisco",
        "region": "CA",
        "postal_code": "94103",
        "country": "US",
    }
    assert canonical["ship_to"] == {**address, "phone": None}
    assert canonical["bill_to"] == {**address, "phone": "(555) 555-5555"}
    assert canonical["lines"] == [
        {
            "external_line_id": "315",
            "channel_sku": None,
            "variant_id": "93",
            "title": "Woo Single #1",
            "quantity": 2,
            "unit_price": "3",
            "discount_total": "0.00",
            "tax_total": "0.45",
            "line_total": "6.00",
            "properties": [],
        },
        {
            "external_line_id": "316",
            "channel_sku": "Bar3",
            "variant_id": "23",
            "title": "Ship Your Idea &ndash; Color: Black, Size: M Test",
            "quantity": 1,
            "unit_price": "12",
            "discount_total": "0.00",
            "tax_total": "0.90",
            "line_total": "12.00",
            "properties": [
                {"name": "pa_color", "value": "black"},
                {"name": "size", "value": "M Test"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("status", "cancelled"),
    [
        ("pending", False),
        ("processing", False),
        ("on-hold", False),
        ("completed", False),
        ("cancelled", True),
        ("refunded", True),
        ("failed", True),
        ("trash", True),
    ],
)
def test_status_decides_cancelled(
    connector: WooCommerceConnector, status: str, cancelled: bool
) -> None:
    assert connector.map_order(variant(727, status=status))["cancelled"] is cancelled


def test_financial_status_without_payment_and_after_refund(
    connector: WooCommerceConnector,
) -> None:
    unpaid = connector.map_order(variant(1, date_paid_gmt=None, status="pending"))
    assert unpaid["financial_status"] == "pending"
    refunded = connector.map_order(variant(2, status="refunded"))
    assert refunded["financial_status"] == "refunded"


def test_express_shipping_note_and_shipping_phone(connector: WooCommerceConnector) -> None:
    order = variant(728, customer_note="  Leave at the door  ")
    order["shipping_lines"][0].update({"method_id": "express_shipping", "method_title": "Fast"})
    order["shipping"]["phone"] = "+1 555 0100"
    canonical = connector.map_order(order)
    assert canonical["service_level"] == "express"
    assert canonical["note"] == "Leave at the door"
    assert canonical["ship_to"]["phone"] == "+1 555 0100"


def test_order_without_shipping_lines_or_address(connector: WooCommerceConnector) -> None:
    canonical = connector.map_order(variant(729, shipping_lines=[], shipping=None))
    assert canonical["service_level"] == "standard"
    assert canonical["ship_to"] is None


# --- webhooks: signature, ping, dedupe, parse --------------------------------------------------


def test_signature_on_the_untouched_sample(connector: WooCommerceConnector) -> None:
    body = raw_sample()
    testkit.check_signature(
        connector, delivery_headers(body), body, signature_header="X-WC-Webhook-Signature"
    )


def test_signature_on_a_compact_body_and_our_sign_agrees(connector: WooCommerceConnector) -> None:
    body = json.dumps(sample_order(), separators=(",", ":")).encode()
    testkit.check_signature(
        connector, delivery_headers(body), body, signature_header="x-wc-webhook-signature"
    )
    assert webhooks.sign(WEBHOOK_SECRET, body) == wc_signature(body)


@pytest.mark.parametrize(
    ("topic", "body"),
    [("order.updated", None), ("order.deleted", b'{"id": 727}'), ("product.updated", b"{}")],
)
def test_stored_headers_are_woocommerces_own_and_enough_to_parse(
    connector: WooCommerceConnector, topic: str, body: bytes | None
) -> None:
    body = raw_sample() if body is None else body
    headers = delivery_headers(body, topic=topic)
    stored = testkit.check_stored_headers(
        connector, headers, body, signature_header="X-WC-Webhook-Signature"
    )
    resource, _, event = topic.partition(".")
    assert stored == {
        "user-agent": "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)",
        "content-type": "application/json",
        "x-wc-webhook-source": "https://shop.example.com/",
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": resource,
        "x-wc-webhook-event": event,
        "x-wc-webhook-id": "12",
        "x-wc-webhook-delivery-id": DELIVERY_ID,
    }
    assert webhook_topic_of(connector, headers) == topic


def test_wrong_secret_or_malformed_signature_is_refused(connector: WooCommerceConnector) -> None:
    body = raw_sample()
    with pytest.raises(SignatureError, match="does not match"):
        connector.verify_webhook(delivery_headers(body, secret=b"other"), body)
    bad = {**delivery_headers(body), "X-WC-Webhook-Signature": "not base64!"}
    with pytest.raises(SignatureError, match="base64"):
        connector.verify_webhook(bad, body)


def test_no_webhook_secret_never_verifies() -> None:
    body = raw_sample()
    with pytest.raises(SignatureError, match="no webhook secret"):
        make_connector(webhook_secret=None).verify_webhook(delivery_headers(body), body)


def test_creation_ping_is_recognised(connector: WooCommerceConnector) -> None:
    # WC_Webhook::deliver_ping: a plain POST with a user agent and a form body, no X-WC headers.
    headers = {
        "User-Agent": "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    assert connector.is_ping(headers, b"webhook_id=12")
    assert connector.is_ping({}, b"webhook_id=7\n")


def test_deliveries_and_lookalikes_are_not_pings(connector: WooCommerceConnector) -> None:
    body = raw_sample()
    assert not connector.is_ping(delivery_headers(body), body)
    assert not connector.is_ping(delivery_headers(b"webhook_id=12"), b"webhook_id=12")
    assert not connector.is_ping({}, b"webhook_id=12&x=1")
    assert not connector.is_ping({}, b"webhook_id=")
    assert not connector.is_ping({}, b"")


def test_duplicate_delivery_keeps_its_key(connector: WooCommerceConnector) -> None:
    body = raw_sample()
    other = json.dumps(variant(728)).encode()
    testkit.check_duplicate_delivery(
        connector,
        (delivery_headers(body), body),
        (delivery_headers(other, delivery_id="a" * 32), other),
    )


def test_same_delivery_id_for_two_orders_in_one_second_keeps_both(
    connector: WooCommerceConnector,
) -> None:
    first = raw_sample()
    second = json.dumps(variant(728)).encode()
    key = connector.dedupe_key(delivery_headers(first), first)
    assert key.startswith(f"delivery:{DELIVERY_ID}:")
    assert connector.dedupe_key(delivery_headers(second), second) != key


def test_dedupe_key_without_delivery_id_uses_topic_id_and_digest(
    connector: WooCommerceConnector,
) -> None:
    body = raw_sample()
    key = connector.dedupe_key(delivery_headers(body, delivery_id=None), body)
    assert key.startswith("order.updated:727:")
    testkit.check_duplicate_delivery(
        connector,
        (delivery_headers(body, delivery_id=None), body),
        (delivery_headers(body, delivery_id=None, topic="order.created"), body),
    )


@pytest.mark.parametrize("topic", ["order.created", "order.updated", "order.restored"])
def test_order_topics_carry_the_order(connector: WooCommerceConnector, topic: str) -> None:
    body = raw_sample()
    headers = delivery_headers(body, topic=topic)
    connector.verify_webhook(headers, body)
    event = connector.parse_webhook(headers, body)
    assert event.topic == topic
    assert event.external_id == "727"
    assert event.order == sample_order()
    assert event.order is not None
    testkit.check_maps_to_canonical(connector, event.order)


def test_deleted_order_is_a_hint_to_fetch(connector: WooCommerceConnector) -> None:
    body = b'{"id":727}'
    event = connector.parse_webhook(delivery_headers(body, topic="order.deleted"), body)
    assert (event.topic, event.order, event.external_id) == ("order.deleted", None, "727")


def test_deleted_order_with_a_full_body_maps_as_cancelled(
    connector: WooCommerceConnector,
) -> None:
    body = raw_sample()
    event = connector.parse_webhook(delivery_headers(body, topic="order.deleted"), body)
    assert event.order is not None
    assert event.external_id == "727"
    assert connector.map_order(event.order)["cancelled"] is True


def test_topic_header_alone_is_enough(connector: WooCommerceConnector) -> None:
    body = raw_sample()
    headers = {"X-WC-Webhook-Topic": "order.created"}
    assert connector.parse_webhook(headers, body).external_id == "727"


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("product.updated", b'{"id": 93, "name": "Woo Single #1"}'),
        ("customer.deleted", b'{"id": 5}'),
        ("action.woocommerce_add_to_cart", b'{"action": "woocommerce_add_to_cart", "arg": "x"}'),
        ("coupon.created", b"not even json"),
    ],
)
def test_other_topics_are_ignored(connector: WooCommerceConnector, topic: str, body: bytes) -> None:
    event = connector.parse_webhook(delivery_headers(body, topic=topic), body)
    assert (event.topic, event.order, event.external_id) == (topic, None, None)


@pytest.mark.parametrize(
    ("topic", "body", "message"),
    [
        ("order.updated", b"{not json", "not valid JSON"),
        ("order.updated", b"\xff\xfe", "not UTF-8"),
        ("order.updated", b"[1, 2]", "JSON object"),
        ("order.updated", b'{"id": 727}', "not an order"),
        ("order.updated", b'{"id": 1, "line_items": [], "total": NaN}', "not valid JSON"),
        ("order.deleted", b'{"name": "x"}', "no order"),
    ],
)
def test_bad_order_bodies_are_payload_errors(
    connector: WooCommerceConnector, topic: str, body: bytes, message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        connector.parse_webhook(delivery_headers(body, topic=topic), body)


# --- polling and fetch ------------------------------------------------------------------------


def orders_page(orders: list[dict[str, Any]], total_pages: int | None) -> httpx.Response:
    headers = {} if total_pages is None else {"X-WP-TotalPages": str(total_pages)}
    return httpx.Response(200, json=orders, headers=headers)


def test_poll_sends_cursor_in_utc_and_reads_every_page(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    small = make_connector(per_page=2)
    pages = {
        "1": orders_page([variant(1, "2017-03-22T19:10:00"), variant(2, "2017-03-22T19:20:00")], 3),
        "2": orders_page([variant(3, "2017-03-22T19:30:00"), variant(4, "2017-03-22T19:40:00")], 3),
        "3": orders_page([sample_order()], 3),
    }
    route = respx_mock.get(f"{API}/orders").mock(
        side_effect=lambda request: pages[request.url.params["page"]]
    )

    orders = testkit.drain(small, SINCE, now=NOW)

    assert [order.external_id for order in orders] == ["1", "2", "3", "4", "727"]
    assert orders[-1].updated_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert orders[-1].payload == sample_order()
    assert route.call_count == 3
    for number, call in enumerate(route.calls, start=1):
        params = call.request.url.params
        assert params["modified_after"] == "2017-03-22T19:00:05"  # 21:00:05+02:00, in UTC
        assert params["dates_are_gmt"] == "true"
        assert params["orderby"] == "modified"
        assert params["order"] == "asc"
        assert params["per_page"] == "2"
        assert params["page"] == str(number)
    expected_auth = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
    assert route.calls[0].request.headers["Authorization"] == f"Basic {expected_auth}"
    for order in orders:
        testkit.check_maps_to_canonical(connector, order.payload)


def test_poll_stops_when_total_pages_says_so(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{API}/orders").mock(
        return_value=orders_page([variant(1), variant(2)], 1)
    )
    page = make_connector(per_page=2).pull_orders(SINCE, None, now=NOW)
    assert len(page.orders) == 2
    assert page.next_page_token is None
    assert route.call_count == 1


def test_poll_without_total_pages_header_stops_on_a_short_page(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{API}/orders", params={"page": "1"}).mock(
        return_value=orders_page([variant(1), variant(2)], None)
    )
    respx_mock.get(f"{API}/orders", params={"page": "2"}).mock(return_value=orders_page([], None))
    orders = testkit.drain(make_connector(per_page=2), SINCE, now=NOW)
    assert [order.external_id for order in orders] == ["1", "2"]


def test_poll_resumes_from_a_page_token(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    route = respx_mock.get(f"{API}/orders").mock(return_value=orders_page([], 0))
    page = connector.pull_orders(SINCE, "7", now=NOW)
    assert page.orders == ()
    assert page.next_page_token is None
    assert route.calls.last.request.url.params["page"] == "7"


@pytest.mark.parametrize("token", ["0", "abc", "-1", ""])
def test_poll_rejects_a_bad_page_token(connector: WooCommerceConnector, token: str) -> None:
    with pytest.raises(PermanentError, match="page token"):
        connector.pull_orders(SINCE, token, now=NOW)


def test_poll_refuses_a_non_list_answer(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    respx_mock.get(f"{API}/orders").respond(200, json={"code": "x"})
    with pytest.raises(PermanentError, match="JSON list"):
        connector.pull_orders(SINCE, None, now=NOW)
    respx_mock.get(f"{API}/orders").respond(200, text="<html>maintenance</html>")
    with pytest.raises(PermanentError, match="other than JSON"):
        connector.pull_orders(SINCE, None, now=NOW)


@pytest.mark.parametrize(
    ("bad", "bad_id", "reason"),
    [
        pytest.param(
            {
                k: v
                for k, v in variant(9).items()
                if k not in ("date_modified_gmt", "date_created_gmt")
            },
            "9",
            "WooCommerce order has no date_modified_gmt",
            id="no-date_modified_gmt",
        ),
        pytest.param(
            variant(9, "22/03/2017 19:28"),
            "9",
            "WooCommerce date_modified_gmt is not an ISO 8601 date: '22/03/2017 19:28'",
            id="malformed-date_modified_gmt",
        ),
        pytest.param(
            {"id": 9, "status": "processing"},
            "9",
            "WooCommerce payload is not an order: expected an object with 'id' and 'line_items'",
            id="no-line_items",
        ),
        pytest.param(
            None,
            None,
            "WooCommerce order payload must be a JSON object, got NoneType",
            id="null",
        ),
    ],
)
def test_poll_hands_back_a_record_it_cannot_read_and_keeps_the_rest(
    respx_mock: respx.MockRouter, bad: Any, bad_id: str | None, reason: str
) -> None:
    # A full page of three, the bad record in the middle; page 2 is still to be read.
    respx_mock.get(f"{API}/orders").mock(
        return_value=orders_page([variant(1, "2017-03-22T19:10:00"), bad, sample_order()], 2)
    )
    connector = make_connector(per_page=3)
    page = connector.pull_orders(SINCE, None, now=NOW)
    assert [order.external_id for order in page.orders] == ["1", "727"]
    assert page.next_page_token == "2"
    (rejected,) = page.rejected
    assert (rejected.raw, rejected.external_id, rejected.reason) == (bad, bad_id, reason)
    with pytest.raises(PayloadError) as refused:
        connector.read_polled(json.loads(json.dumps(bad)))
    assert str(refused.value) == reason


def test_poll_retries_429_with_retry_after_then_succeeds(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    route = respx_mock.get(f"{API}/orders").mock(
        side_effect=[testkit.too_many(0), orders_page([sample_order()], 1)]
    )
    page = testkit.check_retries_then_succeeds(
        lambda: connector.pull_orders(SINCE, None, now=NOW), route, calls=2
    )
    assert [order.external_id for order in page.orders] == ["727"]


def test_poll_retries_5xx_then_succeeds(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    route = respx_mock.get(f"{API}/orders").mock(
        side_effect=[testkit.server_error(503), orders_page([sample_order()], 1)]
    )
    testkit.check_retries_then_succeeds(
        lambda: connector.pull_orders(SINCE, None, now=NOW), route, calls=2
    )


def test_long_retry_after_is_returned_and_holds_the_bucket(
    respx_mock: respx.MockRouter, clock: FakeClock, connector: WooCommerceConnector
) -> None:
    route = respx_mock.get(f"{API}/orders").mock(
        side_effect=[testkit.too_many(1), orders_page([sample_order()], 1)]
    )
    with pytest.raises(TransientError) as caught:
        connector.pull_orders(SINCE, None, now=NOW)
    assert caught.value.retry_after == 1.0
    assert route.call_count == 1
    testkit.check_retries_then_succeeds(
        lambda: connector.pull_orders(SINCE, None, now=NOW), route, calls=2
    )
    # The bucket waited out the Retry-After, then for one token at 5 requests/s.
    assert clock.sleeps == [pytest.approx(1.0 + 0.2)]


def test_bucket_paces_requests(respx_mock: respx.MockRouter, clock: FakeClock) -> None:
    paced = make_connector(clock, requests_per_second=2, burst=1)
    respx_mock.get(f"{API}/orders").mock(return_value=orders_page([], 0))
    for _ in range(3):
        paced.pull_orders(SINCE, None, now=NOW)
    assert clock.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]
    assert paced.rate_limits["rest_api"].waits == 2


def test_unauthorised_key_is_permanent_and_secret_free(
    respx_mock: respx.MockRouter,
    connector: WooCommerceConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = respx_mock.get(f"{API}/orders").respond(
        401, json={"code": "woocommerce_rest_cannot_view", "message": "Sorry"}
    )
    with caplog.at_level(logging.DEBUG, logger="omniroute.http"):
        error = testkit.check_permanent_error(
            lambda: connector.pull_orders(SINCE, None, now=NOW), route
        )
    assert "consumer key" in str(error)
    assert error.reason == "http_401"
    for text in (str(error), caplog.text):
        assert CONSUMER_SECRET not in text
        assert base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode() not in text


def test_fetch_order(respx_mock: respx.MockRouter, connector: WooCommerceConnector) -> None:
    respx_mock.get(f"{API}/orders/727").respond(200, content=raw_sample())
    fetched = connector.fetch_order("727")
    assert fetched.external_id == "727"
    assert fetched.updated_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    testkit.check_maps_to_canonical(connector, fetched.payload)


def test_fetch_of_a_trashed_order_maps_as_cancelled(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    respx_mock.get(f"{API}/orders/727").respond(200, json=variant(727, status="trash"))
    assert connector.map_order(connector.fetch_order("727").payload)["cancelled"] is True


def test_fetch_of_a_missing_order_is_permanent(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    route = respx_mock.get(f"{API}/orders/728").respond(
        404, json={"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}
    )
    error = testkit.check_permanent_error(lambda: connector.fetch_order("728"), route)
    assert "deleted permanently" in str(error)


@pytest.mark.parametrize("external_id", ["abc", "0", "7 27", "-1"])
def test_fetch_rejects_non_numeric_ids(connector: WooCommerceConnector, external_id: str) -> None:
    with pytest.raises(PermanentError, match="positive integers"):
        connector.fetch_order(external_id)


# --- SSRF guard and transport -------------------------------------------------------------------


def test_private_store_address_is_refused_at_first_use() -> None:
    built = make_connector(base_url="https://shop.internal")  # construction does not resolve
    with pytest.raises(UnsafeUrlError, match="private"):
        built.pull_orders(SINCE, None, now=NOW)


def test_plain_http_is_refused_unless_private_urls_are_allowed(
    respx_mock: respx.MockRouter,
) -> None:
    with pytest.raises(UnsafeUrlError, match="https"):
        make_connector(base_url="http://shop.example.com").pull_orders(SINCE, None, now=NOW)
    local = "http://127.0.0.1:8080"
    respx_mock.get(f"{local}/wp-json/wc/v3/orders").mock(return_value=orders_page([], 0))
    dev = make_connector(base_url=local, runtime=ConnectorRuntime(allow_private_urls=True))
    assert dev.pull_orders(SINCE, None, now=NOW).orders == ()


def test_format_gmt_needs_an_aware_datetime() -> None:
    assert format_gmt(datetime(2024, 1, 2, 3, 4, 5, 999, tzinfo=UTC)) == "2024-01-02T03:04:05"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_gmt(datetime(2024, 1, 2))  # a naive value


# --- fulfilment -------------------------------------------------------------------------------


def test_push_fulfilment_adds_a_tracking_note_and_completes(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    notes = respx_mock.get(f"{API}/orders/727/notes").respond(200, json=[])
    create = respx_mock.post(f"{API}/orders/727/notes").respond(
        201, json={"id": 281, "note": "x", "customer_note": True}
    )
    order = respx_mock.get(f"{API}/orders/727").respond(200, content=raw_sample())
    update = respx_mock.put(f"{API}/orders/727").respond(200, json=variant(727))

    receipt = connector.push_fulfilment(notice())

    assert receipt.external_ref == "note:281"
    assert receipt.attempts == 4
    assert notes.calls.last.request.url.params["type"] == "any"
    body = sent_json(create)
    assert body["customer_note"] is True
    assert body["note"] == (
        "Your order has shipped with UPS.\n"
        "Tracking number: 1Z999AA10123456784\n"
        "Track it at: https://www.ups.com/track?tracknum=1Z999AA10123456784\n"
        "Shipment reference: shp-41"
    )
    assert order.called
    assert sent_json(update) == {"status": "completed"}


def test_push_fulfilment_retry_finds_its_note_and_adds_no_second_one(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    earlier = {"id": 281, "note": tracking_note(notice()).replace("\n", "<br />\n")}
    respx_mock.get(f"{API}/orders/727/notes").respond(
        200, json=[{"id": 280, "note": "Order status changed."}, earlier]
    )
    create = respx_mock.post(f"{API}/orders/727/notes").respond(201, json={"id": 999})

    receipt = connector.push_fulfilment(notice(order_complete=False))

    assert receipt.external_ref == "note:281"
    assert not create.called


def test_push_fulfilment_does_not_confuse_similar_references(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    other = {"id": 281, "note": tracking_note(notice(shipment_ref="shp-411"))}
    respx_mock.get(f"{API}/orders/727/notes").respond(200, json=[other])
    create = respx_mock.post(f"{API}/orders/727/notes").respond(201, json={"id": 282})
    assert connector.push_fulfilment(notice(order_complete=False)).external_ref == "note:282"
    assert create.call_count == 1


def test_push_fulfilment_without_tracking_or_notification(
    respx_mock: respx.MockRouter,
) -> None:
    quiet = make_connector(notify_customer=False, complete_orders=False)
    respx_mock.get(f"{API}/orders/727/notes").respond(200, json=[])
    create = respx_mock.post(f"{API}/orders/727/notes").respond(201, json={"id": 5})
    quiet.push_fulfilment(notice(carrier=None, tracking_number=None, tracking_url=None))
    assert sent_json(create) == {
        "note": "Your order has shipped.\nShipment reference: shp-41",
        "customer_note": False,
    }


def test_push_fulfilment_leaves_a_completed_order_alone(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    respx_mock.get(f"{API}/orders/727/notes").respond(200, json=[])
    respx_mock.post(f"{API}/orders/727/notes").respond(201, json={"id": 5})
    respx_mock.get(f"{API}/orders/727").respond(200, json=variant(727, status="completed"))
    update = respx_mock.put(f"{API}/orders/727").respond(200, json={})
    connector.push_fulfilment(notice())
    assert not update.called


def test_push_fulfilment_does_not_reopen_a_cancelled_order(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    respx_mock.get(f"{API}/orders/727/notes").respond(200, json=[])
    respx_mock.post(f"{API}/orders/727/notes").respond(201, json={"id": 5})
    respx_mock.get(f"{API}/orders/727").respond(200, json=variant(727, status="cancelled"))
    update = respx_mock.put(f"{API}/orders/727").respond(200, json={})
    with pytest.raises(PermanentError, match="cancelled") as caught:
        connector.push_fulfilment(notice())
    assert caught.value.reason == "order_closed"
    assert not update.called


def test_push_fulfilment_retries_a_5xx_then_succeeds(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    respx_mock.get(f"{API}/orders/727/notes").respond(200, json=[])
    create = respx_mock.post(f"{API}/orders/727/notes").mock(
        side_effect=[testkit.server_error(502), httpx.Response(201, json={"id": 9})]
    )
    receipt = testkit.check_retries_then_succeeds(
        lambda: connector.push_fulfilment(notice(order_complete=False)), create, calls=2
    )
    assert receipt.external_ref == "note:9"


def test_push_fulfilment_on_an_unknown_order_is_permanent(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    route = respx_mock.get(f"{API}/orders/727/notes").respond(
        404, json={"code": "woocommerce_rest_order_invalid_id", "message": "Invalid order ID."}
    )
    error = testkit.check_permanent_error(lambda: connector.push_fulfilment(notice()), route)
    assert error.reason == "http_404"


# --- stock ------------------------------------------------------------------------------------


def batch_answer(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)["update"]
    return httpx.Response(200, json={"update": [{**item, "name": "x"} for item in items]})


def test_push_stock_batches_products_and_variations(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    products = respx_mock.post(f"{API}/products/batch").mock(side_effect=batch_answer)
    variations = respx_mock.post(f"{API}/products/22/variations/batch").mock(
        side_effect=batch_answer
    )
    updates = [
        StockUpdate(sku="WOO-1", channel_ref="product:93", available=5),
        StockUpdate(sku="BAR3", channel_ref="variation:22:23", available=-2),
        StockUpdate(sku="WOO-2", channel_ref="product:94", available=0),
        StockUpdate(sku="WOO-1", channel_ref="product:93", available=4),  # a later value wins
    ]

    receipt = connector.push_stock(updates, idempotency_key="stock-1")

    assert receipt.attempts == 2
    assert sent_json(products) == {
        "update": [
            {"id": 93, "manage_stock": True, "stock_quantity": 4},
            {"id": 94, "manage_stock": True, "stock_quantity": 0},
        ]
    }
    assert sent_json(variations) == {
        "update": [{"id": 23, "manage_stock": True, "stock_quantity": 0}]
    }


def test_push_stock_splits_batches_at_100(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    route = respx_mock.post(f"{API}/products/batch").mock(side_effect=batch_answer)
    updates = [StockUpdate(f"S{n}", f"product:{n}", n) for n in range(1, 102)]
    connector.push_stock(updates, idempotency_key="stock-2")
    assert [len(sent_json(route, i)["update"]) for i in range(route.call_count)] == [100, 1]


def test_push_stock_with_nothing_to_send(connector: WooCommerceConnector) -> None:
    assert connector.push_stock([], idempotency_key="none").attempts == 0


@pytest.mark.parametrize("ref", ["93", "product:", "product:abc", "variation:22", "sku:BAR3"])
def test_push_stock_refuses_bad_channel_refs_before_sending(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector, ref: str
) -> None:
    route = respx_mock.post(f"{API}/products/batch").mock(side_effect=batch_answer)
    updates = [StockUpdate("A", "product:1", 1), StockUpdate("B", ref, 1)]
    with pytest.raises(PermanentError, match="channel_ref") as caught:
        connector.push_stock(updates, idempotency_key="k")
    assert caught.value.reason == "bad_channel_ref"
    assert not route.called


def test_push_stock_item_errors(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    def error(status: int) -> dict[str, Any]:
        return {
            "id": 93,
            "error": {
                "code": "woocommerce_rest_product_invalid_id",
                "message": "Invalid ID.",
                "data": {"status": status},
            },
        }

    route = respx_mock.post(f"{API}/products/batch").mock(
        side_effect=[
            httpx.Response(200, json={"update": [error(400)]}),
            httpx.Response(200, json={"update": [error(500)]}),
        ]
    )
    update = [StockUpdate("WOO-1", "product:93", 1)]
    with pytest.raises(PermanentError, match="product 93: woocommerce_rest_product_invalid_id"):
        connector.push_stock(update, idempotency_key="k")
    with pytest.raises(TransientError):
        connector.push_stock(update, idempotency_key="k")
    assert route.call_count == 2


def test_push_stock_permanent_4xx(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    route = respx_mock.post(f"{API}/products/batch").respond(
        400, json={"code": "rest_invalid_param", "message": "Invalid parameter(s): update"}
    )
    error = testkit.check_permanent_error(
        lambda: connector.push_stock([StockUpdate("A", "product:1", 1)], idempotency_key="k"),
        route,
    )
    assert error.reason == "http_400"


def test_push_stock_429_then_success(
    respx_mock: respx.MockRouter, connector: WooCommerceConnector
) -> None:
    route = respx_mock.post(f"{API}/products/batch").mock(
        side_effect=[testkit.too_many(0), httpx.Response(200, json={"update": [{"id": 1}]})]
    )
    testkit.check_retries_then_succeeds(
        lambda: connector.push_stock([StockUpdate("A", "product:1", 1)], idempotency_key="k"),
        route,
        calls=2,
    )


# --- pure helpers -----------------------------------------------------------------------------


def test_parse_channel_ref() -> None:
    assert parse_channel_ref("product:93") == StockTarget(93)
    assert parse_channel_ref(" variation:22:23 ") == StockTarget(23, parent_id=22)
    with pytest.raises(ValueError, match="variation:<parent id>"):
        parse_channel_ref("variation:0:23")


def test_note_refs_survive_html_escaping_and_blanks() -> None:
    text = tracking_note(notice(shipment_ref="ship 7 & co"))
    assert "Shipment reference: ship-7-&-co" in text
    assert note_shipment_refs(text.replace("&", "&amp;")) == {"ship-7-&-co"}
    assert note_shipment_refs(None) == set()


def test_parse_works_on_the_headers_the_inbox_keeps(connector: WooCommerceConnector) -> None:
    # The inbox stores headers lower-cased and drops the signature; the worker parses from those.
    body = b'{"id":727}'
    kept = {
        key.lower(): value
        for key, value in delivery_headers(body, topic="order.deleted").items()
        if "signature" not in key.lower()
    }
    assert connector.parse_webhook(kept, body).external_id == "727"
    full = raw_sample()
    assert connector.parse_webhook({"x-wc-webhook-topic": "order.created"}, full).order


@respx.mock
def test_cancel_order_sets_cancelled_once_and_refuses_completed_orders(
    connector: WooCommerceConnector,
) -> None:
    from omniroute.connectors.base import CancelNotice

    order = sample_order()
    order["status"] = "processing"
    respx.get(f"{API}/orders/727").respond(200, json=order)
    put = respx.put(f"{API}/orders/727").respond(200, json={**order, "status": "cancelled"})
    connector.cancel_order(CancelNotice("727", "customer called", "cancel-1"))
    assert put.call_count == 1
    assert json.loads(put.calls[0].request.content) == {"status": "cancelled"}

    respx.get(f"{API}/orders/727").respond(200, json={**order, "status": "cancelled"})
    connector.cancel_order(CancelNotice("727", "customer called", "cancel-1"))
    assert put.call_count == 1  # already cancelled: nothing sent

    respx.get(f"{API}/orders/727").respond(200, json={**order, "status": "completed"})
    with pytest.raises(PermanentError, match="completed"):
        connector.cancel_order(CancelNotice("727", "late", "cancel-1"))


@respx.mock
def test_push_return_writes_one_note_per_step_and_refunds_only_when_asked() -> None:
    from omniroute.connectors.base import ReturnLine, ReturnNotice

    notice = ReturnNotice(
        external_order_id="727",
        rma_number="RMA-000005-727",
        status="received",
        lines=(ReturnLine(11, "SHIRT-BLACK-M", 1, "li-1"),),
        reason="damaged",
        idempotency_key="return-receipt-9",
        order_returned=True,
    )
    notes: list[dict[str, Any]] = []
    respx.get(f"{API}/orders/727/notes").mock(
        side_effect=lambda request: httpx.Response(200, json=notes)
    )

    def create(request: httpx.Request) -> httpx.Response:
        note = {"id": len(notes) + 1, **json.loads(request.content)}
        notes.append(note)
        return httpx.Response(201, json=note)

    post = respx.post(f"{API}/orders/727/notes").mock(side_effect=create)
    put = respx.put(f"{API}/orders/727").respond(200, json={"id": 727, "status": "refunded"})

    plain = make_connector()
    plain.push_return(notice)
    plain.push_return(notice)  # a retry finds its note
    assert post.call_count == 1 and put.call_count == 0
    assert notes[0]["note"] == (
        "We have received items of your return RMA-000005-727.\n"
        "1 x SHIRT-BLACK-M\n"
        "Return reference: RMA-000005-727:received:return-receipt-9"
    )
    assert notes[0]["customer_note"] is True

    refunding = make_connector(refund_status_on_return=True)
    refunding.push_return(notice)
    assert post.call_count == 1
    assert json.loads(put.calls.last.request.content) == {"status": "refunded"}


@respx.mock
def test_a_connection_check_reads_one_order_with_the_keys(
    connector: WooCommerceConnector,
) -> None:
    route = respx.get(f"{API}/orders").mock(return_value=httpx.Response(200, json=[]))
    assert connector.check_connection() == "WooCommerce's REST API answered: orders can be read"
    assert route.calls.last.request.url.params["per_page"] == "1"
    route.mock(return_value=httpx.Response(401, json={"code": "woocommerce_rest_cannot_view"}))
    with pytest.raises(PermanentError) as refused:
        connector.check_connection()
    assert refused.value.reason == "http_401"
