"""Outbox relay: hand a fulfilment order to its warehouse system, exactly once in effect.

Each claimed row goes by its kind: a WMS release is sent here, a WMS cancel by
``fulfilment.wms_cancel``, a return notice by ``returns.wms_notice``, a message to a channel
by ``channels.push``.

The remote call happens outside any transaction (no lock is held while calling out); the
idempotency key stored on the row is sent on every attempt, so a retry after a lost answer
cannot create a second order in the WMS.

One retry budget: the row's attempts. The adapter sends a release at most once per attempt
(the REST WMS tries again within the call only when no connection could be made), so a WMS
sees one release at most ``OMNIROUTE_OUTBOX_MAX_ATTEMPTS`` times before it is a dead letter
(and as often again per redrive), however it fails: answering 503, or answering after the
timeout.

Health: each outcome counts in the WMS connector's health (``core.channels.health``) in the
transaction that records it, as a channel push's does. An acceptance resets the count; a
transient failure, and a permanent one about the connector (a refused credential, a wrong
path, a redirect), add one. A refusal of the order (``ORDER_REFUSALS``) does neither: the
WMS answered and understood, and its verdict was about that order, not about the connector.

Unlike a channel, a WMS connector is not disabled after
``OMNIROUTE_CONNECTOR_DISABLE_AFTER_FAILURES`` failures in a row; the count keeps climbing
on the health view instead. Disabling would not send orders elsewhere: routing looks at
the warehouse, not at its WMS connector. It would only turn the releases still being
retried, and every new one for that warehouse, into ``no_wms`` dead letters at once, so
that a WMS down for a few minutes leaves an exception per order, each to be redriven by
hand after someone re-enables the connector, where the outbox would have delivered them
when the WMS came back. And what disabling spares a channel (polls and pushes against a
revoked token without end) the budget already bounds here. Ops who want releases to stop
disable the warehouse (routing then skips it) or the connector (accepting ``no_wms``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, exists, func, insert, select, true, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, aliased

from omniroute.connectors.base import (
    Capability,
    ConnectorError,
    PermanentError,
    ReleaseLine,
    ReleaseOrder,
    ReleaseRequest,
    TransientError,
    WarehouseAdapter,
)
from omniroute.core.carriers import booking as carrier_booking
from omniroute.core.channels import health as connector_health
from omniroute.core.channels import push
from omniroute.core.channels.push import deliver_claimed as deliver_to_channel
from omniroute.core.erp import delivery as erp_delivery
from omniroute.core.erp.delivery import deliver_claimed as deliver_to_erp
from omniroute.core.erp.posting import ERP_CONNECTOR_KINDS, queue_sales_orders
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.fulfilment import wms_cancel
from omniroute.core.fulfilment.wms_cancel import deliver_cancel
from omniroute.core.order_routing import reroute
from omniroute.core.order_routing.reroute import REJECTIONS, Unplaceable, reroute_fulfilment
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import member_orders_of
from omniroute.core.order_state.machine import AWAITING_REST, OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import (
    CARRIER_BOOKING,
    ERP_KINDS,
    WMS_CANCEL,
    WMS_RELEASE,
    WMS_RETURN,
)
from omniroute.core.platform.claims import relax_durability
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import DomainError
from omniroute.core.platform.metrics import OUTBOX_DELIVERIES
from omniroute.core.platform.models import (
    Connector,
    ConnectorHealth,
    FulfilmentLine,
    FulfilmentOrder,
    OrderEvent,
    OrderLine,
    OutboxMessage,
    SalesOrder,
    Warehouse,
)
from omniroute.core.platform.sql import table_of
from omniroute.core.platform.telemetry.logs import bind, log_context
from omniroute.core.returns.wms_notice import deliver_return_notice

log = logging.getLogger("omniroute.outbox")

#: Permanent answers about the order, not the connector: they leave its health alone.
ORDER_REFUSALS = REJECTIONS | {"http_409"}  # 409: the key is held for another order


class Deps(
    reroute.Deps, push.Deps, wms_cancel.Deps, carrier_booking.Deps, erp_delivery.Deps, Protocol
):
    """What the outbox relay uses: the connectors, and re-routing for a warehouse's refusal."""


