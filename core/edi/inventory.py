"""Available-to-sell to EDI partners (846): a sweeper turn writes, for each partner whose
agreement asks for it, one inventory advice per ``inventory_every`` minutes, with the figure
of each of its listings read then (``stock/levels.channel_available`` less the listing's
buffer), numbered and rendered in that transaction. The advice's key is the partner and the
period it covers, so a second sweep in the same period writes none."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from omniroute.connectors.edi import EdiPartner, InventoryAdvising, InventoryReport
from omniroute.core.edi.documents import queue_document
from omniroute.core.edi.folders import KINDS
from omniroute.core.edi.intake import Deps
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import ChannelListing, Connector, OutboxMessage
from omniroute.core.stock.levels import channel_available


def advise_inventory(deps: Deps, *, now: datetime) -> int:
    """Write the 846s that are due; how many."""
    written: list[int] = []
    with unit_of_work(deps.sessions) as session:
        partners = session.scalars(
            select(Connector).where(Connector.kind.in_(KINDS), Connector.enabled.is_(True))
        ).all()
        for connector in partners:
            source = deps.connectors.for_row(connector)
            every = getattr(source, "inventory_every", None)
            if not isinstance(every, int) or not isinstance(source, InventoryAdvising):
                continue
            moment = now if now.tzinfo else now.replace(tzinfo=UTC)
            period = int(moment.timestamp()) // (every * 60)
            key = f"edi:{connector.id}:inventory:{every}:{period}"
            if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)):
                continue
            listings = session.scalars(
                select(ChannelListing)
                .where(ChannelListing.connector_id == connector.id)
                .order_by(ChannelListing.channel_ref)
            ).all()
            free = channel_available(session, connector, [x.sku for x in listings])
            report = InventoryReport(
                reference=f"{connector.id}-{period}",
                as_of=moment,
                lines=tuple(
                    (x.channel_ref, max(free.get(x.sku, 0) - (x.buffer or 0), 0)) for x in listings
                ),
            )
            reply = source.advise_inventory(report)
            if reply is not None and isinstance(source, EdiPartner):
                written.append(queue_document(session, connector.id, source, reply, key=key))
    for outbox_id in written:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    return len(written)
