"""Square connector: webhooks, mapping, fetch, polling, fulfilment and stock push (respx only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
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
    ShippedLine,
    SignatureError,
    StockUpdate,
    TransientError,
    webhook_topic_of,
)
from omniroute.connectors.http import UnsafeUrlError
from omniroute.connectors.ratelimit import TokenBucket
from omniroute.connectors.square import webhooks
from omniroute.connectors.square.connector import (
    DEFAULT_SQUARE_VERSION,
    SquareConfig,
    SquareConnector,
    SquareSecrets,
    rfc3339,
)
from omniroute.mapping import MappingError, TransformError
from omniroute.mapping.transforms import money_minor

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "square"
EVENT_SAMPLE = SAMPLES / "OrderCreatedEvent.example.json"
ORDER_SAMPLE = SAMPLES / "RetrieveOrderResponse.example.json"
ORDER_SAMPLES = sorted(p for p in SAMPLES.glob("*.json") if "order" in json.loads(p.read_bytes()))

BASE = "https://connect.squareup.com"
NOTIFICATION_URL = "https://hub.example.com/webhooks/square-1"
SIGNATURE_KEY = "sq-test-signature-key"
TOKEN = "EAAAl-test-token"
LOCATION = "D7AVYMEAPJ3A3"
ORDER_ID = "CAISENgvlJ6jLWAzERDzjyHVybY"
# Tiny waits: retries never sleep for real in these tests.
RUNTIME = ConnectorRuntime(allow_private_urls=True, retry_attempts=3, retry_max_wait=0.001)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event_body() -> bytes:
    return EVENT_SAMPLE.read_bytes()


def order_response() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ORDER_SAMPLE.read_bytes())
    return document


def sample_order() -> dict[str, Any]:
    order: dict[str, Any] = order_response()["order"]
    return order


def square_signature(body: bytes, url: str = NOTIFICATION_URL, key: str = SIGNATURE_KEY) -> str:
    digest = hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_headers(body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-square-hmacsha256-signature": square_signature(body),
    }


class Sleeps:
    """Records sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_connector(
    runtime: ConnectorRuntime = RUNTIME,
    sleep: Sleeps | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
    **config: Any,
) -> SquareConnector:
    values: dict[str, Any] = {
        "notification_url": NOTIFICATION_URL,
        "location_ids": [LOCATION, "FPYCBCHYMXFK1"],
    }
    values.update(config)
    return SquareConnector(
        SquareConfig.model_validate(values),
        SquareSecrets.model_validate(
            {"access_token": TOKEN, "webhook_signature_key": SIGNATURE_KEY}
        ),
        runtime=runtime,
        clock=clock,
        sleep=sleep or Sleeps(),
    )


@pytest.fixture
def connector() -> Iterator[SquareConnector]:
    built = make_connector()
    yield built
    built.close()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


# --- kind and configuration -------------------------------------------------------------------


def test_kind_passes_the_contract_kit(connector: SquareConnector) -> None:
    testkit.check_kind(SquareConnector, connector)
    assert SquareConnector.kind == "square"
    assert SquareConnector.capabilities == {
        Capability.ORDER_WEBHOOKS,
        Capability.ORDER_FETCH,
        Capability.ORDER_POLLING,
        Capability.FULFILMENT_PUSH,
        Capability.STOCK_PUSH,
    }