@dataclass(frozen=True)
class Job:
    outbox_id: int
    adapter: Any
    request: ReleaseRequest
    attempts: int
    connector_id: int
    # The WMS connector's health as read with the release: recording the outcome needs no
    # read of its own (``connector_health.note_success``).
    health: connector_health.Seen
    # The orders with lines here, when they are not just the fulfilment order's own.
    members: tuple[int, ...] | None = None
    # Whether a carrier connector is enabled (its booking is queued once the WMS accepts).
    any_carrier: bool = False
    # An ERP connector was enabled when the release was read: the order's sales order is
    # written with the acceptance (read in the same joined read, so no ERP costs nothing).
    erp: bool = False


def deliver_outbox(
    deps: Deps,
    outbox_id: int,
    *,
    now: datetime | None = None,
    claimed: bool = False,
    prepared: Job | None = None,
) -> str:
    """Deliver one outbox row; returns what happened (sent, retry, dead, skipped).

    ``claimed``: the transaction that wrote the row claimed it for this process (see
    ``create_fulfilment``), so it is not claimed again here. ``prepared``: that transaction
    also read the release (``prepare_release``), so it is not read again either.
    """
    with log_context(outbox_id=outbox_id):
        return _deliver_outbox(deps, outbox_id, now=now, claimed=claimed, prepared=prepared)


def _deliver_outbox(
    deps: Deps, outbox_id: int, *, now: datetime | None, claimed: bool, prepared: Job | None
) -> str:
    now = now or deps.clock.now()
    if prepared is not None:
        if not claimed or prepared.outbox_id != outbox_id:
            raise ValueError("a prepared release is for the row its transaction claimed")
        job: Job | str = prepared
    else:
        with unit_of_work(deps.sessions) as session:
            if not claimed:
                relax_durability(session)  # a lost claim only means the row is done again
                if not outbox.claim(
                    session, outbox_id, now=now, claim_timeout=deps.settings.claim_timeout
                ):
                    return "skipped"
            try:
                job = _prepare(deps, session, outbox_id)
            except PermanentError as exc:
                _dead(session, session.get_one(OutboxMessage, outbox_id), exc, Reason.NO_WMS)
                return "dead"
    if isinstance(job, Job):
        bind(correlation_id=job.request.correlation_id, order_id=job.request.order_id)
    if not isinstance(job, Job):  # a WMS cancel or return notice, a carrier, an ERP, a channel
        return _deliver_other(deps, job, outbox_id, now)
    try:
        receipt = job.adapter.release(job.request)
    except TransientError as exc:
        return _after_transient(deps, job, exc)
    except ConnectorError as exc:
        return _rejected(deps, job, exc)
    _accepted(deps, job, receipt.external_ref)
    OUTBOX_DELIVERIES.labels(WMS_RELEASE, "sent").inc()
    log.debug("outbox %s: fulfilment order %s released", outbox_id, job.request.fulfilment_order_id)
    return "sent"


def _accepted(deps: Deps, job: Job, external_ref: str | None) -> None:
    with unit_of_work(deps.sessions) as session:
        # Lost in a database crash, the row is claimed again once stale and sent again with
        # the same idempotency key, which the warehouse system answers as before: its commit
        # need not wait for the disk (``relax_durability``, said by the order lock's read).
        queued = _sent(session, job, external_ref)
        # Last in the transaction, as every write of the health row is (see _count_failure).
        connector_health.note_success(session, job.connector_id, job.health, now=now_of(session))
    _nudge(deps, queued)


class _Deliver(Protocol):
    def __call__(self, deps: Deps, outbox_id: int, *, now: datetime) -> str: ...


_OTHER_KINDS: dict[str, _Deliver] = {
    WMS_CANCEL: deliver_cancel,
    CARRIER_BOOKING: carrier_booking.deliver_booking,
    WMS_RETURN: deliver_return_notice,
}


def _nudge(deps: Deps, outbox_ids: list[int]) -> None:
    for outbox_id in outbox_ids:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)


