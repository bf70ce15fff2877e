"""A person fixes an order's shipping address before a warehouse has it.

The new ship-to passes the same checks as an order the channel sends
(core/order_state/ship_to.py), is kept beside the channel's (``fixes``), audited with
before and after, and the order processed again (its open ``bad_address`` exception
retried): validated and routed, or parked again with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from omniroute.core.access.audit import record
from omniroute.core.exceptions.opening import Reason
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.ship_to import check_ship_to
from omniroute.core.orders.fixes.replay import lock_fixable, replay
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Invalid
from omniroute.core.platform.ports import HasClock, HasDispatcher, HasSessions

FIELDS = (
    "name",
    "company",
    "address1",
    "address2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)
MAX_FIELD = 200


class Deps(HasSessions, HasClock, HasDispatcher, Protocol):
    """What fixing an order uses."""


@dataclass(frozen=True)
class AddressFixed:
    order_id: int
    ship_to: dict[str, Any]
    inbound_message_id: int  # the inbox row replayed to validate and route it again


def new_ship_to(
    current: Mapping[str, Any] | None, changes: Mapping[str, str | None]
) -> dict[str, Any]:
    """The ship-to with ``changes`` applied (a field not named keeps its value; an empty one
    is cleared), checked; Invalid with every problem found (pure)."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise Invalid(f"unknown address fields: {', '.join(unknown)}", code="unknown_field")
    ship_to: dict[str, Any] = {k: v for k, v in (current or {}).items() if k in FIELDS}
    for field, value in changes.items():
        text = (value or "").strip()
        if len(text) > MAX_FIELD:
            raise Invalid(f"{field} is longer than {MAX_FIELD} characters", code="too_long")
        ship_to[field] = text or None
    if ship_to.get("country"):
        ship_to["country"] = str(ship_to["country"]).upper()
        if len(ship_to["country"]) != 2 or not ship_to["country"].isalpha():
            raise Invalid("country must be a two-letter ISO code, such as US", code="bad_address")
    problems = check_ship_to(ship_to)
    if problems:
        raise Invalid(
            "; ".join(p.message for p in problems),
            code="bad_address",
            fields=[p.field for p in problems],
        )
    return ship_to


def fix_address(
    deps: Deps, order_id: int, changes: Mapping[str, str | None], *, actor: str, note: str = ""
) -> AddressFixed:
    with unit_of_work(deps.sessions) as session:
        order = lock_fixable(session, order_id, "address")
        before = dict(order.ship_to or {})
        after = new_ship_to(before, changes)
        if _filled(after) == _filled(before):
            raise Invalid("the address is unchanged", code="unchanged")
        fixes = dict(order.fixes or {})
        channel = (fixes.get("ship_to") or {}).get("channel", before)
        fixes["ship_to"] = {"channel": channel, "fixed": after}
        order.fixes = fixes
        order_state.note(session, order, f"shipping address fixed by {actor}")
        replayed = replay(session, order, now=deps.clock.now(), reasons={Reason.BAD_ADDRESS})
        record(
            session,
            actor,
            "order.address_fix",
            "order",
            order.id,
            {"note": note, "inbound_message_id": replayed},
            before={"ship_to": before},
            after={"ship_to": after},
        )
        result = AddressFixed(order.id, after, replayed)
    deps.dispatcher.enqueue(Task.PROCESS_INBOUND, result.inbound_message_id)
    return result


def _filled(ship_to: Mapping[str, Any]) -> dict[str, Any]:
    """The fields with a value: an empty field and a missing one are the same address."""
    return {k: v for k, v in ship_to.items() if k in FIELDS and v not in (None, "")}
