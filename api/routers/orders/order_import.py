"""Order upload: ``POST /api/v1/orders/import`` with a CSV or JSON file of orders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep, connector_in_scope
from omniroute.api.schemas import Id
from omniroute.connectors.generic.upload import MAX_REPORTED_ERRORS, MEDIA_TYPES
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.intake.order_import import ImportOutcome, import_orders

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

Importer = Annotated[Principal, Depends(connector_in_scope(Permission.ORDERS_IMPORT))]


class ImportErrorOut(BaseModel):
    row: int | None = Field(description="the spreadsheet row (CSV, header = 1) or list position")
    line: int | None = Field(default=None, description="CSV: the file line the row starts on")
    column: str | None
    message: str
    order_ref: str | None = None


class ImportedOrderOut(BaseModel):
    external_id: str
    inbound_id: int | None
    duplicate: bool


class ImportOut(BaseModel):
    connector_id: int
    created: int
    duplicates: int
    failed: int
    orders: list[ImportedOrderOut]
    errors: list[ImportErrorOut] = Field(description=f"the first {MAX_REPORTED_ERRORS}")
    errors_omitted: int = Field(default=0, description="errors not listed, counted only")


def _out(outcome: ImportOutcome) -> ImportOut:
    return ImportOut(
        connector_id=outcome.connector_id,
        created=outcome.created,
        duplicates=outcome.duplicates,
        failed=outcome.failed,
        orders=[ImportedOrderOut(**vars(item)) for item in outcome.orders],
        errors=[ImportErrorOut(**error.as_dict()) for error in outcome.errors],
        errors_omitted=outcome.errors_omitted,
    )


@router.post(
    "/import",
    response_model=ImportOut,
    responses={
        413: {"description": "the file is over the body limit"},
        415: {"description": "not text/csv or application/json"},
        422: {
            "description": "no valid order in the file, or a CSV that cannot be read reliably "
            "(problem+json with errors; a CSV structure error names its line)"
        },
    },
)
async def import_order_file(
    request: Request,
    ctx: CtxDep,
    who: Importer,
    connector_id: Annotated[Id, Query(description="a generic_webhook connector")],
) -> ImportOut:
    """Store the valid orders of a CSV or JSON upload; bad rows are reported, not stored."""
    media_type = request.headers.get("content-type", "")
    if media_type.split(";", 1)[0].strip().lower() not in MEDIA_TYPES:
        raise HTTPException(415, "upload the orders as text/csv or application/json")
    body = await request.body()
    outcome = await run_in_threadpool(
        import_orders, ctx, connector_id, body, media_type, actor=who.actor
    )
    return _out(outcome)
