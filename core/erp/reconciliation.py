"""The ERP reconciliation report over a date range, per ERP connector:

- shipped but not invoiced: each shipment shipped in the range (``shipped_at``, UTC days,
  both ends included) with no ``erp.invoice`` the ERP took for each order it carries: none
  written (``missing``: the ERP connector was added or enabled after it shipped), still on
  its way (``pending``), or a dead letter (``dead``: see its ``erp_posting_failed``
  exception, and redrive it);
- invoices without a shipment: the ERP's invoices issued in the range (its invoice list,
  read now) that match no invoice omniroute posted to it, by our reference or by the
  number the ERP answered with.

Clean when both lists are empty and the ERP's list could be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import ConnectorError
from omniroute.connectors.erp import ErpInvoice, InvoiceLister
from omniroute.core.erp.posting import ERP_CONNECTOR_KINDS
from omniroute.core.outbox.messages import ERP_INVOICE
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Invalid, NotFound
from omniroute.core.platform.models import Connector, ErpPosting, OutboxMessage, Shipment
from omniroute.core.platform.ports import HasConnectors, HasSessions

#: Rows listed per list at most; ``truncated`` says when there were more.
MAX_ROWS = 1000
MAX_DAYS = 366


class Deps(HasSessions, HasConnectors, Protocol):
    """What the report reads."""


def erp_reconciliation(
    deps: Deps, *, date_from: date, date_to: date, connector_id: int | None = None
) -> dict[str, Any]:
    if date_to < date_from:
        raise Invalid("date_to is before date_from", code="bad_range")
    if (date_to - date_from).days >= MAX_DAYS:
        raise Invalid(f"the range is longer than {MAX_DAYS} days", code="bad_range")
    start = datetime.combine(date_from, time.min)
    end = datetime.combine(date_to + timedelta(days=1), time.min)
    with unit_of_work(deps.sessions) as session:
        connectors = _connectors(session, connector_id)
        listers = {c.id: deps.connectors.for_row(c) for c in connectors}
        names = {c.id: c.name for c in connectors}
    reports = []
    for cid in sorted(names):
        erp_invoices, error = _erp_invoices(listers[cid], date_from, date_to)
        with unit_of_work(deps.sessions) as session:
            not_invoiced, more = _shipped_not_invoiced(session, cid, start, end)
            orphans = _without_shipment(session, cid, erp_invoices)
        reports.append(
            {
                "connector_id": cid,
                "connector": names[cid],
                "shipped_not_invoiced": not_invoiced,
                "shipped_not_invoiced_truncated": more,
                "invoices_without_shipment": orphans[:MAX_ROWS],
                "invoices_without_shipment_truncated": len(orphans) > MAX_ROWS,
                "erp_invoices_read": None if error else len(erp_invoices),
                "erp_invoice_list_error": error,
                "clean": not not_invoiced and not orphans and error is None,
            }
        )
    return {
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "connectors": reports,
        "clean": all(r["clean"] for r in reports),
    }


def _connectors(session: Session, connector_id: int | None) -> Sequence[Connector]:
    query = select(Connector).where(Connector.kind.in_(ERP_CONNECTOR_KINDS)).order_by(Connector.id)
    if connector_id is not None:
        found = session.scalars(query.where(Connector.id == connector_id)).all()
        if not found:
            raise NotFound(f"ERP connector {connector_id} does not exist")
        return found
    return session.scalars(query.where(Connector.enabled.is_(True))).all()


def _erp_invoices(
    erp: Any, date_from: date, date_to: date
) -> tuple[Sequence[ErpInvoice], str | None]:
    if not isinstance(erp, InvoiceLister):
        return (), "this ERP connector cannot list its invoices"
    try:
        return erp.list_invoices(date_from, date_to), None
    except ConnectorError as exc:
        return (), f"{exc.reason}: {exc}"[:500]


def _shipped_not_invoiced(
    session: Session, connector_id: int, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], bool]:
    shipments = session.execute(
        select(Shipment.id, Shipment.order_id, Shipment.shipped_at)
        .where(Shipment.shipped_at >= start, Shipment.shipped_at < end)
        .order_by(Shipment.shipped_at, Shipment.id)
    ).all()
    if not shipments:
        return [], False
    postings: dict[int, list[tuple[int | None, str, int, str | None]]] = {}
    ids = [s.id for s in shipments]
    for chunk in range(0, len(ids), 500):
        rows = session.execute(
            select(
                ErpPosting.shipment_id,
                ErpPosting.order_id,
                OutboxMessage.status,
                OutboxMessage.id,
                ErpPosting.erp_reference,
            )
            .join(OutboxMessage, OutboxMessage.id == ErpPosting.outbox_message_id)
            .where(
                ErpPosting.connector_id == connector_id,
                ErpPosting.kind == ERP_INVOICE,
                ErpPosting.shipment_id.in_(ids[chunk : chunk + 500]),
            )
        )
        for shipment_id, order_id, status, outbox_id, ref in rows:
            if shipment_id is not None:
                postings.setdefault(shipment_id, []).append((order_id, status, outbox_id, ref))
    found: list[dict[str, Any]] = []
    for shipment in shipments:
        mine = postings.get(shipment.id, [])
        problem = _problem(mine)
        if problem is None:
            continue
        if len(found) >= MAX_ROWS:
            return found, True
        found.append(
            {
                "shipment_id": shipment.id,
                "order_id": shipment.order_id,
                "shipped_at": shipment.shipped_at.isoformat(),
                "problem": problem,
                "invoices": [
                    {"order_id": o, "status": s, "outbox_message_id": i, "erp_reference": r}
                    for o, s, i, r in mine
                ],
            }
        )
    return found, False


def _problem(postings: list[tuple[int | None, str, int, str | None]]) -> str | None:
    if not postings:
        return "missing"
    statuses = {status for _, status, _, _ in postings}
    if "dead" in statuses:
        return "dead"
    if statuses - {"sent"}:
        return "pending"
    return None


def _without_shipment(
    session: Session, connector_id: int, invoices: Sequence[ErpInvoice]
) -> list[dict[str, Any]]:
    if not invoices:
        return []
    wanted_numbers = sorted({inv.number for inv in invoices})
    wanted_refs = sorted({inv.reference for inv in invoices if inv.reference})
    numbers: set[str] = set()
    references: set[str] = set()
    of_ours = (
        ErpPosting.connector_id == connector_id,
        ErpPosting.kind == ERP_INVOICE,
        ErpPosting.shipment_id.is_not(None),
    )
    for chunk in range(0, len(wanted_numbers), 500):
        numbers.update(
            ref
            for ref in session.scalars(
                select(ErpPosting.erp_reference).where(
                    *of_ours, ErpPosting.erp_reference.in_(wanted_numbers[chunk : chunk + 500])
                )
            )
            if ref
        )
    for chunk in range(0, len(wanted_refs), 500):
        references.update(
            session.scalars(
                select(ErpPosting.document_reference).where(
                    *of_ours, ErpPosting.document_reference.in_(wanted_refs[chunk : chunk + 500])
                )
            )
        )
    return [
        {
            "number": inv.number,
            "reference": inv.reference,
            "order_reference": inv.order_reference,
            "issued_on": inv.issued_on.isoformat() if inv.issued_on else None,
            "total": inv.total,
        }
        for inv in invoices
        if inv.number not in numbers and (inv.reference is None or inv.reference not in references)
    ]
