"""Ops actions on an order's routing: force warehouses by hand, or route it again."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from omniroute.api.deps import CtxDep, order_in_scope
from omniroute.api.schemas import Body, Id, StockUnits
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.order_routing.reroute import RerouteResult
from omniroute.core.orders import overrides

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

RouteOrder = Annotated[Principal, Depends(order_in_scope(Permission.ORDERS_ROUTE))]


class ForcedLineIn(Body):
    model_config = ConfigDict(extra="forbid")

    line_id: Id
    warehouse_code: str = Field(min_length=1, max_length=64)


class RouteOverrideIn(Body):
    """The whole order to one warehouse, or some lines each to one (the rest by the rules)."""

    model_config = ConfigDict(extra="forbid")

    warehouse_code: str | None = Field(default=None, min_length=1, max_length=64)
    lines: list[ForcedLineIn] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.warehouse_code is None) == (self.lines is None):
            raise ValueError("give either warehouse_code or lines")
        return self


class CountIn(Body):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=128)
    on_hand: StockUnits = Field(description="What the warehouse counted")


class RejectIn(Body):
    """A warehouse refuses a fulfilment order, or finds less stock than it should hold."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["stock_discrepancy", "rejected"]
    counted: list[CountIn] | None = Field(
        default=None, description="Counts per SKU (stock_discrepancy): on hand is set to them"
    )
    detail: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _counts_need_discrepancy(self) -> Self:
        if self.counted and self.reason != "stock_discrepancy":
            raise ValueError("counted goes with reason stock_discrepancy")
        return self


class AllocationOut(BaseModel):
    order_line_id: int
    sku: str
    quantity: int


class NewFulfilmentOut(BaseModel):
    id: int
    warehouse_id: int
    warehouse_code: str
    lines: list[AllocationOut]


class RerouteOut(BaseModel):
    order_id: int
    order_status: str
    outcome: str = Field(description="the decision's outcome, or reroute_exhausted")
    decision_id: int | None
    fulfilment_orders: list[NewFulfilmentOut]
    exception_id: int | None = Field(description="set when the lines were parked")
    summary: str
    rejected_fulfilment_order_id: int | None


def reroute_out(result: RerouteResult) -> RerouteOut:
    return RerouteOut(
        order_id=result.order_id,
        order_status=result.order_status,
        outcome=result.outcome,
        decision_id=result.decision_id,
        fulfilment_orders=[
            NewFulfilmentOut(
                id=fo.id,
                warehouse_id=fo.warehouse_id,
                warehouse_code=fo.warehouse_code,
                lines=[
                    AllocationOut(order_line_id=a.line_id, sku=a.sku, quantity=a.quantity)
                    for a in fo.lines
                ],
            )
            for fo in result.fulfilment_orders
        ],
        exception_id=result.exception_id,
        summary=result.summary,
        rejected_fulfilment_order_id=result.rejected_fulfilment_order_id,
    )


@router.post("/{order_id}/route", response_model=RerouteOut)
def override_route(order_id: Id, body: RouteOverrideIn, ctx: CtxDep, who: RouteOrder) -> RerouteOut:
    """Route an order not yet routed, or parked, to the warehouses named (audited)."""
    result = overrides.override_route(
        ctx,
        order_id,
        actor=who.actor,
        warehouse_code=body.warehouse_code,
        lines=None
        if body.lines is None
        else [overrides.ForcedLine(f.line_id, f.warehouse_code) for f in body.lines],
    )
    return reroute_out(result)


@router.post("/{order_id}/reroute", response_model=RerouteOut)
def reroute_order(order_id: Id, ctx: CtxDep, who: RouteOrder) -> RerouteOut:
    """Route again with the rules in force now: an order no warehouse has yet, or a parked one."""
    return reroute_out(overrides.reroute_order(ctx, order_id, actor=who.actor))
