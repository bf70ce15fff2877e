"""The sweeper: finds work whose nudge was lost or whose worker died, and nudges it again;
and routes the consolidation groups whose hold has ended (core.order_routing.consolidation)
and the orders held after a missed cut-off whose next shipping day has begun
(core.order_routing.cutoff_holds); takes the folders of EDI partners (core.edi.folders)
and of file-based warehouses (core.fulfilment.file_inbox); opens the late-risk
exceptions of orders that will miss their ship-by or deliver-by promise
(core.carriers.late_risk); reads ERPs' item master and stock when due
(core.erp.inbound); and checks the stock alerts of pairs whose stock changed
(core.replenishment.alerts).

A row is re-nudged at most once per ``renudge_interval``: a backlog waiting in the broker
is not a lost nudge, and re-queuing it on every sweep would only multiply duplicate tasks
(the claims keep them harmless, but they cost throughput).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from omniroute.core.carriers.late_risk import open_late_risks
from omniroute.core.edi import intake as edi_intake
from omniroute.core.edi.folders import sweep_inboxes
from omniroute.core.edi.inventory import advise_inventory
from omniroute.core.erp import inbound as erp_inbound
from omniroute.core.erp.inbound import sweep_erp_feeds
from omniroute.core.fulfilment.file_inbox import sweep_folders
from omniroute.core.intake import polling
from omniroute.core.intake.polling import enqueue_due_polls
from omniroute.core.order_routing import consolidation, cutoff_holds
from omniroute.core.order_routing.consolidation import route_due_groups
from omniroute.core.order_routing.cutoff_holds import route_due_holds
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import InboundMessage, OutboxMessage, SalesOrder
from omniroute.core.platform.settings import Settings
from omniroute.core.replenishment.alerts import check_alerts
from omniroute.core.stock import sync
from omniroute.core.stock.sync import sync_stock
from omniroute.core.tracking.events import rematch_parked


class Deps(
    polling.Deps,
    sync.Deps,
    consolidation.Deps,
    cutoff_holds.Deps,
    edi_intake.Deps,
    erp_inbound.Deps,
    Protocol,
):
    """What a sweep uses: every periodic chore's dependencies."""


def find_due_work(
    deps: Deps,
    *,
    now: datetime | None = None,
    queued_inbound: int = 0,
    queue_head: int | None = None,
) -> list[tuple[Task, int]]:
    """Rows due and not being worked on, or whose claim went stale; marks them nudged.

    The delivery mechanism's hints keep a backlog waiting in it from being taken for lost
    nudges (each would be queued twice or more, which only slows the backlog down further):

    - ``queue_head``: the inbox row of the next intake task to be taken from the queue. Fresh
      rows received less than ``sweep_grace`` before it are taken to be waiting behind it, or
      just taken ahead of it (prefetched by a worker), not lost. A lost nudge is still found,
      once the queue has moved that far past its row.
    - ``queued_inbound``, when the head is not known: how many intake tasks are still
      waiting; the newest that many fresh inbox rows are taken to be among them. It
      undercounts when the messages are not all in the queue (prefetched by workers, or
      still being published), so the head is the better hint.

    0 / None: the mechanism can't tell; every fresh row past its grace is due.
    """
    now = now or deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        inbound_due = _due_rows(InboundMessage, now, deps.settings)
        head_received = _received_at(session, queue_head) if queue_head is not None else None
        if head_received is not None:
            grace = timedelta(seconds=deps.settings.sweep_grace)
            inbound_due = and_(
                inbound_due, or_(~_FRESH, InboundMessage.received_at < head_received - grace)
            )
        elif queued_inbound > 0:
            inbound_due = _unless_queued(session, inbound_due, queued_inbound)
        inbound = _take(session, InboundMessage, inbound_due, now, deps.settings)
        orders = _take(
            session, SalesOrder, _unrouted_orders(now, deps.settings), now, deps.settings
        )
        outbox = _take(
            session, OutboxMessage, _due_rows(OutboxMessage, now, deps.settings), now, deps.settings
        )
    return [
        *((Task.PROCESS_INBOUND, i) for i in inbound),
        *((Task.ROUTE_ORDER, i) for i in orders),
        *((Task.DELIVER_OUTBOX, i) for i in outbox),
    ]


