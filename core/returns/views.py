"""Returns as the API and the console show them: one with its lines and receipts, a filtered
list (paged by id), an order's returns; and whether a scoped token may see one."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session, selectinload

from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import NotFound
from omniroute.core.platform.models import (
    ReturnAuthorisation,
    ReturnReceipt,
    SalesOrder,
    Warehouse,
)
from omniroute.core.platform.ports import HasSessions

MAX_PAGE = 200


@dataclass(frozen=True)
class ReturnFilter:
    status: str | None = None
    order_id: int | None = None
    warehouse_id: int | None = None
    connector_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    after_id: int | None = None
    limit: int = 50


@dataclass(frozen=True)
class Scope:
    """A token's limits (None: not limited by that)."""

    connector_ids: Collection[int] | None = None
    warehouse_ids: Collection[int] | None = None


def get_return(deps: HasSessions, return_id: int) -> dict[str, Any]:
    with unit_of_work(deps.sessions) as session:
        rma = session.get(ReturnAuthorisation, return_id)
        if rma is None:
            raise NotFound(f"return {return_id} does not exist")
        return _view(session, rma, with_receipts=True)


def list_returns(
    deps: HasSessions, flt: ReturnFilter, scope: Scope | None = None
) -> list[dict[str, Any]]:
    q = _scoped(select(ReturnAuthorisation), scope or Scope())
    if flt.status:
        q = q.where(ReturnAuthorisation.status == flt.status)
    if flt.order_id is not None:
        q = q.where(ReturnAuthorisation.order_id == flt.order_id)
    if flt.warehouse_id is not None:
        q = q.where(ReturnAuthorisation.warehouse_id == flt.warehouse_id)
    if flt.connector_id is not None:
        q = q.where(ReturnAuthorisation.connector_id == flt.connector_id)
    if flt.created_from is not None:
        q = q.where(ReturnAuthorisation.created_at >= flt.created_from)
    if flt.created_to is not None:
        q = q.where(ReturnAuthorisation.created_at < flt.created_to)
    if flt.after_id is not None:
        q = q.where(ReturnAuthorisation.id > flt.after_id)
    q = (
        q.options(selectinload(ReturnAuthorisation.lines))
        .order_by(ReturnAuthorisation.id)
        .limit(max(1, min(flt.limit, MAX_PAGE)))
    )
    with unit_of_work(deps.sessions) as session:
        return [_view(session, rma, with_receipts=False) for rma in session.scalars(q)]


def returns_of_order(deps: HasSessions, order_id: int) -> list[dict[str, Any]]:
    return list_returns(deps, ReturnFilter(order_id=order_id, limit=MAX_PAGE))


def return_visible(deps: HasSessions, return_id: int, scope: Scope) -> bool:
    q = _scoped(select(ReturnAuthorisation.id), scope).where(ReturnAuthorisation.id == return_id)
    with unit_of_work(deps.sessions) as session:
        return session.scalar(q) is not None


def _scoped(q: Select[Any], scope: Scope) -> Select[Any]:
    if scope.connector_ids is not None:
        ids = sorted(scope.connector_ids)
        q = q.where(ReturnAuthorisation.connector_id.in_(ids) if ids else false())
    if scope.warehouse_ids is not None:
        ids = sorted(scope.warehouse_ids)
        q = q.where(ReturnAuthorisation.warehouse_id.in_(ids) if ids else false())
    return q


def _view(session: Session, rma: ReturnAuthorisation, *, with_receipts: bool) -> dict[str, Any]:
    order = session.get_one(SalesOrder, rma.order_id)
    warehouse = session.get_one(Warehouse, rma.warehouse_id)
    view: dict[str, Any] = {
        "id": rma.id,
        "rma_number": rma.rma_number,
        "order_id": rma.order_id,
        "order_reference": order.external_number or order.external_id,
        "connector_id": rma.connector_id,
        "warehouse_id": rma.warehouse_id,
        "warehouse_code": warehouse.code,
        "status": rma.status,
        "source": rma.source,
        "reason": rma.reason,
        "note": rma.note,
        "external_id": rma.external_id,
        "tracking_number": rma.tracking_number,
        "carrier": rma.carrier,
        "created_by": rma.created_by,
        "created_at": rma.created_at,
        "updated_at": rma.updated_at,
        "lines": [
            {
                "id": ln.id,
                "order_line_id": ln.order_line_id,
                "sku": ln.sku,
                "quantity": ln.quantity,
                "restocked_quantity": ln.restocked_quantity,
                "written_off_quantity": ln.written_off_quantity,
            }
            for ln in rma.lines
        ],
    }
    if with_receipts:
        view["receipts"] = [
            {
                "id": r.id,
                "external_ref": r.external_ref,
                "received_at": r.received_at,
                "lines": r.lines,
            }
            for r in session.scalars(
                select(ReturnReceipt)
                .where(ReturnReceipt.return_id == rma.id)
                .order_by(ReturnReceipt.id)
            )
        ]
    return view
