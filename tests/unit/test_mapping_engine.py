"""The mapping engine, its transforms, schema validation and SKU alias resolution."""

from __future__ import annotations

import copy
import decimal
import pickle
from typing import Any

import jmespath
import pytest

from omniroute.mapping import (
    TRANSFORMS,
    MappingError,
    SpecError,
    TransformError,
    alias_to_map,
    apply_spec,
    compile_spec,
    load_spec,
    map_order,
    order_schema,
    resolve_skus,
    sku_keys,
    validate_order,
)
from omniroute.mapping.engine import FieldPath, ValueRule

SPEC: dict[str, Any] = {
    "name": "toy",
    "version": 1,
    "fields": {
        "external_id": {"path": "id", "transform": "str"},
        "channel": {"const": "toy"},
        "currency": {"path": "money.currency", "transform": "upper"},
        "cancelled": {"path": "cancelled_at", "transform": "not_null"},
        "service_level": {"path": "speed", "transform": "str_or_none", "default": "standard"},
        "customer": {"fields": {"email": {"path": "buyer.email", "transform": "str_or_none"}}},
        "ship_to": {
            "path": "address",
            "fields": {
                "city": {"path": "town", "transform": "str_or_none"},
                "country": {"path": "land", "transform": "country"},
            },
        },
        "lines": {
            "path": "items",
            "items": {
                "fields": {
                    "external_line_id": {"path": "id", "transform": "str"},
                    "quantity": {"path": "quantity", "transform": "int"},
                    "unit_price": {"path": "price", "transform": "decimal"},
                }
            },
        },
        "tags": {"path": "labels", "transform": "tags"},
    },
}

PAYLOAD: dict[str, Any] = {
    "id": 7,
    "money": {"currency": "eur"},
    "cancelled_at": None,
    "buyer": {"email": " ann@example.com "},
    "address": {"town": "Lyon", "land": "France"},
    "items": [{"id": 70, "quantity": "2", "price": "9.5"}],
    "labels": "vip, gift,,",
}


def toy_spec() -> Any:
    return compile_spec(SPEC)


def valid_order() -> dict[str, Any]:
    return {
        "external_id": "1",
        "channel": "toy",
        "currency": "USD",
        "cancelled": False,
        "lines": [{"external_line_id": "1", "quantity": 1}],
    }


# --- transforms ---------------------------------------------------------------------


def transform(name: str, value: Any) -> Any:
    return TRANSFORMS[name](value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (450789469, "450789469"),
        ("A-1", "A-1"),
        ("", ""),
        (decimal.Decimal("1.5"), "1.5"),
        (None, None),
    ],
)
def test_str(value: Any, expected: str | None) -> None:
    assert transform("str", value) == expected


@pytest.mark.parametrize("value", [True, {"a": 1}, [1]])
def test_str_rejects_non_scalars(value: Any) -> None:
    with pytest.raises(TransformError, match="string or number"):
        transform("str", value)


@pytest.mark.parametrize(
    ("value", "expected"), [(" x ", "x"), ("", None), ("   ", None), (None, None), (12, "12")]
)
def test_str_or_none(value: Any, expected: str | None) -> None:
    assert transform("str_or_none", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), (" 3 ", 3), ("-2", -2), (0, 0), (2.0, 2), (None, None)]
)
def test_int(value: Any, expected: int | None) -> None:
    assert transform("int", value) == expected


@pytest.mark.parametrize("value", ["abc", "1.5", 1.5, True, "", [1]])
def test_int_rejects(value: Any) -> None:
    with pytest.raises(TransformError, match="expected an integer"):
        transform("int", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("409.94", "409.94"),
        ("0.00", "0.00"),
        (" 199.0 ", "199.0"),
        ("+1.10", "1.10"),
        ("-0.00", "0.00"),
        ("-5.25", "-5.25"),
        ("1E+2", "100"),
        (".5", "0.5"),
        (12, "12"),
        (0.1, "0.1"),
        (None, None),
    ],
)
def test_decimal(value: Any, expected: str | None) -> None:
    assert transform("decimal", value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "nan",
        "Infinity",
        "-inf",
        "sNaN",
        float("nan"),
        float("inf"),
        "1,000.00",
        "abc",
        "",
        True,
        "1E+999999",
    ],
)
def test_decimal_rejects(value: Any) -> None:
    with pytest.raises(TransformError):
        transform("decimal", value)


