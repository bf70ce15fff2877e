"""Business checks before routing (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from omniroute.core.intake.checks import check_order


def order(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "lines": [{"sku": "A", "channel_sku": "A", "quantity": 2, "requires_shipping": True}],
        "ship_to": {"country": "US", "postal_code": "40202", "address1": "1 Main St"},
    }
    base.update(over)
    return base


def test_a_good_order_has_no_problems() -> None:
    assert check_order(order(), {"A"}) == []


def test_unknown_sku_and_bad_quantity_are_named_by_field() -> None:
    lines = [{"sku": "Z", "channel_sku": "z-1", "quantity": 0}]
    problems = check_order(order(lines=lines), {"A"})
    assert [(p.reason, p.field) for p in problems] == [
        ("bad_quantity", "lines[0].quantity"),
        ("unknown_sku", "lines[0].sku"),
    ]


@pytest.mark.parametrize(
    ("ship_to", "field"),
    [
        (None, "ship_to.country"),
        ({"country": "", "postal_code": "1"}, "ship_to.country"),
        ({"country": "US", "postal_code": ""}, "ship_to.postal_code"),
        ({"country": "US", "postal_code": "ABCDE"}, "ship_to.postal_code"),
        ({"country": "CA", "postal_code": "12345"}, "ship_to.postal_code"),
    ],
)
def test_address_problems(ship_to: dict[str, str] | None, field: str) -> None:
    (problem,) = check_order(order(ship_to=ship_to), {"A"})
    assert (problem.reason, problem.field) == ("bad_address", field)


@pytest.mark.parametrize(
    ("country", "postal"),
    [("US", "40202-1234"), ("CA", "K2P 1L4"), ("GB", "SW1A 1AA"), ("NO", "0150")],
)
def test_valid_postal_codes(country: str, postal: str) -> None:
    ship_to = {"country": country, "postal_code": postal, "address1": "1 High St"}
    assert check_order(order(ship_to=ship_to), {"A"}) == []


@pytest.mark.parametrize("street", [{}, {"address1": "  "}, {"address1": None, "address2": ""}])
def test_an_address_without_a_street_cannot_be_shipped_to(street: dict[str, Any]) -> None:
    """Amazon lists no street without its restricted address call; a WMS needs one."""
    ship_to = {"country": "US", "postal_code": "40202", **street}
    (problem,) = check_order(order(ship_to=ship_to), {"A"})
    assert (problem.reason, problem.field) == ("bad_address", "ship_to.address1")
    second_line = {**ship_to, "address2": "Building 4"}
    assert check_order(order(ship_to=second_line), {"A"}) == []


def test_digital_only_orders_need_no_address() -> None:
    lines = [{"sku": "A", "quantity": 1, "requires_shipping": False}]
    assert check_order(order(lines=lines, ship_to=None), {"A"}) == []


def test_a_line_with_nothing_to_map_is_named_by_its_id_and_title() -> None:
    order = {
        "lines": [{"external_line_id": "L9", "title": "Gift wrap", "quantity": 1}],
        "ship_to": {"country": "US", "postal_code": "10001", "address1": "1 Main St"},
    }
    (problem,) = [p for p in check_order(order, set()) if p.reason == "unknown_sku"]
    assert problem.message == "line 'L9' (Gift wrap) has no SKU, channel SKU or variant id to map"