def _deliver_other(deps: Deps, kind: str, outbox_id: int, now: datetime) -> str:
    """A row that is not a WMS release, handed to the relay of its kind."""
    relay = _OTHER_KINDS.get(kind)
    if relay is not None:
        return relay(deps, outbox_id, now=now)
    if kind in ERP_KINDS:
        return deliver_to_erp(deps, outbox_id, now=now)
    return deliver_to_channel(deps, outbox_id, now=now)


def _rejected(deps: Deps, job: Job, exc: ConnectorError) -> str:
    """A permanent refusal: re-route the lines elsewhere, else dead-letter the release."""
    tried: dict[str, Any] | None = None
    if deps.settings.reroute_on_rejection and exc.reason in REJECTIONS:
        outcome = _reroute(deps, job, exc)
        if isinstance(outcome, str):
            return outcome
        tried = outcome
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, job.outbox_id)
        _dead(session, msg, exc, Reason.WMS_REJECTED, reroute=tried)
        if exc.reason not in ORDER_REFUSALS:
            _count_failure(deps, session, job, exc)
    return "dead"


def _reroute(deps: Deps, job: Job, exc: ConnectorError) -> str | dict[str, Any]:
    """Send the rejected lines elsewhere: what happened, or why they could not go (that
    stays in the dead letter, which can be redriven once the warehouse is fixed)."""
    try:
        result = reroute_fulfilment(
            deps,
            job.request.fulfilment_order_id,
            reason="rejected",
            actor="wms",
            detail=f"{exc.reason}: {exc}",
            outbox_id=job.outbox_id,
            park_unplaced=False,
        )
    except Unplaceable as why:
        return {"summary": why.summary, "shortfall": why.shortfall}
    except DomainError as why:
        return {"summary": str(why), "code": why.code}
    OUTBOX_DELIVERIES.labels(WMS_RELEASE, "rerouted").inc()
    return "rerouted" if result.fulfilment_orders else "parked"


def prepare_release(deps: Deps, session: Session, outbox_id: int) -> Job | None:
    """The WMS release of a row written in ``session``'s transaction, read there for the
    process that sends it after the commit; None when that process should read it itself
    (not a WMS release, or one that cannot be sent: the delivery records why)."""
    try:
        job = _prepare(deps, session, outbox_id)
    except PermanentError:
        return None
    return job if isinstance(job, Job) else None


def _prepare(deps: Deps, session: Session, outbox_id: int) -> Job | str:
    """The WMS release this row asks for; the row's kind if it asks for something else."""
    # One joined read of the columns needed, a row per line (no ORM objects, no lazy loads).
    rows = session.execute(_RELEASE_READ, {"outbox_id": outbox_id}).all()
    if not rows:
        raise NoResultFound(f"outbox message {outbox_id} does not exist")
    row = rows[0]
    if row.kind != WMS_RELEASE:
        return str(row.kind)
    if row.connector_id is None or not row.connector_enabled:
        raise PermanentError(
            f"warehouse {row.warehouse_code} has no enabled WMS connector", reason=Reason.NO_WMS
        )
    adapter = deps.connectors.for_stored(
        row.connector_id,
        row.connector_kind,
        row.connector_updated_at,
        row.config,
        row.secrets_encrypted,
    )
    if Capability.FULFILMENT_RELEASE not in adapter.capabilities or not isinstance(
        adapter, WarehouseAdapter
    ):
        raise PermanentError(
            f"connector {row.connector_name} cannot release fulfilment orders",
            reason=Reason.NO_WMS,
        )
    merged = row.fo_consolidation_id is not None
    notes = _order_notes(rows)
    own = notes.get(row.order_id)
    request = ReleaseRequest(
        fulfilment_order_id=row.fo_id,
        order_id=row.order_id,
        order_reference=row.external_number or row.external_id,
        warehouse_code=row.warehouse_code,
        ship_to=row.ship_to or {},
        lines=tuple(_release_line(r, merged=merged) for r in rows if r.line_pk is not None),
        idempotency_key=row.idempotency_key,
        service_level=row.service_level,
        note=own.note if own else None,
        gift_message=own.gift_message if own else None,
        attributes=own.attributes if own else (),
        orders=tuple(notes.values()) if merged else (),
        correlation_id=row.correlation_id,
    )
    return Job(
        outbox_id=outbox_id,
        adapter=adapter,
        request=request,
        attempts=row.attempts,
        connector_id=row.connector_id,
        health=connector_health.Seen(
            row=row.health_row is not None,
            consecutive_failures=row.health_failures or 0,
            last_success_at=row.health_success_at,
        ),
        members=_members(rows),
        any_carrier=bool(row.any_carrier),
        erp=bool(row.erp_enabled),
    )


