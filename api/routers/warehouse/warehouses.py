from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from omniroute.api.deps import CtxDep, require, warehouse_in_scope
from omniroute.api.schemas import Id, WarehouseIn, WarehouseOut, WarehousePatch
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.stock import warehouses as svc

router = APIRouter(prefix="/api/v1/warehouses", tags=["warehouses"])

ReadWarehouses = Annotated[Principal, Depends(require(Permission.WAREHOUSES_READ))]
CreateWarehouses = Annotated[Principal, Depends(require(Permission.WAREHOUSES_WRITE))]
ReadWarehouse = Annotated[Principal, Depends(warehouse_in_scope(Permission.WAREHOUSES_READ))]
WriteWarehouse = Annotated[Principal, Depends(warehouse_in_scope(Permission.WAREHOUSES_WRITE))]


@router.get("", response_model=list[WarehouseOut])
def list_warehouses(ctx: CtxDep, who: ReadWarehouses) -> list[WarehouseOut]:
    """Warehouses; a token limited to some sees only those."""
    scope = who.warehouse_ids
    return [
        WarehouseOut.model_validate(w)
        for w in svc.list_warehouses(ctx)
        if scope is None or w.id in scope
    ]


@router.post("", response_model=WarehouseOut, status_code=201)
def create_warehouse(body: WarehouseIn, ctx: CtxDep, who: CreateWarehouses) -> WarehouseOut:
    data = body.model_dump(exclude={"address"})
    data.update(
        address=body.address.model_dump(),
        country=body.address.country,
        postal_code=body.address.postal_code,
    )
    return WarehouseOut.model_validate(svc.create_warehouse(ctx, data, actor=who.actor))


@router.get("/{warehouse_id}", response_model=WarehouseOut)
def get_warehouse(warehouse_id: Id, ctx: CtxDep, _: ReadWarehouse) -> WarehouseOut:
    return WarehouseOut.model_validate(svc.get_warehouse(ctx, warehouse_id))


@router.patch("/{warehouse_id}", response_model=WarehouseOut)
def update_warehouse(
    warehouse_id: Id, body: WarehousePatch, ctx: CtxDep, who: WriteWarehouse
) -> WarehouseOut:
    changes = body.model_dump(exclude_unset=True, exclude={"address"})
    if body.address is not None:
        changes.update(
            address=body.address.model_dump(),
            country=body.address.country,
            postal_code=body.address.postal_code,
        )
    return WarehouseOut.model_validate(
        svc.update_warehouse(ctx, warehouse_id, changes, actor=who.actor)
    )
