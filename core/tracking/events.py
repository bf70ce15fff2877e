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

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from omniroute.connectors.base import Capability
from omniroute.connectors.tracking import (
    TrackingStatus,
    TrackingUpdate,
    event_key,
    normalise_carrier,
    normalise_tracking_number,
)
from omniroute.core.order_state.holdings import member_orders_of
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import CHANNEL_TRACKING
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.models import (
    Connector,
    FulfilmentOrder,
    SalesOrder,
    Shipment,
    TrackingEvent,
)
from omniroute.core.platform.ports import HasConnectors
from omniroute.core.platform.sql import table_of
from omniroute.core.tracking.status import (
    Checkpoint,
    Standing,
    advance,
    deliver_orders,
    fold,
    orders_of,
)

_EVENTS = table_of(TrackingEvent)
_SHIPMENTS = table_of(Shipment)
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


@dataclass(frozen=True)
class _Connector:
    """The columns of a channel's connector that say whether it takes tracking pushes."""

    id: int
    kind: str
    enabled: bool
    updated_at: datetime
    config: dict[str, Any]
    secrets_encrypted: bytes | None


@dataclass(frozen=True)
class _Channel:
    """An order with lines in the shipment, and its channel's connector."""

    order_id: int
    connector: _Connector | None


@dataclass(frozen=True)
class _Change:
    """A shipment's status that just changed."""

    shipment_id: int
    fulfilment_order_id: int
    status: str
    status_at: datetime