def test_upper() -> None:
    assert transform("upper", " usd ") == "USD"
    assert transform("upper", "") is None
    assert transform("upper", None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        (" ca ", "CA"),
        ("United States", "US"),
        ("united  states", "US"),
        ("Canada", "CA"),
        ("United Kingdom", "GB"),
        ("Atlantis", None),
        ("USX", None),
        ("", None),
        (None, None),
    ],
)
def test_country(value: Any, expected: str | None) -> None:
    assert transform("country", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("No", False),
        (1, True),
        (0, False),
        (None, None),
    ],
)
def test_bool(value: Any, expected: bool | None) -> None:
    assert transform("bool", value) is expected


@pytest.mark.parametrize("value", ["maybe", 2, [], {}])
def test_bool_rejects(value: Any) -> None:
    with pytest.raises(TransformError, match="boolean"):
        transform("bool", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2008-01-10T11:00:00-05:00", "2008-01-10T11:00:00-05:00"),
        ("2024-03-01T08:15:30.250+09:00", "2024-03-01T08:15:30.250000+09:00"),
        ("2024-03-01T08:15:30Z", "2024-03-01T08:15:30+00:00"),
        (None, None),
    ],
)
def test_datetime_keeps_offset(value: Any, expected: str | None) -> None:
    assert transform("datetime", value) == expected


@pytest.mark.parametrize("value", ["2024-03-01T08:15:30", "2024-03-01", "yesterday", 1700000000])
def test_datetime_rejects(value: Any) -> None:
    with pytest.raises(TransformError):
        transform("datetime", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vip, gift , , wholesale", ["vip", "gift", "wholesale"]),
        ("", []),
        (None, []),
        (["a", " b ", ""], ["a", "b"]),
    ],
)
def test_tags(value: Any, expected: list[str]) -> None:
    assert transform("tags", value) == expected


def test_tags_rejects_objects() -> None:
    with pytest.raises(TransformError):
        transform("tags", {"a": 1})


def test_not_null() -> None:
    assert transform("not_null", "2008-01-10T11:00:00-05:00") is True
    assert transform("not_null", None) is False


def test_join_words() -> None:
    assert transform("join_words", ["Bob", None, " Norman "]) == "Bob Norman"
    assert transform("join_words", [None, ""]) is None
    assert transform("join_words", "Bob Norman") == "Bob Norman"
    assert transform("join_words", None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["Free Shipping", "Free Shipping"], "standard"),
        (["UPS_EXPRESS", None], "express"),
        ("Priority Express Mail", "express"),
        (["Same Day Delivery"], "same_day"),
        ([], "standard"),
        (None, "standard"),
    ],
)
def test_service_level(value: Any, expected: str) -> None:
    assert transform("service_level", value) == expected


def test_required_transforms_are_registered() -> None:
    required = {
        "str",
        "str_or_none",
        "int",
        "decimal",
        "upper",
        "country",
        "bool",
        "datetime",
        "tags",
        "not_null",
    }
    assert required <= set(TRANSFORMS)


# --- applying a spec ------------------------------------------------------------------


def test_apply_spec_maps_nested_objects_lists_consts_and_defaults() -> None:
    assert apply_spec(toy_spec(), PAYLOAD) == {
        "external_id": "7",
        "channel": "toy",
        "currency": "EUR",
        "cancelled": False,
        "service_level": "standard",
        "customer": {"email": "ann@example.com"},
        "ship_to": {"city": "Lyon", "country": "FR"},
        "lines": [{"external_line_id": "70", "quantity": 2, "unit_price": "9.5"}],
        "tags": ["vip", "gift"],
    }


def test_missing_nested_source_object_maps_to_null_and_missing_list_to_empty() -> None:
    payload = {key: value for key, value in PAYLOAD.items() if key not in ("address", "items")}
    doc = apply_spec(toy_spec(), payload)
    assert doc["ship_to"] is None
    assert doc["lines"] == []


def test_apply_spec_does_not_share_defaults_between_documents() -> None:
    spec = compile_spec(
        {"name": "d", "version": 1, "fields": {"tags": {"path": "t", "default": ["x"]}}}
    )
    first = apply_spec(spec, {})
    first["tags"].append("y")
    assert apply_spec(spec, {}) == {"tags": ["x"]}


