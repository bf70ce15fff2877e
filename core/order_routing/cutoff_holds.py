"""Orders held after a missed cut-off, routed again when the next shipping day begins.

An urgent order whose rules say ``on_cutoff_missed: hold`` waits ``on_hold`` with the hold
code ``cutoff_missed`` and ``hold_until``, the start of the next shipping day of the
warehouses that would ship it (``route.park``). The sweeper calls :func:`route_due_holds`;
each due order is taken back to validated and routed in a transaction of its own, with the
sweeper's ``now``, so it is decided before that day's cut-off. Routed again, it may be held
again (the stock moved to a warehouse that ships later), parked by the no-stock outcome, or
planned; its promise is recorded as for any order. A person may release it sooner through
``orders/holds.release_hold`` (the inbox row replayed).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, select

from omniroute.core.exceptions.opening import resolve_retried_for_order
from omniroute.core.order_routing import route
from omniroute.core.order_routing.route import CUTOFF_HOLD, RoutingContention
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.ports import HasDispatcher

log = logging.getLogger("omniroute.routing")


class Deps(route.Deps, HasDispatcher, Protocol):
    """What routing held orders again uses."""


def _due(now: datetime) -> ColumnElement[bool]:
    return (
        (SalesOrder.status == OrderStatus.ON_HOLD)
        & (SalesOrder.hold_code == CUTOFF_HOLD)
        & (SalesOrder.hold_until <= now)
    )


def route_due_holds(deps: Deps, *, now: datetime) -> int:
    """Route again every order whose cut-off hold has ended; how many were routed."""
    with unit_of_work(deps.sessions) as session:
        due = list(
            session.scalars(
                select(SalesOrder.id)
                .where(_due(now))
                .order_by(SalesOrder.hold_until, SalesOrder.id)
                .limit(deps.settings.sweep_batch)
            )
        )
    routed = 0
    for order_id in due:
        try:
            if route_held(deps, order_id, now=now) is not None:
                routed += 1
        except RoutingContention as exc:
            log.warning("%s; it stays validated for the sweeper", exc)
        except Exception:
            # Rolled back: still held, tried again on the next sweep; one order that cannot
            # route must not hold up the others or the rest of the sweep.
            log.exception("order %s held after a missed cut-off could not be routed", order_id)
    return routed


def route_held(deps: Deps, order_id: int, *, now: datetime) -> list[int] | None:
    """Route one order whose cut-off hold has ended; the outbox rows sent, or None when it
    was no longer held (released, cancelled, or routed meanwhile)."""
    with unit_of_work(deps.sessions) as session:
        order = session.scalars(
            select(SalesOrder)
            .where(SalesOrder.id == order_id, _due(now))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if order is None:
            return None
        order_state.transition(
            session,
            order,
            OrderStatus.VALIDATED,
            "the next shipping day began: routed again after the missed cut-off",
        )
        lines = route.open_lines(session, order)
        if not lines:  # every line is with a warehouse already
            order_state.transition(
                session, order, OrderStatus.ROUTED, "every line has a fulfilment order"
            )
            return []
        sent = route.route_locked(deps, session, order, now, lines=lines)
        session.flush()
        resolve_retried_for_order(session, order.id)
    for outbox_id in sent:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    return sent
