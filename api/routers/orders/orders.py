from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from omniroute.api.deps import CtxDep, order_in_scope, require
from omniroute.api.schemas import AfterId, Body, Id, LineQuantity, OrderDetailOut, OrderSummaryOut
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.orders import cancellation, holds
from omniroute.core.orders import views as svc
from omniroute.core.orders.fixes import address as address_fix
from omniroute.core.orders.search import OrderFilter

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

ListOrders = Annotated[Principal, Depends(require(Permission.ORDERS_READ))]
ReadOrder = Annotated[Principal, Depends(order_in_scope(Permission.ORDERS_READ))]
ReleaseHold = Annotated[Principal, Depends(order_in_scope(Permission.ORDERS_RELEASE_HOLD))]
CancelOrder = Annotated[Principal, Depends(order_in_scope(Permission.ORDERS_CANCEL))]
EditOrder = Annotated[Principal, Depends(order_in_scope(Permission.ORDERS_EDIT))]


@router.get("", response_model=list[OrderSummaryOut])
def list_orders(  # noqa: PLR0917 - each query parameter is one argument
    ctx: CtxDep,
    who: ListOrders,
    status: OrderStatus | None = None,
    number: Annotated[
        str | None,
        Query(max_length=128, description="The channel's order number, exactly ('#' optional)"),
    ] = None,
    customer: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="With an '@': the customer's e-mail address, in any case; otherwise "
            "the start of the customer's name (any case)",
        ),
    ] = None,
    sku: Annotated[
        str | None, Query(max_length=128, description="Orders with a line of this SKU")
    ] = None,
    created_from: Annotated[
        datetime | None, Query(description="Created at or after (UTC when no offset is given)")
    ] = None,
    created_to: Annotated[
        datetime | None, Query(description="Created before (UTC when no offset is given)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_id: AfterId = 0,
) -> list[OrderSummaryOut]:
    """Orders by id under the filters given; page with ``after_id`` = the last id of the
    previous page."""
    where = OrderFilter(
        status=status,
        number=number,
        customer=customer,
        sku=sku,
        created_from=created_from,
        created_to=created_to,
    )
    rows = svc.list_orders(
        ctx, where=where, limit=limit, after_id=after_id, connector_ids=who.connector_ids
    )
    return [OrderSummaryOut.model_validate(r) for r in rows]


@router.get("/{order_id}", response_model=OrderDetailOut, response_model_by_alias=True)
def get_order(order_id: Id, ctx: CtxDep, _: ReadOrder) -> OrderDetailOut:
    """An order with its lines, timeline, fulfilment orders and routing decisions (trace)."""
    return OrderDetailOut.model_validate(svc.order_detail(ctx, order_id))


class ReleaseHoldIn(Body):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=500, description="Why it may ship (audited)")


class ReleaseHoldOut(BaseModel):
    order_id: int
    hold_code: str = Field(description="The hold released; the order is checked again")
    inbound_message_id: int = Field(description="The inbox row replayed to route it")


@router.post("/{order_id}/release-hold", response_model=ReleaseHoldOut, status_code=202)
def release_hold(
    order_id: Id, body: ReleaseHoldIn, ctx: CtxDep, who: ReleaseHold
) -> ReleaseHoldOut:
    """Release an order from its channel's release-policy hold (not a voided payment): the
    hold is waived for this order and it is processed again (another hold may still apply)."""
    result = holds.release_hold(ctx, order_id, actor=who.actor, note=body.note)
    return ReleaseHoldOut(
        order_id=result.order_id,
        hold_code=result.hold_code,
        inbound_message_id=result.inbound_message_id,
    )


AddressField = Annotated[str | None, Field(max_length=address_fix.MAX_FIELD)]


class AddressIn(Body):
    """The fields to change; a field left out keeps its value, null or "" clears it."""

    model_config = ConfigDict(extra="forbid")

    name: AddressField = None
    company: AddressField = None
    address1: AddressField = None
    address2: AddressField = None
    city: AddressField = None
    region: AddressField = None
    postal_code: AddressField = None
    country: AddressField = Field(default=None, max_length=2, description="ISO 3166-1 alpha-2")
    phone: AddressField = None
    note: str = Field(default="", max_length=500, description="Why (audited)")


