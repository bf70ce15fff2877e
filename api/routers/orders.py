from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CtxDep, Reader
from core.services import orders as svc
from core.states import OrderStatus

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


@router.get("")
def list_orders(
    ctx: CtxDep,
    _: Reader,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_id: int = 0,
) -> list[dict[str, Any]]:
    """Orders by id; page with ``after_id`` = the last id of the previous page."""
    return svc.list_orders(ctx, status=status, limit=limit, after_id=after_id)


@router.get("/{order_id}")
def get_order(order_id: int, ctx: CtxDep, _: Reader) -> dict[str, Any]:
    """An order with its lines, timeline, fulfilment orders and routing decisions (trace)."""
    return svc.order_detail(ctx, order_id)