def test_config_defaults() -> None:
    config = SquareConfig(location_ids=("L1",))
    assert config.api_base_url == BASE
    assert config.square_version == DEFAULT_SQUARE_VERSION == "2025-10-16"
    assert config.page_size == 100
    assert (config.requests_per_second, config.burst) == (10.0, 20)
    assert config.order_states == ("OPEN", "COMPLETED", "CANCELED")
    assert config.stock_location_id == "L1"
    assert SquareConfig(location_ids=("L1",), inventory_location_id="L9").stock_location_id == "L9"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"location_ids": []},
        {"location_ids": [f"L{i}" for i in range(11)]},
        {"location_ids": ["../x"]},
        {"location_ids": ["L1"], "api_base_url": "ftp://connect.squareup.com"},
        {"location_ids": ["L1"], "api_base_url": "https://u:p@connect.squareup.com"},
        {"location_ids": ["L1"], "api_base_url": "https://connect.squareup.com/?x=1"},
        {"location_ids": ["L1"], "square_version": "latest"},
        {"location_ids": ["L1"], "page_size": 1001},
        {"location_ids": ["L1"], "requests_per_second": 0},
        {"location_ids": ["L1"], "unknown": 1},
    ],
)
def test_config_rejects(values: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        SquareConfig.model_validate(values)


def test_secrets_are_hidden_and_strict() -> None:
    secrets = SquareSecrets.model_validate(
        {"access_token": TOKEN, "webhook_signature_key": SIGNATURE_KEY}
    )
    assert TOKEN not in repr(secrets)
    assert SIGNATURE_KEY not in str(secrets.model_dump())
    with pytest.raises(pydantic.ValidationError):
        SquareSecrets.model_validate({"access_token": TOKEN, "password": "x"})
    with pytest.raises(pydantic.ValidationError):
        SquareSecrets.model_validate({"access_token": ""})


def test_rate_limits_expose_a_configurable_bucket() -> None:
    bucket = make_connector(requests_per_second=5, burst=7).rate_limits["api"]
    assert isinstance(bucket, TokenBucket)
    assert (bucket.rate, bucket.burst) == (5, 7)


# --- webhook signature, dedupe and parsing ----------------------------------------------------


def test_signature_contract_on_the_real_event(connector: SquareConnector) -> None:
    body = event_body()
    testkit.check_signature(
        connector, signed_headers(body), body, signature_header="x-square-hmacsha256-signature"
    )


def test_stored_headers_describe_the_body_only(connector: SquareConnector) -> None:
    body = event_body()
    headers = {
        **signed_headers(body),
        "User-Agent": "Square Connect v2",
        "Square-Version": "2024-05-15",
    }
    stored = testkit.check_stored_headers(
        connector, headers, body, signature_header="x-square-hmacsha256-signature"
    )
    assert stored == {"content-type": "application/json", "user-agent": "Square Connect v2"}
    assert webhook_topic_of(connector, headers) is None  # the event type is in the body


def test_sign_is_hmac_sha256_of_url_plus_body() -> None:
    body = event_body()
    assert webhooks.sign(SIGNATURE_KEY.encode(), NOTIFICATION_URL, body) == square_signature(body)


def test_signature_over_another_url_is_refused(connector: SquareConnector) -> None:
    body = event_body()
    headers = {"X-Square-HmacSha256-Signature": square_signature(body, url=BASE + "/hook")}
    with pytest.raises(SignatureError, match="notification_url"):
        connector.verify_webhook(headers, body)


def test_header_lookup_is_case_insensitive(connector: SquareConnector) -> None:
    body = event_body()
    connector.verify_webhook({"X-Square-HmacSha256-Signature": square_signature(body)}, body)


@pytest.mark.parametrize("value", ["not base64!", "%%%"])
def test_malformed_signature_is_refused(connector: SquareConnector, value: str) -> None:
    with pytest.raises(SignatureError, match="base64"):
        connector.verify_webhook({"x-square-hmacsha256-signature": value}, event_body())


def test_missing_key_or_url_never_verifies() -> None:
    body = event_body()
    no_key = SquareConnector(
        SquareConfig(location_ids=("L1",), notification_url=NOTIFICATION_URL),
        SquareSecrets.model_validate({"access_token": TOKEN}),
        runtime=RUNTIME,
    )
    with pytest.raises(SignatureError, match="signature key"):
        no_key.verify_webhook(signed_headers(body), body)
    no_url = make_connector(notification_url=None)
    with pytest.raises(SignatureError, match="notification_url"):
        no_url.verify_webhook(signed_headers(body), body)


def with_event_id(body: bytes, event_id: str) -> bytes:
    document = json.loads(body)
    document["event_id"] = event_id
    return json.dumps(document).encode()


def test_duplicate_delivery_contract(connector: SquareConnector) -> None:
    body = event_body()
    other = with_event_id(body, "0b7c6a3e-0000-4000-8000-000000000001")
    testkit.check_duplicate_delivery(
        connector, (signed_headers(body), body), (signed_headers(other), other)
    )
    assert connector.dedupe_key({}, body) == "116038d3-2948-439f-8679-fc86dbf80f69"


def test_dedupe_key_falls_back_to_a_digest(connector: SquareConnector) -> None:
    assert connector.dedupe_key({}, b"{not json") == (
        "sha256:" + hashlib.sha256(b"{not json").hexdigest()
    )


def test_parse_the_real_order_created_event(connector: SquareConnector) -> None:
    body = event_body()
    event = connector.parse_webhook(signed_headers(body), body)
    assert event.topic == "order.created"
    assert event.order is None
    assert event.external_id == "eA3vssLHKJrv9H0IdJCM3gNqfdcZY"


@pytest.mark.parametrize(
    ("topic", "object_key"),
    [
        ("order.updated", "order_updated"),
        ("order.fulfillment.updated", "order_fulfillment_updated"),
    ],
)
def test_parse_other_order_events(connector: SquareConnector, topic: str, object_key: str) -> None:
    document = json.loads(event_body())
    document["type"] = topic
    document["data"]["type"] = object_key
    document["data"]["object"] = {object_key: {"order_id": "ORDER-2", "version": 4}}
    event = connector.parse_webhook({}, json.dumps(document).encode())
    assert (event.topic, event.order, event.external_id) == (topic, None, "ORDER-2")


def test_parse_falls_back_to_data_id(connector: SquareConnector) -> None:
    document = json.loads(event_body())
    document["data"]["object"] = {}
    assert connector.parse_webhook({}, json.dumps(document).encode()).external_id == (
        "eA3vssLHKJrv9H0IdJCM3gNqfdcZY"
    )


def test_other_event_types_are_ignored(connector: SquareConnector) -> None:
    document = json.loads(event_body())
    document["type"] = "payment.created"
    event = connector.parse_webhook({}, json.dumps(document).encode())
    assert (event.topic, event.order, event.external_id) == ("payment.created", None, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1]", "JSON object"),
        (b"{}", "no 'type'"),
        (b'{"type": "order.created", "data": {"object": {}}}', "no order id"),
    ],
)
def test_parse_rejects_bad_bodies(connector: SquareConnector, body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        connector.parse_webhook({}, body)


# --- mapping ----------------------------------------------------------------------------------


def expected_line(
    uid: str, title: str, quantity: int, unit_price: str, discount: str
) -> dict[str, Any]:
    return {
        "external_line_id": uid,
        "variant_id": None,
        "title": title,
        "quantity": quantity,
        "unit_price": unit_price,
        "requires_shipping": True,
        "discount_total": discount,
        "tax_total": "0.00",
        "line_total": discount,  # half off: what is left equals the discount
        "properties": [],
    }


EXPECTED_ORDER = {
    "external_id": ORDER_ID,
    "external_number": None,
    "channel": "square",
    "created_at": "2020-05-18T16:30:49.614000+00:00",
    "updated_at": "2020-05-18T16:30:49.614000+00:00",
    "currency": "USD",
    "total": "5.50",
    "discount_total": "5.50",
    "shipping_total": "0.00",
    "tax_total": "0.00",
    "cancelled": False,
    "taxes_included": None,
    "financial_status": None,
    "channel_fulfilment": None,
    "service_level": "standard",
    "customer": {"email": None, "name": None, "phone": None},
    "ship_to": None,
    "lines": [
        expected_line("ULkg0tQTRK2bkU9fNv3IJD", "Item 1", 1, "5.00", "2.50"),
        expected_line("mumY8Nun4BC5aKe2yyx5a", "Item 2", 2, "3.00", "3.00"),
    ],
    "note": None,
    "fulfilled_externally": False,
    "fulfilment_location": None,
}


@pytest.mark.parametrize("sample", ORDER_SAMPLES, ids=lambda path: path.name)
def test_every_recorded_order_maps_to_canonical(connector: SquareConnector, sample: Path) -> None:
    untouched = json.loads(sample.read_bytes())
    testkit.check_maps_to_canonical(connector, untouched)
    testkit.check_maps_to_canonical(connector, untouched["order"])


def test_sample_maps_field_by_field(connector: SquareConnector) -> None:
    assert connector.map_order(order_response()) == EXPECTED_ORDER
    assert connector.map_order(sample_order()) == EXPECTED_ORDER


def test_mapping_leaves_the_source_unchanged(connector: SquareConnector) -> None:
    order = sample_order()
    connector.map_order(order)
    assert order == sample_order()


def shipped_order(**changes: Any) -> dict[str, Any]:
    """The sample with a SHIPMENT fulfillment and catalog ids (as Square Online orders have)."""
    order = sample_order()
    order["line_items"][0]["catalog_object_id"] = "W62UWFY35CWMYGVWK6TWJDNI"
    order["line_items"][0]["variation_name"] = "Large"
    order["line_items"][1]["item_type"] = "GIFT_CARD"
    order["reference_id"] = "WEB-1001"
    order["fulfillments"] = [
        {
            "uid": "bWxwvq3rTr6Uv4dKqRjAuB",
            "type": "SHIPMENT",
            "state": "PROPOSED",
            "shipment_details": {
                "recipient": {
                    "display_name": "Jaiden Urie",
                    "email_address": "jaiden@example.com",
                    "phone_number": "+1 555-0100",
                    "address": {
                        "address_line_1": "1955 Broadway",
                        "address_line_2": "Suite 600",
                        "locality": "Oakland",
                        "administrative_district_level_1": "CA",
                        "postal_code": "94612",
                        "country": "US",
                    },
                },
                "shipping_type": "Express overnight",
                "shipping_note": "Leave at reception",
            },
        }
    ]
    order.update(changes)
    return order


def test_shipment_fulfillment_gives_ship_to_customer_and_lines(connector: SquareConnector) -> None:
    doc = connector.map_order(shipped_order())
    assert doc["external_number"] == "WEB-1001"
    assert doc["ship_to"] == {
        "name": "Jaiden Urie",
        "address1": "1955 Broadway",
        "address2": "Suite 600",
        "city": "Oakland",
        "region": "CA",
        "postal_code": "94612",
        "country": "US",
        "phone": "+1 555-0100",
    }
    assert doc["customer"] == {
        "email": "jaiden@example.com",
        "name": "Jaiden Urie",
        "phone": "+1 555-0100",
    }
    assert doc["service_level"] == "express"
    assert doc["note"] == "Leave at reception"
    assert doc["lines"][0]["variant_id"] == "W62UWFY35CWMYGVWK6TWJDNI"
    assert doc["lines"][0]["title"] == "Item 1 Large"
    assert doc["lines"][1]["requires_shipping"] is False
    assert doc["fulfilled_externally"] is False


def test_recipient_name_falls_back_to_address_names(connector: SquareConnector) -> None:
    order = shipped_order()
    recipient = order["fulfillments"][0]["shipment_details"]["recipient"]
    del recipient["display_name"]
    recipient["address"].update({"first_name": "Ada", "last_name": "Lovelace"})
    assert connector.map_order(order)["ship_to"]["name"] == "Ada Lovelace"


def test_canceled_state_maps_to_cancelled(connector: SquareConnector) -> None:
    assert connector.map_order(shipped_order(state="CANCELED"))["cancelled"] is True


def test_pos_sale_completed_in_store_is_fulfilled_externally(connector: SquareConnector) -> None:
    doc = connector.map_order({**sample_order(), "state": "COMPLETED"})
    assert doc["fulfilled_externally"] is True
    assert doc["fulfilment_location"] == LOCATION


def test_completed_pickup_is_fulfilled_externally(connector: SquareConnector) -> None:
    pickup = {"uid": "p1", "type": "PICKUP", "state": "COMPLETED", "pickup_details": {}}
    doc = connector.map_order({**sample_order(), "state": "COMPLETED", "fulfillments": [pickup]})
    assert (doc["fulfilled_externally"], doc["fulfilment_location"]) == (True, LOCATION)
    assert doc["ship_to"] is None


def test_completed_shipment_order_is_fulfilled_externally_without_a_store(
    connector: SquareConnector,
) -> None:
    """A shipment order the merchant completed in Square before omniroute saw it is not
    routed again; no store location, so no shelf stock moves."""
    doc = connector.map_order(shipped_order(state="COMPLETED"))
    assert (doc["fulfilled_externally"], doc["fulfilment_location"]) == (True, None)
    assert doc["channel_fulfilment"] == "fulfilled"
    assert connector.map_order(shipped_order(state="OPEN"))["fulfilled_externally"] is False


def test_payment_status_from_amount_due_and_tenders(connector: SquareConnector) -> None:
    due = {**sample_order(), "net_amount_due_money": {"amount": 550, "currency": "USD"}}
    paid = {**sample_order(), "tenders": [{"id": "t1", "type": "CARD"}]}
    settled = {**paid, "net_amount_due_money": {"amount": 0, "currency": "USD"}}
    assert connector.map_order(due)["financial_status"] == "pending"
    assert connector.map_order(paid)["financial_status"] == "paid"
    assert connector.map_order(settled)["financial_status"] == "paid"
    assert connector.map_order(sample_order())["financial_status"] is None


def test_inclusive_taxes_mark_prices_as_including_tax(connector: SquareConnector) -> None:
    def with_taxes(*kinds: str) -> dict[str, Any]:
        taxes = [{"uid": f"t{i}", "name": "VAT", "type": k} for i, k in enumerate(kinds)]
        return {**sample_order(), "taxes": taxes}

    assert connector.map_order(with_taxes("INCLUSIVE"))["taxes_included"] is True
    assert connector.map_order(with_taxes("ADDITIVE"))["taxes_included"] is False
    assert connector.map_order(with_taxes("ADDITIVE", "INCLUSIVE"))["taxes_included"] is True
    assert connector.map_order(sample_order())["taxes_included"] is None


def test_fractional_quantity_is_refused_with_its_path(connector: SquareConnector) -> None:
    order = sample_order()
    order["line_items"][1]["quantity"] = "1.5"
    with pytest.raises(MappingError) as caught:
        connector.map_order(order)
    assert (caught.value.path, caught.value.source) == (
        "lines[1].quantity",
        "line_items[1].quantity",
    )


def test_zero_decimal_currency_amounts(connector: SquareConnector) -> None:
    order = json.loads(json.dumps(sample_order()).replace('"USD"', '"JPY"'))
    doc = connector.map_order(order)
    assert (doc["currency"], doc["total"], doc["lines"][0]["unit_price"]) == ("JPY", "550", "500")


def test_order_without_lines_fails_validation(connector: SquareConnector) -> None:
    with pytest.raises(MappingError) as caught:
        connector.map_order({**sample_order(), "line_items": []})
    assert (caught.value.path, caught.value.source) == ("lines", "line_items")


def test_non_object_payload_is_a_payload_error(connector: SquareConnector) -> None:
    with pytest.raises(PayloadError):
        connector.map_order([])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        ({"amount": 550, "currency": "USD"}, "5.50"),
        ({"amount": 5, "currency": "usd"}, "0.05"),
        ({"amount": -250, "currency": "EUR"}, "-2.50"),
        ({"amount": 0, "currency": "USD"}, "0.00"),
        ({"amount": 500, "currency": "JPY"}, "500"),
        ({"amount": 1000, "currency": "KRW"}, "1000"),
        ({"amount": 1234, "currency": "KWD"}, "1.234"),
        ({"currency": "USD"}, None),
        (None, None),
    ],
)
def test_money_minor_transform(money: Any, expected: str | None) -> None:
    assert money_minor(money) == expected


