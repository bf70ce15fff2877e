"""Acting on a run's suggestions: purchases sent to an ERP as purchase requests (through the
outbox, kind ``erp.purchase_request``, keyed per suggestion so a repeat sends nothing
twice), or dismissed. Only ``proposed`` suggestions are acted on; each ends ``sent`` or
``dismissed``, audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select

from omniroute.connectors.erp import PurchaseRequest
from omniroute.core.access.audit import Action, Entity, record
from omniroute.core.erp.posting import erp_connector_ids, queue_purchase_request
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid
from omniroute.core.platform.models import ReplenishmentSuggestion, StockThreshold, Warehouse
from omniroute.core.platform.ports import HasDispatcher, Store

MAX_SENT = 5000


class Deps(Store, HasDispatcher, Protocol):
    """What sending purchase requests uses."""


@dataclass(frozen=True)
class Sent:
    connector_id: int
    suggestion_ids: list[int]
    outbox_ids: list[int]


def send_purchases(
    deps: Deps,
    *,
    suggestion_ids: Sequence[int] | None = None,
    connector_id: int | None = None,
    actor: str,
) -> Sent:
    """Send the proposed purchases (all of them, or those of ``suggestion_ids``) to the ERP
    (``connector_id``, or the only enabled one) as purchase requests, needed by today plus
    the pair's lead time."""
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        erps = erp_connector_ids(session)
        if connector_id is None:
            if not erps:
                raise Conflict("no ERP connector is enabled to send purchases to", code="no_erp")
            if len(erps) > 1:
                raise Invalid(f"several ERPs are enabled ({erps}): say which (connector_id)")
            connector_id = erps[0]
        elif connector_id not in erps:
            raise Invalid(f"connector {connector_id} is not an enabled ERP", code="not_an_erp")
        q = (
            select(ReplenishmentSuggestion, Warehouse.code, StockThreshold.lead_time_days)
            .join(Warehouse, Warehouse.id == ReplenishmentSuggestion.warehouse_id)
            .outerjoin(
                StockThreshold,
                (StockThreshold.warehouse_id == ReplenishmentSuggestion.warehouse_id)
                & (StockThreshold.sku == ReplenishmentSuggestion.sku),
            )
            .where(
                ReplenishmentSuggestion.kind == "purchase",
                ReplenishmentSuggestion.status == "proposed",
            )
            .order_by(ReplenishmentSuggestion.id)
            .limit(MAX_SENT)
            .with_for_update(of=ReplenishmentSuggestion)
        )
        if suggestion_ids is not None:
            q = q.where(ReplenishmentSuggestion.id.in_(sorted(set(suggestion_ids))))
        sent, outbox = [], []
        for row, code, lead_days in session.execute(q).all():
            request = PurchaseRequest(
                sku=row.sku,
                warehouse=code,
                quantity=row.quantity,
                needed_by=(now + timedelta(days=lead_days or 0)).date(),
                reference=f"replenishment-{row.id}",
                note=f"replenishment run {row.run_id}",
            )
            key = f"po-{connector_id}-{row.id}"
            outbox.append(queue_purchase_request(session, connector_id, request, key=key))
            row.status = "sent"
            sent.append(row.id)
        if suggestion_ids is not None and len(sent) != len(set(suggestion_ids)):
            missing = sorted(set(suggestion_ids) - set(sent))
            raise Conflict(
                f"suggestion(s) {missing} are not proposed purchases; nothing was sent",
                code="not_proposed",
            )
        if sent:
            record(
                session,
                actor,
                Action.REPLENISHMENT_SEND,
                Entity.REPLENISHMENT_RUN,
                "purchases",
                {"connector_id": connector_id, "suggestions": sent},
            )
    for outbox_id in outbox:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    return Sent(connector_id, sent, outbox)


def dismiss(deps: Store, suggestion_ids: Sequence[int], *, actor: str) -> list[int]:
    """Set proposed suggestions aside (nothing is sent); the ids dismissed."""
    with unit_of_work(deps.sessions) as session:
        rows = session.scalars(
            select(ReplenishmentSuggestion)
            .where(
                ReplenishmentSuggestion.id.in_(sorted(set(suggestion_ids))),
                ReplenishmentSuggestion.status == "proposed",
            )
            .with_for_update()
        ).all()
        for row in rows:
            row.status = "dismissed"
        done = sorted(row.id for row in rows)
        if done:
            record(
                session,
                actor,
                Action.REPLENISHMENT_DISMISS,
                Entity.REPLENISHMENT_RUN,
                "dismissed",
                {"suggestions": done},
            )
        return done
