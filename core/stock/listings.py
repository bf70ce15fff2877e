"""Channel listings: which SKUs a channel sells, under which of its ids, with what buffer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from omniroute.connectors.base import Capability
from omniroute.connectors.edi import InventoryAdvising
from omniroute.core.access.audit import record
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import ChannelListing, Connector, Sku
from omniroute.core.platform.ports import HasConnectors, HasSessions


class Deps(HasSessions, HasConnectors, Protocol):
    """What channel listings use."""


@dataclass(frozen=True)
class ListingIn:
    sku: str
    channel_ref: str
    buffer: int = 0


def put_listings(
    deps: Deps, connector_id: int, items: list[ListingIn], *, actor: str
) -> list[ChannelListing]:
    """Create or update listings by SKU (others are left as they are)."""
    with unit_of_work(deps.sessions) as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            raise NotFound(f"connector {connector_id} does not exist")
        # An EDI partner takes its stock as an 846 of its listings (core/edi/inventory.py).
        advises = isinstance(deps.connectors.for_row(connector), InventoryAdvising)
        if not advises and not deps.connectors.can(connector, Capability.STOCK_PUSH):
            raise Conflict(
                f"connector {connector_id} ({connector.kind}) does not take stock as configured",
                code="not_stock_push",
            )
        skus = {item.sku for item in items}
        known = set(session.scalars(select(Sku.code).where(Sku.code.in_(sorted(skus)))))
        unknown = sorted(skus - known)
        if unknown:
            raise Invalid("unknown SKUs", code="unknown_sku", skus=unknown)
        existing = {
            row.sku: row
            for row in session.scalars(
                select(ChannelListing).where(
                    ChannelListing.connector_id == connector_id, ChannelListing.sku.in_(skus)
                )
            )
        }
        for item in items:
            row = existing.get(item.sku)
            if row is None:
                row = ChannelListing(connector_id=connector_id, sku=item.sku)
                session.add(row)
                existing[item.sku] = row
            if row.channel_ref != item.channel_ref or row.buffer != item.buffer:
                row.pushed_available = None  # push again: what the channel holds may differ
            row.channel_ref, row.buffer = item.channel_ref, item.buffer
        record(session, actor, "listings.put", "connector", connector_id, {"skus": sorted(skus)})
        session.flush()
        return sorted(existing.values(), key=lambda row: row.sku)


def list_listings(deps: Deps, connector_id: int) -> list[ChannelListing]:
    with unit_of_work(deps.sessions) as session:
        if session.get(Connector, connector_id) is None:
            raise NotFound(f"connector {connector_id} does not exist")
        return list(
            session.scalars(
                select(ChannelListing)
                .where(ChannelListing.connector_id == connector_id)
                .order_by(ChannelListing.sku)
            )
        )