@pytest.mark.parametrize(
    "money",
    [
        550,
        {"amount": "5.50", "currency": "USD"},
        {"amount": True, "currency": "USD"},
        {"amount": 1},
    ],
)
def test_money_minor_refuses_bad_money(money: Any) -> None:
    with pytest.raises(TransformError):
        money_minor(money)


# --- fetch (webhook hint → order) -------------------------------------------------------------


def test_webhook_hint_fetches_and_maps_the_order(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    route = api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=order_response())
    body = with_event_id(event_body(), "e-2")
    document = json.loads(body)
    document["data"]["object"]["order_created"]["order_id"] = ORDER_ID
    body = json.dumps(document).encode()
    connector.verify_webhook(signed_headers(body), body)
    event = connector.parse_webhook(signed_headers(body), body)
    assert event.external_id is not None
    fetched = connector.fetch_order(event.external_id)
    assert fetched.external_id == ORDER_ID
    assert fetched.updated_at == datetime(2020, 5, 18, 16, 30, 49, 614000, tzinfo=UTC)
    assert fetched.payload == sample_order()
    assert connector.map_order(fetched.payload) == EXPECTED_ORDER
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Square-Version"] == DEFAULT_SQUARE_VERSION
    assert sent.headers["User-Agent"].startswith("omniroute/")


