"""The release policy (pure) and the channel facts it reads, mapped from real samples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from omniroute.connectors.base import ConnectorRuntime
from omniroute.connectors.shopify.connector import ShopifyConnector
from omniroute.connectors.woocommerce.connector import WooCommerceConnector
from omniroute.core.channels.release_policy import (
    DEFAULT_POLICY,
    HoldCode,
    PaymentState,
    ReleasePolicy,
    hold_for,
    payment_state,
    policy_of,
    shipping_lines,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "third_party"


def order(**fields: Any) -> dict[str, Any]:
    return {"financial_status": "paid", "lines": [{"quantity": 1}], **fields}


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("paid", PaymentState.PAID),
        ("PAID", PaymentState.PAID),
        ("partially_refunded", PaymentState.PAID),
        ("authorized", PaymentState.AUTHORIZED),
        ("Authorised", PaymentState.AUTHORIZED),
        ("partially_paid", PaymentState.PARTIALLY_PAID),
        ("pending", PaymentState.UNPAID),
        ("awaiting-payment", PaymentState.UNPAID),
        ("expired", PaymentState.UNPAID),
        ("voided", PaymentState.VOID),
        ("refunded", PaymentState.VOID),
        (None, PaymentState.UNKNOWN),
        ("  ", PaymentState.UNKNOWN),
        ("on_account", PaymentState.UNRECOGNISED),
    ],
)
def test_payment_words(word: str | None, state: PaymentState) -> None:
    assert payment_state(word) is state


@pytest.mark.parametrize(
    ("status", "minimum", "held"),
    [
        ("paid", "paid", None),
        ("authorized", "paid", HoldCode.PAYMENT_PENDING),
        ("authorized", "authorized", None),
        ("pending", "authorized", HoldCode.PAYMENT_PENDING),
        ("partially_paid", "authorized", HoldCode.PAYMENT_PENDING),
        ("pending", "any", None),
        (None, "paid", None),  # the channel says nothing about payment
        ("on_account", "authorized", HoldCode.UNRECOGNISED_PAYMENT),
        ("on_account", "any", None),
        ("voided", "any", HoldCode.PAYMENT_VOIDED),
        ("refunded", "authorized", HoldCode.PAYMENT_VOIDED),
    ],
)
def test_payment_holds_by_minimum(status: str | None, minimum: str, held: HoldCode | None) -> None:
    policy = ReleasePolicy.model_validate({"min_payment": minimum})
    hold = hold_for(order(financial_status=status), policy)
    assert (hold.code if hold else None) is held


def test_test_orders_risk_and_partial_fulfilment() -> None:
    assert hold_for(order(test=True), DEFAULT_POLICY).code is HoldCode.TEST_ORDER  # type: ignore[union-attr]
    staging = ReleasePolicy(route_test_orders=True)
    assert hold_for(order(test=True), staging) is None
    risky = hold_for(order(risk_level="high"), DEFAULT_POLICY)
    assert risky is not None and risky.code is HoldCode.RISK and risky.needs_review
    assert hold_for(order(risk_level="medium"), DEFAULT_POLICY) is None
    assert hold_for(order(risk_level="medium"), ReleasePolicy(hold_risk_levels=["medium"]))
    partial = hold_for(order(channel_fulfilment="partial"), DEFAULT_POLICY)
    assert partial is not None and partial.code is HoldCode.PARTIALLY_FULFILLED


def test_waived_holds_give_way_to_the_next_but_a_void_payment_is_never_waived() -> None:
    both = order(test=True, financial_status="pending")
    assert hold_for(both, DEFAULT_POLICY).code is HoldCode.TEST_ORDER  # type: ignore[union-attr]
    after = hold_for(both, DEFAULT_POLICY, waived=["test_order"])
    assert after is not None and after.code is HoldCode.PAYMENT_PENDING
    assert hold_for(both, DEFAULT_POLICY, waived=["test_order", "payment_pending"]) is None
    void = order(financial_status="voided")
    assert hold_for(void, DEFAULT_POLICY, waived=["payment_voided"]) is not None
    assert not hold_for(void, DEFAULT_POLICY).needs_review  # type: ignore[union-attr]


def test_policy_model_is_strict_and_defaults_when_unset() -> None:
    assert policy_of(None) == DEFAULT_POLICY == policy_of({})
    assert DEFAULT_POLICY.min_payment == "authorized"
    assert DEFAULT_POLICY.hold_risk_levels == ["high"]
    for bad in ({"min_payment": "captured"}, {"hold_risk_levels": ["severe"]}, {"extra": 1}):
        with pytest.raises(ValidationError):
            ReleasePolicy.model_validate(bad)


def test_shipping_lines_keep_their_place() -> None:
    lines = [
        {"quantity": 1},
        {"quantity": 1, "requires_shipping": False},
        {"quantity": 2, "requires_shipping": True},
    ]
    assert [no for no, _ in shipping_lines(lines)] == [1, 3]


# --- the facts, from the channels' real payloads ---------------------------------------------


def runtime() -> ConnectorRuntime:
    return ConnectorRuntime(allow_private_urls=True)


def shopify_sample() -> dict[str, Any]:
    data = json.loads((FIXTURES / "shopify" / "shopify_python_api_order.json").read_text())
    return data["order"]  # type: ignore[no-any-return]


def test_shopify_test_flag_payment_and_fulfilment_status() -> None:
    shop = ShopifyConnector({}, {"webhook_secret": "s"}, runtime=runtime())
    sample = shop.map_order(shopify_sample())
    assert (sample["financial_status"], sample["test"], sample["channel_fulfilment"]) == (
        "authorized",
        False,
        None,
    )
    assert hold_for(sample, DEFAULT_POLICY) is None
    test_order = shop.map_order({**shopify_sample(), "test": True, "financial_status": "voided"})
    assert (test_order["test"], hold_for(test_order, DEFAULT_POLICY).code) == (  # type: ignore[union-attr]
        True,
        HoldCode.PAYMENT_VOIDED,
    )
    fulfilled = shop.map_order({**shopify_sample(), "fulfillment_status": "fulfilled"})
    assert (fulfilled["fulfilled_externally"], fulfilled["channel_fulfilment"]) == (
        True,
        "fulfilled",
    )
    partial = shop.map_order({**shopify_sample(), "fulfillment_status": "partial"})
    assert (partial["fulfilled_externally"], partial["channel_fulfilment"]) == (False, "partial")
    gift_card = copy.deepcopy(shopify_sample())
    for item in gift_card["line_items"]:
        item["requires_shipping"] = False
    assert shipping_lines(shop.map_order(gift_card)["lines"]) == []


def test_woocommerce_completed_is_fulfilled_and_on_hold_is_unpaid() -> None:
    woo = WooCommerceConnector(
        {"base_url": "https://shop.example.com"},
        {"webhook_secret": "s", "consumer_key": "ck", "consumer_secret": "cs"},
        runtime=runtime(),
    )
    sample = json.loads(
        (FIXTURES / "woocommerce" / "wp-api-v3_orders_retrieve.response.json").read_text()
    )
    processing = woo.map_order(sample)
    assert (processing["fulfilled_externally"], processing["channel_fulfilment"]) == (False, None)
    completed = woo.map_order({**sample, "status": "completed"})
    assert (completed["fulfilled_externally"], completed["channel_fulfilment"]) == (
        True,
        "fulfilled",
    )
    # BACS awaiting the transfer: on-hold and no date paid.
    waiting = woo.map_order({**sample, "status": "on-hold", "date_paid_gmt": None})
    assert hold_for(waiting, DEFAULT_POLICY).code is HoldCode.PAYMENT_PENDING  # type: ignore[union-attr]
