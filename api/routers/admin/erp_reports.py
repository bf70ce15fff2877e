"""Reports over the business: the ERP reconciliation."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from omniroute.api.deps import CtxDep, require
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.erp.reconciliation import erp_reconciliation

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

ReadReports = Annotated[Principal, Depends(require(Permission.REPORTS_READ))]


class ErpConnectorReconciliation(BaseModel):
    connector_id: int
    connector: str
    shipped_not_invoiced: list[dict[str, Any]] = Field(
        description="shipments in the range whose invoice the ERP has not taken: problem "
        "missing, pending or dead, with each invoice's outbox row and status"
    )
    shipped_not_invoiced_truncated: bool
    invoices_without_shipment: list[dict[str, Any]] = Field(
        description="invoices the ERP issued in the range that match no invoice omniroute posted"
    )
    invoices_without_shipment_truncated: bool
    erp_invoices_read: int | None = Field(description="None when the list could not be read")
    erp_invoice_list_error: str | None
    clean: bool


class ErpReconciliationOut(BaseModel):
    date_from: date
    date_to: date
    connectors: list[ErpConnectorReconciliation]
    clean: bool


@router.get("/erp-reconciliation", response_model=ErpReconciliationOut)
async def erp_reconciliation_report(
    *,
    ctx: CtxDep,
    principal: ReadReports,
    date_from: Annotated[date, Query(description="first day (UTC), included")],
    date_to: Annotated[date, Query(description="last day (UTC), included")],
    connector_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> ErpReconciliationOut:
    """Orders shipped but not invoiced, and the ERP's invoices without a shipment here.

    The ERP's invoice list is read during the request (bounded by the connector's timeout
    and page limit). A token limited to connectors or warehouses is refused: the report
    spans every order."""
    if principal.connector_ids is not None or principal.warehouse_ids is not None:
        raise HTTPException(403, "a scoped token cannot read a report over every order")
    report = await run_in_threadpool(
        erp_reconciliation,
        ctx,
        date_from=date_from,
        date_to=date_to,
        connector_id=connector_id,
    )
    return ErpReconciliationOut.model_validate(report)
