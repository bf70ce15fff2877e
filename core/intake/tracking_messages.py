"""Inbox rows of carriers: a tracking delivery goes to ``core.tracking`` instead of becoming
an order.

A connector that implements ``connectors.tracking.TrackingSource`` is asked for the
tracking in a stored delivery (``parse_tracking``). A carrier always answers; a source that
also sends orders (the generic webhook) answers None for an order event, which then takes
the order path.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from omniroute.connectors.base import PayloadError
from omniroute.connectors.tracking import TrackingDelivery, TrackingPoller, TrackingSource
from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.ports import HasConnectors
from omniroute.core.platform.sql import table_of
from omniroute.core.tracking.events import Recorded, record_update

_IS_SOURCE: dict[type, bool] = {}


def is_tracking_source(source: object) -> bool:
    """Whether a connector instance takes tracking webhooks; once per class, because a
    runtime protocol check inspects every member on each call."""
    kind = type(source)
    known = _IS_SOURCE.get(kind)
    if known is None:
        known = _IS_SOURCE[kind] = issubclass(kind, TrackingSource | TrackingPoller)
    return known


def tracking_of(source: object, msg: InboundMessage) -> TrackingDelivery | None:
    """The tracking a stored delivery carries, or None when it is not a tracking delivery.
    Raises ``PayloadError`` for a tracking delivery that cannot be read."""
    if not is_tracking_source(source):
        return None
    parsed = cast(TrackingSource, source).parse_tracking(msg.headers, msg.body)  # or a poller
    if parsed is not None and not isinstance(parsed, TrackingDelivery):
        raise PayloadError(f"parse_tracking returned {type(parsed).__name__}")
    return parsed


def take_tracking(
    deps: HasConnectors,
    session: Session,
    msg: InboundMessage,
    delivery: TrackingDelivery,
    now: datetime,
) -> Recorded | None:
    """Record a tracking delivery's checkpoints against its shipment and settle the row."""
    recorded = None
    if delivery.update is not None:
        recorded = record_update(
            deps, session, delivery.update, connector_id=msg.connector_id, inbound_message_id=msg.id
        )
    # A parked update is kept, not lost: applied when a shipment with this number comes.
    parked = recorded is not None and recorded.shipment_id is None
    settled = {
        "status": "ignored" if recorded is None else "done",
        "processed_at": now,
        "last_error": f"parked: {recorded.reason}" if parked and recorded else None,
    }
    # One Core UPDATE rather than an ORM flush; the object is told it holds what is stored.
    session.execute(_SETTLE, {"row_id": msg.id, **{f"new_{k}": v for k, v in settled.items()}})
    for name, value in settled.items():
        set_committed_value(msg, name, value)
    return recorded


_INBOX = table_of(InboundMessage)
_SETTLE = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("row_id"))
    .values(
        status=bindparam("new_status"),
        processed_at=bindparam("new_processed_at"),
        last_error=bindparam("new_last_error"),
    )
)
