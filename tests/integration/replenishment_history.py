"""Order history written straight into the tables a replenishment run reads: one sales
order, order line, routing decision, fulfilment order and line per allocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    OrderLine,
    RoutingDecision,
    SalesOrder,
)


@dataclass(frozen=True)
class Allocation:
    at: datetime
    warehouse_id: int
    sku: str
    quantity: int
    cancelled: int = 0
    status: str = "shipped"  # the fulfilment order's


def write_history(ctx: Context, allocations: list[Allocation]) -> None:
    with unit_of_work(ctx.sessions) as session:
        channel = Connector(kind="shopify", name="history-shop", config={})
        session.add(channel)
        session.flush()
        orders: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        fos: list[dict[str, Any]] = []
        flines: list[dict[str, Any]] = []
        for n, a in enumerate(allocations, start=1):
            orders.append(
                {
                    "id": n, "connector_id": channel.id, "external_id": f"H{n}",
                    "channel": "shopify", "status": "shipped", "currency": "USD",
                    "canonical": {}, "created_at": a.at, "updated_at": a.at,
                }
            )  # fmt: skip
            lines.append(
                {"id": n, "order_id": n, "line_no": 1, "sku": a.sku, "quantity": a.quantity}
            )
            decisions.append(
                {
                    "id": n,
                    "order_id": n,
                    "policy": "default",
                    "outcome": "routed",
                    "created_at": a.at,
                }
            )
            fos.append(
                {
                    "id": n, "order_id": n, "warehouse_id": a.warehouse_id, "decision_id": n,
                    "status": a.status, "created_at": a.at,
                }
            )  # fmt: skip
            flines.append(
                {
                    "id": n, "fulfilment_order_id": n, "order_line_id": n, "sku": a.sku,
                    "quantity": a.quantity, "shipped_quantity": a.quantity - a.cancelled,
                    "cancelled_quantity": a.cancelled,
                }
            )  # fmt: skip
        for model, rows in (
            (SalesOrder, orders),
            (OrderLine, lines),
            (RoutingDecision, decisions),
            (FulfilmentOrder, fos),
            (FulfilmentLine, flines),
        ):
            for start in range(0, len(rows), 500):
                session.execute(insert(model), rows[start : start + 500])