def test_fetch_unknown_order_is_permanent(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    route = api.get("/v2/orders/NOPE").respond(
        404, json={"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "NOT_FOUND"}]}
    )
    error = testkit.check_permanent_error(lambda: connector.fetch_order("NOPE"), route)
    assert "NOT_FOUND" in str(error)
    assert error.reason == "http_404"


def test_bad_token_says_what_to_do(connector: SquareConnector, api: respx.MockRouter) -> None:
    api.get(f"/v2/orders/{ORDER_ID}").respond(
        401, json={"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED"}]}
    )
    with pytest.raises(PermanentError, match="renew") as caught:
        connector.fetch_order(ORDER_ID)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("order_id", ["", "../locations", "a/b", "x" * 200])
def test_fetch_refuses_ids_that_are_not_square_ids(
    connector: SquareConnector, api: respx.MockRouter, order_id: str
) -> None:
    with pytest.raises(PermanentError, match="not a Square order id"):
        connector.fetch_order(order_id)
    assert not api.calls


def test_fetch_retries_429_with_retry_after_then_succeeds(api: respx.MockRouter) -> None:
    sleeps = Sleeps()
    connector = make_connector(sleep=sleeps)
    route = api.get(f"/v2/orders/{ORDER_ID}").mock(
        side_effect=[testkit.too_many(0), httpx.Response(200, json=order_response())]
    )
    result = testkit.check_retries_then_succeeds(
        lambda: connector.fetch_order(ORDER_ID), route, calls=2
    )
    assert result.external_id == ORDER_ID


