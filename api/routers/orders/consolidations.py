"""Consolidation groups: see one, or release a held group before its window ends."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from omniroute.api.deps import CtxDep, consolidation_in_scope
from omniroute.api.schemas import ConsolidationOut, Id
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.order_routing import consolidation as svc

router = APIRouter(prefix="/api/v1/consolidations", tags=["orders"])

ReadGroup = Annotated[Principal, Depends(consolidation_in_scope(Permission.ORDERS_READ))]
ReleaseGroup = Annotated[Principal, Depends(consolidation_in_scope(Permission.ORDERS_ROUTE))]


@router.get("/{group_id}", response_model=ConsolidationOut)
def get_group(group_id: Id, ctx: CtxDep, _: ReadGroup) -> ConsolidationOut:
    """A consolidation group and its orders."""
    return ConsolidationOut.model_validate(svc.group_detail(ctx, group_id))


@router.post("/{group_id}/release", response_model=ConsolidationOut)
def release_group(group_id: Id, ctx: CtxDep, who: ReleaseGroup) -> ConsolidationOut:
    """Route an open group now, as if its window had ended (409 once it is not open)."""
    return ConsolidationOut.model_validate(svc.release_group(ctx, group_id, actor=who.actor))
