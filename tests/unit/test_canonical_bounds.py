"""The canonical order's bounds hold every channel's mapping: quantities, money, lines, ids.

Each bound keeps a value the order tables cannot store (a 32-bit quantity, a 32-character
price, a 128-character id) from reaching the database, where it failed as a retried
``processing_error``; an order over a bound is an ``invalid_payload`` at once. An order with
too many lines is refused before any line is looked at, so a payload of 100,000 lines costs
no more than one with 1,001.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.connectors.shopify import mapping as shopify_mapping
from omniroute.mapping import (
    MappingError,
    apply_spec,
    compile_spec,
    engine,
    map_order,
    validate_order,
)
from omniroute.mapping.engine import MAX_LINE_QUANTITY, MAX_ORDER_LINES, MIN_LINE_QUANTITY

SHOPIFY = Path(__file__).parent.parent / "fixtures" / "third_party" / "shopify"

ORDER: dict[str, Any] = {
    "external_id": "1001",
    "channel": "shop",
    "currency": "USD",
    "cancelled": False,
    "total": "19.90",
    "customer": {"email": "a@example.com"},
    "lines": [{"external_line_id": "1", "channel_sku": "MUG", "quantity": 2, "unit_price": "9.95"}],
}


def with_line(**changes: Any) -> dict[str, Any]:
    order = copy.deepcopy(ORDER)
    order["lines"][0].update(changes)
    return order


def problem(order: dict[str, Any]) -> MappingError:
    with pytest.raises(MappingError) as caught:
        validate_order(order)
    return caught.value


def both_agree(order: dict[str, Any]) -> bool:
    fast = engine._is_valid()(order)
    assert fast == engine._validator().is_valid(order)
    return fast


# --- quantity ---------------------------------------------------------------------------------


def test_the_bounds_are_the_schemas() -> None:
    quantity = engine.order_schema()["$defs"]["line"]["properties"]["quantity"]
    assert (quantity["minimum"], quantity["maximum"]) == (MIN_LINE_QUANTITY, MAX_LINE_QUANTITY)
    assert engine.order_schema()["properties"]["lines"]["maxItems"] == MAX_ORDER_LINES
    assert MAX_LINE_QUANTITY == 1_000_000 and MAX_ORDER_LINES == 1_000
    assert MAX_LINE_QUANTITY < 2**31  # the order_line.quantity column is a 32-bit INTEGER


@settings(max_examples=200, deadline=None)
@given(
    quantity=st.one_of(
        st.integers(min_value=MAX_LINE_QUANTITY - 3, max_value=MAX_LINE_QUANTITY + 3),
        st.integers(min_value=MIN_LINE_QUANTITY - 3, max_value=MIN_LINE_QUANTITY + 3),
        st.integers(min_value=-3, max_value=3),
        st.integers(min_value=2**31 - 2, max_value=2**64),
        st.integers(max_value=-(2**31) + 2, min_value=-(2**64)),
        st.floats(min_value=MAX_LINE_QUANTITY - 2, max_value=MAX_LINE_QUANTITY + 2)
        .map(round)
        .map(float),
    )
)
def test_a_quantity_is_valid_exactly_within_the_bounds(quantity: float) -> None:
    order = with_line(quantity=quantity)
    inside = MIN_LINE_QUANTITY <= quantity <= MAX_LINE_QUANTITY
    assert both_agree(order) == inside
    if not inside:
        error = problem(order)
        assert error.path == "lines[0].quantity"


def test_zero_and_negative_quantities_stay_a_business_check() -> None:
    for quantity in (0, -1, MIN_LINE_QUANTITY):
        validate_order(with_line(quantity=quantity))  # stored, then parked as bad_quantity


def test_a_mapped_quantity_of_ten_to_the_twentieth_names_its_source() -> None:
    payload = json.loads((SHOPIFY / "shopify_python_api_order.json").read_text(encoding="utf-8"))
    order = payload.get("order", payload)
    order["line_items"][0]["quantity"] = 10**20
    with pytest.raises(MappingError) as caught:
        map_order(shopify_mapping.spec(), order)
    assert caught.value.path == "lines[0].quantity"
    assert caught.value.source == "line_items[0].quantity"


# --- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    ["0", "0.00", "-1.50", "999999999999", "999999999999.999999999999", "1.000000000001"],
)
def test_money_within_the_bounds_is_valid(amount: str) -> None:
    assert both_agree({**with_line(unit_price=amount), "total": amount})


@pytest.mark.parametrize(
    "amount", ["1000000000000", "1" * 31, "1.0000000000001", "0." + "0" * 30 + "1", "1e3", "1."]
)
def test_money_beyond_the_bounds_is_invalid(amount: str) -> None:
    assert not both_agree(with_line(unit_price=amount))
    assert problem({**ORDER, "total": amount}).path == "total"


def test_the_longest_valid_amount_fits_its_column() -> None:
    longest = "-" + "9" * 12 + "." + "9" * 12
    assert both_agree(with_line(unit_price=longest))
    assert len(longest) <= 32  # sales_order.total and order_line.unit_price are VARCHAR(32)


# --- identifiers stored in bounded columns ------------------------------------------------


@pytest.mark.parametrize(
    ("where", "field", "limit"),
    [
        ((), "external_id", 128),
        ((), "external_number", 128),
        ((), "channel", 64),
        (("lines", 0), "external_line_id", 128),
        (("lines", 0), "channel_sku", 200),
        (("customer",), "email", 320),
    ],
)
def test_identifiers_are_held_to_their_columns(
    where: tuple[Any, ...], field: str, limit: int
) -> None:
    order = copy.deepcopy(ORDER)
    target: Any = order
    for part in where:
        target = target[part]
    target[field] = "x" * limit
    assert both_agree(order)
    target[field] = "x" * (limit + 1)
    assert not both_agree(order)


# --- lines per order ---------------------------------------------------------------------------


class Untouchable(list[Any]):
    """A list whose items may be counted but not read: reading one fails the test."""

    def __iter__(self) -> Iterator[Any]:
        raise AssertionError("an item of an oversized list was read")

    def __getitem__(self, index: Any) -> Any:
        raise AssertionError("an item of an oversized list was read")


def test_lines_up_to_the_cap_are_valid_and_one_more_is_not() -> None:
    line = ORDER["lines"][0]
    at_cap = {
        **ORDER,
        "lines": [{**line, "external_line_id": str(n)} for n in range(MAX_ORDER_LINES)],
    }
    assert both_agree(at_cap)
    over = {**at_cap, "lines": [*at_cap["lines"], line]}
    assert not both_agree(over)
    error = problem(over)
    assert error.path == "lines"
    assert f"{MAX_ORDER_LINES:,}" in error.detail and f"{MAX_ORDER_LINES + 1:,}" in error.detail


def test_an_oversized_canonical_order_is_refused_without_reading_a_line() -> None:
    order = {**ORDER, "lines": Untouchable([{}] * 100_000)}
    error = problem(order)
    assert error.path == "lines" and "100,000" in error.detail


def test_a_spec_refuses_an_oversized_list_of_lines_without_mapping_one() -> None:
    payload = json.loads((SHOPIFY / "shopify_python_api_order.json").read_text(encoding="utf-8"))
    order = payload.get("order", payload)
    order["line_items"] = Untouchable([{}] * 100_000)
    with pytest.raises(MappingError) as caught:
        apply_spec(shopify_mapping.spec(), order)
    assert caught.value.path == "lines"
    assert caught.value.source == "line_items"
    assert "100,000" in caught.value.detail


def test_other_lists_of_a_spec_are_not_capped() -> None:
    spec = compile_spec(
        {
            "name": "toy",
            "version": 1,
            "fields": {"tags": {"path": "labels", "items": {"path": "@"}}},
        }
    )
    assert len(apply_spec(spec, {"labels": ["t"] * (MAX_ORDER_LINES + 1)})["tags"]) == 1_001


# --- how many schema errors are described ---------------------------------------------------


def test_describing_a_bad_order_stops_after_a_bounded_number_of_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = [{"quantity": "x"} for _ in range(MAX_ORDER_LINES)]  # 2 errors a line
    real = engine._validator()
    seen = 0

    class Counting:
        def iter_errors(self, doc: Any) -> Iterator[Any]:
            nonlocal seen
            for error in real.iter_errors(doc):
                seen += 1
                yield error

    monkeypatch.setattr(engine, "_validator", Counting)
    error = problem({**ORDER, "lines": lines})
    assert seen <= engine.MAX_DESCRIBED_ERRORS
    assert "more schema errors" in error.detail


def test_a_nul_character_anywhere_is_refused_with_its_path() -> None:
    """PostgreSQL stores no NUL in text or JSONB: refused at mapping (kept as
    invalid_payload), not failed at the INSERT and retried as a processing error."""
    doc = {
        "external_id": "N-1",
        "channel": "web",
        "currency": "USD",
        "cancelled": False,
        "lines": [{"external_line_id": "1", "quantity": 1, "title": "Mug\x00"}],
    }
    with pytest.raises(MappingError) as caught:
        validate_order(doc)
    assert caught.value.path == "lines[0].title"
    doc["lines"][0]["title"] = "Mug"
    validate_order(doc)
