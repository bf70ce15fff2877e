"""What comes in from an ERP: its item master and its stock on hand (a sweeper turn).

Each enabled ERP connector that offers them is read every ``poll_every_minutes``: the turn
is taken by moving ``erp_feed.next_run_at`` on in a conditional UPDATE (two sweepers never
read the same feed at once), the ERP is called outside any transaction, and what it said
is applied in one transaction, with what happened kept in ``erp_feed.last_result``.

- Items first (so that the stock read after them finds their SKUs): each SKU created or its
  name and weight updated (``stock/levels.ensure_sku``); each barcode becomes a SKU alias of
  every channel connector named in the ERP connector's ``barcode_alias_connectors`` (the
  model keys aliases by connector), never taking over an alias that means another SKU;
  orders parked on an ``unknown_sku`` that a new alias names are retried, as
  ``stock/warehouses.map_alias`` does for one.
- Stock: on hand set per warehouse code and SKU through ``stock/levels.apply_moves`` counts,
  each change with its ledger row (reason ``count``); never below what orders hold reserved
  (that opens a ``stock_discrepancy`` exception instead, as any count does). A warehouse
  code omniroute does not know, and a row the ERP sent that cannot be read, are skipped
  and listed. Rows the snapshot does not mention are left as they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omniroute.connectors.base import Capability, ConnectorError, enabled_capabilities
from omniroute.connectors.erp import (
    ItemMasterSource,
    ItemRecord,
    Records,
    StockRecord,
    StockSnapshotSource,
)
from omniroute.core.erp.posting import ERP_CONNECTOR_KINDS
from omniroute.core.exceptions import queue
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import Connector, ErpFeed, Sku, SkuAlias, Warehouse
from omniroute.core.platform.ports import HasConnectors
from omniroute.core.stock.levels import StockMoves, apply_moves, ensure_sku
from omniroute.core.stock.warehouses import retry_waiting_on

log = logging.getLogger("omniroute.erp")

ITEMS = "items"
STOCK = "stock"
#: Rejected records and unknown codes listed in ``last_result`` at most.
LISTED = 20


class Deps(queue.Deps, HasConnectors, Protocol):
    """What reading an ERP uses (retrying orders that waited for a new barcode alias)."""


@dataclass(frozen=True)
class FeedRun:
    connector_id: int
    feed: str
    result: dict[str, Any]


def sweep_erp_feeds(deps: Deps, *, now: datetime) -> list[FeedRun]:
    """Read every ERP feed that is due; what each read did."""
    runs: list[FeedRun] = []
    for connector_id, feed in _due(deps, now):
        runs.append(FeedRun(connector_id, feed, run_feed(deps, connector_id, feed, now=now)))
    return runs


def _due(deps: Deps, now: datetime) -> list[tuple[int, str]]:
    """The feeds this sweeper takes now, claimed by moving their next run on."""
    taken: list[tuple[int, str]] = []
    with unit_of_work(deps.sessions) as session:
        connectors = session.scalars(
            select(Connector)
            .where(Connector.kind.in_(ERP_CONNECTOR_KINDS), Connector.enabled.is_(True))
            .order_by(Connector.id)
        ).all()
        for connector in connectors:
            erp = deps.connectors.for_row(connector)
            every = getattr(erp, "poll_every_minutes", 0)
            if not isinstance(every, int) or every <= 0:
                continue
            can = enabled_capabilities(erp)
            feeds = [
                feed
                for feed, capability in (
                    (ITEMS, Capability.ERP_ITEM_MASTER),
                    (STOCK, Capability.ERP_STOCK_SNAPSHOT),
                )
                if capability in can
            ]
            for feed in feeds:
                if _claim(session, connector.id, feed, now, timedelta(minutes=every)):
                    taken.append((connector.id, feed))
    return taken


def _claim(session: Session, connector_id: int, feed: str, now: datetime, every: timedelta) -> bool:
    row = session.get(ErpFeed, (connector_id, feed))
    if row is None:
        try:
            with session.begin_nested():
                session.add(ErpFeed(connector_id=connector_id, feed=feed, next_run_at=now + every))
        except IntegrityError:  # another sweeper wrote it first: its turn
            return False
        return True
    claimed = session.execute(
        update(ErpFeed)
        .where(
            ErpFeed.connector_id == connector_id,
            ErpFeed.feed == feed,
            or_(ErpFeed.next_run_at.is_(None), ErpFeed.next_run_at <= now),
        )
        .values(next_run_at=now + every)
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def run_feed(deps: Deps, connector_id: int, feed: str, *, now: datetime) -> dict[str, Any]:
    """Read one feed of one ERP now and apply it; what happened (also kept on its row)."""
    with unit_of_work(deps.sessions) as session:
        connector = session.get_one(Connector, connector_id)
        erp = deps.connectors.for_row(connector)
        name = connector.name
    result: dict[str, Any]
    try:
        records = _read(erp, feed)
    except ConnectorError as exc:
        result = {"ok": False, "error": f"{exc.reason}: {exc}"[:500]}
        log.warning("erp %s: reading %s failed: %s", connector_id, feed, exc)
    else:
        added: dict[int, set[str]] = {}
        with unit_of_work(deps.sessions) as session:
            if feed == ITEMS:
                result = apply_items(session, connector, records, added=added)
            else:
                result = apply_stock(
                    session, records, reference=f"erp:{connector_id}:stock", actor=f"erp:{name}"
                )
            result = {"ok": True} | result
        # Orders parked on an unknown SKU that a new barcode alias now names go again.
        retried = [
            exception_id
            for alias_connector, aliases in sorted(added.items())
            for exception_id in retry_waiting_on(
                deps, alias_connector, aliases, actor=f"erp:{name}"
            )
        ]
        if retried:
            result["exceptions_retried"] = len(retried)
    with unit_of_work(deps.sessions) as session:
        row = session.get(ErpFeed, (connector_id, feed))
        if row is None:
            row = ErpFeed(connector_id=connector_id, feed=feed)
            session.add(row)
        row.last_run_at = now
        row.last_result = result
    return result


def _read(erp: Any, feed: str) -> Records:
    if feed == ITEMS and isinstance(erp, ItemMasterSource):
        return erp.fetch_items()
    if feed == STOCK and isinstance(erp, StockSnapshotSource):
        return erp.fetch_stock_snapshot()
    raise ConnectorError(f"this ERP connector does not offer {feed}", reason="off")


def _rejected(records: Records) -> list[dict[str, Any]]:
    return [{"record": raw, "reason": why} for raw, why in records.rejected[:LISTED]]


def apply_stock(
    session: Session, records: Records, *, reference: str, actor: str
) -> dict[str, Any]:
    """Set on hand to the ERP's figures (see the module); counts of what was done."""
    codes = {code: wid for wid, code in session.execute(select(Warehouse.id, Warehouse.code))}
    moves = StockMoves()
    unknown: set[str] = set()
    for record in records.records:
        if not isinstance(record, StockRecord):
            continue
        wid = codes.get(record.warehouse_code)
        if wid is None:
            unknown.add(record.warehouse_code)
            continue
        moves.counts[(wid, record.sku)] = record.on_hand
    apply_moves(session, moves, reference=reference, actor=actor)
    return {
        "rows": len(moves.counts),
        "unknown_warehouses": sorted(unknown)[:LISTED],
        "rejected": _rejected(records),
    }


