"""Shopify connector: webhook signature, dedupe key, parsing and mapping of the real samples."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.datastructures import Headers

from omniroute.connectors import testkit
from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    OrderSource,
    PayloadError,
    SignatureError,
    WebhookEvent,
    webhook_topic_of,
)
from omniroute.connectors.shopify import webhooks
from omniroute.connectors.shopify.connector import ShopifyConfig, ShopifyConnector, ShopifySecrets
from omniroute.mapping import MappingError, validate_order
from tests.shopify_signing import TEST_SECRET, shopify_hmac, signed_headers

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "shopify"
ORDER_SAMPLE = SAMPLES / "shopify_python_api_order.json"
ORDER_SAMPLES = sorted(
    path for path in SAMPLES.glob("*.json") if "order" in json.loads(path.read_bytes())
)


def raw_fixture() -> bytes:
    return ORDER_SAMPLE.read_bytes()


def webhook_body() -> bytes:
    """The sample order as Shopify's webhook sends it: the bare order object."""
    return json.dumps(json.loads(raw_fixture())["order"]).encode("utf-8")


def sample_order() -> dict[str, Any]:
    order: dict[str, Any] = json.loads(raw_fixture())["order"]
    return order


@pytest.fixture
def connector() -> ShopifyConnector:
    return ShopifyConnector(
        ShopifyConfig(shop_domain="example.myshopify.com"),
        ShopifySecrets.model_validate({"webhook_secret": TEST_SECRET.decode()}),
        runtime=ConnectorRuntime(),
    )


# --- connector kind -------------------------------------------------------------------


def test_connector_declares_its_kind(connector: ShopifyConnector) -> None:
    assert ShopifyConnector.kind == "shopify"
    assert ShopifyConnector.capabilities == frozenset(
        {
            Capability.ORDER_WEBHOOKS,
            Capability.ORDER_POLLING,
            Capability.ORDER_FETCH,
            Capability.FULFILMENT_PUSH,
            Capability.STOCK_PUSH,
            Capability.CANCEL_PUSH,
            Capability.RISK_ASSESSMENT,
            Capability.TRACKING_PUSH,
            Capability.RETURN_PUSH,
            Capability.RETURN_WEBHOOKS,
        }
    )
    assert ShopifyConnector.config_model is ShopifyConfig
    assert ShopifyConnector.secrets_model is ShopifySecrets
    assert isinstance(connector, OrderSource)


def test_config_and_secrets_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ShopifyConfig.model_validate({"shop_domian": "x.myshopify.com"})
    with pytest.raises(ValidationError):
        ShopifySecrets.model_validate({"webhook_secret": "s", "api_key": "k"})
    with pytest.raises(ValidationError):
        ShopifySecrets.model_validate({})
    with pytest.raises(ValidationError):
        ShopifySecrets.model_validate({"webhook_secret": ""})


def test_config_defaults_and_secret_redaction() -> None:
    assert ShopifyConfig().api_version == "2024-07"
    secrets = ShopifySecrets.model_validate(
        {"webhook_secret": "s3cr3t", "access_token": "shpat_42"}
    )
    assert "s3cr3t" not in repr(secrets)
    assert "shpat_42" not in str(secrets.model_dump())


def test_connector_accepts_plain_mappings() -> None:
    built = ShopifyConnector({}, {"webhook_secret": "s"}, runtime=ConnectorRuntime())
    assert built.config == ShopifyConfig()


# --- signature ------------------------------------------------------------------------


def test_sign_matches_shopify_scheme() -> None:
    body = webhook_body()
    assert webhooks.sign(TEST_SECRET, body) == shopify_hmac(TEST_SECRET, body)


@pytest.mark.parametrize("make_body", [webhook_body, raw_fixture], ids=["webhook", "raw_fixture"])
def test_real_body_with_valid_signature_verifies(
    connector: ShopifyConnector, make_body: Any
) -> None:
    body = make_body()
    connector.verify_webhook(signed_headers(body), body)
    webhooks.verify(TEST_SECRET, body, shopify_hmac(TEST_SECRET, body))


