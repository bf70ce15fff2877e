"""Warehouse shipment confirmations and the channel listings that stock is pushed for."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from omniroute.api.deps import CtxDep, connector_in_scope, fulfilment_order_in_scope
from omniroute.api.routers.orders.order_actions import RejectIn, RerouteOut, reroute_out
from omniroute.api.schemas import Body, Id, LineQuantity, SmallCount
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.fulfilment import shipments as shipment_svc
from omniroute.core.order_routing.reroute import Count, reroute_fulfilment
from omniroute.core.stock import listings as listing_svc
from omniroute.core.stock.sync import resync_connector

router = APIRouter(prefix="/api/v1", tags=["fulfilment"])

Shipper = Annotated[Principal, Depends(fulfilment_order_in_scope(Permission.SHIPMENTS_WRITE))]
Rejecter = Annotated[Principal, Depends(fulfilment_order_in_scope(Permission.FULFILMENT_REJECT))]
ReadListings = Annotated[Principal, Depends(connector_in_scope(Permission.LISTINGS_READ))]
WriteListings = Annotated[Principal, Depends(connector_in_scope(Permission.LISTINGS_WRITE))]


class ShipmentLineIn(Body):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=128)
    quantity: LineQuantity


class ShipmentIn(Body):
    """A warehouse's confirmation; ``lines`` left out means everything still open shipped."""

    model_config = ConfigDict(extra="forbid")

    external_ref: str = Field(
        min_length=1, max_length=200, description="The warehouse's id for this shipment"
    )
    lines: list[ShipmentLineIn] | None = Field(default=None, min_length=1)
    carrier: str | None = Field(default=None, max_length=100)
    tracking_number: str | None = Field(default=None, max_length=200)
    tracking_url: str | None = Field(default=None, max_length=1000)
    shipped_at: datetime | None = None


class ShipmentOut(BaseModel):
    shipment_id: int
    created: bool
    order_status: str


class ListingBody(Body):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=128)
    channel_ref: str = Field(
        min_length=1, max_length=200, description="The channel's id for the SKU"
    )
    buffer: SmallCount = Field(default=0, description="Units held back from this channel")


class ListingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sku: str
    channel_ref: str
    buffer: int
    pushed_available: int | None
    pushed_at: datetime | None


class ResyncOut(BaseModel):
    connector_id: int
    queued_pushes: int


@router.post(
    "/fulfilment-orders/{fulfilment_order_id}/shipments",
    response_model=ShipmentOut,
    status_code=201,
    responses={200: {"description": "This shipment was confirmed before (same external_ref)"}},
)
def confirm_shipment(
    fulfilment_order_id: Id, body: ShipmentIn, ctx: CtxDep, who: Shipper, response: Response
) -> ShipmentOut:
    result = shipment_svc.confirm_shipment(
        ctx,
        fulfilment_order_id,
        shipment_svc.ShipmentInput(
            external_ref=body.external_ref,
            lines=None if body.lines is None else [(ln.sku, ln.quantity) for ln in body.lines],
            shipped_at=body.shipped_at,
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            tracking_url=body.tracking_url,
        ),
        actor=who.actor,
    )
    if not result.created:
        response.status_code = 200
    return ShipmentOut(
        shipment_id=result.shipment_id, created=result.created, order_status=result.order_status
    )


@router.get("/connectors/{connector_id}/listings", response_model=list[ListingOut])
def get_listings(connector_id: Id, ctx: CtxDep, _: ReadListings) -> list[ListingOut]:
    return [ListingOut.model_validate(r) for r in listing_svc.list_listings(ctx, connector_id)]


@router.put("/connectors/{connector_id}/listings", response_model=list[ListingOut])
def put_listings(
    connector_id: Id, body: list[ListingBody], ctx: CtxDep, who: WriteListings
) -> list[ListingOut]:
    rows = listing_svc.put_listings(
        ctx,
        connector_id,
        [listing_svc.ListingIn(b.sku, b.channel_ref, b.buffer) for b in body],
        actor=who.actor,
    )
    return [ListingOut.model_validate(r) for r in rows]


@router.post("/connectors/{connector_id}/stock-sync", response_model=ResyncOut, status_code=202)
def resync_stock(connector_id: Id, ctx: CtxDep, _: WriteListings) -> ResyncOut:
    """Push every listing of this channel now, changed or not."""
    return ResyncOut(connector_id=connector_id, queued_pushes=resync_connector(ctx, connector_id))


@router.post("/fulfilment-orders/{fulfilment_order_id}/reject", response_model=RerouteOut)
def reject_fulfilment(
    fulfilment_order_id: Id, body: RejectIn, ctx: CtxDep, who: Rejecter
) -> RerouteOut:
    """A warehouse refuses a fulfilment order or miscounted its stock: its lines re-route."""
    result = reroute_fulfilment(
        ctx,
        fulfilment_order_id,
        reason=body.reason,
        actor=who.actor,
        counted=[Count(c.sku, c.on_hand) for c in body.counted or ()],
        detail=body.detail,
    )
    return reroute_out(result)
