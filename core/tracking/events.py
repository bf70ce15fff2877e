"""Recording a carrier's tracking update: its checkpoints kept, matched to a shipment, applied.

Every checkpoint becomes a ``tracking_event`` row, unique by its key
(``connectors.tracking.event_key``), so a carrier resending the whole history stores nothing
twice. The shipment is the one whose tracking number, normalised, is the update's: if
several have it, the one whose carrier matches too. With no such shipment (or no single
one) the rows are kept with no shipment and ``unmatched_reason``; they are applied when a
shipment with that tracking number is recorded (``attach_parked``, called by
``fulfilment.shipments``), or by the sweeper (``rematch_parked``) when that shipment was
recorded while the update was being written and did not see its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omniroute.connectors.base import Capability
from omniroute.connectors.tracking import (
    TrackingStatus,
    TrackingUpdate,
    event_key,
    normalise_carrier,
    normalise_tracking_number,
)
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import CHANNEL_TRACKING
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.models import Connector, SalesOrder, Shipment, TrackingEvent
from omniroute.core.platform.ports import HasConnectors
from omniroute.core.platform.sql import table_of
from omniroute.core.tracking.status import Checkpoint, deliver_orders, fold, orders_of

_EVENTS = table_of(TrackingEvent)
_INSERT = {
    name: module.insert(_EVENTS).on_conflict_do_nothing(index_elements=["event_key"])
    for name, module in (("postgresql", postgresql), ("sqlite", sqlite))
}

CARRIER_CHARS = 100
NUMBER_CHARS = 200
RAW_CHARS = 200


@dataclass(frozen=True)
class Recorded:
    """What recording an update did."""

    shipment_id: int | None  # None: kept unmatched (``reason`` says why)
    status: str | None  # the shipment's status after it
    changed: bool
    delivered_orders: tuple[int, ...] = ()
    reason: str | None = None


def record_update(
    deps: HasConnectors,
    session: Session,
    update_: TrackingUpdate,
    *,
    connector_id: int,
    inbound_message_id: int | None,
) -> Recorded:
    """Keep an update's checkpoints and apply them to its shipment, in the caller's
    transaction."""
    number = normalise_tracking_number(update_.tracking_number)[:NUMBER_CHARS]
    carrier = update_.carrier.strip()[:CARRIER_CHARS]
    shipment, reason = _match(session, carrier, number)
    rows: list[dict[str, Any]] = [
        {
            "event_key": event_key(carrier, number, event),
            "shipment_id": None if shipment is None else shipment.id,
            "connector_id": connector_id,
            "inbound_message_id": inbound_message_id,
            "carrier": carrier,
            "tracking_number": number,
            "status": event.status.value,
            "raw_status": event.raw_status[:RAW_CHARS],
            "occurred_at": as_naive_utc(event.occurred_at),
            "message": event.message,
            "location": event.location,
            "unmatched_reason": reason,
        }
        for event in update_.events
    ]
    if rows:
        session.execute(_INSERT[session.get_bind().dialect.name], rows)
    if shipment is None:
        return Recorded(None, None, False, reason=reason)
    # Events kept before this shipment existed were given to it when it was recorded
    # (attach_parked), or by the sweeper if their write raced its confirmation.
    checkpoints: list[Checkpoint] = [(TrackingStatus(r["status"]), r["occurred_at"]) for r in rows]
    if update_.tracking_url and not shipment.tracking_url:
        shipment.tracking_url = update_.tracking_url
    return _apply(deps, session, shipment, checkpoints)


def attach_parked(deps: HasConnectors, session: Session, shipment: Shipment) -> Recorded | None:
    """A shipment was just recorded (and flushed): apply the events kept for its tracking
    number before it existed. None when there were none."""
    if not shipment.tracking_key:
        return None
    checkpoints = _take_parked(session, shipment)
    return _apply(deps, session, shipment, checkpoints) if checkpoints else None


def rematch_parked(
    deps: HasConnectors, session: Session, *, since: datetime, limit: int = 100
) -> int:
    """Apply unmatched events to shipments recorded since ``since`` that have their tracking
    number: a shipment confirmed while such an update was being written did not see it.
    How many shipments took some."""
    parked = (
        select(TrackingEvent.id)
        .where(
            TrackingEvent.shipment_id.is_(None),
            TrackingEvent.tracking_number == Shipment.tracking_key,
        )
        .exists()
    )
    ids = session.scalars(
        select(Shipment.id)
        .where(Shipment.created_at >= since, Shipment.tracking_key.is_not(None), parked)
        .order_by(Shipment.id)
        .limit(limit)
    ).all()
    applied = 0
    for shipment_id in ids:
        shipment = session.scalars(
            select(Shipment)
            .where(Shipment.id == shipment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        checkpoints = _take_parked(session, shipment)
        if checkpoints:
            _apply(deps, session, shipment, checkpoints)
            applied += 1
    return applied


def _apply(
    deps: HasConnectors, session: Session, shipment: Shipment, checkpoints: Sequence[Checkpoint]
) -> Recorded:
    changed = fold(shipment, checkpoints)
    delivered: list[int] = []
    if changed:
        _tell_channels(deps, session, shipment)
        if shipment.status == TrackingStatus.DELIVERED:
            delivered = deliver_orders(session, shipment)
    return Recorded(shipment.id, shipment.status, changed, tuple(delivered))


def _tell_channels(deps: HasConnectors, session: Session, shipment: Shipment) -> None:
    """Queue the new status for the channel of each order in the shipment that takes it."""
    assert shipment.status_at is not None  # noqa: S101 - a status that changed has its time
    stamp = shipment.status_at.strftime("%Y%m%dT%H%M%S")
    for order_id in orders_of(session, shipment):
        order = session.get_one(SalesOrder, order_id)
        connector = session.get(Connector, order.connector_id)
        if connector is None or not connector.enabled:
            continue
        if not deps.connectors.can(connector, Capability.TRACKING_PUSH):
            continue
        outbox_id = outbox.add(
            session,
            kind=CHANNEL_TRACKING,
            connector_id=connector.id,
            fulfilment_order_id=shipment.fulfilment_order_id,
            idempotency_key=f"tracking-{shipment.id}-{order_id}-{shipment.status}-{stamp}",
            payload={
                "shipment_id": shipment.id,
                "order_id": order_id,
                "status": shipment.status,
                "status_at": shipment.status_at.isoformat(),
            },
        )
        session.info.setdefault(_NUDGES, []).append(outbox_id)


_NUDGES = "omniroute.tracking.push_nudges"


def take_nudges(session: Session) -> list[int]:
    """The outbox ids of the tracking pushes this session wrote: nudge them after the commit."""
    return list(session.info.pop(_NUDGES, ()))


def _take_parked(session: Session, shipment: Shipment) -> list[Checkpoint]:
    """Give the shipment the unmatched events of its tracking number; their checkpoints."""
    rows = session.execute(
        _PARKED, {"number": shipment.tracking_key, "shipment_id": shipment.id}
    ).all()
    return [(TrackingStatus(status), at) for status, at in rows]


def _match(session: Session, carrier: str, number: str) -> tuple[Shipment | None, str | None]:
    """The shipment an update is for, locked; else None and why."""
    candidates = list(session.scalars(_CANDIDATES, {"number": number}))
    if not candidates:
        return None, f"no shipment has tracking number {number}"
    if len(candidates) > 1:
        wanted = normalise_carrier(carrier)
        candidates = [c for c in candidates if _same_carrier(wanted, normalise_carrier(c.carrier))]
        if len(candidates) != 1:
            return None, (
                f"several shipments have tracking number {number} and "
                f"{len(candidates) or 'none'} of them are with carrier {carrier}"
            )[:300]
    return candidates[0], None


# The shipments with a tracking number, locked (nearly always one).
_CANDIDATES = (
    select(Shipment)
    .where(Shipment.tracking_key == bindparam("number"))
    .order_by(Shipment.id)
    .limit(20)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_PARKED = (
    update(TrackingEvent)
    .where(
        TrackingEvent.shipment_id.is_(None),
        TrackingEvent.tracking_number == bindparam("number"),
    )
    .values(shipment_id=bindparam("shipment_id"), unmatched_reason=None)
    .returning(TrackingEvent.status, TrackingEvent.occurred_at)
    .execution_options(synchronize_session=False)
)


def _same_carrier(a: str, b: str) -> bool:
    """ "fedex" and "fedexground" are one carrier; an empty name matches nothing."""
    return bool(a and b) and (a.startswith(b) or b.startswith(a))
