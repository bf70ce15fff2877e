"""Available-to-sell out to channels, within a minute of any stock change.

Every stock change writes a ledger row, so the ledger is the change feed: each sync reads the
rows added since its cursor, takes the SKUs they touch, works out each listing's available
quantity (free stock of the warehouses that serve the channel, minus the listing's buffer)
and writes one outbox row per channel for the listings whose quantity changed. Changes within
one interval are pushed together (the debounce). The quantity is read again when the row is
sent, so a late or redriven push never sends a stale figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import uuid4

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omniroute.connectors.base import Capability
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import CHANNEL_STOCK
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import NotFound
from omniroute.core.platform.models import (
    ChannelListing,
    Connector,
    StockLedger,
    SyncCursor,
)
from omniroute.core.platform.ports import HasConnectors, HasDispatcher, HasSettings, Store
from omniroute.core.stock.levels import channel_available

CURSOR = "stock_ledger"
BATCH = 100


class Deps(Store, HasSettings, HasDispatcher, HasConnectors, Protocol):
    """What stock sync uses."""


def sync_stock(deps: Deps, *, now: datetime | None = None, force: bool = False) -> int:
    """Queue pushes for listings whose available quantity changed; how many rows were queued.

    Runs at most once per ``stock_sync_interval`` unless ``force``.
    """
    now = now or deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        cursor = _cursor(session)
        due = cursor.updated_at is None or cursor.updated_at <= now - timedelta(
            seconds=deps.settings.stock_sync_interval
        )
        if not (due or force):
            return 0
        newest = session.scalar(select(func.max(StockLedger.id))) or 0
        skus = list(
            session.scalars(
                select(StockLedger.sku)
                .where(StockLedger.id > cursor.position, StockLedger.id <= newest)
                .distinct()
            )
        )
        cursor.position, cursor.updated_at = newest, now
        outbox_ids = _queue_changes(deps, session, skus) if skus else []
    for outbox_id in outbox_ids:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    return len(outbox_ids)


def resync_connector(deps: Deps, connector_id: int) -> int:
    """Push every listing of one channel now, changed or not (after set-up or an outage)."""
    with unit_of_work(deps.sessions) as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            raise NotFound(f"connector {connector_id} does not exist")
        listings = list(
            session.scalars(
                select(ChannelListing.id)
                .where(ChannelListing.connector_id == connector.id)
                .order_by(ChannelListing.sku)
            )
        )
        outbox_ids = _write_outbox(session, connector.id, listings)
    for outbox_id in outbox_ids:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    return len(outbox_ids)


def _cursor(session: Session) -> SyncCursor:
    cursor = session.get(SyncCursor, CURSOR, with_for_update=True)
    if cursor is None:
        module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            module.insert(SyncCursor.__table__)
            .values(name=CURSOR, position=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        cursor = session.get_one(SyncCursor, CURSOR, with_for_update=True)
    return cursor


def _queue_changes(deps: Deps, session: Session, skus: list[str]) -> list[int]:
    stock_kinds = [
        kind
        for kind, cls in deps.connectors.kinds.items()
        if Capability.STOCK_PUSH in cls.capabilities
    ]
    connectors = list(
        session.scalars(
            select(Connector).where(Connector.enabled.is_(True), Connector.kind.in_(stock_kinds))
        )
    )
    outbox_ids: list[int] = []
    for connector in connectors:
        if not deps.connectors.can(connector, Capability.STOCK_PUSH):
            continue
        listings = list(
            session.scalars(
                select(ChannelListing).where(
                    ChannelListing.connector_id == connector.id, ChannelListing.sku.in_(skus)
                )
            )
        )
        available = channel_available(session, connector, [item.sku for item in listings])
        changed = [
            item.id
            for item in sorted(listings, key=lambda item: item.sku)
            if max(available.get(item.sku, 0) - item.buffer, 0) != item.pushed_available
        ]
        outbox_ids += _write_outbox(session, connector.id, changed)
    return outbox_ids


def _write_outbox(session: Session, connector_id: int, listing_ids: list[int]) -> list[int]:
    """One push per ``BATCH`` listings, due at once (whatever time the sync ran for)."""
    return [
        outbox.add(
            session,
            kind=CHANNEL_STOCK,
            connector_id=connector_id,
            idempotency_key=f"stock-{connector_id}-{uuid4().hex}",
            payload={"listing_ids": listing_ids[start : start + BATCH]},
        )
        for start in range(0, len(listing_ids), BATCH)
    ]
