"""Reading tracking as the API shows it: a shipment with its status and events, and the
events no shipment has claimed yet."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select

from omniroute.core.platform.clock import as_aware
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import NotFound
from omniroute.core.platform.models import Shipment, TrackingEvent
from omniroute.core.platform.ports import HasSessions


def shipment_detail(deps: HasSessions, shipment_id: int) -> dict[str, Any]:
    """A shipment, its tracking status and its events, oldest first."""
    with unit_of_work(deps.sessions) as session:
        shipment = session.get(Shipment, shipment_id)
        if shipment is None:
            raise NotFound(f"shipment {shipment_id} does not exist")
        events = session.scalars(
            select(TrackingEvent)
            .where(TrackingEvent.shipment_id == shipment_id)
            .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
        ).all()
        return {
            "id": shipment.id,
            "order_id": shipment.order_id,
            "fulfilment_order_id": shipment.fulfilment_order_id,
            "external_ref": shipment.external_ref,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
            "shipped_at": as_aware(shipment.shipped_at),
            "lines": [{"sku": i["sku"], "quantity": i["quantity"]} for i in shipment.lines],
            "status": shipment.status,
            "status_at": as_aware(shipment.status_at),
            "delivered_at": as_aware(shipment.delivered_at),
            "last_event_at": as_aware(shipment.last_event_at),
            "events": [_event(e) for e in events],
        }


def unmatched_events(
    deps: HasSessions,
    *,
    limit: int,
    after_id: int = 0,
    connector_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Events kept for tracking numbers no shipment has (yet), oldest first; of the carrier
    connectors ``connector_ids`` only, when given."""
    q = select(TrackingEvent).where(
        TrackingEvent.shipment_id.is_(None), TrackingEvent.id > after_id
    )
    if connector_ids is not None:
        q = q.where(TrackingEvent.connector_id.in_(sorted(connector_ids)))
    with unit_of_work(deps.sessions) as session:
        rows = session.scalars(q.order_by(TrackingEvent.id).limit(limit)).all()
        return [_event(e) for e in rows]


def _event(e: TrackingEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "carrier": e.carrier,
        "tracking_number": e.tracking_number,
        "status": e.status,
        "raw_status": e.raw_status,
        "occurred_at": as_aware(e.occurred_at),
        "message": e.message,
        "location": e.location,
        "connector_id": e.connector_id,
        "inbound_message_id": e.inbound_message_id,
        "unmatched_reason": e.unmatched_reason,
    }
