"""The pure rules of a return: states, quantities, receipt allocation, the order's status."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omniroute.core.order_state.machine import OrderStatus, can_transition
from omniroute.core.returns import rules
from omniroute.core.returns.rules import (
    Disposition,
    ExpectedLine,
    InvalidReturnTransition,
    LineFacts,
    ReturnStatus,
)

R = ReturnStatus
S = OrderStatus


def test_states_move_forward_only_and_end_closed_or_cancelled() -> None:
    assert rules.check_transition("requested", "authorised") == R.AUTHORISED
    for path in (
        ["requested", "authorised", "in_transit", "partially_received", "received", "closed"],
        ["authorised", "received", "closed"],
        ["authorised", "partially_received", "closed"],
        ["in_transit", "cancelled"],
    ):
        for here, there in pairwise(path):
            rules.check_transition(here, there)
    for here, there in (
        ("received", "authorised"),
        ("partially_received", "cancelled"),  # units came back: close it, not cancel
        ("cancelled", "authorised"),
        ("closed", "received"),
        ("requested", "received"),  # a receipt needs an authorised return
    ):
        with pytest.raises(InvalidReturnTransition):
            rules.check_transition(here, there)
    assert not rules.TRANSITIONS[R.CLOSED] and not rules.TRANSITIONS[R.CANCELLED]
    assert {R.AUTHORISED, R.IN_TRANSIT, R.PARTIALLY_RECEIVED} == rules.RECEIVABLE


def test_the_order_machine_takes_returns_after_shipping_only() -> None:
    assert can_transition(S.SHIPPED, S.PARTIALLY_RETURNED)
    assert can_transition(S.DELIVERED, S.RETURNED)
    assert can_transition(S.PARTIALLY_RETURNED, S.RETURNED)
    assert not can_transition(S.RETURNED, S.PARTIALLY_RETURNED)
    assert not can_transition(S.PARTIALLY_SHIPPED, S.PARTIALLY_RETURNED)
    assert not can_transition(S.PARTIALLY_RETURNED, S.DELIVERED)


def facts() -> dict[int, LineFacts]:
    return {1: LineFacts(1, "RED", shipped=3, returned=1), 2: LineFacts(2, "BLUE", 0, 0)}


def test_at_most_shipped_less_returned_per_line_summed_over_the_request() -> None:
    assert rules.check_return_lines(facts(), [(1, 2)]) == []
    (over,) = rules.check_return_lines(facts(), [(1, 1), (1, 2)])
    assert over["order_line_id"] == 1 and "3 asked back, 2 may be" in str(over["message"])
    (unshipped,) = rules.check_return_lines(facts(), [(2, 1)])
    assert "0 may be" in str(unshipped["message"])
    (foreign,) = rules.check_return_lines(facts(), [(9, 1)])
    assert foreign["message"] == "not a line of this order"
    assert rules.check_return_lines(facts(), [(1, 0)])[0]["message"] == "quantity must be positive"


def test_a_receipt_fills_the_lines_of_its_sku_in_order() -> None:
    lines = [
        ExpectedLine(10, "RED", 2, 1),
        ExpectedLine(11, "RED", 2, 0),
        ExpectedLine(12, "X", 1, 0),
    ]
    taken, problems = rules.allocate_receipt(
        lines, [("RED", 2, Disposition.RESTOCK), ("X", 1, Disposition.WRITE_OFF)]
    )
    assert problems == []
    assert [(t.return_line_id, t.quantity, t.disposition) for t in taken] == [
        (10, 1, Disposition.RESTOCK),
        (11, 1, Disposition.RESTOCK),
        (12, 1, Disposition.WRITE_OFF),
    ]
    _, problems = rules.allocate_receipt(lines, [("RED", 4, Disposition.RESTOCK)])
    assert problems == [{"sku": "RED", "message": "1 more than the return expects"}]
    _, problems = rules.allocate_receipt(lines, [("NOPE", 1, Disposition.RESTOCK)])
    assert problems == [{"sku": "NOPE", "message": "1 more than the return expects"}]


@given(
    expected=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    received=st.lists(st.integers(1, 6), max_size=5),
)
def test_a_receipt_never_takes_more_than_a_line_expects(
    expected: list[int], received: list[int]
) -> None:
    lines = [ExpectedLine(i, "S", q, 0) for i, q in enumerate(expected)]
    taken, problems = rules.allocate_receipt(
        lines, [("S", q, Disposition.RESTOCK) for q in received]
    )
    per_line: dict[int, int] = {}
    for t in taken:
        per_line[t.return_line_id] = per_line.get(t.return_line_id, 0) + t.quantity
    assert all(per_line.get(i, 0) <= q for i, q in enumerate(expected))
    over = max(sum(received) - sum(expected), 0)
    assert sum(per_line.values()) == sum(received) - over
    assert bool(problems) == (over > 0)


def test_return_and_order_status_from_units() -> None:
    assert rules.status_after_receipt([(2, 2), (1, 1)]) == R.RECEIVED
    assert rules.status_after_receipt([(2, 1), (1, 1)]) == R.PARTIALLY_RECEIVED
    assert rules.order_return_status(shipped=3, received_back=0) is None
    assert rules.order_return_status(shipped=3, received_back=2) == "partially_returned"
    assert rules.order_return_status(shipped=3, received_back=3) == "returned"


def test_rma_numbers_are_the_id_and_a_readable_order_reference() -> None:
    assert rules.rma_number(42, "#1001") == "RMA-000042-1001"
    assert rules.rma_number(7, "") == "RMA-000007"
    assert len(rules.rma_number(10**9, "x" * 200)) <= 40
