"""Returns (RMAs): created on an order, listed and read, authorised, cancelled or closed by
ops; their receipt confirmed by the warehouse (restock or write-off)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from omniroute.api.deps import CtxDep, order_in_scope, require, return_in_scope
from omniroute.api.schemas import MAX_ID, Body, Id, LineQuantity, UtcDateTime
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.returns import receipts, rmas, views
from omniroute.core.returns.rules import Disposition, ReasonCode, ReturnStatus

router = APIRouter(prefix="/api/v1", tags=["returns"])

CreateReturn = Annotated[Principal, Depends(order_in_scope(Permission.RETURNS_WRITE))]
ListReturns = Annotated[Principal, Depends(require(Permission.RETURNS_READ))]
ReadReturn = Annotated[Principal, Depends(return_in_scope(Permission.RETURNS_READ))]
WriteReturn = Annotated[Principal, Depends(return_in_scope(Permission.RETURNS_WRITE))]
ReceiveReturn = Annotated[Principal, Depends(return_in_scope(Permission.RETURNS_RECEIVE))]


class ReturnLineIn(Body):
    model_config = ConfigDict(extra="forbid")

    order_line_id: Id
    quantity: LineQuantity


class ReturnIn(Body):
    """Units of an order to take back: at most shipped less what other returns hold."""

    model_config = ConfigDict(extra="forbid")

    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)
    reason: ReasonCode
    warehouse_id: Id | None = Field(
        default=None, description="Where it goes back; default the warehouse that shipped it"
    )
    note: str | None = Field(default=None, max_length=2000)
    authorise: bool = Field(
        default=True, description="false: leave it requested, for someone to authorise"
    )


class NoteIn(Body):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class ReceiptLineIn(Body):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=128)
    quantity: LineQuantity
    disposition: Disposition = Field(
        description="restock: back on hand (sellable); write_off: recorded, not sellable"
    )


class ReceiptIn(Body):
    """A warehouse's confirmation of what came back; the same external_ref again is a no-op."""

    model_config = ConfigDict(extra="forbid")

    external_ref: str = Field(
        min_length=1, max_length=200, description="The warehouse's id for this receipt"
    )
    lines: list[ReceiptLineIn] = Field(min_length=1, max_length=500)
    received_at: datetime | None = None


class InTransitIn(Body):
    """The return parcel is on its way back; its tracking where known."""

    model_config = ConfigDict(extra="forbid")

    tracking_number: str | None = Field(default=None, min_length=1, max_length=100)
    carrier: str | None = Field(default=None, min_length=1, max_length=50)


class ReturnLineOut(BaseModel):
    id: int
    order_line_id: int
    sku: str
    quantity: int
    restocked_quantity: int
    written_off_quantity: int


class ReceiptOut(BaseModel):
    id: int
    external_ref: str
    received_at: UtcDateTime
    lines: list[dict[str, object]]


class ReturnOut(BaseModel):
    id: int
    rma_number: str
    order_id: int
    order_reference: str
    connector_id: int
    warehouse_id: int
    warehouse_code: str
    status: str
    source: str
    reason: str
    note: str | None
    external_id: str | None = None
    tracking_number: str | None = None
    carrier: str | None = None
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    lines: list[ReturnLineOut]
    receipts: list[ReceiptOut] | None = None


class ReceiptResultOut(BaseModel):
    receipt_id: int
    created: bool
    return_status: str
    order_status: str


@router.post("/orders/{order_id}/returns", response_model=ReturnOut, status_code=201)
def create_return(order_id: Id, body: ReturnIn, ctx: CtxDep, who: CreateReturn) -> ReturnOut:
    """A return (RMA) of shipped units; authorised at once unless ``authorise`` is false,
    which tells the warehouse's WMS to expect it and the channel where it takes returns."""
    return_id = rmas.create_return(
        ctx,
        order_id,
        rmas.ReturnInput(
            lines=[(ln.order_line_id, ln.quantity) for ln in body.lines],
            reason=body.reason.value,
            warehouse_id=body.warehouse_id,
            note=body.note,
            authorise=body.authorise,
        ),
        actor=who.actor,
    )
    return ReturnOut.model_validate(views.get_return(ctx, return_id))


