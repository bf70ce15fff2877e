"""Stock thresholds, stock alerts and replenishment suggestions (core/replenishment)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from omniroute.api.deps import CtxDep, require
from omniroute.api.schemas import (
    AfterId,
    Body,
    Id,
    ReplenishmentRunOut,
    StockAlertOut,
    SuggestionOut,
    ThresholdIn,
    ThresholdOut,
)
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.replenishment import alerts, purchasing, suggestions, thresholds

router = APIRouter(prefix="/api/v1", tags=["replenishment"])

Read = Annotated[Principal, Depends(require(Permission.REPLENISHMENT_READ))]
Write = Annotated[Principal, Depends(require(Permission.REPLENISHMENT_WRITE))]
Limit = Annotated[int, Query(ge=1, le=1000)]
SkuFilter = Annotated[str | None, Query(min_length=1, max_length=128)]


class AlertStatus(StrEnum):
    OPEN = "open"
    CLEARED = "cleared"
    ALL = "all"


class SuggestionStatus(StrEnum):
    PROPOSED = "proposed"
    SUPERSEDED = "superseded"
    SENT = "sent"
    DISMISSED = "dismissed"
    ALL = "all"


class SuggestionKind(StrEnum):
    PURCHASE = "purchase"
    TRANSFER = "transfer"


@router.get("/stock/thresholds", response_model=list[ThresholdOut])
def list_thresholds(
    ctx: CtxDep,
    _: Read,
    warehouse_id: Id | None = None,
    sku: SkuFilter = None,
    limit: Limit = 500,
    after_id: AfterId = 0,
) -> list[ThresholdOut]:
    rows = thresholds.list_thresholds(
        ctx, warehouse_id=warehouse_id, sku=sku, limit=limit, after_id=after_id
    )
    return [ThresholdOut.model_validate(r) for r in rows]


@router.put("/stock/thresholds", response_model=ThresholdOut)
def set_threshold(body: ThresholdIn, ctx: CtxDep, who: Write) -> ThresholdOut:
    """Create or replace the threshold of a SKU at a warehouse; its alert is checked at once."""
    spec = thresholds.ThresholdSpec(**body.model_dump())
    return ThresholdOut.model_validate(thresholds.set_threshold(ctx, spec, actor=who.actor))


@router.get("/stock/alerts", response_model=list[StockAlertOut])
def list_alerts(  # noqa: PLR0917 - each query parameter is one argument
    ctx: CtxDep,
    _: Read,
    status: AlertStatus = AlertStatus.OPEN,
    warehouse_id: Id | None = None,
    sku: SkuFilter = None,
    limit: Limit = 500,
    after_id: AfterId = 0,
) -> list[StockAlertOut]:
    rows = alerts.list_alerts(
        ctx,
        status=None if status is AlertStatus.ALL else status.value,
        warehouse_id=warehouse_id,
        sku=sku,
        limit=limit,
        after_id=after_id,
    )
    return [StockAlertOut.model_validate(r) for r in rows]


@router.post("/replenishment/runs", response_model=ReplenishmentRunOut, status_code=201)
def run_replenishment(ctx: CtxDep, who: Write) -> ReplenishmentRunOut:
    """Forecast demand and write new purchase and transfer suggestions (the previous run's
    proposals become ``superseded``)."""
    result = suggestions.run(ctx, actor=who.actor)
    return ReplenishmentRunOut(
        run_id=result.run_id,
        series=result.series,
        purchases=sum(1 for line in result.lines if line.kind == "purchase"),
        transfers=sum(1 for line in result.lines if line.kind == "transfer"),
    )


@router.get("/replenishment/suggestions", response_model=list[SuggestionOut])
def list_suggestions(  # noqa: PLR0917 - each query parameter is one argument
    ctx: CtxDep,
    _: Read,
    status: SuggestionStatus = SuggestionStatus.PROPOSED,
    kind: SuggestionKind | None = None,
    warehouse_id: Id | None = None,
    limit: Limit = 500,
    after_id: AfterId = 0,
) -> list[SuggestionOut]:
    rows = suggestions.list_suggestions(
        ctx,
        status=None if status is SuggestionStatus.ALL else status.value,
        kind=None if kind is None else kind.value,
        warehouse_id=warehouse_id,
        limit=limit,
        after_id=after_id,
    )
    return [SuggestionOut.model_validate(r) for r in rows]


class SendPurchasesIn(Body):
    suggestion_ids: list[Id] | None = Field(
        default=None, max_length=purchasing.MAX_SENT, description="default: every proposed one"
    )
    connector_id: Id | None = Field(default=None, description="default: the only enabled ERP")


class SentOut(BaseModel):
    connector_id: int
    suggestion_ids: list[int]
    outbox_ids: list[int]


class DismissIn(Body):
    suggestion_ids: list[Id] = Field(min_length=1, max_length=purchasing.MAX_SENT)


@router.post("/replenishment/suggestions/send", response_model=SentOut)
def send_purchases(body: SendPurchasesIn, ctx: CtxDep, who: Write) -> SentOut:
    """Send proposed purchase suggestions to the ERP as purchase requests (through the
    outbox, once each); they become ``sent``. Transfers are not sent."""
    sent = purchasing.send_purchases(
        ctx, suggestion_ids=body.suggestion_ids, connector_id=body.connector_id, actor=who.actor
    )
    return SentOut(
        connector_id=sent.connector_id,
        suggestion_ids=sent.suggestion_ids,
        outbox_ids=sent.outbox_ids,
    )


@router.post("/replenishment/suggestions/dismiss", response_model=list[int])
def dismiss_suggestions(body: DismissIn, ctx: CtxDep, who: Write) -> list[int]:
    """Set proposed suggestions aside; the ids dismissed (others were not proposed)."""
    return purchasing.dismiss(ctx, body.suggestion_ids, actor=who.actor)
