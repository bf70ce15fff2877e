"""The order state machine: which transitions are allowed (pure)."""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    RECEIVED = "received"
    VALIDATED = "validated"
    ROUTED = "routed"
    RELEASED = "released"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    # Units came back through a return (core/returns): some, or every unit shipped.
    PARTIALLY_RETURNED = "partially_returned"
    RETURNED = "returned"
    ON_HOLD = "on_hold"
    BACKORDERED = "backordered"
    EXCEPTION = "exception"
    CANCELLED = "cancelled"


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # Straight to shipped: the channel fulfilled it itself (FBA, a POS sale); never routed.
    S.RECEIVED: frozenset({S.VALIDATED, S.EXCEPTION, S.ON_HOLD, S.CANCELLED, S.SHIPPED}),
    S.VALIDATED: frozenset(
        {S.RECEIVED, S.ROUTED, S.BACKORDERED, S.EXCEPTION, S.ON_HOLD, S.CANCELLED}
    ),
    # A re-route (a WMS rejected a fulfilment order, or ops re-ran routing) that finds no
    # warehouse for the lines parks the order by the no-stock policy, from any of these;
    # one that finds new warehouses takes a released order back to routed until they accept.
    # Released or partly shipped, it is cancelled once its warehouses confirmed a cancel of
    # everything left to ship (core/fulfilment/wms_cancel.py).
    S.ROUTED: frozenset(
        {
            S.RELEASED,
            S.EXCEPTION,
            S.CANCELLED,
            S.BACKORDERED,
            S.ON_HOLD,
            S.PARTIALLY_SHIPPED,
            S.SHIPPED,
        }
    ),
    S.RELEASED: frozenset(
        {
            S.PARTIALLY_SHIPPED,
            S.SHIPPED,
            S.EXCEPTION,
            S.ROUTED,
            S.BACKORDERED,
            S.ON_HOLD,
            S.CANCELLED,
        }
    ),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED, S.EXCEPTION, S.BACKORDERED, S.ON_HOLD, S.CANCELLED}),
    # A warehouse's receipt of returned units (core/returns/receipts.py) moves a shipped or
    # delivered order on; an order still shipping keeps its status and only notes it.
    S.SHIPPED: frozenset({S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED}),
    S.DELIVERED: frozenset({S.PARTIALLY_RETURNED, S.RETURNED}),
    S.PARTIALLY_RETURNED: frozenset({S.RETURNED}),
    S.RETURNED: frozenset(),
    S.ON_HOLD: frozenset({S.RECEIVED, S.VALIDATED, S.CANCELLED}),
    # Backordered with part of it with warehouses already (a partial release), a cancel of
    # what still waits leaves it as far as its fulfilment orders are
    # (core/orders/after_release.py); so does a cancel that withdraws a routed order's
    # fulfilment orders not yet handed over while a warehouse shipped the others.
    S.BACKORDERED: frozenset(
        {
            S.RECEIVED,
            S.VALIDATED,
            S.EXCEPTION,
            S.CANCELLED,
            S.ROUTED,
            S.RELEASED,
            S.PARTIALLY_SHIPPED,
            S.SHIPPED,
        }
    ),
    # An exception is resolved by retrying: back to the start, or on to validated once the
    # order itself is fine (a routing or hand-off problem).
    S.EXCEPTION: frozenset({S.RECEIVED, S.VALIDATED, S.ROUTED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}


# Statuses in which some of an order's lines may be with warehouses while the rest waits to
# be routed: released in part while backordered (partial release), or a re-route parked the
# rest. Releasing or shipping those lines only notes it; the order moves on along the usual
# path (validated -> routed -> released -> shipped) once the rest is routed.
AWAITING_REST: frozenset[OrderStatus] = frozenset({S.VALIDATED, S.BACKORDERED, S.ON_HOLD})


class InvalidTransition(ValueError):
    def __init__(self, current: OrderStatus, target: OrderStatus) -> None:
        super().__init__(f"an order cannot go from {current} to {target}")
        self.current = current
        self.target = target


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: str, target: str) -> OrderStatus:
    """The target status, if the machine allows the move; else InvalidTransition."""
    cur, tgt = OrderStatus(current), OrderStatus(target)
    if not can_transition(cur, tgt):
        raise InvalidTransition(cur, tgt)
    return tgt