class AddressOut(BaseModel):
    order_id: int
    ship_to: dict[str, str | None] = Field(description="The shipping address now")
    inbound_message_id: int | None = Field(
        description="The inbox row replayed to validate and route the order again (an order "
        "in exception); null when the order is not re-processed"
    )


@router.post("/{order_id}/address", response_model=AddressOut)
def fix_address(order_id: Id, body: AddressIn, ctx: CtxDep, who: EditOrder) -> AddressOut:
    """Fix the shipping address of an order no warehouse has yet, checked as intake checks
    it (country, postal code format, street). An order in exception (a bad address) is
    processed again: validated and routed, its bad_address exception resolved. The channel's
    address and the fix are kept; the same address from the channel again keeps the fix."""
    changes = {f: getattr(body, f) for f in body.model_fields_set if f in address_fix.FIELDS}
    result = address_fix.fix_address(ctx, order_id, changes, actor=who.actor, note=body.note)
    return AddressOut(
        order_id=result.order_id,
        ship_to=result.ship_to,
        inbound_message_id=result.inbound_message_id,
    )


class CancelLineIn(Body):
    model_config = ConfigDict(extra="forbid")

    line_id: Id = Field(description="The order line's id (GET /api/v1/orders/{id}: lines)")
    quantity: LineQuantity = Field(description="Units of the line to cancel")


class CancelIn(Body):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
    notify_channel: bool = Field(
        default=True,
        description="Tell the channel the order came from, where it takes that (once the "
        "warehouse confirmed, for an order a warehouse holds; only once nothing is left to ship)",
    )
    lines: list[CancelLineIn] | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Cancel only these units (an order a warehouse holds); omit for all",
    )


class CancellationRequestedOut(BaseModel):
    cancellation_ids: list[int] = Field(description="one per fulfilment order asked")
    units_requested: int = Field(description="units asked of the warehouses")
    units_to_return: int = Field(description="units shipped already: a return_required exception")


class CancelOut(BaseModel):
    order_id: int
    status: str = Field(description="the order's status now (unchanged while a cancel is pending)")
    units_released: int
    channel_notified: bool
    cancellation: CancellationRequestedOut | None = Field(
        default=None, description="set (with HTTP 202) when the order's warehouses were asked"
    )


@router.post(
    "/{order_id}/cancel",
    response_model=CancelOut,
    responses={202: {"model": CancelOut, "description": "the order's warehouses were asked"}},
)
def cancel_order(
    order_id: Id, body: CancelIn, ctx: CtxDep, who: CancelOrder, response: Response
) -> CancelOut:
    """Cancel an order. No warehouse holds it: at once, its reserved stock goes back (200).
    A warehouse holds it: the cancel is asked of the WMS (202), and stock goes back, the
    order is cancelled and its channel told once the warehouse confirms. Part of it with
    warehouses: what waits for stock is dropped and what is still in the outbox withdrawn at
    once (``units_released``), the rest asked of the warehouses (202 when any was asked)."""
    lines: dict[int, int] | None = None
    if body.lines is not None:
        lines = {}
        for line in body.lines:
            lines[line.line_id] = lines.get(line.line_id, 0) + line.quantity
    result = cancellation.cancel_order(
        ctx,
        order_id,
        reason=body.reason,
        actor=who.actor,
        notify_channel=body.notify_channel,
        lines=lines,
    )
    requested = None
    if result.requested is not None:
        if result.requested.cancellation_ids:
            response.status_code = 202  # pending until the warehouses answer
        requested = CancellationRequestedOut(
            cancellation_ids=list(result.requested.cancellation_ids),
            units_requested=result.requested.units_requested,
            units_to_return=result.requested.units_to_return,
        )
    return CancelOut(
        order_id=result.order_id,
        status=result.status,
        units_released=result.units_released,
        channel_notified=result.channel_notified,
        cancellation=requested,
    )
