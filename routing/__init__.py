"""The pure order router: order, warehouses, stock snapshot and policy in; plan and trace out."""

from routing.allocate import (
    POLICY_NAME,
    LineAllocation,
    LineDemand,
    NoStockPolicy,
    OrderDemand,
    Outcome,
    RoutingPolicy,
    RoutingResult,
    Shipment,
    WarehouseCandidate,
    plan,
)

__all__ = [
    "POLICY_NAME",
    "LineAllocation",
    "LineDemand",
    "NoStockPolicy",
    "OrderDemand",
    "Outcome",
    "RoutingPolicy",
    "RoutingResult",
    "Shipment",
    "WarehouseCandidate",
    "plan",
]
