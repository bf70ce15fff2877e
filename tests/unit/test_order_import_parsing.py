"""Order uploads, pure part: CSV grouping and row errors, JSON lists, inbox keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from omniroute.connectors import testkit
from omniroute.connectors.base import ConnectorRuntime, PayloadError
from omniroute.connectors.generic import upload
from omniroute.connectors.generic.connector import GenericWebhookConnector
from omniroute.connectors.generic.upload import (
    CsvStructureError,
    RowError,
    UploadDefaults,
    inbox_entry,
    parse_csv,
)
from omniroute.connectors.shopify.connector import ShopifyConnector

SHOPIFY_ORDER = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "third_party"
    / "shopify"
    / "shopify_python_api_order.json"
)
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
DEFAULTS = UploadDefaults(channel="phone")

HEADER = (
    "order_ref,order_number,customer_name,customer_email,customer_phone,ship_to_name,"
    "ship_to_address1,ship_to_address2,ship_to_city,ship_to_region,ship_to_postal_code,"
    "ship_to_country,currency,service_level,sku,title,quantity,unit_price,note,tags\n"
)
GOOD = (
    HEADER
    + "PH-1,1001,Ann Lee,ann@example.com,+1 212 555 0100,Ann Lee,1 Main St,Apt 2,New York,NY,"
    "10001,US,usd,express,MUG-RED,Red mug,2,12.50,leave at door,vip;phone\n"
    "PH-1,,,,,,,,,,,,,,TEA-1,Green tea,1,4,,\n"
    "PH-2,,Bob Ray,bob@example.com,,Bob Ray,2 High St,,Boston,MA,02108,United States,USD,,"
    "MUG-BLUE,,3,,,\n"
)


def canonical_sample() -> dict[str, Any]:
    shopify = ShopifyConnector({}, {"webhook_secret": "x"}, runtime=ConnectorRuntime())
    return shopify.map_order(json.loads(SHOPIFY_ORDER.read_bytes())["order"])


def errors_of(result: upload.ParsedUpload) -> list[tuple[int | None, str | None]]:
    return [(e.row, e.column) for e in result.errors]


# --- CSV: good files --------------------------------------------------------------------


def test_rows_with_the_same_order_ref_form_one_order() -> None:
    result = parse_csv(GOOD, DEFAULTS)
    assert result.errors == () and result.failed == 0
    assert [o["external_id"] for o in result.orders] == ["PH-1", "PH-2"]
    first = result.orders[0]
    assert first["external_number"] == "1001"
    assert first["channel"] == "phone"
    assert first["currency"] == "USD"
    assert first["service_level"] == "express"
    assert first["cancelled"] is False
    assert first["customer"] == {
        "name": "Ann Lee",
        "email": "ann@example.com",
        "phone": "+1 212 555 0100",
    }
    assert first["ship_to"] == {
        "name": "Ann Lee",
        "company": None,
        "address1": "1 Main St",
        "address2": "Apt 2",
        "city": "New York",
        "region": "NY",
        "postal_code": "10001",
        "country": "US",
        "phone": None,
    }
    assert first["note"] == "leave at door"
    assert first["tags"] == ["vip", "phone"]
    assert [
        (ln["external_line_id"], ln["channel_sku"], ln["title"], ln["quantity"], ln["unit_price"])
        for ln in first["lines"]
    ] == [("PH-1-1", "MUG-RED", "Red mug", 2, "12.50"), ("PH-1-2", "TEA-1", "Green tea", 1, "4")]


def test_csv_orders_are_canonical() -> None:
    source = GenericWebhookConnector({}, {}, runtime=ConnectorRuntime())
    for order in parse_csv(GOOD, DEFAULTS).orders:
        assert testkit.check_maps_to_canonical(source, order) == order


def test_second_order_gets_defaults_and_a_country_name_becomes_a_code() -> None:
    second = parse_csv(GOOD, DEFAULTS).orders[1]
    assert second["service_level"] == "standard"
    assert second["ship_to"]["country"] == "US"
    assert second["ship_to"]["postal_code"] == "02108"  # kept as text: no lost zero
    assert second["lines"][0]["unit_price"] is None
    assert second["tags"] == [] and second["note"] is None


def test_connector_config_supplies_channel_currency_and_country() -> None:
    source = GenericWebhookConnector(
        {"default_channel": "store-12", "default_currency": "EUR", "default_country": "DE"},
        {},
        runtime=ConnectorRuntime(),
    )
    body = b"order_ref,sku,quantity,ship_to_postal_code\nS-1,A,1,10115\nS-2,B,1,\n"
    result = source.parse_upload(body, "text/csv; charset=utf-8")
    first, second = result.orders
    assert (first["channel"], first["currency"], first["ship_to"]["country"]) == (
        "store-12",
        "EUR",
        "DE",
    )
    assert second["ship_to"] is None  # no ship_to column given: no address made up


def test_line_refs_header_case_bom_blank_rows_and_quoted_cells() -> None:
    text = (
        "\ufeffOrder_Ref, SKU ,Quantity,Line_Ref,Currency,Note\n"
        '\nA,X,1,L-9,GBP,"two\nlines"\n'
        ",,,,,\n"
        "A,Y,2,L-10,,\n"
    )
    (order,) = parse_csv(text, DEFAULTS).orders
    assert [ln["external_line_id"] for ln in order["lines"]] == ["L-9", "L-10"]
    assert order["note"] == "two\nlines"


def test_rows_of_one_order_need_not_be_adjacent() -> None:
    text = "order_ref,sku,quantity,currency\nA,X,1,USD\nB,Y,1,USD\nA,Z,1,\n"
    a, b = parse_csv(text, DEFAULTS).orders
    assert [ln["channel_sku"] for ln in a["lines"]] == ["X", "Z"]
    assert a["lines"][1]["external_line_id"] == "A-2"
    assert b["external_id"] == "B"


def test_created_at_keeps_its_offset() -> None:
    text = "order_ref,sku,quantity,currency,created_at\nA,X,1,USD,2026-11-27T09:30:00+01:00\n"
    (order,) = parse_csv(text, DEFAULTS).orders
    assert order["created_at"] == "2026-11-27T09:30:00+01:00"


# --- CSV: row errors --------------------------------------------------------------------


def test_a_bad_row_is_reported_and_the_good_orders_are_kept() -> None:
    text = GOOD + "PH-3,,,,,,,,,,,,USD,,MUG-RED,,two,,,\n"
    result = parse_csv(text, DEFAULTS)
    assert [o["external_id"] for o in result.orders] == ["PH-1", "PH-2"]
    assert result.errors == (
        RowError(5, "quantity", "expected a whole number of at least 1, got 'two'", "PH-3", 5),
    )
    assert result.failed == 1


def test_an_order_with_one_bad_line_is_rejected_whole() -> None:
    text = HEADER.replace(",note,tags\n", "\n") + (
        'A,,,,,,,,,,,,USD,,X,,1,1.00\nA,,,,,,,,,,,,,,Y,,1,"1,5"\nB,,,,,,,,,,,,USD,,Z,,1,\n'
    )
    result = parse_csv(text, DEFAULTS)
    assert [o["external_id"] for o in result.orders] == ["B"]
    assert errors_of(result) == [(3, "unit_price")]
    assert result.failed == 1


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ("A,X,0,USD,,,,,", "quantity", "at least 1"),
        ("A,X,-1,USD,,,,,", "quantity", "at least 1"),
        ("A,X,1.5,USD,,,,,", "quantity", "whole number"),
        ("A,X,,USD,,,,,", "quantity", "needs the line's quantity"),
        ("A,,1,USD,,,,,", "sku", "needs the line's sku"),
        ("A,X,1,US,,,,,", "currency", "3-letter"),
        ("A,X,1,,,,,,", "currency", "default_currency"),
        ('A,X,1,USD,"1,200.00",,,,', "unit_price", "decimal point"),
        ("A,X,1,USD,-2,,,,", "unit_price", "0 or more"),
        ("A,X,1,USD,abc,,,,", "unit_price", "decimal"),
        ("A,X,1,USD,,Atlantis,,,", "ship_to_country", "2-letter"),
        ("A,X,1,USD,,,overnight,,", "service_level", "same_day"),
        ("A,X,1,USD,,,,not-an-email,", "customer_email", "email"),
        ("A,X,1,USD,,,,,2026-11-27T09:30:00", "created_at", "offset"),
    ],
)
def test_bad_cells_name_row_and_column(cells: str, column: str, message: str) -> None:
    header = (
        "order_ref,sku,quantity,currency,unit_price,ship_to_country,service_level,"
        "customer_email,created_at\n"
    )
    result = parse_csv(header + cells + "\n", DEFAULTS)
    assert result.orders == ()
    (error,) = result.errors
    assert (error.row, error.column, error.order_ref) == (2, column, "A")
    assert message in error.message
    assert result.failed == 1


def test_rows_without_an_order_ref_are_counted_one_by_one() -> None:
    text = "order_ref,sku,quantity,currency\n,X,1,USD\nA,Y,1,USD\n ,Z,1,USD\n"
    result = parse_csv(text, DEFAULTS)
    assert [o["external_id"] for o in result.orders] == ["A"]
    assert errors_of(result) == [(2, "order_ref"), (4, "order_ref")]
    assert result.failed == 2


def test_order_level_values_must_agree_across_rows() -> None:
    text = "order_ref,sku,quantity,currency\nA,X,1,USD\nA,Y,1,USD\nA,Z,1,EUR\n"
    result = parse_csv(text, DEFAULTS)
    assert result.orders == ()
    (error,) = result.errors
    assert (error.row, error.column) == (4, "currency")
    assert "given on row 2" in error.message


def test_line_refs_must_be_unique_within_an_order() -> None:
    text = "order_ref,sku,quantity,currency,line_ref\nA,X,1,USD,L1\nA,Y,1,,L1\n"
    result = parse_csv(text, DEFAULTS)
    assert errors_of(result) == [(3, "line_ref")]


def test_order_ref_length_is_limited() -> None:
    ref = "R" * 129
    result = parse_csv(f"order_ref,sku,quantity,currency\n{ref},X,1,USD\n", DEFAULTS)
    assert errors_of(result) == [(2, "order_ref")]


def test_cells_beyond_the_header_refuse_the_file() -> None:
    with pytest.raises(CsvStructureError, match="line 2: 5 cells"):
        parse_csv("order_ref,sku,quantity,currency\nA,X,1,USD,surprise\n", DEFAULTS)


# --- CSV: whole-file errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("order_ref,sku,qty\nA,X,1\n", "unknown columns ['qty']"),
        ("order_ref,sku\nA,X\n", "missing required columns ['quantity']"),
        ("order_ref,sku,quantity,sku\nA,X,1,Y\n", "more than once"),
    ],
)
def test_a_file_that_cannot_be_read_raises_payload_error(text: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_csv(text, DEFAULTS)


def test_non_utf8_and_other_media_types_raise_payload_error() -> None:
    with pytest.raises(PayloadError, match="UTF-8"):
        upload.parse_upload(b"order_ref\n\xff", "text/csv", DEFAULTS)
    with pytest.raises(PayloadError, match="text/csv or application/json"):
        upload.parse_upload(b"<orders/>", "application/xml", DEFAULTS)


# --- JSON -------------------------------------------------------------------------------


def test_json_list_of_canonical_orders() -> None:
    order = canonical_sample()
    result = upload.parse_upload(json.dumps([order]).encode(), "application/json", DEFAULTS)
    assert result.orders == (order,)
    assert result.errors == () and result.failed == 0


def test_json_items_are_checked_one_by_one() -> None:
    good = canonical_sample()
    other = {**good, "external_id": "other"}
    bad = {**good, "external_id": "bad", "currency": "usd"}
    again = {**good, "note": "changed"}
    body = json.dumps([good, bad, "x", other, again]).encode()
    result = upload.parse_json(body)
    assert [o["external_id"] for o in result.orders] == [good["external_id"], "other"]
    assert [(e.row, e.column, e.order_ref) for e in result.errors] == [
        (2, "currency", "bad"),
        (3, None, None),
        (5, "external_id", good["external_id"]),
    ]
    assert result.failed == 3
    assert "already given by order 1" in result.errors[2].message


@pytest.mark.parametrize(
    ("body", "message"), [(b"{}", "JSON list"), (b"[", "not valid JSON"), (b"[NaN]", "JSON")]
)
def test_json_that_is_not_a_list_raises_payload_error(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        upload.parse_json(body)


# --- inbox entries ----------------------------------------------------------------------


def test_the_same_order_again_has_the_same_key_and_a_change_a_new_one() -> None:
    order = parse_csv(GOOD, DEFAULTS).orders[0]
    first = inbox_entry(order, now=NOW)
    later = inbox_entry(parse_csv(GOOD, DEFAULTS).orders[0], now=datetime(2027, 1, 1, tzinfo=UTC))
    changed = inbox_entry({**order, "note": "ring twice"}, now=NOW)
    assert first.dedupe_key == later.dedupe_key
    assert first.dedupe_key.startswith("import:PH-1:") and len(first.dedupe_key) <= 255
    assert changed.dedupe_key != first.dedupe_key
    assert changed.external_id == "PH-1"


def test_the_body_is_the_order_stamped_with_the_upload_time() -> None:
    order = parse_csv(GOOD, DEFAULTS).orders[0]
    stored = json.loads(inbox_entry(order, now=NOW).body)
    assert stored == {**order, "updated_at": "2026-11-27T10:00:00+00:00"}
    source = GenericWebhookConnector({}, {}, runtime=ConnectorRuntime())
    testkit.check_maps_to_canonical(source, stored)


def test_an_order_that_has_updated_at_keeps_it() -> None:
    order = canonical_sample()
    stored = json.loads(inbox_entry(order, now=NOW).body)
    assert stored["updated_at"] == order["updated_at"]


# --- money, gift messages, attributes and line properties -------------------------------------

FIELDS_CSV = (
    "order_ref,currency,total,subtotal,discount_total,shipping_total,tax_total,gift_message,"
    "attribute:Gift Wrap,sku,quantity,unit_price,line_discount_total,line_tax_total,"
    "line_total,line_gift_message,property:Grind,property:_roast_batch\n"
    "PH-9,USD,28.45,20.50,0.50,5.45,3.00,Happy birthday!,yes,"
    "MUG,1,12.50,,1.00,13.50,For Ann,,\n"
    "PH-9,,,,,,,,,TEA,2,4.00,0.50,2.00,9.50,,Espresso,B-17\n"
)


def test_csv_money_gift_message_attribute_and_property_columns() -> None:
    parsed = upload.parse_csv(FIELDS_CSV, DEFAULTS)
    assert parsed.errors == ()
    (order,) = parsed.orders
    assert {key: order[key] for key in ("total", "subtotal", "discount_total")} == {
        "total": "28.45",
        "subtotal": "20.50",
        "discount_total": "0.50",
    }
    assert (order["shipping_total"], order["tax_total"]) == ("5.45", "3.00")
    assert order["gift_message"] == "Happy birthday!"
    assert order["attributes"] == [{"name": "Gift Wrap", "value": "yes"}]  # its case kept
    mug, tea = order["lines"]
    assert (mug["discount_total"], mug["tax_total"], mug["line_total"]) == (None, "1.00", "13.50")
    assert (mug["gift_message"], mug["properties"]) == ("For Ann", [])
    assert (tea["discount_total"], tea["tax_total"], tea["line_total"]) == ("0.50", "2.00", "9.50")
    assert tea["properties"] == [
        {"name": "Grind", "value": "Espresso"},
        {"name": "_roast_batch", "value": "B-17"},
    ]


@pytest.mark.parametrize(
    ("header", "cells", "column", "message"),
    [
        ("shipping_total", '"5,45"', "shipping_total", "decimal point"),
        ("line_total", "-1", "line_total", "0 or more"),
        ("property:Note", "x" * 2001, "lines[0].properties[0].value", "xxx"),
        ("gift_message", "x" * 2001, "gift_message", "xxx"),
    ],
)
def test_csv_field_columns_are_checked(header: str, cells: str, column: str, message: str) -> None:
    text = f"order_ref,currency,sku,quantity,{header}\nPH-1,USD,MUG,1,{cells}\n"
    parsed = upload.parse_csv(text, DEFAULTS)
    (error,) = parsed.errors
    assert error.column == column
    assert message in error.message


@pytest.mark.parametrize("header", ["property:", "attribute: ", "propertie:Grind"])
def test_csv_unnamed_or_misspelled_property_columns_reject_the_file(header: str) -> None:
    with pytest.raises(PayloadError, match="unknown columns"):
        upload.parse_csv(f"order_ref,sku,quantity,{header}\nPH-1,MUG,1,x\n", DEFAULTS)
