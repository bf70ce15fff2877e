from __future__ import annotations

from fastapi import APIRouter

from omniroute.api.deps import CtxDep, Ops, Staff
from omniroute.api.schemas import Id, WarehouseIn, WarehouseOut, WarehousePatch
from omniroute.core.stock import warehouses as svc

router = APIRouter(prefix="/api/v1/warehouses", tags=["warehouses"])


@router.get("", response_model=list[WarehouseOut])
def list_warehouses(ctx: CtxDep, _: Staff) -> list[WarehouseOut]:
    return [WarehouseOut.model_validate(w) for w in svc.list_warehouses(ctx)]


@router.post("", response_model=WarehouseOut, status_code=201)
def create_warehouse(body: WarehouseIn, ctx: CtxDep, who: Ops) -> WarehouseOut:
    data = body.model_dump(exclude={"address"})
    data.update(
        address=body.address.model_dump(),
        country=body.address.country,
        postal_code=body.address.postal_code,
    )
    return WarehouseOut.model_validate(svc.create_warehouse(ctx, data, actor=who.actor))


@router.get("/{warehouse_id}", response_model=WarehouseOut)
def get_warehouse(warehouse_id: Id, ctx: CtxDep, _: Staff) -> WarehouseOut:
    return WarehouseOut.model_validate(svc.get_warehouse(ctx, warehouse_id))


@router.patch("/{warehouse_id}", response_model=WarehouseOut)
def update_warehouse(warehouse_id: Id, body: WarehousePatch, ctx: CtxDep, who: Ops) -> WarehouseOut:
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
