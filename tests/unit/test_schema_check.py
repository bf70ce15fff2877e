"""The compiled schema check says valid exactly when jsonschema does, on the canonical order."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import FormatChecker

from omniroute.cli.demo.orders import demo_skus, shopify_order
from omniroute.connectors.shopify import mapping as shopify_mapping
from omniroute.mapping import engine, map_order
from omniroute.mapping.schema_check import compile_check

FIXTURES = Path(__file__).parent.parent / "fixtures" / "third_party" / "shopify"

FULL_ORDER: dict[str, Any] = {
    "external_id": "1001",
    "external_number": "#1001",
    "channel": "shopify",
    "created_at": "2024-03-01T08:15:30+00:00",
    "updated_at": None,
    "currency": "USD",
    "total": "19.90",
    "financial_status": "paid",
    "test": False,
    "risk_level": "low",
    "channel_fulfilment": None,
    "cancelled": False,
    "service_level": "express",
    "customer": {"email": "a@b.c", "name": None, "phone": None},
    "ship_to": {"name": "A", "city": "NYC", "postal_code": "10001", "country": "US"},
    "bill_to": None,
    "lines": [
        {
            "external_line_id": "1",
            "channel_sku": "SKU-1",
            "variant_id": None,
            "sku": None,
            "title": "Thing",
            "quantity": 2,
            "unit_price": "9.95",
            "requires_shipping": True,
        }
    ],
    "tags": ["vip"],
    "note": None,
    "fulfilled_externally": False,
    "fulfilment_location": None,
}

# Values that are valid somewhere and invalid elsewhere in the schema, types jsonschema
# treats specially (bool vs int, integral float), and strings near the patterns' edges.
ODD_VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        -3,
        2.0,
        2.5,
        "",
        "x",
        "USD",
        "usd",
        "USD\n",
        "US",
        "us",
        "1e3",
        "-1.50",
        "1.",
        "standard",
        "overnight",
        "2024-03-01T08:15:30Z",
        "2024-03-01T08:15:30",
        "not a date",
        1_000_000,
        1_000_001,
        -1_000_001,
        10**20,
        1e20,
        "9" * 13,
        "1." + "0" * 13,
        "x" * 129,
        "x" * 321,
        [],
        ["a"],
        [1],
        {},
        {"country": "usa"},
        {"zip": "1"},
        {"external_line_id": "1", "quantity": 1},
    ]
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(doc: dict[str, Any], path: tuple[Any, ...], value: Any, how: str) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(doc)
    parent = changed
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "add" and isinstance(parent, dict):
        parent[f"{last}_extra"] = value
    else:
        parent[last] = value
    return changed


@settings(max_examples=600, deadline=None)
@given(
    data=st.data(),
    value=ODD_VALUES,
    how=st.sampled_from(["replace", "delete", "add"]),
)
def test_compiled_check_agrees_with_jsonschema(data: st.DataObject, value: Any, how: str) -> None:
    path = data.draw(st.sampled_from(_paths(FULL_ORDER)))
    doc = _mutate(FULL_ORDER, path, value, how)
    assert engine._is_valid()(doc) == engine._validator().is_valid(doc)


def test_the_canonical_schema_is_compiled() -> None:
    """Every keyword of the canonical schema compiles: jsonschema's own check is several
    times slower on the hot path (an enum with null once fell back to it unnoticed)."""
    compiled = compile_check(engine._inline_refs(engine._schema()), engine._formats())
    assert compiled is not None
    assert compiled(FULL_ORDER)


def test_an_enum_of_strings_and_null_is_compiled_exactly() -> None:
    check = compile_check({"enum": ["low", "high", None]}, FormatChecker(formats=()))
    assert check is not None
    assert [check(v) for v in ("low", None, "mid", 0, False, "")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_mapped_shopify_orders_are_valid_both_ways() -> None:
    sample = json.loads((FIXTURES / "shopify_python_api_order.json").read_text(encoding="utf-8"))
    payloads = [sample.get("order", sample)] + [
        shopify_order(n, demo_skus(50), rng=random.Random(n)) for n in range(20)
    ]
    for payload in payloads:
        doc = map_order(shopify_mapping.spec(), payload)
        assert engine._is_valid()(doc)
        assert engine._validator().is_valid(doc)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "number"},
        {"exclusiveMinimum": 1},
        {"maximum": True},
        {"maxItems": 1.5},
        {"enum": [1, True]},
        {"additionalProperties": {"type": "string"}},
        {"properties": {"a": {"$ref": "#/$defs/x"}}},
        {"items": {"type": "string"}, "prefixItems": [{"type": "string"}]},
    ],
)
def test_keywords_it_does_not_know_exactly_are_not_compiled(schema: dict[str, Any]) -> None:
    assert compile_check(schema, FormatChecker(formats=())) is None
