"""Orders the channel fulfilled itself (Amazon FBA, a sale completed at a POS till).

They are recorded with their lines and timeline so reports and customers' histories are whole,
but never routed or reserved. A store sale also leaves the store's shelf: when the connector
maps the sale's location to a warehouse, on hand goes down by what was sold, with a ledger row.
What could not be taken off the shelf is shown to ops as one ``stock_discrepancy`` exception:
units the store sold beyond omniroute's free stock, and lines that match no SKU (a POS item
rung up without a catalog id, or one whose id has no alias), for which nothing was taken.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import StoreLocations
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.platform.models import Connector, SalesOrder, Warehouse
from omniroute.core.platform.ports import HasConnectors
from omniroute.core.stock.levels import sell_off_shelf, store_sale_posted


class Deps(HasConnectors, Protocol):
    """What recording an order the channel fulfilled uses."""


def record_external_fulfilment(
    deps: Deps,
    session: Session,
    connector: Connector,
    order: SalesOrder,
    canonical: dict[str, Any],
) -> None:
    location = canonical.get("fulfilment_location")
    order_state.transition(
        session,
        order,
        OrderStatus.SHIPPED,
        "fulfilled by the channel"
        + (f" at location {location}" if location else "")
        + "; recorded, not routed",
    )
    if location:
        _post_store_sale(deps, session, connector, order, str(location), canonical=canonical)


def _post_store_sale(
    deps: Deps,
    session: Session,
    connector: Connector,
    order: SalesOrder,
    location: str,
    *,
    canonical: dict[str, Any],
) -> None:
    source = deps.connectors.for_row(connector)
    code = source.warehouse_code_for(location) if isinstance(source, StoreLocations) else None
    if code is None:
        order_state.note(
            session, order, f"location {location} maps to no warehouse: no stock posted"
        )
        return
    warehouse_id = session.scalar(select(Warehouse.id).where(Warehouse.code == code))
    if warehouse_id is None:
        order_state.note(session, order, f"warehouse {code} does not exist: no stock posted")
        return
    reference = f"order:{order.id}"
    if store_sale_posted(session, reference):
        return
    short: list[dict[str, Any]] = []
    for line in order.lines:
        if not line.sku or line.quantity <= 0:
            continue
        take = sell_off_shelf(
            session,
            warehouse_id,
            line.sku,
            line.quantity,
            actor=f"connector:{connector.name}",
            reference=reference,
        )
        if take < line.quantity:
            short.append({"sku": line.sku, "sold": line.quantity, "posted": take})
    unmatched = _unmatched_lines(canonical)
    if short or unmatched:
        # stock_discrepancy, not unknown_sku: the order is rightly shipped and nothing about
        # it can be retried; what is wrong is the store's on hand, which ops must count.
        open_exception(
            session,
            Reason.STOCK_DISCREPANCY,
            order_id=order.id,
            detail=_discrepancy(code, short, unmatched),
        )


def _unmatched_lines(canonical: dict[str, Any]) -> list[dict[str, Any]]:
    """The sale's lines with a quantity but no SKU: nothing of them can leave the shelf."""
    return [
        {
            "external_line_id": line.get("external_line_id"),
            "title": line.get("title"),
            "quantity": line.get("quantity"),
            "channel_sku": line.get("channel_sku"),
            "variant_id": line.get("variant_id"),
        }
        for line in canonical.get("lines") or ()
        if not line.get("sku") and isinstance(line.get("quantity"), int) and line["quantity"] > 0
    ]


def _discrepancy(
    code: str, short: list[dict[str, Any]], unmatched: list[dict[str, Any]]
) -> dict[str, Any]:
    messages = []
    detail: dict[str, Any] = {"warehouse": code}
    if short:
        detail["lines"] = short
        messages.append("the store sold more than omniroute had free on hand")
    if unmatched:
        detail["unmatched_lines"] = unmatched
        messages.append(
            f"{len(unmatched)} line(s) of the sale match no SKU (no channel SKU, or a variant "
            "or catalog id without a SKU alias), so no stock was taken off the shelf for them: "
            f"count {code}'s stock, and add aliases so later sales match"
        )
    detail["message"] = "; ".join(messages)
    return detail