def test_wrong_secret_is_rejected(connector: ShopifyConnector) -> None:
    body = webhook_body()
    with pytest.raises(SignatureError, match="does not match"):
        connector.verify_webhook(signed_headers(body, secret=b"another-secret"), body)


@pytest.mark.parametrize("position", [0, 100, -2])
def test_tampered_body_is_rejected(connector: ShopifyConnector, position: int) -> None:
    body = webhook_body()
    headers = signed_headers(body)
    tampered = bytearray(body)
    tampered[position] ^= 0x01
    with pytest.raises(SignatureError):
        connector.verify_webhook(headers, bytes(tampered))


def test_missing_signature_header_is_rejected(connector: ShopifyConnector) -> None:
    body = webhook_body()
    headers = signed_headers(body)
    del headers["X-Shopify-Hmac-Sha256"]
    with pytest.raises(SignatureError, match="missing") as caught:
        connector.verify_webhook(headers, body)
    assert caught.value.reason == "bad_signature"
    with pytest.raises(SignatureError, match="missing"):
        webhooks.verify(TEST_SECRET, body, "  ")


@pytest.mark.parametrize("value", ["not base64!", "%%%%", "abc", "ÿÿÿÿ"])
def test_malformed_signature_header_is_rejected(connector: ShopifyConnector, value: str) -> None:
    body = webhook_body()
    headers = {**signed_headers(body), "X-Shopify-Hmac-Sha256": value}
    with pytest.raises(SignatureError, match="base64"):
        connector.verify_webhook(headers, body)


def test_well_formed_but_short_signature_is_rejected() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        webhooks.verify(TEST_SECRET, b"{}", "AAAA")


def test_empty_secret_never_verifies() -> None:
    body = b"{}"
    with pytest.raises(SignatureError, match="secret"):
        webhooks.verify(b"", body, shopify_hmac(b"", body))


def test_signature_header_name_is_case_insensitive(connector: ShopifyConnector) -> None:
    body = webhook_body()
    lowered = {name.lower(): value for name, value in signed_headers(body).items()}
    connector.verify_webhook(lowered, body)
    connector.verify_webhook(Headers(headers=lowered), body)


# --- dedupe key -----------------------------------------------------------------------


def test_dedupe_key_prefers_the_webhook_id() -> None:
    headers = {"X-Shopify-Webhook-Id": "wh-1", "X-Shopify-Event-Id": "ev-1"}
    assert webhooks.dedupe_key(headers, b"{}") == "wh-1"


def test_dedupe_key_falls_back_to_the_event_id() -> None:
    headers = {"X-Shopify-Webhook-Id": " ", "x-shopify-event-id": "ev-1"}
    assert webhooks.dedupe_key(headers, b"{}") == "ev-1"


def test_dedupe_key_falls_back_to_the_body_digest(connector: ShopifyConnector) -> None:
    body = webhook_body()
    expected = "sha256:" + hashlib.sha256(body).hexdigest()
    assert connector.dedupe_key({"X-Shopify-Topic": "orders/create"}, body) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"x-shopify-webhook-id": "wh-9"},
        {"X-SHOPIFY-WEBHOOK-ID": "wh-9"},
        Headers(headers={"X-Shopify-Webhook-Id": "wh-9", "X-Shopify-Event-Id": "ev-9"}),
    ],
)
def test_dedupe_key_header_lookup_is_case_insensitive(headers: Any) -> None:
    assert webhooks.dedupe_key(headers, b"{}") == "wh-9"


# --- parsing --------------------------------------------------------------------------


def test_parse_webhook_body(connector: ShopifyConnector) -> None:
    body = webhook_body()
    event = connector.parse_webhook(signed_headers(body, topic="orders/updated"), body)
    assert event.topic == "orders/updated"
    assert event.external_id == "450789469"
    assert event.order == sample_order()


def test_parse_unwraps_the_rest_fixture(connector: ShopifyConnector) -> None:
    body = raw_fixture()
    event = connector.parse_webhook({}, body)
    assert event.topic == "orders/create"
    assert event.order == sample_order()
    assert event.external_id == "450789469"