@router.get("/returns", response_model=list[ReturnOut])
def list_returns(
    *,
    ctx: CtxDep,
    who: ListReturns,
    status: ReturnStatus | None = None,
    order_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    warehouse_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    connector_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=views.MAX_PAGE)] = 50,
    after_id: Annotated[
        int, Query(ge=0, le=MAX_ID, description="the last id of the previous page")
    ] = 0,
) -> list[ReturnOut]:
    """Returns by id, filtered; a scoped token sees its connectors' and warehouses' only."""
    rows = views.list_returns(
        ctx,
        views.ReturnFilter(
            status=None if status is None else status.value,
            order_id=order_id,
            warehouse_id=warehouse_id,
            connector_id=connector_id,
            created_from=as_naive_utc(created_from),
            created_to=as_naive_utc(created_to),
            after_id=after_id or None,
            limit=limit,
        ),
        views.Scope(who.connector_ids, who.warehouse_ids),
    )
    return [ReturnOut.model_validate(r) for r in rows]


@router.get("/returns/{return_id}", response_model=ReturnOut)
def get_return(return_id: Id, ctx: CtxDep, _: ReadReturn) -> ReturnOut:
    return ReturnOut.model_validate(views.get_return(ctx, return_id))


@router.post("/returns/{return_id}/authorise", response_model=ReturnOut)
def authorise_return(return_id: Id, ctx: CtxDep, who: WriteReturn) -> ReturnOut:
    """A requested return authorised: the warehouse and the channel are told."""
    rmas.authorise_return(ctx, return_id, actor=who.actor)
    return ReturnOut.model_validate(views.get_return(ctx, return_id))


@router.post("/returns/{return_id}/cancel", response_model=ReturnOut)
def cancel_return(return_id: Id, body: NoteIn, ctx: CtxDep, who: WriteReturn) -> ReturnOut:
    """Cancel a return nothing of which came back; a warehouse told of it is told again."""
    rmas.cancel_return(ctx, return_id, actor=who.actor, note=body.note)
    return ReturnOut.model_validate(views.get_return(ctx, return_id))


@router.post("/returns/{return_id}/close", response_model=ReturnOut)
def close_return(return_id: Id, body: NoteIn, ctx: CtxDep, who: WriteReturn) -> ReturnOut:
    """Settle a (partially) received return: nothing more will come back for it."""
    rmas.close_return(ctx, return_id, actor=who.actor, note=body.note)
    return ReturnOut.model_validate(views.get_return(ctx, return_id))


@router.post("/returns/{return_id}/in-transit", response_model=ReturnOut)
def mark_in_transit(return_id: Id, body: InTransitIn, ctx: CtxDep, who: ReceiveReturn) -> ReturnOut:
    """The return parcel is on its way back (its tracking recorded); again adds tracking."""
    rmas.mark_in_transit(
        ctx,
        return_id,
        actor=who.actor,
        tracking_number=body.tracking_number,
        carrier=body.carrier,
    )
    return ReturnOut.model_validate(views.get_return(ctx, return_id))


@router.post(
    "/returns/{return_id}/receipts",
    response_model=ReceiptResultOut,
    status_code=201,
    responses={200: {"description": "This receipt was confirmed before (same external_ref)"}},
)
def confirm_receipt(
    return_id: Id, body: ReceiptIn, ctx: CtxDep, who: ReceiveReturn, response: Response
) -> ReceiptResultOut:
    """The warehouse received units of the return: each restocked or written off."""
    result = receipts.confirm_receipt(
        ctx,
        return_id,
        receipts.ReceiptInput(
            external_ref=body.external_ref,
            lines=[(ln.sku, ln.quantity, ln.disposition) for ln in body.lines],
            received_at=body.received_at,
        ),
        actor=who.actor,
    )
    if not result.created:
        response.status_code = 200
    return ReceiptResultOut(
        receipt_id=result.receipt_id,
        created=result.created,
        return_status=result.return_status,
        order_status=result.order_status,
    )