def _release_line(r: Any, *, merged: bool) -> ReleaseLine:
    line = ReleaseLine(
        line_id=r.order_line_id,
        sku=r.line_sku,
        quantity=r.line_quantity,
        properties=tuple(r.line_properties or ()),
        gift_message=r.line_gift_message,
    )
    if not merged:
        return line
    return replace(
        line,
        order_id=r.line_order_id,
        order_reference=r.line_order_number or r.line_order_external_id,
    )


def _order_notes(rows: Sequence[Any]) -> dict[int, ReleaseOrder]:
    """The note, gift message and attributes of each order with lines here, by order id
    (read with the lines, in the one joined read)."""
    notes: dict[int, ReleaseOrder] = {}
    for r in rows:
        if r.line_order_id is None or r.line_order_id in notes:
            continue
        notes[r.line_order_id] = ReleaseOrder(
            order_id=r.line_order_id,
            order_reference=r.line_order_number or r.line_order_external_id,
            note=r.line_order_note,
            gift_message=r.line_order_gift_message,
            attributes=tuple(r.line_order_attributes or ()),
        )
    return notes


def _members(rows: Sequence[Any]) -> tuple[int, ...] | None:
    """The orders whose release state depends on this fulfilment order through their lines,
    when that is not simply its own order (consolidation); None for a plain order."""
    row = rows[0]
    if row.fo_consolidation_id is None and row.order_consolidation_id is None:
        return None
    return tuple(sorted({r.line_order_id for r in rows if r.line_order_id is not None}))


