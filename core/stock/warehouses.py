"""Warehouses, the SKU catalogue and SKU aliases: what ops configure."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from omniroute.core.access.audit import record
from omniroute.core.exceptions import queue
from omniroute.core.exceptions.opening import Reason
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import (
    Connector,
    OrderException,
    SalesOrder,
    Sku,
    SkuAlias,
    Warehouse,
)
from omniroute.core.platform.ports import HasSessions
from omniroute.core.stock.levels import ensure_sku

WAREHOUSE_FIELDS = (
    "code",
    "name",
    "address",
    "country",
    "postal_code",
    "priority",
    "enabled",
    "wms_connector_id",
    "tags",
    "channels",
    "daily_order_capacity",
    "cutoff_local_time",
    "timezone",
    "latitude",
    "longitude",
    "rate_table",
    "calendar",
    "channel_buffers",
)
CLEARED_BY_NULL = ("calendar", "channel_buffers")  # PATCH null: back to {} (none)
# Null clears these (no WMS, no capacity limit, no cut-off, no location) besides the above.
NULLABLE = (
    "wms_connector_id",
    "daily_order_capacity",
    "cutoff_local_time",
    "latitude",
    "longitude",
)


def create_warehouse(deps: HasSessions, data: dict[str, Any], *, actor: str) -> Warehouse:
    try:
        with unit_of_work(deps.sessions) as session:
            _check_wms(session, data.get("wms_connector_id"))
            wh = Warehouse(**{k: v for k, v in data.items() if k in WAREHOUSE_FIELDS})
            session.add(wh)
            session.flush()
            record(session, actor, "warehouse.create", "warehouse", wh.id, {"code": wh.code})
            return wh
    except IntegrityError:
        raise Conflict(f"warehouse code {data.get('code')!r} is taken", code="duplicate") from None


def update_warehouse(
    deps: HasSessions, warehouse_id: int, changes: dict[str, Any], *, actor: str
) -> Warehouse:
    with unit_of_work(deps.sessions) as session:
        wh = session.get(Warehouse, warehouse_id)
        if wh is None:
            raise NotFound(f"warehouse {warehouse_id} does not exist")
        nulls = sorted(
            key
            for key, value in changes.items()
            if value is None and key not in NULLABLE + CLEARED_BY_NULL
        )
        if nulls:  # checked before anything is set: nothing is written
            raise Invalid(f"{', '.join(nulls)} may not be null", code="null_not_allowed")
        if "wms_connector_id" in changes:
            _check_wms(session, changes["wms_connector_id"])
        fields = [key for key in changes if key in WAREHOUSE_FIELDS and key != "code"]
        before = {key: getattr(wh, key) for key in fields}
        for key in fields:
            value = changes[key]
            setattr(wh, key, {} if value is None and key in CLEARED_BY_NULL else value)
        after = {key: getattr(wh, key) for key in fields}
        record(
            session,
            actor,
            "warehouse.update",
            "warehouse",
            wh.id,
            changes,
            before=before,
            after=after,
        )
        return wh


def _check_wms(session: Any, connector_id: int | None) -> None:
    if connector_id is not None and session.get(Connector, connector_id) is None:
        raise Invalid(f"connector {connector_id} does not exist", code="unknown_connector")


def list_warehouses(deps: HasSessions) -> list[Warehouse]:
    with unit_of_work(deps.sessions) as session:
        return list(session.scalars(select(Warehouse).order_by(Warehouse.priority, Warehouse.code)))


def get_warehouse(deps: HasSessions, warehouse_id: int) -> Warehouse:
    with unit_of_work(deps.sessions) as session:
        wh = session.get(Warehouse, warehouse_id)
        if wh is None:
            raise NotFound(f"warehouse {warehouse_id} does not exist")
        return wh


def upsert_sku(
    deps: HasSessions,
    code: str,
    name: str | None,
    *,
    actor: str,
    tags: list[str] | None = None,
    requires: list[str] | None = None,
    weight_kg: float | None = None,
) -> Sku:
    with unit_of_work(deps.sessions) as session:
        sku = ensure_sku(session, code, name)
        if tags is not None:
            sku.tags = tags
        if requires is not None:
            sku.requires = requires
        if weight_kg is not None:
            sku.weight_kg = weight_kg
        record(
            session,
            actor,
            "sku.upsert",
            "sku",
            code,
            {"name": name, "tags": tags, "requires": requires, "weight_kg": weight_kg},
        )
        return sku


def list_skus(deps: HasSessions, *, limit: int, after: str = "") -> list[Sku]:
    with unit_of_work(deps.sessions) as session:
        return list(
            session.scalars(select(Sku).where(Sku.code > after).order_by(Sku.code).limit(limit))
        )


def create_alias(
    deps: HasSessions, connector_id: int, alias: str, sku: str, *, actor: str
) -> SkuAlias:
    try:
        with unit_of_work(deps.sessions) as session:
            if session.get(Connector, connector_id) is None:
                raise NotFound(f"connector {connector_id} does not exist")
            if session.get(Sku, sku) is None:
                raise Invalid(f"SKU {sku!r} is not in the catalogue", code="unknown_sku")
            row = SkuAlias(connector_id=connector_id, alias=alias, sku=sku)
            session.add(row)
            session.flush()
            record(
                session,
                actor,
                "sku_alias.create",
                "sku_alias",
                row.id,
                {"connector_id": connector_id, "alias": alias, "sku": sku},
            )
            return row
    except IntegrityError:
        raise Conflict(
            f"alias {alias!r} already exists for connector {connector_id}", code="duplicate"
        ) from None


@dataclass(frozen=True)
class AliasMapped:
    """A new alias, and the exceptions of orders that waited for it, retried."""

    alias: SkuAlias
    retried: tuple[int, ...]


def map_alias(
    deps: queue.Deps, connector_id: int, alias: str, sku: str, *, actor: str
) -> AliasMapped:
    """Map a channel's SKU or variant to a catalogue SKU, then retry every order of that
    channel whose ``unknown_sku`` exception names this alias as the one to add (the
    exception's ``alias``; an alias ``93`` also stands for ``variant:93``)."""
    row = create_alias(deps, connector_id, alias, sku, actor=actor)
    return AliasMapped(row, retry_waiting_on(deps, connector_id, {alias}, actor=actor))


def retry_waiting_on(
    deps: queue.Deps, connector_id: int, aliases: Collection[str], *, actor: str
) -> tuple[int, ...]:
    """Retry every order of the channel whose ``unknown_sku`` exception names one of these
    aliases (added already); the exceptions retried."""
    retried = []
    for exception_id in _waiting_on(deps, connector_id, aliases):
        try:
            queue.retry_exception(deps, exception_id, actor=actor)
        except Conflict:
            continue  # retried or closed meanwhile by someone else
        retried.append(exception_id)
    return tuple(retried)


WAITING_LIMIT = 1000  # exceptions retried by one new alias at most; the rest by hand


def _waiting_on(deps: HasSessions, connector_id: int, aliases: Collection[str]) -> list[int]:
    wanted = {*aliases, *(f"variant:{alias}" for alias in aliases)}
    with unit_of_work(deps.sessions) as session:
        rows = session.execute(
            select(OrderException.id, OrderException.detail)
            .join(SalesOrder, SalesOrder.id == OrderException.order_id)
            .where(
                OrderException.status == "open",
                OrderException.reason == Reason.UNKNOWN_SKU,
                SalesOrder.connector_id == connector_id,
            )
            .order_by(OrderException.id)
            .limit(WAITING_LIMIT)
        ).all()
    return [
        exception_id
        for exception_id, detail in rows
        if any(p.get("alias") in wanted for p in (detail or {}).get("problems") or [])
    ]


def list_aliases(deps: HasSessions, connector_id: int | None = None) -> list[SkuAlias]:
    with unit_of_work(deps.sessions) as session:
        q = select(SkuAlias).order_by(SkuAlias.id)
        if connector_id is not None:
            q = q.where(SkuAlias.connector_id == connector_id)
        return list(session.scalars(q))
