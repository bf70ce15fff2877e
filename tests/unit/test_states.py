"""The order state machine (pure)."""

from __future__ import annotations

import pytest

from omniroute.core.order_state.machine import (
    TRANSITIONS,
    InvalidTransition,
    OrderStatus,
    can_transition,
    check_transition,
)

S = OrderStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.RECEIVED, S.VALIDATED),
        (S.VALIDATED, S.ROUTED),
        (S.ROUTED, S.RELEASED),
        (S.RELEASED, S.PARTIALLY_SHIPPED),
        (S.PARTIALLY_SHIPPED, S.SHIPPED),
        (S.SHIPPED, S.DELIVERED),
        (S.RECEIVED, S.EXCEPTION),
        (S.VALIDATED, S.BACKORDERED),
        (S.EXCEPTION, S.RECEIVED),
        (S.EXCEPTION, S.VALIDATED),
        (S.EXCEPTION, S.ROUTED),
        (S.VALIDATED, S.CANCELLED),
        (S.ON_HOLD, S.VALIDATED),
        # re-routes: new fulfilment orders not yet accepted, or no warehouse for the lines
        (S.RELEASED, S.ROUTED),
        (S.ROUTED, S.BACKORDERED),
        (S.ROUTED, S.ON_HOLD),
        (S.RELEASED, S.BACKORDERED),
        (S.PARTIALLY_SHIPPED, S.BACKORDERED),
        (S.PARTIALLY_SHIPPED, S.ON_HOLD),
        # the warehouse confirmed a cancel of everything left to ship
        (S.RELEASED, S.CANCELLED),
        (S.PARTIALLY_SHIPPED, S.CANCELLED),
        # a cancel dropped what waited for stock, or withdrew what was still in the outbox
        (S.BACKORDERED, S.RELEASED),
        (S.BACKORDERED, S.ROUTED),
        (S.BACKORDERED, S.PARTIALLY_SHIPPED),
        (S.BACKORDERED, S.SHIPPED),
        (S.ROUTED, S.PARTIALLY_SHIPPED),
        (S.ROUTED, S.SHIPPED),
    ],
)
def test_allowed_moves(current: OrderStatus, target: OrderStatus) -> None:
    assert check_transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.RECEIVED, S.ROUTED),  # routing needs a validated order
        (S.RECEIVED, S.RELEASED),
        (S.VALIDATED, S.RELEASED),  # no release without a routing decision
        (S.SHIPPED, S.CANCELLED),  # everything left: a return, not a cancel
        (S.SHIPPED, S.EXCEPTION),
        (S.DELIVERED, S.RECEIVED),
        (S.CANCELLED, S.RECEIVED),
        (S.ROUTED, S.VALIDATED),
        (S.PARTIALLY_SHIPPED, S.ROUTED),  # a re-route leaves a partly shipped order so
        (S.SHIPPED, S.ROUTED),
    ],
)
def test_refused_moves(current: OrderStatus, target: OrderStatus) -> None:
    assert not can_transition(current, target)
    with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
        check_transition(current, target)


def test_terminal_states_and_reachability() -> None:
    # Delivered is terminal but for units coming back (core/returns).
    assert TRANSITIONS[S.DELIVERED] == {S.PARTIALLY_RETURNED, S.RETURNED}
    assert TRANSITIONS[S.RETURNED] == frozenset()
    assert TRANSITIONS[S.CANCELLED] == frozenset()
    assert set(TRANSITIONS) == set(OrderStatus)
    reached = {S.RECEIVED}
    frontier = [S.RECEIVED]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(OrderStatus)


def test_unknown_status_is_an_error() -> None:
    with pytest.raises(ValueError):
        check_transition("received", "teleported")
