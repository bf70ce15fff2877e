"""What a channel's newer version changes, seen from a warehouse (intake.late_versions)."""

from __future__ import annotations

from typing import Any

from omniroute.core.intake.late_versions import changes_of
from omniroute.core.platform.models import OrderLine, SalesOrder

SHIP_TO = {"name": "Bob Norman", "address1": "Chestnut Street 92", "country": "US"}


def canonical(lines: list[tuple[str, str, int]], **changes: Any) -> dict[str, Any]:
    return {
        "ship_to": dict(SHIP_TO),
        "service_level": "standard",
        "lines": [
            {"external_line_id": ext, "sku": sku, "quantity": qty} for ext, sku, qty in lines
        ],
    } | changes


def order(previous: dict[str, Any]) -> SalesOrder:
    lines = [
        OrderLine(
            id=10 + no,
            line_no=no,
            external_line_id=line["external_line_id"],
            sku=line["sku"],
            quantity=line["quantity"],
        )
        for no, line in enumerate(previous["lines"], start=1)
    ]
    return SalesOrder(id=1, canonical=previous, lines=lines)


BEFORE = canonical([("466157049", "GREEN", 1), ("518995019", "RED", 2)])


def test_the_same_version_changes_nothing() -> None:
    changes = changes_of(
        order(BEFORE), canonical([("466157049", "GREEN", 1), ("518995019", "RED", 2)])
    )
    assert (changes.cancelled, changes.fewer, changes.unsendable) == (False, {}, [])


def test_a_cancel_takes_every_unit_and_ignores_other_edits() -> None:
    changes = changes_of(order(BEFORE), canonical([], cancelled=True, ship_to={"country": "CA"}))
    assert changes.cancelled and changes.fewer == {11: 1, 12: 2}
    assert changes.unsendable == []


def test_removed_lines_and_lower_quantities_are_fewer_units() -> None:
    changes = changes_of(order(BEFORE), canonical([("518995019", "RED", 1)]))
    assert changes.fewer == {11: 1, 12: 1} and changes.unsendable == []


def test_what_no_warehouse_can_be_sent_is_named() -> None:
    edited = canonical(
        [("466157049", "GREEN", 3), ("518995019", "RED", 2), ("703073504", "BLACK", 1)],
        ship_to={**SHIP_TO, "address1": "1 Infinite Loop"},
        service_level="express",
    )
    changes = changes_of(order(BEFORE), edited)
    assert changes.fewer == {}
    assert changes.unsendable == [
        "line 11 (GREEN): quantity raised from 1 to 3",
        "line added: 1 x BLACK",
        "ship-to address changed",
        "service level changed from standard to express",
    ]


def test_lines_without_channel_ids_are_matched_by_position() -> None:
    before = canonical([("", "GREEN", 2)])
    changes = changes_of(order(before), canonical([("", "GREEN", 1)]))
    assert changes.fewer == {11: 1}


def test_a_line_that_needs_no_shipping_is_no_warehouse_change() -> None:
    """A gift card added, or one already on the order, was never a warehouse's to ship."""
    edited = canonical([("466157049", "GREEN", 1), ("518995019", "RED", 2), ("9", "GIFT", 1)])
    edited["lines"][2]["requires_shipping"] = False
    changes = changes_of(order(BEFORE), edited)
    assert (changes.fewer, changes.unsendable) == ({}, [])


def test_the_channel_fulfilling_what_a_warehouse_holds_is_named() -> None:
    held = order(BEFORE)
    held.status = "released"
    fulfilled = canonical(
        [("466157049", "GREEN", 1), ("518995019", "RED", 2)], fulfilled_externally=True
    )
    (change,) = changes_of(held, fulfilled).unsendable
    assert change.startswith("the channel marks it fulfilled while a warehouse holds it")
    # Once omniroute shipped it, the channel saying so is our own push coming back.
    held.status = "shipped"
    assert changes_of(held, fulfilled).unsendable == []