def test_429_without_retry_after_holds_the_bucket(api: respx.MockRouter) -> None:
    sleeps = Sleeps()
    connector = make_connector(sleep=sleeps)
    route = api.get(f"/v2/orders/{ORDER_ID}").mock(
        side_effect=[
            httpx.Response(429, json={"errors": [{"code": "RATE_LIMITED"}]}),
            httpx.Response(200, json=order_response()),
        ]
    )
    testkit.check_retries_then_succeeds(lambda: connector.fetch_order(ORDER_ID), route, calls=2)
    assert any(0.9 < seconds < 1.5 for seconds in sleeps.calls)  # the bucket's 1 s hold-off


def test_long_retry_after_is_handed_back(connector: SquareConnector, api: respx.MockRouter) -> None:
    route = api.get(f"/v2/orders/{ORDER_ID}").mock(return_value=testkit.too_many(30))
    with pytest.raises(TransientError) as caught:
        connector.fetch_order(ORDER_ID)
    assert caught.value.retry_after == 30
    assert route.call_count == 1


def test_fetch_retries_5xx_then_succeeds(connector: SquareConnector, api: respx.MockRouter) -> None:
    route = api.get(f"/v2/orders/{ORDER_ID}").mock(
        side_effect=[testkit.server_error(503), httpx.Response(200, json=order_response())]
    )
    testkit.check_retries_then_succeeds(lambda: connector.fetch_order(ORDER_ID), route, calls=2)


def test_private_base_url_is_refused_before_any_call(api: respx.MockRouter) -> None:
    connector = make_connector(
        runtime=ConnectorRuntime(allow_private_urls=False), api_base_url="http://10.1.2.3"
    )
    with pytest.raises(UnsafeUrlError):
        connector.fetch_order(ORDER_ID)
    assert not api.calls