def test_bad_transform_input_names_target_and_source_paths() -> None:
    payload = copy.deepcopy(PAYLOAD)
    payload["items"].insert(0, {"id": 1, "quantity": "abc", "price": "1"})
    with pytest.raises(MappingError) as caught:
        apply_spec(toy_spec(), payload)
    assert caught.value.path == "lines[0].quantity"
    assert caught.value.source == "items[0].quantity"
    assert "'abc'" in str(caught.value)
    assert "lines[0].quantity" in str(caught.value)


def test_bad_transform_in_a_nested_object_names_its_source() -> None:
    payload = copy.deepcopy(PAYLOAD)
    payload["address"]["land"] = 44
    spec = compile_spec(
        {
            "name": "n",
            "version": 1,
            "fields": {
                "ship_to": {
                    "path": "address",
                    "fields": {"zip": {"path": "land", "transform": "bool"}},
                }
            },
        }
    )
    with pytest.raises(MappingError) as caught:
        apply_spec(spec, payload)
    assert (caught.value.path, caught.value.source) == ("ship_to.zip", "address.land")


def test_list_source_that_is_not_a_list_is_a_mapping_error() -> None:
    payload = {**PAYLOAD, "items": {"id": 1}}
    with pytest.raises(MappingError) as caught:
        apply_spec(toy_spec(), payload)
    assert (caught.value.path, caught.value.source) == ("lines", "items")


def test_list_element_that_is_not_an_object_is_a_mapping_error() -> None:
    payload = {**PAYLOAD, "items": ["oops"]}
    with pytest.raises(MappingError) as caught:
        apply_spec(toy_spec(), payload)
    assert (caught.value.path, caught.value.source) == ("lines[0]", "items[0]")


# --- spec checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"a": {"path": "x", "transform": "nope"}}, "unknown transform"),
        ({"a": {"path": "x[", "transform": "str"}}, "bad jmespath"),
        ({"a": {"transform": "str"}}, "exactly one of"),
        ({"a": {"path": "x", "const": 1}}, "exactly one of"),
        ({"a": {"const": 1, "transform": "str"}}, "const"),
        ({"a": {"path": "x", "tranform": "str"}}, "unknown keys"),
        ({"a": {"items": {"path": "x"}}}, "'path' must be"),
        ({"a": {"fields": {}}}, "non-empty"),
        ({}, "non-empty"),
    ],
)
def test_compile_spec_rejects_malformed_specs(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        compile_spec({"name": "bad", "version": 1, "fields": fields})


SHOPIFY = "omniroute.connectors.shopify"


@pytest.mark.parametrize(
    ("package", "resource"),
    [
        (SHOPIFY, "../../mapping/schemas/order.v1.json"),
        (SHOPIFY, "Mapping_Spec.json"),
        (SHOPIFY, ""),
        (SHOPIFY, "no_such_spec.json"),
        (SHOPIFY, "mapping.py"),
        ("omniroute.connectors.no_such_channel", "mapping_spec.json"),
    ],
)
def test_load_spec_refuses_unknown_or_unsafe_names(package: str, resource: str) -> None:
    with pytest.raises(SpecError):
        load_spec(package, resource)


def test_load_spec_is_cached() -> None:
    assert load_spec(SHOPIFY, "mapping_spec.json") is load_spec(SHOPIFY, "mapping_spec.json")
    assert load_spec(SHOPIFY, "mapping_spec.json").name == "shopify"


# --- validation ----------------------------------------------------------------------


def test_schema_is_draft_2020_12_and_has_the_canonical_fields() -> None:
    schema = order_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {
        "external_id",
        "external_number",
        "channel",
        "created_at",
        "updated_at",
        "currency",
        "total",
        "subtotal",
        "discount_total",
        "shipping_total",
        "tax_total",
        "taxes_included",
        "financial_status",
        "test",
        "risk_level",
        "channel_fulfilment",
        "cancelled",
        "service_level",
        "customer",
        "ship_to",
        "bill_to",
        "lines",
        "tags",
        "note",
        "gift_message",
        "attributes",
        "fulfilled_externally",
        "fulfilment_location",
    }
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["line"]["additionalProperties"] is False
    # 0 and negative quantities are stored, then parked by the business checks.
    assert schema["$defs"]["line"]["properties"]["quantity"]["minimum"] < 0


def test_minimal_order_is_valid() -> None:
    validate_order(valid_order())


@pytest.mark.parametrize("quantity", [0, -3])
def test_zero_and_negative_quantities_pass_the_schema(quantity: int) -> None:
    doc = valid_order()
    doc["lines"][0]["quantity"] = quantity
    validate_order(doc)


def test_missing_currency_names_its_path() -> None:
    doc = valid_order()
    del doc["currency"]
    with pytest.raises(MappingError) as caught:
        validate_order(doc)
    assert caught.value.path == "currency"
    assert "required" in caught.value.detail


def test_missing_currency_names_its_source_when_the_spec_is_known() -> None:
    with pytest.raises(MappingError) as caught:
        validate_order(apply_spec(toy_spec(), {**PAYLOAD, "money": {}}), spec=toy_spec())
    assert (caught.value.path, caught.value.source) == ("currency", "money.currency")


def test_schema_error_inside_a_line_names_target_and_source() -> None:
    doc = apply_spec(toy_spec(), PAYLOAD)
    doc["lines"][0]["quantity"] = "2"
    with pytest.raises(MappingError) as caught:
        validate_order(doc, spec=toy_spec())
    assert (caught.value.path, caught.value.source) == ("lines[0].quantity", "items[0].quantity")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"currency": "usd"}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"total": "1e3"}, "total"),
        ({"service_level": "overnight"}, "service_level"),
        ({"created_at": "2024-03-01T08:15:30"}, "created_at"),
        ({"updated_at": "not a date"}, "updated_at"),
        ({"lines": []}, "lines"),
        ({"ship_to": {"country": "usa"}}, "ship_to.country"),
        ({"ship_to": {"zip": "40202"}}, "ship_to.zip"),
        ({"customer": {"mail": "a@b.c"}}, "customer.mail"),
        ({"cancelled": None}, "cancelled"),
        ({"curency": "USD"}, "curency"),
        ({"lines": [{"external_line_id": "1", "quantity": 1, "qty": 1}]}, "lines[0].qty"),
        ({"lines": [{"external_line_id": "1"}]}, "lines[0].quantity"),
    ],
)
def test_schema_violations_name_the_path(change: dict[str, Any], path: str) -> None:
    doc = {**valid_order(), **change}
    with pytest.raises(MappingError) as caught:
        validate_order(doc)
    assert caught.value.path == path