def record_update(
    deps: HasConnectors,
    session: Session,
    update_: TrackingUpdate,
    *,
    connector_id: int,
    inbound_message_id: int | None,
) -> Recorded:
    """Keep an update's checkpoints and apply them to its shipment, in the caller's
    transaction.

    A handful of Core statements: the shipment read (and locked) with what telling its
    channel needs, the checkpoints inserted at once, and an UPDATE of the shipment only
    when the checkpoints moved it."""
    number = normalise_tracking_number(update_.tracking_number)[:NUMBER_CHARS]
    carrier = update_.carrier.strip()[:CARRIER_CHARS]
    target, reason = _match(session, carrier, number)
    rows: list[dict[str, Any]] = [
        {
            "event_key": event_key(carrier, number, event),
            "shipment_id": None if target is None else target.id,
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
    if target is None:
        return Recorded(None, None, False, reason=reason)
    # Events kept before this shipment existed were given to it when it was recorded
    # (attach_parked), or by the sweeper if their write raced its confirmation.
    checkpoints: list[Checkpoint] = [(TrackingStatus(r["status"]), r["occurred_at"]) for r in rows]
    url = update_.tracking_url if update_.tracking_url and not target.tracking_url else None
    return _apply_to_row(deps, session, target, checkpoints, url)


def _apply_to_row(
    deps: HasConnectors,
    session: Session,
    target: Row[Any],
    checkpoints: Sequence[Checkpoint],
    tracking_url: str | None,
) -> Recorded:
    """Fold checkpoints into a shipment read as columns (``_CANDIDATES``); write it back
    only when something moved."""
    before = Standing(TrackingStatus(target.status), target.status_at, target.last_event_at)
    after = advance(before, checkpoints)
    changed = (after.status, after.status_at) != (before.status, before.status_at)
    if changed or after.last_event_at != before.last_event_at or tracking_url:
        delivered = changed and after.status == TrackingStatus.DELIVERED
        session.execute(
            _SET_STANDING,
            {
                "shipment_id": target.id,
                "new_status": after.status.value,
                "new_status_at": after.status_at,
                "new_last_event_at": after.last_event_at,
                "new_delivered_at": after.status_at if delivered else None,
                "new_tracking_url": tracking_url,
            },
        )
        _expire_loaded(session, target.id)
    if not changed:
        return Recorded(target.id, after.status.value, False)
    assert after.status_at is not None  # noqa: S101 - a status that changed has its time
    if target.consolidation_id is None:
        connector = None if target.c_id is None else _connector_of(target, "c_")
        channels = [_Channel(target.order_id, connector)]
    else:
        members = member_orders_of(session, target.fulfilment_order_id)
        channels = _channels_of(session, members or [target.order_id])
    change = _Change(target.id, target.fulfilment_order_id, after.status.value, after.status_at)
    return Recorded(target.id, change.status, True, _after_change(deps, session, change, channels))


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
    """Fold checkpoints into a (locked) shipment loaded as an object."""
    if not fold(shipment, checkpoints):
        return Recorded(shipment.id, shipment.status, False)
    assert shipment.status_at is not None  # noqa: S101 - a status that changed has its time
    change = _Change(shipment.id, shipment.fulfilment_order_id, shipment.status, shipment.status_at)
    channels = _channels_of(session, orders_of(session, shipment))
    return Recorded(
        shipment.id, shipment.status, True, _after_change(deps, session, change, channels)
    )


def _after_change(
    deps: HasConnectors, session: Session, change: _Change, channels: Sequence[_Channel]
) -> tuple[int, ...]:
    """Tell the channels; when delivered, deliver the orders it completes (their ids)."""
    _tell_channels(deps, session, change, channels)
    if change.status != TrackingStatus.DELIVERED:
        return ()
    return tuple(deliver_orders(session, change.shipment_id, [c.order_id for c in channels]))


def _tell_channels(
    deps: HasConnectors, session: Session, change: _Change, channels: Sequence[_Channel]
) -> None:
    """Queue the new status for the channel of each order in the shipment that takes it."""
    stamp = change.status_at.strftime("%Y%m%dT%H%M%S")
    for channel in channels:
        connector = channel.connector
        if connector is None or not connector.enabled:
            continue
        if not deps.connectors.can(connector, Capability.TRACKING_PUSH):
            continue
        order_id = channel.order_id
        outbox_id = outbox.add(
            session,
            kind=CHANNEL_TRACKING,
            connector_id=connector.id,
            fulfilment_order_id=change.fulfilment_order_id,
            idempotency_key=f"tracking-{change.shipment_id}-{order_id}-{change.status}-{stamp}",
            payload={
                "shipment_id": change.shipment_id,
                "order_id": order_id,
                "status": change.status,
                "status_at": change.status_at.isoformat(),
            },
        )
        session.info.setdefault(_NUDGES, []).append(outbox_id)


def _channels_of(session: Session, order_ids: Sequence[int]) -> list[_Channel]:
    """The orders (ascending) with their channels' connectors, in one read."""
    rows = session.execute(_CHANNELS, {"order_ids": list(order_ids)}).all()
    return [
        _Channel(row.order_id, None if row.id is None else _connector_of(row, "")) for row in rows
    ]


def _connector_of(row: Row[Any], prefix: str) -> _Connector:
    return _Connector(
        id=getattr(row, f"{prefix}id"),
        kind=getattr(row, f"{prefix}kind"),
        enabled=bool(getattr(row, f"{prefix}enabled")),
        updated_at=getattr(row, f"{prefix}updated_at"),
        config=getattr(row, f"{prefix}config"),
        secrets_encrypted=getattr(row, f"{prefix}secrets_encrypted"),
    )


def _expire_loaded(session: Session, shipment_id: int) -> None:
    """A Shipment object this session holds no longer shows the row: read it afresh."""
    loaded = session.identity_map.get(identity_key(Shipment, shipment_id))
    if loaded is not None:
        session.expire(loaded)


_NUDGES = "omniroute.tracking.push_nudges"


def take_nudges(session: Session) -> list[int]:
    """The outbox ids of the tracking pushes this session wrote: nudge them after the commit."""
    return list(session.info.pop(_NUDGES, ()))


def nudge_mark(session: Session) -> int:
    """How many tracking pushes this session has written so far (``drop_nudges_after``)."""
    return len(session.info.get(_NUDGES, ()))


def drop_nudges_after(session: Session, mark: int) -> None:
    """Forget the pushes written after ``mark``: their savepoint was rolled back."""
    if _NUDGES in session.info:
        del session.info[_NUDGES][mark:]


def _take_parked(session: Session, shipment: Shipment) -> list[Checkpoint]:
    """Give the shipment the unmatched events of its tracking number; their checkpoints."""
    rows = session.execute(
        _PARKED, {"number": shipment.tracking_key, "shipment_id": shipment.id}
    ).all()
    return [(TrackingStatus(status), at) for status, at in rows]


def _match(session: Session, carrier: str, number: str) -> tuple[Row[Any] | None, str | None]:
    """The shipment an update is for, locked, as ``_CANDIDATES`` reads it; else None and
    why."""
    candidates = session.execute(_CANDIDATES, {"number": number}).all()
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


_FOS = table_of(FulfilmentOrder)
_ORDERS = table_of(SalesOrder)
_CONNECTORS = table_of(Connector)
_CONNECTOR_COLUMNS = [
    _CONNECTORS.c[name]
    for name in ("id", "kind", "enabled", "updated_at", "config", "secrets_encrypted")
]

# The shipments with a tracking number (nearly always one), each with what applying an
# update to it reads: its fulfilment order's consolidation and its order's connector. Only
# the shipment row is locked.
_CANDIDATE_COLUMNS = select(
    _SHIPMENTS.c.id,
    _SHIPMENTS.c.carrier,
    _SHIPMENTS.c.status,
    _SHIPMENTS.c.status_at,
    _SHIPMENTS.c.last_event_at,
    _SHIPMENTS.c.tracking_url,
    _SHIPMENTS.c.fulfilment_order_id,
    _SHIPMENTS.c.order_id,
    _FOS.c.consolidation_id,
    *[column.label(f"c_{column.name}") for column in _CONNECTOR_COLUMNS],
).select_from(
    _SHIPMENTS.join(_FOS, _FOS.c.id == _SHIPMENTS.c.fulfilment_order_id)
    .join(_ORDERS, _ORDERS.c.id == _SHIPMENTS.c.order_id)
    .outerjoin(_CONNECTORS, _CONNECTORS.c.id == _ORDERS.c.connector_id)
)
_CANDIDATES = (
    _CANDIDATE_COLUMNS.where(_SHIPMENTS.c.tracking_key == bindparam("number"))
    .order_by(_SHIPMENTS.c.id)
    .limit(20)
    .with_for_update(of=_SHIPMENTS)
)
# The orders of a shipment with their connectors.
_CHANNELS = (
    select(_ORDERS.c.id.label("order_id"), *_CONNECTOR_COLUMNS)
    .select_from(_ORDERS.outerjoin(_CONNECTORS, _CONNECTORS.c.id == _ORDERS.c.connector_id))
    .where(_ORDERS.c.id.in_(bindparam("order_ids", expanding=True)))
    .order_by(_ORDERS.c.id)
)
# A shipment's standing after an update, written only when the update moved it; the
# delivered time and the tracking page are set once.
_SET_STANDING = (
    update(_SHIPMENTS)
    .where(_SHIPMENTS.c.id == bindparam("shipment_id"))
    .values(
        status=bindparam("new_status"),
        status_at=bindparam("new_status_at"),
        last_event_at=bindparam("new_last_event_at"),
        delivered_at=func.coalesce(bindparam("new_delivered_at"), _SHIPMENTS.c.delivered_at),
        tracking_url=func.coalesce(bindparam("new_tracking_url"), _SHIPMENTS.c.tracking_url),
    )
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