def apply_items(
    session: Session,
    connector: Connector,
    records: Records,
    *,
    added: dict[int, set[str]] | None = None,
) -> dict[str, Any]:
    """Create or update each SKU, and alias its barcodes (see the module); the aliases
    added are collected per channel connector in ``added``."""
    alias_connectors = _alias_connectors(session, connector)
    added = {} if added is None else added
    created = updated = 0
    conflicts: list[dict[str, str]] = []
    for record in records.records:
        if not isinstance(record, ItemRecord):
            continue
        change = _upsert_sku(session, record)
        created += change == "created"
        updated += change == "updated"
        for alias_connector in alias_connectors:
            for code in record.barcodes:
                outcome = _alias(session, alias_connector, code, record.sku)
                if outcome == "added":
                    added.setdefault(alias_connector, set()).add(code[:200])
                elif outcome is not None and len(conflicts) < LISTED:
                    conflicts.append({"barcode": code, "sku": record.sku, "held_by": outcome})
    return {
        "created": created,
        "updated": updated,
        "aliases_added": sum(len(codes) for codes in added.values()),
        "alias_conflicts": conflicts,
        "rejected": _rejected(records),
    }


def _upsert_sku(session: Session, record: ItemRecord) -> str | None:
    """The SKU created or its name and weight brought up to date: what changed, if anything."""
    known = session.get(Sku, record.sku)
    before = None if known is None else (known.name, known.weight_kg)
    sku = ensure_sku(session, record.sku, record.name)
    if record.weight_kg is not None and sku.weight_kg != record.weight_kg:
        sku.weight_kg = record.weight_kg
    if known is None:
        return "created"
    return "updated" if before != (sku.name, sku.weight_kg) else None


def _alias_connectors(session: Session, connector: Connector) -> list[int]:
    names = (connector.config or {}).get("barcode_alias_connectors") or []
    if not names:
        return []
    return list(
        session.scalars(
            select(Connector.id).where(Connector.name.in_(names)).order_by(Connector.id)
        )
    )


def _alias(session: Session, connector_id: int, code: str, sku: str) -> str | None:
    """Add the alias: ``added``; None if it is there already for this SKU; else the SKU that
    holds it."""
    alias = code[:200]
    held = session.scalar(
        select(SkuAlias.sku).where(SkuAlias.connector_id == connector_id, SkuAlias.alias == alias)
    )
    if held == sku:
        return None
    if held is not None:
        return held
    session.add(SkuAlias(connector_id=connector_id, alias=alias, sku=sku))
    session.flush()
    return "added"
