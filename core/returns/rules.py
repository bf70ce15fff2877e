"""The rules of a return (pure): its states, reason codes, what may still be returned, what a
receipt may take, and what the order's status becomes. No I/O, no ORM, no clock."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class ReturnStatus(enum.StrEnum):
    REQUESTED = "requested"  # asked for (by the channel), not yet authorised
    AUTHORISED = "authorised"  # the warehouse is told to expect it
    IN_TRANSIT = "in_transit"  # the parcel is on its way back
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"  # every unit expected came back
    CLOSED = "closed"  # settled by a person: what came back is all that will
    CANCELLED = "cancelled"


R = ReturnStatus
TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    R.REQUESTED: frozenset({R.AUTHORISED, R.CANCELLED}),
    R.AUTHORISED: frozenset({R.IN_TRANSIT, R.PARTIALLY_RECEIVED, R.RECEIVED, R.CANCELLED}),
    R.IN_TRANSIT: frozenset({R.PARTIALLY_RECEIVED, R.RECEIVED, R.CANCELLED}),
    R.PARTIALLY_RECEIVED: frozenset({R.RECEIVED, R.CLOSED}),
    R.RECEIVED: frozenset({R.CLOSED}),
    R.CLOSED: frozenset(),
    R.CANCELLED: frozenset(),
}
#: A receipt may be confirmed in these states.
RECEIVABLE = frozenset({R.AUTHORISED, R.IN_TRANSIT, R.PARTIALLY_RECEIVED})
#: Returns that still hold units of their order lines (counted against what may be returned).
#: A cancelled one holds none; a closed one holds what it received.
OPEN = frozenset({R.REQUESTED, R.AUTHORISED, R.IN_TRANSIT, R.PARTIALLY_RECEIVED, R.RECEIVED})


class ReasonCode(enum.StrEnum):
    """Why the customer sends it back (the documented list; README says what each means)."""

    DAMAGED = "damaged"
    DEFECTIVE = "defective"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    NO_LONGER_NEEDED = "no_longer_needed"
    SIZE_OR_FIT = "size_or_fit"
    ARRIVED_LATE = "arrived_late"
    UNDELIVERABLE = "undeliverable"  # returned to sender by the carrier
    OTHER = "other"


class Disposition(enum.StrEnum):
    RESTOCK = "restock"  # back on the shelf: on hand goes up, with a ledger row
    WRITE_OFF = "write_off"  # recorded on the return only: no sellable stock


class InvalidReturnTransition(ValueError):
    def __init__(self, current: ReturnStatus, target: ReturnStatus) -> None:
        super().__init__(f"a return cannot go from {current} to {target}")
        self.current = current
        self.target = target


def check_transition(current: str, target: str) -> ReturnStatus:
    cur, tgt = ReturnStatus(current), ReturnStatus(target)
    if tgt not in TRANSITIONS[cur]:
        raise InvalidReturnTransition(cur, tgt)
    return tgt


@dataclass(frozen=True)
class LineFacts:
    """An order line as a return sees it: units shipped, units held by other returns."""

    order_line_id: int
    sku: str
    shipped: int
    returned: int  # expected back or received by open returns (cancelled ones not counted)


def returnable(line: LineFacts) -> int:
    return max(line.shipped - line.returned, 0)


def check_return_lines(
    facts: Mapping[int, LineFacts], wanted: Iterable[tuple[int, int]]
) -> list[dict[str, object]]:
    """Problems with the units asked back, ``(order_line_id, quantity)``: each line of the
    order, a positive quantity, at most shipped less already returned (asked twice: summed)."""
    totals: dict[int, int] = {}
    problems: list[dict[str, object]] = []
    for line_id, qty in wanted:
        if qty <= 0:
            problems.append({"order_line_id": line_id, "message": "quantity must be positive"})
        totals[line_id] = totals.get(line_id, 0) + qty
    for line_id, qty in totals.items():
        line = facts.get(line_id)
        if line is None:
            problems.append({"order_line_id": line_id, "message": "not a line of this order"})
        elif qty > returnable(line):
            problems.append(
                {
                    "order_line_id": line_id,
                    "sku": line.sku,
                    "message": f"{qty} asked back, {returnable(line)} may be "
                    f"({line.shipped} shipped, {line.returned} returned or expected already)",
                }
            )
    return problems


@dataclass(frozen=True)
class ExpectedLine:
    return_line_id: int
    sku: str
    quantity: int
    received: int  # restocked + written off so far


@dataclass(frozen=True)
class Taken:
    return_line_id: int
    sku: str
    quantity: int
    disposition: Disposition


def allocate_receipt(
    lines: list[ExpectedLine], received: Iterable[tuple[str, int, Disposition]]
) -> tuple[list[Taken], list[dict[str, object]]]:
    """Spread each received ``(sku, quantity, disposition)`` over the return's lines of that
    SKU still expecting units, in line order; problems for units nobody expects."""
    left_on = {line.return_line_id: line.quantity - line.received for line in lines}
    taken: list[Taken] = []
    problems: list[dict[str, object]] = []
    for sku, qty, disposition in received:
        if qty <= 0:
            problems.append({"sku": sku, "message": "quantity must be positive"})
            continue
        left = qty
        for line in lines:
            room = left_on[line.return_line_id]
            if line.sku != sku or room <= 0 or left == 0:
                continue
            part = min(room, left)
            taken.append(Taken(line.return_line_id, sku, part, disposition))
            left_on[line.return_line_id] -= part
            left -= part
        if left:
            problems.append({"sku": sku, "message": f"{left} more than the return expects"})
    return taken, problems


def status_after_receipt(lines: Iterable[tuple[int, int]]) -> ReturnStatus:
    """``(expected, received)`` per line: received when every unit is back, else partially."""
    return (
        R.RECEIVED if all(received >= expected for expected, received in lines)
        else R.PARTIALLY_RECEIVED
    )  # fmt: skip


def order_return_status(shipped: int, received_back: int) -> str | None:
    """The order's status from its units shipped and units received back by returns:
    ``returned`` when all are back, ``partially_returned`` when some are, else None."""
    if received_back <= 0:
        return None
    return "returned" if received_back >= shipped else "partially_returned"


def rma_number(return_id: int, order_reference: str) -> str:
    """Unique because the id is: ``RMA-<id>-<order ref>``, the reference cut to fit."""
    ref = "".join(ch for ch in order_reference if ch.isalnum())[:20]
    return f"RMA-{return_id:06d}" + (f"-{ref}" if ref else "")