def test_several_violations_report_the_first_and_count_the_rest() -> None:
    doc = {**valid_order(), "currency": "usd", "cancelled": "no"}
    with pytest.raises(MappingError) as caught:
        validate_order(doc)
    assert caught.value.path == "cancelled"
    assert "1 more" in caught.value.detail


def test_optional_sku_on_lines_is_allowed() -> None:
    doc = valid_order()
    doc["lines"][0]["sku"] = "INT-1"
    validate_order(doc)
    doc["lines"][0]["sku"] = None
    validate_order(doc)


def test_map_order_applies_and_validates() -> None:
    with pytest.raises(MappingError) as caught:
        map_order(
            load_spec(SHOPIFY, "mapping_spec.json"),
            {"id": 1, "line_items": [{"id": 2, "quantity": 1}]},
        )
    assert caught.value.path == "currency"
    assert caught.value.source == "currency"


# --- SKU aliases ---------------------------------------------------------------------


def order_with_lines(*lines: dict[str, Any]) -> dict[str, Any]:
    return {**valid_order(), "lines": list(lines)}


def test_resolve_skus_uses_the_alias_of_the_channel_sku() -> None:
    order = order_with_lines(
        {"external_line_id": "1", "quantity": 1, "channel_sku": "SHOP-1", "variant_id": "9"}
    )
    resolved = resolve_skus(order, {"SHOP-1": "INT-1", "variant:9": "INT-9"})
    assert resolved["lines"][0]["sku"] == "INT-1"


def test_resolve_skus_falls_back_to_the_channel_sku_itself() -> None:
    order = order_with_lines(
        {"external_line_id": "1", "quantity": 1, "channel_sku": "SHOP-1", "variant_id": "9"}
    )
    assert resolve_skus(order, {"variant:9": "INT-9"})["lines"][0]["sku"] == "SHOP-1"