ORDER_TOPICS = [
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
]


def test_the_order_topics_are_explicit() -> None:
    assert sorted(webhooks.ORDER_TOPICS) == sorted(ORDER_TOPICS)


@pytest.mark.parametrize("topic", ORDER_TOPICS)
def test_every_order_topic_carries_the_order(connector: ShopifyConnector, topic: str) -> None:
    body = webhook_body()
    event = connector.parse_webhook(signed_headers(body, topic=topic), body)
    assert (event.topic, event.external_id, event.order) == (topic, "450789469", sample_order())


PRODUCT = {"id": 632910392, "title": "IPod Nano - 8GB", "variants": [{"id": 808950810}]}
CUSTOMER = {"id": 207119551, "email": "bob.norman@mail.example.com", "orders_count": 1}
SHOP = {"id": 548380009, "name": "John Smith Test Store", "domain": "shop.example.com"}


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("products/update", json.dumps(PRODUCT).encode()),
        ("customers/create", json.dumps(CUSTOMER).encode()),
        ("app/uninstalled", json.dumps(SHOP).encode()),
        # Shaped like an order (id and line_items), but a draft: not an order to fulfil.
        ("draft_orders/create", webhook_body()),
        ("orders/delete", b'{"id": 450789469}'),
        ("products/delete", b"not even JSON"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_topic_omniroute_does_not_use_is_nothing_to_do(
    connector: ShopifyConnector, topic: str, body: bytes
) -> None:
    event = connector.parse_webhook(signed_headers(body, topic=topic), body)
    assert event == WebhookEvent(topic=topic, order=None, external_id=None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"id": NaN, "line_items": []}', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"order"', "JSON object"),
        (b'{"id": 1}', "not an order"),
        (b'{"order": {"id": 1}}', "not an order"),
        (b'{"order": [1]}', "not an order"),
        (b"[" * 100_000, "nested too deeply|not valid JSON"),
    ],
)
def test_parse_rejects_what_is_not_an_order(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        webhooks.parse({}, body)
    assert caught.value.reason == "invalid_payload"


def test_parse_rejects_a_fulfillment_body() -> None:
    body = (SAMPLES / "shopify_python_api_fulfillment.json").read_bytes()
    with pytest.raises(PayloadError, match="not an order"):
        webhooks.parse({}, body)


# --- mapping --------------------------------------------------------------------------

EXPECTED_ADDRESS = {
    "name": "Bob Norman",
    "company": None,
    "address1": "Chestnut Street 92",
    "address2": None,
    "city": "Louisville",
    "region": "KY",
    "postal_code": "40202",
    "country": "US",
    "phone": "555-625-1199",
}


def expected_line(
    line_id: str, sku: str, variant_id: str, properties: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "external_line_id": line_id,
        "channel_sku": sku,
        "variant_id": variant_id,
        "title": "IPod Nano - 8gb",
        "quantity": 1,
        "unit_price": "199.00",
        "requires_shipping": True,
        "discount_total": None,
        "tax_total": None,
        "properties": properties or [],
    }


EXPECTED_ORDER = {
    "external_id": "450789469",
    "external_number": "#1001",
    "channel": "shopify",
    "created_at": "2008-01-10T11:00:00-05:00",
    "updated_at": "2008-01-10T11:00:00-05:00",
    "currency": "USD",
    "total": "409.94",
    "subtotal": "398.00",
    "discount_total": "0.00",
    "shipping_total": "0.00",
    "tax_total": "11.94",
    "taxes_included": False,
    "financial_status": "authorized",
    "cancelled": False,
    "test": False,
    "channel_fulfilment": None,
    "fulfilled_externally": False,
    "service_level": "standard",
    "customer": {"email": "bob.norman@hostmail.com", "name": "Bob Norman", "phone": None},
    "ship_to": EXPECTED_ADDRESS,
    "bill_to": EXPECTED_ADDRESS,
    "lines": [
        expected_line(
            "466157049",
            "IPOD2008GREEN",
            "39072856",
            [{"name": "Custom Engraving", "value": "Happy Birthday"}],
        ),
        expected_line("518995019", "IPOD2008RED", "49148385"),
        expected_line("703073504", "IPOD2008BLACK", "457924702"),
    ],
    "tags": [],
    "note": None,
    "attributes": [
        {"name": "custom engraving", "value": "Happy Birthday"},
        {"name": "colour", "value": "green"},
    ],
}


def test_there_is_at_least_one_order_sample() -> None:
    assert ORDER_SAMPLE in ORDER_SAMPLES


@pytest.mark.parametrize("sample", ORDER_SAMPLES, ids=lambda path: path.name)
def test_every_order_sample_goes_through_verify_parse_map(
    connector: ShopifyConnector, sample: Path
) -> None:
    body = sample.read_bytes()
    connector.verify_webhook(signed_headers(body), body)
    event = connector.parse_webhook(signed_headers(body), body)
    assert event.order is not None
    doc = connector.map_order(event.order)
    validate_order(doc)
    assert doc["channel"] == "shopify"
    assert doc["external_id"] == event.external_id
    assert len(doc["lines"]) == len(event.order["line_items"])


def test_sample_order_maps_to_the_exact_canonical_order(connector: ShopifyConnector) -> None:
    assert connector.map_order(sample_order()) == EXPECTED_ORDER


def test_mapping_leaves_the_source_order_unchanged(connector: ShopifyConnector) -> None:
    order = sample_order()
    connector.map_order(order)
    assert order == sample_order()


@pytest.mark.parametrize(
    ("shipping_lines", "level"),
    [
        ([{"code": "UPS Express Saver", "title": "UPS"}], "express"),
        ([{"code": "std", "title": "EXPRESS delivery"}], "express"),
        ([{"code": "Free Shipping", "title": "Free Shipping"}], "standard"),
        ([], "standard"),
        (None, "standard"),
    ],
)
def test_service_level_from_shipping_lines(
    connector: ShopifyConnector, shipping_lines: Any, level: str
) -> None:
    order = {**sample_order(), "shipping_lines": shipping_lines}
    assert connector.map_order(order)["service_level"] == level


def test_cancelled_tags_note_and_missing_addresses(connector: ShopifyConnector) -> None:
    order = {
        **sample_order(),
        "cancelled_at": "2008-01-11T09:00:00-05:00",
        "tags": "wholesale, rush ,",
        "note": "Leave at the door",
        "phone": "+15556251199",
        "billing_address": None,
    }
    del order["shipping_address"]
    doc = connector.map_order(order)
    assert doc["cancelled"] is True
    assert doc["tags"] == ["wholesale", "rush"]
    assert doc["note"] == "Leave at the door"
    assert doc["customer"]["phone"] == "+15556251199"
    assert doc["ship_to"] is None
    assert doc["bill_to"] is None


def test_region_and_country_fall_back_to_names(connector: ShopifyConnector) -> None:
    order = sample_order()
    address = order["shipping_address"]
    del address["province_code"], address["country_code"]
    doc = connector.map_order(order)
    assert doc["ship_to"]["region"] == "Kentucky"
    assert doc["ship_to"]["country"] == "US"


def test_bad_quantity_names_target_and_source(connector: ShopifyConnector) -> None:
    order = sample_order()
    order["line_items"][0]["quantity"] = "abc"
    with pytest.raises(MappingError) as caught:
        connector.map_order(order)
    assert caught.value.path == "lines[0].quantity"
    assert caught.value.source == "line_items[0].quantity"


def test_missing_currency_fails_validation_with_its_path(connector: ShopifyConnector) -> None:
    order = sample_order()
    del order["currency"]
    with pytest.raises(MappingError) as caught:
        connector.map_order(order)
    assert (caught.value.path, caught.value.source) == ("currency", "currency")


def test_order_without_line_items_fails_validation(connector: ShopifyConnector) -> None:
    order = copy.deepcopy(sample_order())
    order["line_items"] = []
    with pytest.raises(MappingError) as caught:
        connector.map_order(order)
    assert (caught.value.path, caught.value.source) == ("lines", "line_items")


# --- contract kit -----------------------------------------------------------------------


def test_contract_kind_and_protocols(connector: ShopifyConnector) -> None:
    testkit.check_kind(ShopifyConnector, connector)


@pytest.mark.parametrize("sample", ORDER_SAMPLES, ids=lambda path: path.name)
def test_contract_every_order_sample_maps_to_canonical(
    connector: ShopifyConnector, sample: Path
) -> None:
    order = webhooks.extract_order(json.loads(sample.read_bytes()))
    canonical = testkit.check_maps_to_canonical(connector, order)
    assert canonical["external_id"] == str(order["id"])


@pytest.mark.parametrize("make_body", [webhook_body, raw_fixture], ids=["webhook", "raw_fixture"])
def test_contract_signature(connector: ShopifyConnector, make_body: Any) -> None:
    body = make_body()
    testkit.check_signature(
        connector, signed_headers(body), body, signature_header="X-Shopify-Hmac-Sha256"
    )


def test_stored_headers_are_shopifys_own_and_enough_to_parse(
    connector: ShopifyConnector,
) -> None:
    body = webhook_body()
    headers = {
        **signed_headers(body),
        "User-Agent": "Shopify-Captain-Hook",
        "Cookie": "session=1",
        "Host": "omniroute.example.com",
    }
    stored = testkit.check_stored_headers(
        connector, headers, body, signature_header="X-Shopify-Hmac-Sha256"
    )
    assert stored == {
        "x-shopify-topic": "orders/create",
        "x-shopify-shop-domain": "example.myshopify.com",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "content-type": "application/json",
        "user-agent": "Shopify-Captain-Hook",
    }
    assert webhook_topic_of(connector, headers) == "orders/create"
    assert webhook_topic_of(connector, {"X-Shopify-Topic": ""}) is None


def test_contract_duplicate_delivery(connector: ShopifyConnector) -> None:
    body = webhook_body()
    redelivery = (signed_headers(body), body)
    other = (signed_headers(body, webhook_id="0a1b2c3d-other-delivery"), body)
    testkit.check_duplicate_delivery(connector, redelivery, other)
    # Without delivery ids, the body digest tells two different bodies apart.
    variant = dict(sample_order(), id=450789470)
    other_body = json.dumps(variant).encode("utf-8")
    testkit.check_duplicate_delivery(
        connector,
        (signed_headers(body, webhook_id=None), body),
        (signed_headers(other_body, webhook_id=None), other_body),
    )


def test_an_edited_order_maps_what_is_left_of_each_line(connector: ShopifyConnector) -> None:
    """Shopify's order editing keeps ``quantity`` as ordered and lowers ``current_quantity``
    (0 for a removed line): the order is what is left, so a warehouse is asked for that and
    a late edit becomes a cancel of the difference."""
    edited = sample_order()
    first, second, third = edited["line_items"]
    first["current_quantity"] = first["quantity"]
    second["current_quantity"] = 0  # removed by an edit
    third.update(quantity=3, current_quantity=1)
    lines = connector.map_order(edited)["lines"]
    assert [(ln["external_line_id"], ln["quantity"]) for ln in lines] == [
        (str(first["id"]), first["quantity"]),
        (str(third["id"]), 1),
    ]
    # Versions from before order editing existed carry no current_quantity.
    assert [ln["quantity"] for ln in connector.map_order(sample_order())["lines"]] == [
        item["quantity"] for item in sample_order()["line_items"]
    ]


def test_an_order_edited_down_to_no_line_is_a_cancelled_order(connector: ShopifyConnector) -> None:
    edited = sample_order()
    edited["cancelled_at"] = None
    for item in edited["line_items"]:
        item["current_quantity"] = 0
    canonical = connector.map_order(edited)
    assert canonical["cancelled"] is True
    assert len(canonical["lines"]) == len(edited["line_items"])  # named by the cancel
    del edited["updated_at"]
    assert connector.map_order(edited)["cancelled"] is True