_LINE_ORDER = aliased(SalesOrder, name="line_order")
# Whether any carrier / ERP connector is enabled: read with the release, so that a release
# costs no statement more for carrier booking or ERP posting where none is configured.
_CARRIER = aliased(Connector)
_ANY_CARRIER = (
    exists()
    .where(_CARRIER.kind.in_(carrier_booking.CARRIER_KINDS), _CARRIER.enabled.is_(True))
    .correlate_except(_CARRIER)
)
_ERP = aliased(Connector, name="erp_connector")
_ERP_ENABLED = (
    select(_ERP.id)
    .where(_ERP.kind.in_(ERP_CONNECTOR_KINDS), _ERP.enabled.is_(True))
    .exists()
    .label("erp_enabled")
)
_RELEASE_READ = (
    select(
        OutboxMessage.kind,
        OutboxMessage.idempotency_key,
        OutboxMessage.attempts,
        OutboxMessage.correlation_id,
        FulfilmentOrder.id.label("fo_id"),
        SalesOrder.id.label("order_id"),
        SalesOrder.external_number,
        SalesOrder.external_id,
        SalesOrder.ship_to,
        SalesOrder.service_level,
        Warehouse.code.label("warehouse_code"),
        Connector.id.label("connector_id"),
        Connector.name.label("connector_name"),
        Connector.kind.label("connector_kind"),
        Connector.enabled.label("connector_enabled"),
        Connector.updated_at.label("connector_updated_at"),
        Connector.config,
        Connector.secrets_encrypted,
        ConnectorHealth.connector_id.label("health_row"),
        ConnectorHealth.consecutive_failures.label("health_failures"),
        ConnectorHealth.last_success_at.label("health_success_at"),
        FulfilmentLine.id.label("line_pk"),
        FulfilmentLine.order_line_id,
        FulfilmentLine.sku.label("line_sku"),
        FulfilmentLine.quantity.label("line_quantity"),
        FulfilmentOrder.consolidation_id.label("fo_consolidation_id"),
        SalesOrder.consolidation_id.label("order_consolidation_id"),
        _LINE_ORDER.id.label("line_order_id"),
        _LINE_ORDER.external_number.label("line_order_number"),
        _LINE_ORDER.external_id.label("line_order_external_id"),
        OrderLine.properties.label("line_properties"),
        OrderLine.gift_message.label("line_gift_message"),
        _LINE_ORDER.note.label("line_order_note"),
        _LINE_ORDER.gift_message.label("line_order_gift_message"),
        _LINE_ORDER.attributes.label("line_order_attributes"),
        _ANY_CARRIER.label("any_carrier"),
        _ERP_ENABLED,
    )
    .outerjoin(FulfilmentOrder, FulfilmentOrder.id == OutboxMessage.fulfilment_order_id)
    .outerjoin(SalesOrder, SalesOrder.id == FulfilmentOrder.order_id)
    .outerjoin(Warehouse, Warehouse.id == FulfilmentOrder.warehouse_id)
    .outerjoin(Connector, Connector.id == OutboxMessage.connector_id)
    .outerjoin(ConnectorHealth, ConnectorHealth.connector_id == OutboxMessage.connector_id)
    .outerjoin(FulfilmentLine, FulfilmentLine.fulfilment_order_id == FulfilmentOrder.id)
    .outerjoin(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
    .outerjoin(_LINE_ORDER, _LINE_ORDER.id == OrderLine.order_id)
    .where(OutboxMessage.id == bindparam("outbox_id"))
    .order_by(FulfilmentLine.id)
)


_FO = table_of(FulfilmentOrder).c
_ORDER = table_of(SalesOrder).c
_LOCK_ORDER = select(_ORDER.status).where(_ORDER.id == bindparam("order_id")).with_for_update()
# The same read, relaxing the transaction's durability as ``relax_durability`` does (SET
# LOCAL synchronous_commit), in its round trip: PostgreSQL only.
_LOCK_ORDER_RELAXED = (
    select(_ORDER.status, func.set_config("synchronous_commit", "off", true()))
    .where(_ORDER.id == bindparam("order_id"))
    .with_for_update()
)
_INSERT_EVENT = insert(table_of(OrderEvent))
# Only a fulfilment order still waiting for its warehouse's answer becomes released: one
# the warehouse shipped from before the answer came (it took the order, the answer was lost,
# a retry got it again) stays as its shipments left it, and only learns its reference.
_RELEASE_FO = (
    update(table_of(FulfilmentOrder))
    .where(_FO.id == bindparam("fo_id"), _FO.status.in_(("pending", "failed")))
    .values(status="released", released_at=bindparam("now"), external_ref=bindparam("ref"))
)
_NOTE_REF = (
    update(table_of(FulfilmentOrder))
    .where(_FO.id == bindparam("fo_id"), _FO.external_ref.is_(None))
    .values(released_at=bindparam("now"), external_ref=bindparam("ref"))
)
# Rejected or withdrawn fulfilment orders do not hold the order back.
_ALL_RELEASED = ~exists().where(_FO.order_id == _ORDER.id, _FO.status.in_(("pending", "failed")))
# The same for an order in a consolidation group, whose lines may be on fulfilment orders
# that name another member.
_ALL_LINES_RELEASED = ~exists(
    select(_FO.id)
    .join(FulfilmentLine, FulfilmentLine.fulfilment_order_id == _FO.id)
    .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
    .where(OrderLine.order_id == _ORDER.id, _FO.status.in_(("pending", "failed")))
)


def _sent(session: Session, job: Job, external_ref: str | None) -> list[int]:
    """Record the warehouse's acceptance; the outbox ids it queued: the carrier booking, and
    the ERP sales orders (each order's, once, when a warehouse first takes a fulfilment order
    of it)."""
    now = now_of(session)
    request = job.request
    # Lock the order before looking at its other fulfilment orders: those of a split order
    # are sent in parallel, and without the lock each transaction sees its sibling still
    # pending (READ COMMITTED) and neither releases the order, which then stays routed.
    orders = job.members or (request.order_id,)
    if session.get_bind().dialect.name == "postgresql":
        first = session.execute(_LOCK_ORDER_RELAXED, {"order_id": orders[0]}).one()[0]
    else:
        first = session.execute(_LOCK_ORDER, {"order_id": orders[0]}).scalar_one()
    status = (
        {orders[0]: first}
        | {  # ascending ids, like every other multi-order lock
            order_id: session.execute(_LOCK_ORDER, {"order_id": order_id}).scalar_one()
            for order_id in orders[1:]
        }
    )
    outbox.mark_sent(session, job.outbox_id, now=now)
    released = session.execute(
        _RELEASE_FO, {"fo_id": request.fulfilment_order_id, "now": now, "ref": external_ref}
    )
    if released.rowcount != 1:  # type: ignore[attr-defined]
        # Already released (a redelivery), or shipped from before this answer: keep its status.
        session.execute(
            _NOTE_REF, {"fo_id": request.fulfilment_order_id, "now": now, "ref": external_ref}
        )
        return []
    booking = (
        carrier_booking.queue_booking(session, request.fulfilment_order_id, request.warehouse_code)
        if job.any_carrier
        else None
    )
    queued = [booking] if booking is not None else []
    if job.erp:
        queued += queue_sales_orders(session, orders)
    for order_id in orders:
        if status[order_id] in AWAITING_REST:  # the rest of it waits to be routed
            session.execute(
                _INSERT_EVENT,
                {
                    "order_id": order_id,
                    "from_status": status[order_id],
                    "to_status": status[order_id],
                    "note": f"fulfilment order {request.fulfilment_order_id} accepted by its "
                    "warehouse; the rest of the order waits to be routed",
                },
            )
            continue
        order_state.transition_when(
            session,
            order_id,
            OrderStatus.ROUTED,
            OrderStatus.RELEASED,
            "every fulfilment order accepted by its warehouse",
            condition=_ALL_RELEASED if job.members is None else _ALL_LINES_RELEASED,
            now=now,
        )
    return queued


def _after_transient(deps: Deps, job: Job, exc: TransientError) -> str:
    outbox_id = job.outbox_id
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, outbox_id)
        delay = outbox.retry_with_backoff(msg, exc, deps.settings, now=deps.clock.now())
        if delay is None:
            _dead(session, msg, exc, Reason.WMS_UNREACHABLE)
        _count_failure(deps, session, job, exc)
        if delay is None:
            return "dead"
    OUTBOX_DELIVERIES.labels(WMS_RELEASE, "retry").inc()
    log.info("outbox %s: transient failure, retry in %.1fs: %s", outbox_id, delay, exc)
    return "retry"


