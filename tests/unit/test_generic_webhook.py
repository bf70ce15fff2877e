"""Generic connector: Standard Webhooks signature, replay window, dedupe, envelope and mapping.

There is no third-party sample of this channel (the sender writes canonical orders), so the
recorded samples used here are the real Shopify orders of tests/fixtures/third_party, turned
into canonical orders by the Shopify connector: what an upstream system would send.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.datastructures import Headers

from omniroute.connectors import testkit
from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    PayloadError,
    SignatureError,
    webhook_topic_of,
)
from omniroute.connectors.generic import webhooks
from omniroute.connectors.generic.connector import (
    GenericWebhookConfig,
    GenericWebhookConnector,
    GenericWebhookSecrets,
)
from omniroute.connectors.shopify.connector import ShopifyConnector
from omniroute.mapping import MappingError

SHOPIFY_SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "shopify"

# The test vector of the Standard Webhooks reference library (libraries/python tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
OTHER_SECRET = "whsec_" + "b3RoZXIgc2VjcmV0IGtleSBmb3Igcm90YXRpb24="


def connector(
    secret: str | None = SPEC_SECRET, *, now: datetime = NOW, **config: Any
) -> GenericWebhookConnector:
    return GenericWebhookConnector(
        GenericWebhookConfig(**config),
        GenericWebhookSecrets.model_validate({"webhook_secret": secret}),
        runtime=ConnectorRuntime(),
        clock=lambda: now,
    )


def shopify_canonical(path: Path) -> dict[str, Any]:
    """A real Shopify sample as the canonical order an upstream system would send."""
    shopify = ShopifyConnector({}, {"webhook_secret": "x"}, runtime=ConnectorRuntime())
    return shopify.map_order(json.loads(path.read_bytes())["order"])


SAMPLES = sorted(p for p in SHOPIFY_SAMPLES.glob("*.json") if "order" in json.loads(p.read_bytes()))


def sample_order() -> dict[str, Any]:
    return shopify_canonical(SHOPIFY_SAMPLES / "shopify_python_api_order.json")


def envelope(order: dict[str, Any], event_type: str = "order.created") -> bytes:
    return json.dumps(
        {"type": event_type, "timestamp": "2026-11-27T09:59:58Z", "data": order},
        separators=(",", ":"),
    ).encode()


def signed(
    body: bytes, *, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", at: datetime = NOW
) -> dict[str, str]:
    key = webhooks.decode_secret(SPEC_SECRET)
    stamp = int(at.timestamp())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": webhooks.sign(key, msg_id, stamp, body),
    }


# --- kind and config --------------------------------------------------------------------


def test_kind_is_declared_properly() -> None:
    testkit.check_kind(GenericWebhookConnector, connector())
    assert GenericWebhookConnector.kind == "generic_webhook"
    assert GenericWebhookConnector.capabilities == frozenset(
        {Capability.ORDER_WEBHOOKS, Capability.TRACKING_WEBHOOKS}
    )


def test_config_and_secrets_refuse_unknown_or_bad_values() -> None:
    with pytest.raises(ValidationError):
        GenericWebhookConfig.model_validate({"base_url": "http://x"})
    with pytest.raises(ValidationError):
        GenericWebhookConfig(default_currency="usd")
    with pytest.raises(ValidationError) as caught:
        GenericWebhookSecrets.model_validate({"webhook_secret": "whsec_not*base64!"})
    assert "not*base64" not in str(caught.value)  # the secret never shows in the error


def test_secret_is_write_only_in_the_published_schema() -> None:
    prop = GenericWebhookSecrets.model_json_schema()["properties"]["webhook_secret"]
    assert any(option.get("writeOnly") for option in prop["anyOf"])


# --- signature --------------------------------------------------------------------------


def test_sign_reproduces_the_reference_library_vector() -> None:
    key = webhooks.decode_secret(SPEC_SECRET)
    assert webhooks.sign(key, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_reference_vector_verifies_with_or_without_the_whsec_prefix() -> None:
    headers = {
        "webhook-id": SPEC_MSG_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    at = datetime.fromtimestamp(SPEC_TIMESTAMP, UTC)
    connector(now=at).verify_webhook(headers, SPEC_BODY)
    connector(SPEC_SECRET.removeprefix("whsec_"), now=at).verify_webhook(headers, SPEC_BODY)


def test_contract_signature_checks() -> None:
    body = envelope(sample_order())
    testkit.check_signature(connector(), signed(body), body, signature_header="webhook-signature")


def test_stored_headers_are_the_standard_webhooks_ones_but_the_signature() -> None:
    body = envelope(sample_order())
    headers = {**signed(body), "User-Agent": "Svix-Webhooks/1.24"}
    stored = testkit.check_stored_headers(
        connector(), headers, body, signature_header="webhook-signature"
    )
    assert stored == {
        "content-type": "application/json",
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": headers["webhook-timestamp"],
        "user-agent": "Svix-Webhooks/1.24",
    }
    assert webhook_topic_of(connector(), headers) is None  # the event type is in the body


def test_header_names_are_case_insensitive() -> None:
    body = envelope(sample_order())
    headers = Headers({k.title(): v for k, v in signed(body).items()})
    connector().verify_webhook(headers, body)


def test_any_one_matching_v1_signature_is_enough() -> None:
    body = envelope(sample_order())
    headers = signed(body)
    stale = webhooks.sign(webhooks.decode_secret(OTHER_SECRET), "msg_x", 1, body)
    headers["webhook-signature"] = " ".join(
        [stale, "v1a,bm90IGFuIGVkMjU1MTkgc2lnbmF0dXJl", "v1,***", headers["webhook-signature"]]
    )
    connector().verify_webhook(headers, body)


def test_only_the_asymmetric_or_unknown_schemes_are_refused() -> None:
    body = envelope(sample_order())
    headers = signed(body)
    value = headers["webhook-signature"].split(",", 1)[1]
    headers["webhook-signature"] = f"v1a,{value} v2,{value}"
    with pytest.raises(SignatureError):
        connector().verify_webhook(headers, body)


def test_the_signature_covers_id_and_timestamp() -> None:
    body = envelope(sample_order())
    headers = signed(body)
    with pytest.raises(SignatureError):
        connector().verify_webhook({**headers, "webhook-id": "msg_other"}, body)
    moved = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(SignatureError):
        connector().verify_webhook({**headers, "webhook-timestamp": moved}, body)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_header_is_required(missing: str) -> None:
    body = envelope(sample_order())
    headers = {k: v for k, v in signed(body).items() if k != missing}
    with pytest.raises(SignatureError, match=missing):
        connector().verify_webhook(headers, body)


@pytest.mark.parametrize("stamp", ["1674087231.5", "-5", "soon", "١٢٣"])
def test_timestamp_must_be_integer_seconds(stamp: str) -> None:
    body = envelope(sample_order())
    with pytest.raises(SignatureError, match="webhook-timestamp"):
        connector().verify_webhook({**signed(body), "webhook-timestamp": stamp}, body)


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1)]
)
def test_timestamp_outside_five_minutes_is_refused(offset: timedelta) -> None:
    body = envelope(sample_order())
    headers = signed(body, at=NOW + offset)
    with pytest.raises(SignatureError, match="clock"):
        connector().verify_webhook(headers, body)


@pytest.mark.parametrize("offset", [timedelta(minutes=5), -timedelta(minutes=5), timedelta(0)])
def test_timestamp_within_five_minutes_is_accepted(offset: timedelta) -> None:
    body = envelope(sample_order())
    connector().verify_webhook(signed(body, at=NOW + offset), body)


def test_tolerance_is_configurable() -> None:
    body = envelope(sample_order())
    headers = signed(body, at=NOW - timedelta(minutes=9))
    connector(timestamp_tolerance_seconds=600).verify_webhook(headers, body)
    with pytest.raises(SignatureError):
        connector(timestamp_tolerance_seconds=300).verify_webhook(headers, body)


def test_without_a_secret_webhooks_are_refused() -> None:
    body = envelope(sample_order())
    with pytest.raises(SignatureError, match="webhook_secret"):
        connector(None).verify_webhook(signed(body), body)


def test_a_wrong_secret_is_refused() -> None:
    body = envelope(sample_order())
    with pytest.raises(SignatureError, match="secret"):
        connector(OTHER_SECRET).verify_webhook(signed(body), body)


# --- dedupe -----------------------------------------------------------------------------


def test_dedupe_on_webhook_id() -> None:
    body = envelope(sample_order())
    first = (signed(body, msg_id="msg_1"), body)
    # A retry keeps its webhook-id but is signed again with a new timestamp.
    retry = (signed(body, msg_id="msg_1", at=NOW + timedelta(seconds=5)), body)
    other = (signed(body, msg_id="msg_2"), body)
    testkit.check_duplicate_delivery(connector(), first, other)
    assert connector().dedupe_key(*first) == connector().dedupe_key(*retry) == "wh:msg_1"


def test_dedupe_key_fits_the_inbox_column() -> None:
    key = connector().dedupe_key({"webhook-id": "m" * 400}, b"{}")
    assert len(key) <= 255 and key.startswith("wh:sha256-id:")
    assert connector().dedupe_key({}, b"{}").startswith("wh:sha256:")


# --- parsing and mapping ----------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_recorded_sample_maps_to_canonical(path: Path) -> None:
    order = shopify_canonical(path)
    body = envelope(order)
    source = connector()
    source.verify_webhook(signed(body), body)
    event = source.parse_webhook(signed(body), body)
    assert event.order is not None
    canonical = testkit.check_maps_to_canonical(source, event.order)
    assert canonical == order


def test_sample_is_kept_field_by_field() -> None:
    order = sample_order()
    event = connector().parse_webhook({}, envelope(order))
    assert event.topic == "order.created"
    assert event.external_id == order["external_id"] == "450789469"
    canonical = connector().map_order(event.order or {})
    assert canonical["external_number"] == "#1001"
    assert canonical["channel"] == order["channel"]
    assert canonical["currency"] == "USD"
    assert canonical["total"] == "409.94"
    assert canonical["customer"]["email"] == "bob.norman@hostmail.com"
    assert canonical["ship_to"]["address1"] == "Chestnut Street 92"
    assert canonical["ship_to"]["city"] == "Louisville"
    assert canonical["ship_to"]["postal_code"] == "40202"
    assert canonical["ship_to"]["country"] == "US"
    assert [
        (ln["external_line_id"], ln["channel_sku"], ln["quantity"]) for ln in canonical["lines"]
    ] == [(ln["external_line_id"], ln["channel_sku"], ln["quantity"]) for ln in order["lines"]]
    assert canonical is not order and canonical["lines"] is not order["lines"]


def test_updated_event_keeps_the_order() -> None:
    order = sample_order()
    event = connector().parse_webhook({}, envelope(order, "order.updated"))
    assert event.topic == "order.updated"
    assert event.order == order


def test_cancelled_event_marks_the_order_cancelled() -> None:
    order = sample_order()
    assert order["cancelled"] is False
    event = connector().parse_webhook({}, envelope(order, "order.cancelled"))
    assert event.order is not None and event.order["cancelled"] is True
    assert connector().map_order(event.order)["cancelled"] is True


@pytest.mark.parametrize("event_type", ["customer.created", "order.refunded", "webhook.test"])
def test_unknown_types_are_ignored(event_type: str) -> None:
    event = connector().parse_webhook({}, envelope(sample_order(), event_type))
    assert event.topic == event_type
    assert event.order is None and event.external_id is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b'{"data": {}}', '"type"'),
        (b'{"type": "order.created"}', '"data"'),
        (b'{"type": "order.created", "data": [1]}', '"data"'),
        (b'{"type": "order.created", "data": {"x": NaN}}', "not valid JSON"),
    ],
)
def test_unparseable_bodies_raise_payload_error(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        connector().parse_webhook({}, body)


def test_a_bare_canonical_order_is_not_an_envelope() -> None:
    with pytest.raises(PayloadError, match='"type"'):
        connector().parse_webhook({}, json.dumps(sample_order()).encode())


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"currency": "usd"}, "currency"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 129}, "external_id"),
        ({"channel": "c" * 65}, "channel"),
        ({"lines": []}, "lines"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_invalid_orders_name_the_canonical_path(change: dict[str, Any], path: str) -> None:
    order = {**sample_order(), **change}
    with pytest.raises(MappingError) as caught:
        connector().map_order(order)
    assert caught.value.path == path


def test_map_order_does_not_change_its_input() -> None:
    order = sample_order()
    before = copy.deepcopy(order)
    connector().map_order(order)["lines"][0]["quantity"] = 99
    assert order == before
