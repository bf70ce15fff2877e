"""Writing what an ERP is sent, in the transaction of the state change that causes it.

- ``queue_sales_orders``: when a warehouse first takes a fulfilment order of an order
  (``fulfilment/release``), the order is posted once per ERP connector (key
  ``erp-so-<connector>-<order>``), whole: not once per fulfilment order, since an ERP keeps
  one sales order per customer order and the warehouses' split is ours. An order a
  warehouse shipped from before its release was answered gets it with its first invoice.
- ``queue_invoices``: each shipment confirmation (``fulfilment/shipments``) writes one
  invoice per order it carries lines of, per ERP connector (key
  ``erp-inv-<connector>-<shipment>-<order>``).
- ``queue_purchase_request``: for replenishment (``connectors.erp.PurchaseRequest``).

Each outbox row has its ``erp_posting`` row, where the ERP's answer is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.connectors.erp import PurchaseRequest
from omniroute.core.erp.documents import (
    OrderedLine,
    ShippedUnits,
    check_shipped_within_ordered,
    invoice_document,
    ordered_line,
    sales_order_document,
    to_decimal,
    to_payload,
)
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import ERP_INVOICE, ERP_PURCHASE_REQUEST, ERP_SALES_ORDER
from omniroute.core.platform.models import (
    CarrierBooking,
    Connector,
    ErpPosting,
    FulfilmentLine,
    FulfilmentOrder,
    OrderLine,
    SalesOrder,
    Shipment,
    Warehouse,
)

#: Connector kinds that are ERPs: each enabled one is posted every sales order and invoice.
ERP_CONNECTOR_KINDS = frozenset({"erp_rest"})


def erp_connector_ids(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(Connector.id)
            .where(Connector.kind.in_(ERP_CONNECTOR_KINDS), Connector.enabled.is_(True))
            .order_by(Connector.id)
        )
    )


def _posted(session: Session, connector_id: int, kind: str, order_id: int) -> bool:
    found = session.scalar(
        select(ErpPosting.id)
        .where(
            ErpPosting.order_id == order_id,
            ErpPosting.kind == kind,
            ErpPosting.connector_id == connector_id,
        )
        .limit(1)
    )
    return found is not None


def _canonical_line(canonical: Mapping[str, Any], line_no: int) -> Mapping[str, Any]:
    lines = canonical.get("lines") or []
    line = lines[line_no - 1] if 0 < line_no <= len(lines) else {}
    return line if isinstance(line, Mapping) else {}


def _ordered(order: SalesOrder, line: OrderLine) -> OrderedLine:
    sku = line.sku or line.channel_sku or ""
    return ordered_line(line.id, sku, line.quantity, _canonical_line(order.canonical, line.line_no))


def _number(order: SalesOrder) -> str:
    return order.external_number or order.external_id


def _write(
    session: Session,
    *,
    kind: str,
    connector_id: int,
    key: str,
    payload: dict[str, Any],
    reference: str,
    order_id: int | None = None,
    shipment_id: int | None = None,
) -> int:
    outbox_id = outbox.add(
        session, kind=kind, connector_id=connector_id, idempotency_key=key, payload=payload
    )
    session.add(
        ErpPosting(
            connector_id=connector_id,
            kind=kind,
            outbox_message_id=outbox_id,
            order_id=order_id,
            shipment_id=shipment_id,
            document_reference=reference,
        )
    )
    return outbox_id


def queue_sales_orders(session: Session, order_ids: Iterable[int]) -> list[int]:
    """The sales order of each order, to each ERP that has none of it yet; the outbox ids.
    Call with the orders locked (as ``fulfilment/release`` and ``shipments`` hold them)."""
    connectors = erp_connector_ids(session)
    written: list[int] = []
    if not connectors:
        return written
    for order_id in order_ids:
        order = session.get_one(SalesOrder, order_id)
        for connector_id in connectors:
            if _posted(session, connector_id, ERP_SALES_ORDER, order_id):
                continue
            document = sales_order_document(
                order_id=order.id,
                order_number=_number(order),
                canonical=order.canonical,
                lines=[_ordered(order, line) for line in order.lines],
                service_level=order.service_level,
            )
            written.append(
                _write(
                    session,
                    kind=ERP_SALES_ORDER,
                    connector_id=connector_id,
                    key=f"erp-so-{connector_id}-{order.id}",
                    payload=to_payload(document) | {"order_id": order.id},
                    reference=document.reference,
                    order_id=order.id,
                )
            )
    return written


def _booked_freight(session: Session, shipment: Shipment) -> Decimal | None:
    """The freight a carrier booking of the shipment's fulfilment order cost, on its first
    shipment only (0 on the later ones of a partial shipment); None where no carrier was
    booked (the order's shipping charge then goes on its first invoice)."""
    booked = session.scalar(
        select(CarrierBooking.amount).where(
            CarrierBooking.fulfilment_order_id == shipment.fulfilment_order_id
        )
    )
    if booked is None:
        return None
    earlier = session.scalar(
        select(func.count())
        .select_from(Shipment)
        .where(
            Shipment.fulfilment_order_id == shipment.fulfilment_order_id,
            Shipment.id < shipment.id,
        )
    )
    return Decimal(0) if earlier else to_decimal(booked)


def queue_invoices(session: Session, shipment: Shipment) -> list[int]:
    """The invoices of a shipment just recorded (its lines already counted as shipped), one
    per order it carries lines of, to each ERP; the sales order first where none was
    written (a warehouse that shipped before its release was answered). The outbox ids."""
    connectors = erp_connector_ids(session)
    if not connectors:
        return []
    by_order = _shipped_by_order(session, shipment)
    written = queue_sales_orders(session, sorted(by_order))
    warehouse_code = session.scalar(
        select(Warehouse.code)
        .join(FulfilmentOrder, FulfilmentOrder.warehouse_id == Warehouse.id)
        .where(FulfilmentOrder.id == shipment.fulfilment_order_id)
    )
    cost = _booked_freight(session, shipment)
    for order_id, shipped in sorted(by_order.items()):
        order = session.get_one(SalesOrder, order_id)
        # A shipment of several orders: its freight cost goes on the first order's invoice.
        freight = cost if cost is None or order_id == min(by_order) else Decimal(0)
        for connector_id in connectors:
            first = not _posted(session, connector_id, ERP_INVOICE, order_id)
            document = invoice_document(
                shipment_id=shipment.id,
                order_id=order_id,
                order_number=_number(order),
                canonical=order.canonical,
                shipped=shipped,
                shipped_at=f"{shipment.shipped_at.isoformat()}Z",  # naive UTC in the table
                freight=freight,
                first_invoice=first,
                warehouse_code=warehouse_code,
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
            )
            written.append(
                _write(
                    session,
                    kind=ERP_INVOICE,
                    connector_id=connector_id,
                    key=f"erp-inv-{connector_id}-{shipment.id}-{order_id}",
                    payload=to_payload(document)
                    | {"order_id": order_id, "shipment_id": shipment.id},
                    reference=document.reference,
                    order_id=order_id,
                    shipment_id=shipment.id,
                )
            )
    return written


def _shipped_by_order(session: Session, shipment: Shipment) -> dict[int, list[ShippedUnits]]:
    """Per order: each of its lines on the shipment, with the units shipped of it so far
    (this shipment included) and cancelled, read from its fulfilment lines."""
    on_shipment: dict[int, int] = {}
    for item in shipment.lines:
        fl_id = int(item["fulfilment_line_id"])
        on_shipment[fl_id] = on_shipment.get(fl_id, 0) + int(item["quantity"])
    order_line_of = dict(
        session.execute(
            select(FulfilmentLine.id, FulfilmentLine.order_line_id).where(
                FulfilmentLine.id.in_(list(on_shipment))
            )
        ).all()
    )
    units: dict[int, int] = {}
    for fl_id, qty in on_shipment.items():
        units[order_line_of[fl_id]] = units.get(order_line_of[fl_id], 0) + qty
    totals = {
        ol_id: (int(shipped or 0), int(cancelled or 0))
        for ol_id, shipped, cancelled in session.execute(
            select(
                FulfilmentLine.order_line_id,
                func.sum(FulfilmentLine.shipped_quantity),
                func.sum(FulfilmentLine.cancelled_quantity),
            )
            .where(FulfilmentLine.order_line_id.in_(list(units)))
            .group_by(FulfilmentLine.order_line_id)
        )
    }
    by_order: dict[int, list[ShippedUnits]] = {}
    lines = session.scalars(
        select(OrderLine).where(OrderLine.id.in_(list(units))).order_by(OrderLine.id)
    )
    for line in lines:
        order = session.get_one(SalesOrder, line.order_id)
        shipped_through, cancelled = totals.get(line.id, (units[line.id], 0))
        by_order.setdefault(line.order_id, []).append(
            ShippedUnits(_ordered(order, line), units[line.id], shipped_through, cancelled)
        )
    return by_order


def check_invoice_lines(session: Session, order_line_ids: Sequence[int]) -> None:
    """shipped <= ordered - cancelled for each of these order lines, on today's figures:
    ``InvariantBroken`` otherwise (checked before an invoice is sent)."""
    totals = {
        ol_id: (int(shipped or 0), int(cancelled or 0))
        for ol_id, shipped, cancelled in session.execute(
            select(
                FulfilmentLine.order_line_id,
                func.sum(FulfilmentLine.shipped_quantity),
                func.sum(FulfilmentLine.cancelled_quantity),
            )
            .where(FulfilmentLine.order_line_id.in_(list(order_line_ids)))
            .group_by(FulfilmentLine.order_line_id)
        )
    }
    lines = session.scalars(select(OrderLine).where(OrderLine.id.in_(list(order_line_ids))))
    check_shipped_within_ordered(
        [
            ShippedUnits(
                OrderedLine(line.id, line.sku or "", line.quantity),
                0,
                totals.get(line.id, (0, 0))[0],
                totals.get(line.id, (0, 0))[1],
            )
            for line in lines
        ]
    )


def queue_purchase_request(
    session: Session, connector_id: int, request: PurchaseRequest, *, key: str
) -> int:
    """A purchase request to an ERP (``key``: the caller's, stable for the same need, e.g.
    ``po-<warehouse>-<sku>-<period>``); the outbox id. The payload is
    ``PurchaseRequest.to_payload()``."""
    return _write(
        session,
        kind=ERP_PURCHASE_REQUEST,
        connector_id=connector_id,
        key=key,
        payload=request.to_payload(),
        reference=request.reference or key,
    )


def posting_of(session: Session, outbox_id: int) -> ErpPosting | None:
    return session.scalars(
        select(ErpPosting).where(ErpPosting.outbox_message_id == outbox_id)
    ).first()


def outbox_ids(session: Session, rows: Sequence[ErpPosting]) -> list[int]:
    return [row.outbox_message_id for row in rows]
