"""An EDI partner told of each shipment of its orders (856 / DESADV), written with the
shipment, numbered and rendered in that transaction: the lines the shipment carried of the
order, with the identifiers the partner sent for them, and the tracking number."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.edi import (
    AnswerLine,
    EdiPartner,
    Reply,
    ShipmentInvoicing,
    ShipmentNotice,
    ShipmentNoticing,
)
from omniroute.core.edi.documents import queue_document
from omniroute.core.edi.order_answers import identifiers_of
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.platform.clock import as_aware
from omniroute.core.platform.models import FulfilmentLine, OrderLine, SalesOrder, Shipment

_NOTICES: dict[type, bool] = {}


def _notices(source: object) -> bool:
    kind = type(source)
    known = _NOTICES.get(kind)
    if known is None:
        known = _NOTICES[kind] = issubclass(kind, ShipmentNoticing) and issubclass(kind, EdiPartner)
    return known


def notice_shipped(
    session: Session,
    connector_id: int,
    source: Any,
    order: SalesOrder,
    shipment: Shipment,
    *,
    only_lines: list[int] | None = None,
) -> list[int]:
    """The outbox ids of the partner's 856 / DESADV and 810 / INVOIC for this shipment of
    ``order``, as far as its agreement asks for them (none for other channels)."""
    if not _notices(source):
        return []
    carried = {
        int(x["fulfilment_line_id"]): int(x["quantity"])
        for x in shipment.lines or ()
        if only_lines is None or int(x["fulfilment_line_id"]) in only_lines
    }
    rows = session.execute(
        select(FulfilmentLine.id, OrderLine)
        .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
        .where(FulfilmentLine.id.in_(list(carried)), OrderLine.order_id == order.id)
    ).all()
    canonical = order.canonical or {}
    channel_lines = canonical.get("lines") or []
    lines = []
    for fulfilment_line_id, line in sorted(rows, key=lambda r: r[1].line_no):
        source_line = channel_lines[line.line_no - 1] if line.line_no <= len(channel_lines) else {}
        lines.append(
            AnswerLine(
                line_id=line.external_line_id or str(line.line_no),
                ordered=line.quantity,
                accepted=carried[fulfilment_line_id],
                backordered=0,
                unit=source_line.get("unit_of_measure"),
                identifiers=identifiers_of(source_line),
                unit_price=str(line.unit_price) if line.unit_price is not None else None,
            )
        )
    shipped_at = as_aware(shipment.shipped_at)
    assert shipped_at is not None  # noqa: S101 - a shipment always has its time
    notice = ShipmentNotice(
        shipment_id=shipment.id,
        external_id=order.external_id,
        order_date=str(canonical.get("created_at") or "")[:10] or None,
        shipped_at=shipped_at,
        lines=tuple(lines),
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        ship_to=order.ship_to,
        currency=order.currency,
    )
    written = []
    for what, make in (("shipment", source.notice_shipment), ("invoice", _invoicer(source))):
        try:
            reply = make(notice)
            if reply is None:
                continue
            with session.begin_nested():  # a document that cannot be written keeps the shipment
                written.append(
                    queue_document(
                        session,
                        connector_id,
                        source,
                        reply,
                        key=f"edi:{connector_id}:{what}:{shipment.id}:{order.id}",
                    )
                )
        except ValueError as exc:
            open_exception(
                session,
                Reason.CHANNEL_PUSH_FAILED,
                order_id=order.id,
                detail={
                    "message": f"the {what} document for shipment {shipment.id} cannot be "
                    f"written: {exc}",
                    "connector_id": connector_id,
                },
            )
    return written


def _invoicer(source: object) -> Callable[[ShipmentNotice], Reply | None]:
    if isinstance(source, ShipmentInvoicing):
        return source.invoice_shipment
    return lambda _: None
