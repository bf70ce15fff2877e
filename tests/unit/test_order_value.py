"""The order value a routing rule sees: the channel's total, else what the lines add up to."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from omniroute.routing.conditions import Field, Leaf, Op, OrderFacts, compile_condition
from omniroute.routing.valuation import OrderValue, value_of_order

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def line(quantity: int, price: str | None, **more: Any) -> dict[str, Any]:
    return {"external_line_id": "x", "quantity": quantity, "unit_price": price, **more}


def test_the_channels_total_wins() -> None:
    order = {"total": "409.94", "lines": [line(1, None)]}
    assert value_of_order(order) == OrderValue(Decimal("409.94"), "channel")


def test_without_a_total_the_lines_add_up_less_discounts_plus_shipping_and_tax() -> None:
    order = {
        "total": None,
        "shipping_total": "5.45",
        "tax_total": "1.10",
        "lines": [line(1, "12.50"), line(2, "4.00", discount_total="0.50")],
    }
    assert value_of_order(order) == OrderValue(Decimal("26.55"), "computed")


def test_the_orders_own_discount_and_tax_cover_the_lines() -> None:
    order = {
        "discount_total": "2.00",
        "lines": [line(2, "10.00", discount_total="1.50", tax_total="0.80")],
    }
    # The order's discount (2.00) is every discount, the line's 1.50 included; the tax is the
    # line's, as the order states none.
    assert value_of_order(order) == OrderValue(Decimal("18.80"), "computed")


def test_a_line_without_a_price_leaves_the_value_missing_and_says_which() -> None:
    order = {"lines": [line(1, "12.50"), line(1, None)]}
    assert value_of_order(order) == OrderValue(
        None, "missing", "no total, and line 2 has no unit price"
    )


@pytest.mark.parametrize(
    "order",
    [{"total": "abc", "lines": [line(1, "x")]}, {"lines": []}, {"lines": [{"quantity": "2"}]}],
)
def test_nothing_to_go_on_is_missing(order: dict[str, Any]) -> None:
    assert value_of_order(order).value is None
    assert value_of_order(order).source == "missing"


FACTS = OrderFacts(
    channel="generic_webhook",
    connector_id=1,
    order_type="normal",
    country="US",
    region=None,
    postal_code=None,
    skus=("MUG",),
    sku_tags=frozenset(),
    line_count=1,
    order_value=Decimal("25.45"),
    currency="USD",
    service_level="standard",
    customer_tags=frozenset(),
    order_tags=frozenset(),
)
BIG = Leaf(field=Field.ORDER_VALUE, op=Op.GTE, value=Decimal("25"))


@pytest.mark.parametrize(
    ("changes", "matches", "why"),
    [
        ({}, True, "order_value gte 25 (was 25.45 USD)"),
        (
            {"order_value_source": "computed"},
            True,
            "order_value gte 25 (was 25.45 USD, computed from the lines)",
        ),
        (
            {"order_value": None, "order_value_note": "no total, and line 2 has no unit price"},
            False,
            "order_value gte 25 (was missing: no total, and line 2 has no unit price)",
        ),
        ({"order_value": None}, False, "order_value gte 25 (was missing)"),
    ],
)
def test_the_rules_explanation_says_where_the_value_came_from(
    changes: dict[str, Any], matches: bool, why: str
) -> None:
    facts = dataclasses.replace(FACTS, **changes)
    assert BIG.matches(facts, NOW) is matches
    assert BIG.explain(facts, NOW) == why
    assert compile_condition(BIG).judge(facts, NOW) == (matches, why)
