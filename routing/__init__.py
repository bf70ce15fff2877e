"""The pure order router: order, warehouses, stock snapshot and policy in; plan and trace out."""

from omniroute.routing.allocate import (
    POLICY_NAME,
    LineAllocation,
    LineDemand,
    NoStockPolicy,
    OrderDemand,
    Outcome,
    Promise,
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
    "Promise",
    "RoutingPolicy",
    "RoutingResult",
    "Shipment",
    "WarehouseCandidate",
    "plan",
]

if __name__ != "omniroute.routing":  # the folder is installed as a subpackage of omniroute
    raise ImportError(f"import omniroute.routing, not {__name__}")
