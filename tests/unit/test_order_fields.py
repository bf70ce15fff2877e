"""The order fields a warehouse and people need: money, gift messages, order attributes and
line properties, mapped from every channel's real samples and bounded by the schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from omniroute.connectors.amazon.mapping import build_payload
from omniroute.connectors.amazon.mapping import to_canonical as amazon_canonical
from omniroute.connectors.generic.mapping import to_canonical as generic_canonical
from omniroute.connectors.shopify.mapping import to_canonical as shopify_canonical
from omniroute.connectors.square.mapping import to_canonical as square_canonical
from omniroute.connectors.woocommerce.mapping import to_canonical as woo_canonical
from omniroute.mapping import MappingError, engine, validate_order
from omniroute.mapping.transforms import (
    MAX_NAME_CHARS,
    MAX_NAME_VALUES,
    MAX_VALUE_CHARS,
    TransformError,
    decimal_difference,
    decimal_sum,
    name_values,
)

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party"


def sample(relative: str) -> Any:
    return json.loads((SAMPLES / relative).read_text())


def shopify_order() -> dict[str, Any]:
    order: dict[str, Any] = sample("shopify/shopify_python_api_order.json")["order"]
    return order


def woo_order() -> dict[str, Any]:
    order: dict[str, Any] = sample("woocommerce/wp-api-v3_orders_retrieve.response.json")
    return order


def square_order() -> dict[str, Any]:
    order: dict[str, Any] = sample("square/RetrieveOrderResponse.example.json")["order"]
    return order


def amazon_payload(**order_changes: Any) -> dict[str, Any]:
    order = sample("amazon/getOrders.200.example.json")["payload"]["Orders"][0] | order_changes
    items = sample("amazon/getOrderItems.200.example.json")["payload"]["OrderItems"]
    return build_payload(order, items)


def money_of(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("total", "subtotal", "discount_total", "shipping_total", "tax_total")
    return {key: doc.get(key) for key in keys}


def line_money(doc: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
    return [
        (ln.get("discount_total"), ln.get("tax_total"), ln.get("line_total")) for ln in doc["lines"]
    ]


# --- the schema's bounds ----------------------------------------------------------------------


ORDER: dict[str, Any] = {
    "external_id": "1001",
    "channel": "shop",
    "currency": "USD",
    "cancelled": False,
    "attributes": [{"name": "gift_wrap", "value": "yes"}],
    "gift_message": "Happy birthday",
    "lines": [
        {
            "external_line_id": "1",
            "channel_sku": "BEANS",
            "quantity": 2,
            "unit_price": "9.95",
            "properties": [{"name": "Grind", "value": "Espresso"}],
        }
    ],
}


def test_the_transforms_bounds_are_the_schemas() -> None:
    pairs = engine.order_schema()["$defs"]["name_values"]
    assert pairs["maxItems"] == MAX_NAME_VALUES
    assert pairs["items"]["properties"]["name"]["maxLength"] == MAX_NAME_CHARS
    assert pairs["items"]["properties"]["value"]["maxLength"] == MAX_VALUE_CHARS


def test_an_order_with_attributes_properties_and_gift_message_is_valid() -> None:
    validate_order(ORDER)
    assert engine._is_valid()(ORDER)  # the compiled check knows the new fields too


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (
            "lines[0].properties",
            lambda o: o["lines"][0].update(properties=[{"name": "n", "value": "v"}] * 101),
        ),
        (
            "lines[0].properties[0].value",
            lambda o: o["lines"][0]["properties"][0].update(value="x" * 2001),
        ),
        ("lines[0].properties[0].name", lambda o: o["lines"][0]["properties"][0].update(name="")),
        (
            "lines[0].properties[0].name",
            lambda o: o["lines"][0]["properties"][0].update(name="n" * 256),
        ),
        ("lines[0].properties[0].value", lambda o: o["lines"][0]["properties"][0].pop("value")),
        ("attributes", lambda o: o.update(attributes=[{"name": "n", "value": "v"}] * 101)),
        ("attributes[0].value", lambda o: o["attributes"][0].update(value=7)),
        ("gift_message", lambda o: o.update(gift_message="x" * 2001)),
        ("lines[0].gift_message", lambda o: o["lines"][0].update(gift_message="x" * 2001)),
        ("subtotal", lambda o: o.update(subtotal="12.5.0")),
        ("lines[0].line_total", lambda o: o["lines"][0].update(line_total="1" * 13)),
    ],
)
def test_out_of_bounds_fields_are_invalid_and_named(path: str, change: Any) -> None:
    order = copy.deepcopy(ORDER)
    change(order)
    assert not engine._validator().is_valid(order)
    assert not engine._is_valid()(order)
    with pytest.raises(MappingError) as caught:
        generic_canonical(order)
    assert caught.value.path == path


# --- transforms -------------------------------------------------------------------------------


def test_decimal_sum_adds_exactly_and_skips_what_is_absent() -> None:
    assert decimal_sum(["5.00", "1.50"]) == "6.50"
    assert decimal_sum(["0.1", 0.2]) == "0.3"
    assert decimal_sum([None, "1.26", None]) == "1.26"
    assert decimal_sum("7.50") == "7.50"
    assert decimal_sum([]) is None
    assert decimal_sum([None]) is None
    assert decimal_sum(None) is None
    with pytest.raises(TransformError):
        decimal_sum(["1.00", "abc"])


def test_decimal_difference() -> None:
    assert decimal_difference(["12.00", "9.50"]) == "2.50"
    assert decimal_difference(["6.00", "6.00"]) == "0.00"
    assert decimal_difference([None, "1"]) is None
    assert decimal_difference(None) is None


def test_name_values_keep_names_in_order_and_values_as_text() -> None:
    assert name_values(
        [
            {"name": "_engraving_font", "value": "Serif"},
            {"name": "Qty note", "value": 3},
            {"name": "Options", "value": {"size": "M"}},
            {"name": "Empty", "value": None},
            {"name": " ", "value": "nameless"},
            {"value": "nameless"},
        ]
    ) == [
        {"name": "_engraving_font", "value": "Serif"},
        {"name": "Qty note", "value": "3"},
        {"name": "Options", "value": '{"size":"M"}'},
        {"name": "Empty", "value": ""},
    ]
    assert name_values(None) == []


def test_name_values_refuse_too_many_before_looking_at_them() -> None:
    with pytest.raises(TransformError, match="at most 100"):
        name_values([object()] * 101)


# --- Shopify ----------------------------------------------------------------------------------


def test_shopify_sample_keeps_its_money_attributes_and_properties() -> None:
    doc = shopify_canonical(shopify_order())
    assert money_of(doc) == {
        "total": "409.94",
        "subtotal": "398.00",
        "discount_total": "0.00",
        "shipping_total": "0.00",  # the one shipping line, "Free Shipping"
        "tax_total": "11.94",
    }
    assert doc["attributes"] == [
        {"name": "custom engraving", "value": "Happy Birthday"},
        {"name": "colour", "value": "green"},
    ]
    assert [ln["properties"] for ln in doc["lines"]] == [
        [{"name": "Custom Engraving", "value": "Happy Birthday"}],
        [],
        [],
    ]
    assert line_money(doc) == [(None, None, None)] * 3  # the sample's lines carry none
    assert doc.get("gift_message") is None
    assert doc["financial_status"] == "authorized"
    assert doc["bill_to"]["address1"] == "Chestnut Street 92"


def test_shopify_hidden_properties_line_discounts_taxes_and_shipping_set() -> None:
    order = shopify_order()
    order["total_shipping_price_set"] = {
        "shop_money": {"amount": "7.50", "currency_code": "USD"},
        "presentment_money": {"amount": "10.20", "currency_code": "CAD"},
    }
    order["note"] = "Leave at the back door"
    line = order["line_items"][0]
    line["properties"] = [
        {"name": "Grind", "value": "Espresso"},
        {"name": "_subscription_id", "value": "sub_42"},
    ]
    line["discount_allocations"] = [
        {"amount": "5.00", "discount_application_index": 0},
        {"amount": "1.50", "discount_application_index": 1},
    ]
    line["tax_lines"] = [{"price": "1.20", "rate": 0.06, "title": "State Tax"}, {"price": "0.30"}]
    order["line_items"][1]["tax_lines"] = []
    doc = shopify_canonical(order)
    assert doc["shipping_total"] == "7.50"  # the shop's currency, not the buyer's
    assert doc["note"] == "Leave at the back door"
    # Shopify hides "_" properties from buyers; warehouses often need them: all are kept.
    assert doc["lines"][0]["properties"] == [
        {"name": "Grind", "value": "Espresso"},
        {"name": "_subscription_id", "value": "sub_42"},
    ]
    assert line_money(doc)[:2] == [("6.50", "1.50", None), (None, None, None)]


# --- WooCommerce ------------------------------------------------------------------------------


def test_woocommerce_sample_keeps_its_money_and_line_meta() -> None:
    doc = woo_canonical(woo_order())
    assert money_of(doc) == {
        "total": "29.35",
        "subtotal": "18.00",  # the lines' subtotals, 6.00 + 12.00
        "discount_total": "0.00",
        "shipping_total": "10.00",
        "tax_total": "1.35",
    }
    assert doc["attributes"] == []  # its one meta entry is private ("_download_...")
    assert doc["note"] is None  # customer_note ""
    assert line_money(doc) == [("0.00", "0.45", "6.00"), ("0.00", "0.90", "12.00")]
    assert [ln["properties"] for ln in doc["lines"]] == [
        [],
        [{"name": "pa_color", "value": "black"}, {"name": "size", "value": "M Test"}],
    ]


def test_woocommerce_drops_private_meta_and_keeps_discounts() -> None:
    order = woo_order()
    order["customer_note"] = "Please grind for a moka pot"
    order["meta_data"].append({"id": 13107, "key": "delivery_date", "value": "2017-03-25"})
    line = order["line_items"][1]
    line["subtotal"], line["total"] = "12.00", "9.60"
    line["meta_data"] += [
        {"id": 2097, "key": "_reduced_stock", "value": "1"},
        {"id": 2098, "key": "engraving", "value": {"text": "A & B", "font": "serif"}},
    ]
    doc = woo_canonical(order)
    assert doc["note"] == "Please grind for a moka pot"
    assert doc["attributes"] == [{"name": "delivery_date", "value": "2017-03-25"}]
    assert doc["lines"][1]["discount_total"] == "2.40"
    assert doc["lines"][1]["properties"][2:] == [
        {"name": "engraving", "value": '{"text":"A & B","font":"serif"}'}
    ]


# --- Square -----------------------------------------------------------------------------------


def test_square_sample_keeps_its_money_in_major_units() -> None:
    doc = square_canonical(square_order())
    assert money_of(doc) == {
        "total": "5.50",
        "subtotal": None,
        "discount_total": "5.50",
        "shipping_total": "0.00",  # total_service_charge_money
        "tax_total": "0.00",
    }
    assert line_money(doc) == [("2.50", "0.00", "2.50"), ("3.00", "0.00", "3.00")]
    assert [ln["properties"] for ln in doc["lines"]] == [[], []]


def test_square_modifiers_and_line_note_become_properties_and_yen_has_no_minor_unit() -> None:
    order = square_order()
    for money in ("total_money", "total_tax_money", "total_discount_money"):
        order[money] = {"amount": 1200, "currency": "JPY"}
    line = order["line_items"][0]
    line["modifiers"] = [
        {
            "uid": "m1",
            "name": "Oat milk",
            "quantity": "1",
            "base_price_money": {"amount": 50, "currency": "USD"},
        },
        {"uid": "m2", "name": "Extra shot", "quantity": "2"},
    ]
    line["note"] = "No sugar"
    doc = square_canonical(order)
    assert (doc["total"], doc["tax_total"], doc["discount_total"]) == ("1200", "1200", "1200")
    assert doc["lines"][0]["properties"] == [
        {"name": "modifier", "value": "Oat milk"},
        {"name": "modifier", "value": "Extra shot x 2"},
        {"name": "note", "value": "No sugar"},
    ]


# --- Amazon -----------------------------------------------------------------------------------


def test_amazon_sample_keeps_item_money_and_gift_messages() -> None:
    doc = amazon_canonical(amazon_payload())
    assert money_of(doc) == {
        "total": None,  # Pending: no OrderTotal yet
        "subtotal": "43.94",  # ItemPrice 25.99 + 17.95
        "discount_total": None,
        "shipping_total": "1.26",
        "tax_total": None,
    }
    assert line_money(doc) == [(None, None, "25.99"), (None, None, "17.95")]
    assert [ln["gift_message"] for ln in doc["lines"]] == ["For you!", "For you!"]
    url = "https://zme-caps.amazon.com/t/bR6qHkzSOxuB/J8nbWhze0Bd3DkajkOdY-XQbWkFralegp2sr_QZiKEE/1"
    assert doc["lines"][0]["properties"] == [
        {"name": "GiftWrapLevel", "value": "Classic"},
        {"name": "CustomizedURL", "value": url},
    ]
    assert doc.get("gift_message") is None


def test_amazon_taxes_promotions_and_order_total() -> None:
    payload = amazon_payload(
        OrderStatus="Unshipped", OrderTotal={"CurrencyCode": "USD", "Amount": "52.10"}
    )
    first, second = payload["items"]
    first["ItemTax"] = {"CurrencyCode": "USD", "Amount": "2.08"}
    first["ShippingTax"] = {"CurrencyCode": "USD", "Amount": "0.10"}
    first["PromotionDiscount"] = {"CurrencyCode": "USD", "Amount": "1.00"}
    first["ShippingDiscount"] = {"CurrencyCode": "USD", "Amount": "0.26"}
    second["ItemTax"] = {"CurrencyCode": "USD", "Amount": "1.44"}
    second["PromotionDiscount"] = {"CurrencyCode": "USD", "Amount": "0.00"}
    doc = amazon_canonical(payload)
    assert money_of(doc) == {
        "total": "52.10",
        "subtotal": "43.94",
        "discount_total": "1.26",
        "shipping_total": "1.26",
        "tax_total": "3.62",
    }
    assert line_money(doc) == [("1.26", "2.18", "25.99"), ("0.00", "1.44", "17.95")]


# --- generic ----------------------------------------------------------------------------------


def test_generic_orders_take_the_same_field_names() -> None:
    order = copy.deepcopy(ORDER) | {
        "subtotal": "19.90",
        "discount_total": "2.00",
        "shipping_total": "4.95",
        "tax_total": "1.60",
        "total": "24.45",
    }
    order["lines"][0] |= {"discount_total": "2.00", "tax_total": "1.60", "line_total": "17.90"}
    assert generic_canonical(order) == order