@pytest.mark.parametrize("channel_sku", [None, ""])
def test_resolve_skus_uses_the_variant_alias_without_a_channel_sku(channel_sku: str | None) -> None:
    order = order_with_lines(
        {"external_line_id": "1", "quantity": 1, "channel_sku": channel_sku, "variant_id": "9"}
    )
    assert resolve_skus(order, {"variant:9": "INT-9"})["lines"][0]["sku"] == "INT-9"
    assert resolve_skus(order, {})["lines"][0]["sku"] is None


def test_resolve_skus_returns_a_valid_copy_and_leaves_the_input_alone() -> None:
    order = order_with_lines(
        {"external_line_id": "1", "quantity": 1, "channel_sku": "A"},
        {"external_line_id": "2", "quantity": 1, "channel_sku": "B"},
    )
    before = copy.deepcopy(order)
    resolved = resolve_skus(order, {"B": "INT-B"})
    assert order == before
    assert [line["sku"] for line in resolved["lines"]] == ["A", "INT-B"]
    validate_order(resolved)


def test_jmespath_type_errors_become_mapping_errors() -> None:
    spec = compile_spec(
        {"name": "f", "version": 1, "fields": {"n": {"path": "length(count)", "transform": "int"}}}
    )
    with pytest.raises(MappingError) as caught:
        apply_spec(spec, {"count": 5})
    assert (caught.value.path, caught.value.source) == ("n", "length(count)")


def test_mapping_error_survives_pickling() -> None:
    error = MappingError("bad", path="lines[0].quantity", source="line_items[0].quantity")
    copied = pickle.loads(pickle.dumps(error))  # noqa: S301 -- our own bytes, just made
    assert (copied.detail, copied.path, copied.source) == ("bad", error.path, error.source)
    assert str(copied) == str(error)


# --- plain field paths read without the jmespath interpreter ----------------------------

FIELD_VALUES: list[Any] = [
    None,
    0,
    "text",
    [1, 2],
    {"a": None},
    {"a": {"b": {"c": 3}}},
    {"a": [{"b": 1}]},
    {"a": {"b": "x"}, "foo-bar": 1},
]


@pytest.mark.parametrize("path", ["a", "a.b", "a.b.c", "b", '"foo-bar"', 'a."b"'])
def test_a_field_path_reads_what_jmespath_reads(path: str) -> None:
    compiled = compile_spec({"name": "t", "version": 1, "fields": {"x": {"path": path}}})
    rule = compiled.fields[0]
    assert isinstance(rule, ValueRule)
    assert isinstance(rule.expression, FieldPath)
    assert rule.expression.expression == path
    for value in FIELD_VALUES:
        assert rule.expression.search(value) == jmespath.search(path, value)


@pytest.mark.parametrize("path", ["a[0]", "a || b", "a.b[0].c", "length(a)", "a | b"])
def test_other_paths_keep_the_jmespath_interpreter(path: str) -> None:
    compiled = compile_spec({"name": "t", "version": 1, "fields": {"x": {"path": path}}})
    rule = compiled.fields[0]
    assert isinstance(rule, ValueRule)
    assert not isinstance(rule.expression, FieldPath)


def test_an_unknown_channel_sku_gives_way_to_its_variants_alias() -> None:
    line = {"channel_sku": "SHOP-1", "variant_id": "9", "quantity": 1}
    order = {"lines": [line]}
    assert resolve_skus(order, {"variant:9": "INT-9"}, known=set())["lines"][0]["sku"] == "INT-9"
    assert resolve_skus(order, {"variant:9": "INT-9"}, known={"SHOP-1"})["lines"][0]["sku"] == (
        "SHOP-1"
    )
    assert resolve_skus(order, {}, known=set())["lines"][0]["sku"] == "SHOP-1"  # reported later


def test_a_sku_less_line_is_found_under_its_variant_and_its_bare_id() -> None:
    line = {"channel_sku": None, "variant_id": "93", "quantity": 1}
    assert sku_keys(line) == ["variant:93", "93"]
    assert alias_to_map(line) == "variant:93"
    assert resolve_skus({"lines": [line]}, {"93": "INT-93"})["lines"][0]["sku"] == "INT-93"
    assert sku_keys({"channel_sku": "A", "variant_id": "7"}) == ["A", "variant:7"]
    assert alias_to_map({"title": "nothing to go by"}) is None
