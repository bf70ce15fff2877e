"""Shipments with their carrier tracking, and tracking events no shipment has claimed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from omniroute.api.deps import CtxDep, require, shipment_in_scope
from omniroute.api.schemas import AfterId, Id, ShipmentLineOut, UtcDateTime
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.tracking import views as svc

router = APIRouter(prefix="/api/v1", tags=["tracking"])

ReadShipment = Annotated[Principal, Depends(shipment_in_scope(Permission.ORDERS_READ))]
ReadUnmatched = Annotated[Principal, Depends(require(Permission.EXCEPTIONS_READ))]


class TrackingEventOut(BaseModel):
    id: int
    carrier: str
    tracking_number: str
    status: str
    raw_status: str
    occurred_at: UtcDateTime
    message: str | None
    location: str | None
    connector_id: int
    inbound_message_id: int | None
    unmatched_reason: str | None


class ShipmentDetailOut(BaseModel):
    id: int
    order_id: int
    fulfilment_order_id: int
    external_ref: str
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    shipped_at: UtcDateTime
    lines: list[ShipmentLineOut]
    status: str
    status_at: UtcDateTime | None
    delivered_at: UtcDateTime | None
    last_event_at: UtcDateTime | None
    events: list[TrackingEventOut]


@router.get("/shipments/{shipment_id}", response_model=ShipmentDetailOut)
def get_shipment(shipment_id: Id, ctx: CtxDep, _: ReadShipment) -> ShipmentDetailOut:
    """A shipment's tracking status (canonical, with the carrier's raw codes) and events."""
    return ShipmentDetailOut.model_validate(svc.shipment_detail(ctx, shipment_id))


@router.get("/tracking-events/unmatched", response_model=list[TrackingEventOut])
def get_unmatched(
    ctx: CtxDep,
    who: ReadUnmatched,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after_id: AfterId = 0,
) -> list[TrackingEventOut]:
    """Carrier events kept for tracking numbers no shipment has yet (each says why)."""
    rows = svc.unmatched_events(
        ctx, limit=limit, after_id=after_id, connector_ids=who.connector_ids
    )
    return [TrackingEventOut.model_validate(r) for r in rows]