def _count_failure(deps: Deps, session: Session, job: Job, exc: ConnectorError) -> None:
    """One failed call in the WMS connector's health (never disabling it: see the module).

    Called last in its transaction, its ORM changes (the order moved) flushed first: every
    transaction that writes a connector's one health row takes it last, so two releases of
    one split order, one accepted and one failing, cannot each hold what the other waits for.
    """
    session.flush()  # a write the commit would make anyway, made before the health row's
    connector_health.count_failure(
        session, job.connector_id, outbox.describe(exc), job.health, now=deps.clock.now()
    )


def _dead(
    session: Session,
    msg: OutboxMessage,
    exc: ConnectorError,
    reason: str,
    *,
    reroute: dict[str, Any] | None = None,
) -> None:
    outbox.mark_dead(msg, exc)
    fo = session.get(FulfilmentOrder, msg.fulfilment_order_id)
    order = session.get(SalesOrder, fo.order_id) if fo else None
    open_exception(
        session,
        reason,
        outbox_message_id=msg.id,
        order_id=order.id if order else None,
        detail={
            "message": str(exc),
            "error": exc.reason,
            "attempts": msg.attempts,
            "fulfilment_order_id": msg.fulfilment_order_id,
            **({"reroute": reroute} if reroute is not None else {}),
        },
    )
    if fo is not None:
        fo.status = "failed"
    orders = [order] if order is not None else []
    if fo is not None and fo.consolidation_id is not None:
        members = member_orders_of(session, fo.id)
        orders = [session.get_one(SalesOrder, order_id) for order_id in members]
    for each in orders:
        if each.status in (OrderStatus.ROUTED, OrderStatus.RELEASED):
            order_state.transition(
                session, each, OrderStatus.EXCEPTION, f"warehouse hand-off failed: {reason}"
            )
    OUTBOX_DELIVERIES.labels(msg.kind, "dead").inc()
    log.warning("outbox %s dead-lettered (%s): %s", msg.id, reason, exc)