def test_public_base_url_passes_the_guard(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == "connect.squareup.com"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("74.122.190.85", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=order_response())
    connector = make_connector(runtime=ConnectorRuntime(allow_private_urls=False))
    assert connector.fetch_order(ORDER_ID).external_id == ORDER_ID


# --- polling ----------------------------------------------------------------------------------


def test_pull_pages_through_search_orders(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    second = shipped_order(id="SECOND", updated_at="2020-05-19T08:00:00Z")
    route = api.post("/v2/orders/search").mock(
        side_effect=[
            httpx.Response(200, json={"orders": [sample_order()], "cursor": "CURSOR-1"}),
            httpx.Response(200, json={"orders": [second]}),
        ]
    )
    since = datetime(2020, 5, 18, 16, 0, tzinfo=UTC)
    orders = testkit.drain(connector, since, now=NOW)
    assert [order.external_id for order in orders] == [ORDER_ID, "SECOND"]
    assert orders[1].updated_at == datetime(2020, 5, 19, 8, tzinfo=UTC)
    first_body, second_body = (json.loads(call.request.content) for call in route.calls)
    assert first_body == {
        "location_ids": [LOCATION, "FPYCBCHYMXFK1"],
        "query": {
            "filter": {
                "date_time_filter": {"updated_at": {"start_at": "2020-05-18T16:00:00.000Z"}},
                "state_filter": {"states": ["OPEN", "COMPLETED", "CANCELED"]},
            },
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
        },
        "limit": 100,
        "return_entries": False,
    }
    assert second_body == {**first_body, "cursor": "CURSOR-1"}
    for order in orders:
        testkit.check_maps_to_canonical(connector, order.payload)


def test_pull_sends_start_at_in_utc(connector: SquareConnector, api: respx.MockRouter) -> None:
    route = api.post("/v2/orders/search").respond(200, json={})
    since = datetime(2024, 5, 1, 16, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    page = connector.pull_orders(since, None, now=NOW)
    assert page.orders == () and page.next_page_token is None
    start = json.loads(route.calls.last.request.content)["query"]["filter"]["date_time_filter"]
    assert start == {"updated_at": {"start_at": "2024-05-01T14:30:15.123Z"}}


def test_pull_retries_429_then_succeeds(connector: SquareConnector, api: respx.MockRouter) -> None:
    route = api.post("/v2/orders/search").mock(
        side_effect=[testkit.too_many(0), httpx.Response(200, json={"orders": [sample_order()]})]
    )
    page = testkit.check_retries_then_succeeds(
        lambda: connector.pull_orders(NOW, None, now=NOW), route, calls=2
    )
    assert [order.external_id for order in page.orders] == [ORDER_ID]


def test_pull_bad_request_is_permanent(connector: SquareConnector, api: respx.MockRouter) -> None:
    route = api.post("/v2/orders/search").respond(
        400,
        json={
            "errors": [
                {
                    "category": "INVALID_REQUEST_ERROR",
                    "code": "INVALID_VALUE",
                    "detail": "Cannot provide more than 10 location_ids.",
                    "field": "location_ids",
                }
            ]
        },
    )
    error = testkit.check_permanent_error(lambda: connector.pull_orders(NOW, None, now=NOW), route)
    assert "INVALID_VALUE" in str(error) and "location_ids" in str(error)


@pytest.mark.parametrize("body", [{"orders": "x"}, {"orders": {"id": "A"}}, ["orders"]])
def test_pull_refuses_a_page_it_cannot_read(
    connector: SquareConnector, api: respx.MockRouter, body: Any
) -> None:
    api.post("/v2/orders/search").respond(200, json=body)
    with pytest.raises(PayloadError):
        connector.pull_orders(NOW, None, now=NOW)


def without(order: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k not in keys}


BAD_RECORDS = [
    pytest.param(
        without(shipped_order(id="BAD"), "updated_at", "created_at"),
        "BAD",
        "Square order BAD has no valid updated_at",
        id="no-updated_at",
    ),
    pytest.param(
        shipped_order(id="BAD", updated_at="yesterday"),
        "BAD",
        "Square order BAD has no valid updated_at",
        id="malformed-updated_at",
    ),
    pytest.param(
        shipped_order(id="BAD", updated_at="2020-05-18T16:30:49"),
        "BAD",
        "Square order BAD updated_at has no UTC offset",
        id="updated_at-without-offset",
    ),
    pytest.param(
        without(shipped_order(), "id"),
        None,
        "Square answered with an order that has no id",
        id="no-id",
    ),
    pytest.param(
        "CAISENgv", None, "Square answered with an order that has no id", id="not-an-object"
    ),
]


@pytest.mark.parametrize(("bad", "bad_id", "reason"), BAD_RECORDS)
def test_pull_hands_back_a_record_it_cannot_read_and_keeps_the_rest(
    connector: SquareConnector,
    api: respx.MockRouter,
    bad: Any,
    bad_id: str | None,
    reason: str,
) -> None:
    # A page of three, the bad record in the middle: the other two still come in.
    last = shipped_order(id="LAST", updated_at="2020-05-19T08:00:00Z")
    api.post("/v2/orders/search").respond(
        200, json={"orders": [sample_order(), bad, last], "cursor": "CURSOR-2"}
    )
    page = connector.pull_orders(NOW, None, now=NOW)
    assert [order.external_id for order in page.orders] == [ORDER_ID, "LAST"]
    assert page.next_page_token == "CURSOR-2"
    (rejected,) = page.rejected
    assert rejected.raw == bad  # the record exactly as Square sent it
    assert (rejected.external_id, rejected.reason) == (bad_id, reason)
    # Read again later (a replay of the stored record), it is refused for the same reason.
    with pytest.raises(PayloadError) as refused:
        connector.read_polled(json.loads(json.dumps(bad)))
    assert str(refused.value) == reason
    assert connector.read_polled(sample_order()).external_id == ORDER_ID


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rfc3339(datetime(2024, 1, 1))


# --- fulfilment push --------------------------------------------------------------------------


def notice(**changes: Any) -> FulfilmentNotice:
    values: dict[str, Any] = {
        "external_order_id": ORDER_ID,
        "shipment_ref": "shp-7",
        "lines": (ShippedLine(sku="SKU-1", quantity=1, external_line_id="ULkg0tQTRK2bkU9fNv3IJD"),),
        "shipped_at": datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        "idempotency_key": "fulfil-shp-7",
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "order_complete": True,
    }
    values.update(changes)
    return FulfilmentNotice(**values)


def order_body(version: int, **changes: Any) -> dict[str, Any]:
    return {"order": shipped_order(version=version, **changes)}


def test_push_fulfilment_completes_the_shipment(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=order_body(3))
    update = api.put(f"/v2/orders/{ORDER_ID}").respond(200, json=order_body(4))
    receipt = connector.push_fulfilment(notice())
    assert receipt.external_ref == "bWxwvq3rTr6Uv4dKqRjAuB"
    assert receipt.attempts == 2
    assert json.loads(update.calls.last.request.content) == {
        "idempotency_key": "fulfil-shp-7:v3",
        "order": {
            "location_id": LOCATION,
            "version": 3,
            "fulfillments": [
                {
                    "uid": "bWxwvq3rTr6Uv4dKqRjAuB",
                    "state": "COMPLETED",
                    "shipment_details": {
                        "carrier": "UPS",
                        "tracking_number": "1Z999AA10123456784",
                        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
                        "shipped_at": "2024-05-01T10:00:00.000Z",
                    },
                }
            ],
        },
    }


def version_mismatch() -> httpx.Response:
    return httpx.Response(
        400,
        json={
            "errors": [
                {
                    "category": "INVALID_REQUEST_ERROR",
                    "code": "VERSION_MISMATCH",
                    "detail": "Supplied version 3 does not match the current version 4.",
                    "field": "order.version",
                }
            ]
        },
    )


def test_version_conflict_refetches_once(connector: SquareConnector, api: respx.MockRouter) -> None:
    api.get(f"/v2/orders/{ORDER_ID}").mock(
        side_effect=[
            httpx.Response(200, json=order_body(3)),
            httpx.Response(200, json=order_body(4)),
        ]
    )
    update = api.put(f"/v2/orders/{ORDER_ID}").mock(
        side_effect=[version_mismatch(), httpx.Response(200, json=order_body(5))]
    )
    connector.push_fulfilment(notice())
    sent = [json.loads(call.request.content) for call in update.calls]
    assert [body["order"]["version"] for body in sent] == [3, 4]
    assert [body["idempotency_key"] for body in sent] == ["fulfil-shp-7:v3", "fulfil-shp-7:v4"]


def test_repeated_version_conflict_is_transient(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=order_body(3))
    update = api.put(f"/v2/orders/{ORDER_ID}").mock(return_value=version_mismatch())
    with pytest.raises(TransientError, match="kept changing"):
        connector.push_fulfilment(notice())
    assert update.call_count == 2


def test_already_shipped_is_not_sent_again(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    done = order_body(4)
    fulfilment = done["order"]["fulfillments"][0]
    fulfilment["state"] = "COMPLETED"
    fulfilment["shipment_details"].update(
        carrier="UPS",
        tracking_number="1Z999AA10123456784",
        tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
    )
    api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=done)
    update = api.put(f"/v2/orders/{ORDER_ID}").respond(200, json=done)
    receipt = connector.push_fulfilment(notice())
    assert receipt.external_ref == "bWxwvq3rTr6Uv4dKqRjAuB"
    assert not update.called


def test_partial_shipment_sets_tracking_without_completing(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=order_body(3))
    update = api.put(f"/v2/orders/{ORDER_ID}").respond(200, json=order_body(4))
    connector.push_fulfilment(notice(order_complete=False, carrier=None, tracking_url=None))
    change = json.loads(update.calls.last.request.content)["order"]["fulfillments"][0]
    assert "state" not in change
    assert change["shipment_details"] == {
        "tracking_number": "1Z999AA10123456784",
        "shipped_at": "2024-05-01T10:00:00.000Z",
    }


def test_order_without_shipment_fulfillment_is_permanent(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=order_response())  # the untouched sample
    update = api.put(f"/v2/orders/{ORDER_ID}").respond(200, json={})
    with pytest.raises(PermanentError, match="no open SHIPMENT fulfillment"):
        connector.push_fulfilment(notice())
    assert not update.called


def test_update_rejected_is_permanent(connector: SquareConnector, api: respx.MockRouter) -> None:
    api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=order_body(3))
    update = api.put(f"/v2/orders/{ORDER_ID}").respond(
        403, json={"errors": [{"category": "AUTHENTICATION_ERROR", "code": "INSUFFICIENT_SCOPES"}]}
    )
    error = testkit.check_permanent_error(lambda: connector.push_fulfilment(notice()), update)
    assert "ORDERS_WRITE" in str(error)


def test_update_retries_5xx_then_succeeds(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    api.get(f"/v2/orders/{ORDER_ID}").respond(200, json=order_body(3))
    update = api.put(f"/v2/orders/{ORDER_ID}").mock(
        side_effect=[testkit.server_error(500), httpx.Response(200, json=order_body(4))]
    )
    testkit.check_retries_then_succeeds(
        lambda: connector.push_fulfilment(notice()), update, calls=2
    )
    keys = {json.loads(call.request.content)["idempotency_key"] for call in update.calls}
    assert keys == {"fulfil-shp-7:v3"}


# --- stock push -------------------------------------------------------------------------------

INVENTORY = "/v2/inventory/changes/batch-create"


def test_push_stock_sends_physical_counts(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    route = api.post(INVENTORY).respond(200, json={"counts": []})
    updates = [
        StockUpdate(sku="SKU-1", channel_ref="W62UWFY35CWMYGVWK6TWJDNI", available=53),
        StockUpdate(sku="SKU-2", channel_ref="AII5SRWW4N7JSHSFZYDT6AE7", available=-2),
    ]
    receipt = connector.push_stock(updates, idempotency_key="stock-42")
    assert receipt.attempts == 1
    body = json.loads(route.calls.last.request.content)
    stamp = "2024-05-01T12:00:00.000Z"
    assert body == {
        "idempotency_key": f"stock-42:0:{stamp}",
        "changes": [
            {
                "type": "PHYSICAL_COUNT",
                "physical_count": {
                    "catalog_object_id": "W62UWFY35CWMYGVWK6TWJDNI",
                    "state": "IN_STOCK",
                    "location_id": LOCATION,
                    "quantity": "53",
                    "occurred_at": stamp,
                },
            },
            {
                "type": "PHYSICAL_COUNT",
                "physical_count": {
                    "catalog_object_id": "AII5SRWW4N7JSHSFZYDT6AE7",
                    "state": "IN_STOCK",
                    "location_id": LOCATION,
                    "quantity": "0",
                    "occurred_at": stamp,
                },
            },
        ],
        "ignore_unchanged_counts": True,
    }


def test_push_stock_resends_the_same_body_for_the_same_key(api: respx.MockRouter) -> None:
    clock = iter([NOW, NOW + timedelta(minutes=5), NOW + timedelta(minutes=9)])
    connector = make_connector(clock=lambda: next(clock), inventory_location_id="L-STORE")
    route = api.post(INVENTORY).respond(200, json={})
    update = [StockUpdate(sku="A", channel_ref="VAR-A", available=1)]
    connector.push_stock(update, idempotency_key="k-1")
    connector.push_stock(update, idempotency_key="k-1")
    connector.push_stock(update, idempotency_key="k-2")
    first, again, other = (json.loads(call.request.content) for call in route.calls)
    assert first == again
    assert other["idempotency_key"] != first["idempotency_key"]
    assert first["changes"][0]["physical_count"]["location_id"] == "L-STORE"


def test_push_stock_splits_into_batches_of_100(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    route = api.post(INVENTORY).respond(200, json={})
    updates = [StockUpdate(sku=f"S{i}", channel_ref=f"V{i}", available=i) for i in range(150)]
    receipt = connector.push_stock(updates, idempotency_key="x" * 200)
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert [len(body["changes"]) for body in bodies] == [100, 50]
    keys = [body["idempotency_key"] for body in bodies]
    assert len(set(keys)) == 2 and all(len(key) <= 128 for key in keys)
    assert receipt.attempts == 2


def test_push_stock_with_nothing_makes_no_call(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    assert connector.push_stock([], idempotency_key="k").attempts == 0
    assert not api.calls


def test_push_stock_without_channel_ref_is_permanent(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    with pytest.raises(PermanentError, match="catalog object id"):
        connector.push_stock([StockUpdate("SKU-9", "", 3)], idempotency_key="k")
    assert not api.calls


def test_push_stock_429_goes_back_to_the_outbox_then_succeeds(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    route = api.post(INVENTORY).mock(
        side_effect=[testkit.too_many(0), httpx.Response(200, json={})]
    )
    update = [StockUpdate(sku="A", channel_ref="VAR-A", available=1)]
    # A write is sent once per delivery attempt: the 429 goes back to the outbox (with its
    # hint), whose next attempt goes through.
    with pytest.raises(TransientError):
        connector.push_stock(update, idempotency_key="k")
    receipt = connector.push_stock(update, idempotency_key="k")
    assert (route.call_count, receipt.attempts) == (2, 1)


def test_push_stock_bad_request_is_permanent(
    connector: SquareConnector, api: respx.MockRouter
) -> None:
    route = api.post(INVENTORY).respond(
        400,
        json={
            "errors": [
                {
                    "category": "INVALID_REQUEST_ERROR",
                    "code": "NOT_FOUND",
                    "detail": "Object VAR-A not found",
                    "field": "catalog_object_id",
                }
            ]
        },
    )
    update = [StockUpdate(sku="A", channel_ref="VAR-A", available=1)]
    error = testkit.check_permanent_error(
        lambda: connector.push_stock(update, idempotency_key="k"), route
    )
    assert "Object VAR-A not found" in str(error)


def test_store_locations_map_to_warehouses_for_in_store_sales() -> None:
    from omniroute.connectors.base import StoreLocations

    connector = make_connector(location_warehouses={"L1": "STORE-1"})
    assert isinstance(connector, StoreLocations)
    assert connector.warehouse_code_for("L1") == "STORE-1"
    assert connector.warehouse_code_for("elsewhere") is None
