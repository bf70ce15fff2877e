from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from omniroute.api.deps import CtxDep, require
from omniroute.api.schemas import (
    AfterId,
    AliasIn,
    AliasOut,
    Id,
    LedgerOut,
    SkuIn,
    SkuOut,
    StockAdjust,
    StockOut,
    StockSet,
)
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.platform.models import StockLevel
from omniroute.core.stock import inventory
from omniroute.core.stock import warehouses as catalog

router = APIRouter(prefix="/api/v1", tags=["stock"])

ReadStock = Annotated[Principal, Depends(require(Permission.STOCK_READ))]
WriteStock = Annotated[Principal, Depends(require(Permission.STOCK_WRITE))]
WriteSkus = Annotated[Principal, Depends(require(Permission.SKUS_WRITE))]
MapSkus = Annotated[Principal, Depends(require(Permission.SKUS_MAP))]
Limit = Annotated[int, Query(ge=1, le=1000)]


def _out(level: StockLevel) -> StockOut:
    return StockOut(
        id=level.id,
        warehouse_id=level.warehouse_id,
        sku=level.sku,
        on_hand=level.on_hand,
        reserved=level.reserved,
        safety=level.safety,
        available=max(0, level.on_hand - level.reserved - level.safety),
    )


@router.get("/stock", response_model=list[StockOut])
def list_stock(
    ctx: CtxDep,
    _: ReadStock,
    warehouse_id: Id | None = None,
    sku: str | None = None,
    limit: Limit = 500,
    after_id: AfterId = 0,
) -> list[StockOut]:
    return [
        _out(s)
        for s in inventory.list_stock(
            ctx, warehouse_id=warehouse_id, sku=sku, limit=limit, after_id=after_id
        )
    ]


@router.put("/stock", response_model=StockOut)
def set_stock(body: StockSet, ctx: CtxDep, who: WriteStock) -> StockOut:
    """Set on hand and/or safety stock to absolute values (creates the SKU if new)."""
    return _out(
        inventory.set_stock(
            ctx,
            body.warehouse_id,
            body.sku,
            on_hand=body.on_hand,
            safety=body.safety,
            actor=who.actor,
            reason=body.reason,
        )
    )


@router.post("/stock/adjustments", response_model=StockOut)
def adjust_stock(body: StockAdjust, ctx: CtxDep, who: WriteStock) -> StockOut:
    """Add or remove units on hand (receipts, counts, damage)."""
    return _out(
        inventory.adjust_stock(
            ctx, body.warehouse_id, body.sku, delta=body.delta, actor=who.actor, reason=body.reason
        )
    )


@router.get("/stock/ledger", response_model=list[LedgerOut])
def stock_ledger(
    ctx: CtxDep,
    _: ReadStock,
    warehouse_id: Id | None = None,
    sku: str | None = None,
    limit: Limit = 500,
    after_id: AfterId = 0,
) -> list[LedgerOut]:
    rows = inventory.ledger(ctx, warehouse_id=warehouse_id, sku=sku, limit=limit, after_id=after_id)
    return [LedgerOut.model_validate(r) for r in rows]


@router.get("/skus", response_model=list[SkuOut])
def list_skus(ctx: CtxDep, _: ReadStock, limit: Limit = 500, after: str = "") -> list[SkuOut]:
    return [SkuOut.model_validate(s) for s in catalog.list_skus(ctx, limit=limit, after=after)]


@router.put("/skus", response_model=SkuOut)
def upsert_sku(body: SkuIn, ctx: CtxDep, who: WriteSkus) -> SkuOut:
    return SkuOut.model_validate(
        catalog.upsert_sku(
            ctx,
            body.code,
            body.name,
            actor=who.actor,
            tags=body.tags,
            requires=body.requires,
            weight_kg=body.weight_kg,
        )
    )


@router.get("/sku-aliases", response_model=list[AliasOut])
def list_aliases(ctx: CtxDep, _: ReadStock, connector_id: Id | None = None) -> list[AliasOut]:
    return [AliasOut.model_validate(a) for a in catalog.list_aliases(ctx, connector_id)]


@router.post("/sku-aliases", response_model=AliasOut, status_code=201)
def create_alias(body: AliasIn, ctx: CtxDep, who: MapSkus) -> AliasOut:
    """Map a channel SKU (or ``variant:<id>``) to a SKU; the orders waiting for exactly this
    alias (their unknown_sku exception names it) are retried at once."""
    mapped = catalog.map_alias(ctx, body.connector_id, body.alias, body.sku, actor=who.actor)
    out = AliasOut.model_validate(mapped.alias)
    out.retried_exceptions = list(mapped.retried)
    return out