def _due_rows(model: Any, now: datetime, s: Settings) -> Any:
    grace_before = now - timedelta(seconds=s.sweep_grace)
    stale_before = now - timedelta(seconds=s.claim_timeout)
    # A fresh row (no attempt yet) was nudged when it was written: wait out the grace period
    # before assuming that nudge was lost. A retry is due as soon as its time comes.
    return model.status.in_(("pending", "processing")) & or_(
        and_(model.status == "pending", model.attempts == 0, model.next_attempt_at <= grace_before),
        and_(model.status == "pending", model.attempts > 0, model.next_attempt_at <= now),
        and_(model.status == "processing", model.claimed_at < stale_before),
    )


# An inbox row that has never been attempted: its only nudge so far is the one at intake.
_FRESH = and_(InboundMessage.status == "pending", InboundMessage.attempts == 0)


def _received_at(session: Session, inbound_id: int) -> datetime | None:
    return session.scalar(select(InboundMessage.received_at).where(InboundMessage.id == inbound_id))


def _unless_queued(session: Session, due: Any, queued: int) -> Any:
    """``due``, except fresh inbox rows among the newest ``queued`` fresh ones."""
    fresh = _FRESH
    boundary = session.scalar(
        select(InboundMessage.id)
        .where(fresh)
        .order_by(InboundMessage.id.desc())
        .offset(queued - 1)
        .limit(1)
    )
    if boundary is None:  # fewer fresh rows than queued tasks: all of them are waiting
        return and_(due, ~fresh)
    return and_(due, or_(~fresh, InboundMessage.id < boundary))


def _unrouted_orders(now: datetime, s: Settings) -> Any:
    # Validated but never routed: the worker died between the two steps, or lost every race.
    grace_before = now - timedelta(seconds=s.sweep_grace)
    return and_(SalesOrder.status == OrderStatus.VALIDATED, SalesOrder.updated_at <= grace_before)


def _take(session: Session, model: Any, due: Any, now: datetime, s: Settings) -> list[int]:
    renudge_before = now - timedelta(seconds=s.renudge_interval)
    not_recently_nudged = or_(model.nudged_at.is_(None), model.nudged_at <= renudge_before)
    ids = list(
        session.scalars(
            select(model.id).where(due, not_recently_nudged).order_by(model.id).limit(s.sweep_batch)
        )
    )
    if ids:
        session.execute(
            update(model)
            .where(model.id.in_(ids))
            .values(nudged_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


def sweep(
    deps: Deps,
    *,
    now: datetime | None = None,
    queued_inbound: int = 0,
    queue_head: int | None = None,
) -> int:
    """Enqueue everything due (hints as in :func:`find_due_work`), route the consolidation
    groups whose window has passed and the orders whose cut-off hold has ended; how many
    tasks were enqueued and groups and orders routed."""
    now = now or deps.clock.now()
    work = find_due_work(deps, now=now, queued_inbound=queued_inbound, queue_head=queue_head)
    for task, row_id in work:
        deps.dispatcher.enqueue(task, row_id)
    polls = enqueue_due_polls(deps, now=now)
    pushes = sync_stock(deps, now=now)
    check_alerts(deps, now=now)  # stock alerts: not work to count, done in its own turn
    rematched = rematch_tracking(deps, now=now)
    edi = sweep_inboxes(deps) + advise_inventory(deps, now=now)  # EDI partners' folders, 846s
    files = sweep_folders(deps)  # file-based warehouses' confirmation files
    groups = route_due_groups(deps, now=now)
    held = route_due_holds(deps, now=now)  # urgent orders held after a missed cut-off
    late = open_late_risks(deps, now=now)  # orders that will miss their promise
    erp = len(sweep_erp_feeds(deps, now=now))  # ERPs' item master and stock, when due
    return len(work) + polls + pushes + groups + held + rematched + edi + files + late + erp


# How far back the sweeper looks for shipments that may have missed carrier events written
# at the same moment (core/tracking/events.rematch_parked): far more than a transaction lasts.
REMATCH_WINDOW = timedelta(minutes=15)


def rematch_tracking(deps: Deps, *, now: datetime) -> int:
    """Give recent shipments the carrier events kept for their number; how many took some."""
    with unit_of_work(deps.sessions) as session:
        return rematch_parked(deps, session, since=now - REMATCH_WINDOW)
