"""Gathering what the pure router needs from the database: facts, warehouses, SKUs, rules."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from omniroute.core.platform.errors import Invalid
from omniroute.core.platform.models import (
    Connector,
    FulfilmentOrder,
    RoutingRuleSet,
    SalesOrder,
    Sku,
    Warehouse,
)
from omniroute.routing.conditions import OrderFacts
from omniroute.routing.engine import RateBand, RoutingRequest, SkuProfile, WarehouseProfile
from omniroute.routing.geo import Geocoder, GeoLevel, GeoPoint
from omniroute.routing.rules import (
    DEFAULT_OUTCOME,
    NoStockAction,
    RuleError,
    RuleSet,
    RuleSetError,
    parse_rule_set,
)
from omniroute.routing.valuation import value_of_order
from omniroute.routing.warehouses import WarehouseSet, channel_buffer, prepare_warehouses

ORDER_TYPES = ("b2b", "presale", "group")


@dataclass(frozen=True)
class CachedWarehouse:
    """A warehouse row as the router sees it, valid while the row's updated_at is unchanged."""

    updated_at: datetime
    profile: WarehouseProfile
    daily_order_capacity: int | None
    wms_connector_id: int | None


@dataclass
class RoutingCaches:
    """Per-process memo of things that change rarely: parsed published rule sets (immutable),
    warehouse locations and warehouse profiles (both keyed by the row's updated_at)."""

    geocoder: Geocoder
    lock: threading.Lock = field(default_factory=threading.Lock)
    rules: dict[int, RuleSet] = field(default_factory=dict)
    places: dict[tuple[int, datetime], GeoPoint | None] = field(default_factory=dict)
    warehouses: dict[int, CachedWarehouse] = field(default_factory=dict)
    warehouse_set: WarehouseSet | None = None

    def geocoder_warm(self) -> None:
        warm = getattr(self.geocoder, "warm", None)
        if callable(warm):
            warm()


class HasRoutingCaches(Protocol):
    @property
    def routing(self) -> RoutingCaches:
        """This process's memo of rule sets, warehouse places and profiles."""
        ...


@dataclass(frozen=True)
class Rules:
    row_id: int | None
    label: str
    rule_set: RuleSet


def active_rules(
    session: Session, caches: RoutingCaches, now: datetime, no_stock_policy: str
) -> Rules:
    """The published rule set in force at ``now`` (not withdrawn by then; the same one
    ``order_routing.lifecycle`` calls active); else the built-in default policy."""
    row = session.execute(_ACTIVE_RULES, {"now": now}).first()
    if row is None:
        default = replace(DEFAULT_OUTCOME, on_no_stock=NoStockAction(no_stock_policy))
        return Rules(
            None, "default", RuleSet(name="default", timezone="UTC", rules=(), default=default)
        )
    row_id, name, version = row
    with caches.lock:
        parsed = caches.rules.get(row_id)
    if parsed is None:
        parsed = parse_rules(session.get_one(RoutingRuleSet, row_id).document)
        with caches.lock:
            caches.rules[row_id] = parsed
    return Rules(row_id, f"{name}@v{version}", parsed)


# The hot path's reads, built once: no statement construction or cache key per order.
_ACTIVE_RULES = (
    select(RoutingRuleSet.id, RoutingRuleSet.name, RoutingRuleSet.version)
    .where(
        RoutingRuleSet.status == "published",
        RoutingRuleSet.effective_from <= bindparam("now"),
        or_(RoutingRuleSet.withdrawn_at.is_(None), RoutingRuleSet.withdrawn_at > bindparam("now")),
    )
    .order_by(RoutingRuleSet.effective_from.desc(), RoutingRuleSet.version.desc())
    .limit(1)
)
_SKUS = select(Sku).where(Sku.code.in_(bindparam("codes", expanding=True)))
_WAREHOUSE_STAMPS = select(Warehouse.id, Warehouse.updated_at).order_by(Warehouse.id)


def rule_error_dicts(errors: Iterable[RuleError]) -> list[dict[str, str]]:
    """Rule-set errors as the API reports them: a JSON path and a message each."""
    return [{"path": e.path, "message": e.message} for e in errors]


def parse_rules(doc: Any) -> RuleSet:
    try:
        return parse_rule_set(doc)
    except RuleSetError as exc:
        raise Invalid(
            "the rule set is not valid",
            code="invalid_rule_set",
            errors=rule_error_dicts(exc.errors),
        ) from None


def order_facts(order: SalesOrder, connector: Connector, skus: dict[str, Sku]) -> OrderFacts:
    canonical = order.canonical or {}
    ship_to = order.ship_to or {}
    tags = frozenset(str(t).lower() for t in canonical.get("tags") or [])
    order_type = next((t for t in ORDER_TYPES if t in tags), "normal")
    # The channel's total; without one, what the canonical lines add up to.
    value = value_of_order(canonical, total=order.total)
    return OrderFacts(
        channel=connector.kind,
        connector_id=connector.id,
        order_type=order_type,
        country=ship_to.get("country"),
        region=ship_to.get("region"),
        postal_code=ship_to.get("postal_code"),
        skus=tuple(line.sku or "" for line in order.lines),
        sku_tags=frozenset(t for s in skus.values() for t in s.tags or []),
        line_count=len(order.lines),
        order_value=value.value,
        currency=order.currency,
        service_level=order.service_level or "standard",
        customer_tags=frozenset(),
        order_tags=tags,
        order_value_source=value.source,
        order_value_note=value.note,
    )


def sku_profiles(session: Session, codes: set[str]) -> dict[str, Sku]:
    return {s.code: s for s in session.scalars(_SKUS, {"codes": sorted(codes)})}


def sku_requirements(skus: dict[str, Sku]) -> dict[str, SkuProfile]:
    return {
        code: SkuProfile(requires=frozenset(s.requires or []), weight_kg=s.weight_kg)
        for code, s in skus.items()
    }


def locate_ship_to(caches: RoutingCaches, ship_to: dict[str, Any] | None) -> GeoPoint | None:
    if not ship_to:
        return None
    return caches.geocoder.locate(
        country=ship_to.get("country"),
        postal_code=ship_to.get("postal_code"),
        city=ship_to.get("city"),
        region=ship_to.get("region"),
    )


def warehouse_profiles(session: Session, caches: RoutingCaches, now: datetime) -> WarehouseSet:
    """Every warehouse as the router sees it now, prepared once while nothing changes."""
    warehouses = current_warehouses(session, caches)
    used = _orders_today(session, [w for w in warehouses if w.daily_order_capacity], now)
    profiles = [
        w.profile
        if w.daily_order_capacity is None
        else replace(
            w.profile,
            capacity_left=w.daily_order_capacity - used.get(w.profile.warehouse_id, 0),
        )
        for w in warehouses
    ]
    with caches.lock:
        prepared = prepare_warehouses(profiles, reuse=caches.warehouse_set)
        caches.warehouse_set = prepared
    return prepared


def current_warehouses(session: Session, caches: RoutingCaches) -> list[CachedWarehouse]:
    """Every warehouse, by id: only rows changed since they were cached are read in full."""
    stamps = session.execute(_WAREHOUSE_STAMPS)
    stamped = [(wid, updated_at) for wid, updated_at in stamps]
    with caches.lock:
        known = {
            wid: cached
            for wid, updated_at in stamped
            if (cached := caches.warehouses.get(wid)) is not None
            and cached.updated_at == updated_at
        }
    missing = [wid for wid, _ in stamped if wid not in known]
    if missing:
        rows = session.scalars(select(Warehouse).where(Warehouse.id.in_(missing)))
        fresh = {w.id: _cached_warehouse(caches, w) for w in rows}
        with caches.lock:
            caches.warehouses.update(fresh)
        known.update(fresh)
    return [known[wid] for wid, _ in stamped if wid in known]


def wms_connector_of(caches: RoutingCaches, warehouse_id: int) -> int | None:
    """The WMS connector of a warehouse read by ``current_warehouses`` in this transaction."""
    with caches.lock:
        return caches.warehouses[warehouse_id].wms_connector_id


def _cached_warehouse(caches: RoutingCaches, w: Warehouse) -> CachedWarehouse:
    calendar = w.calendar or {}
    profile = WarehouseProfile(
        warehouse_id=w.id,
        code=w.code,
        priority=w.priority,
        enabled=w.enabled,
        tags=frozenset(w.tags or []),
        channels=frozenset(w.channels or []),
        location=_place(caches, w),
        capacity_left=None,
        cutoff_local_time=w.cutoff_local_time,
        timezone=w.timezone or "UTC",
        rate_table=tuple(
            RateBand(float(b["max_km"]), float(b["base"]), float(b["per_kg"]))
            for b in w.rate_table or []
        ),
        closed_weekdays=frozenset(int(d) for d in calendar.get("closed_weekdays") or []),
        holidays=frozenset(date.fromisoformat(d) for d in calendar.get("holidays") or []),
        channel_buffers=tuple(
            sorted((str(k), int(v)) for k, v in (w.channel_buffers or {}).items())
        ),
    )
    return CachedWarehouse(w.updated_at, profile, w.daily_order_capacity, w.wms_connector_id)


def _place(caches: RoutingCaches, w: Warehouse) -> GeoPoint | None:
    key = (w.id, w.updated_at)
    with caches.lock:
        if key in caches.places:
            return caches.places[key]
    if w.latitude is not None and w.longitude is not None:
        point: GeoPoint | None = GeoPoint(
            w.latitude, w.longitude, GeoLevel.POSTAL_CODE, f"{w.code} (set by ops)"
        )
    else:
        address = w.address or {}
        point = caches.geocoder.locate(
            country=w.country,
            postal_code=w.postal_code,
            city=address.get("city"),
            region=address.get("region"),
        )
    with caches.lock:
        caches.places[key] = point
    return point


def _orders_today(
    session: Session, limited: list[CachedWarehouse], now: datetime
) -> dict[int, int]:
    """Fulfilment orders each capacity-limited warehouse took since its local midnight."""
    counts: dict[int, int] = {}
    for cached in limited:
        w = cached.profile
        local = now.replace(tzinfo=UTC).astimezone(ZoneInfo(w.timezone or "UTC"))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        since = midnight.astimezone(UTC).replace(tzinfo=None)
        counts[w.warehouse_id] = int(
            session.scalar(
                select(func.count())
                .select_from(FulfilmentOrder)
                .where(
                    FulfilmentOrder.warehouse_id == w.warehouse_id,
                    FulfilmentOrder.created_at >= since,
                    FulfilmentOrder.created_at < since + timedelta(days=1),
                )
            )
            or 0
        )
    return counts


def channel_holdbacks(request: RoutingRequest) -> dict[int, int]:
    """Units each warehouse holds back from the request's channel (its buffer), where any."""
    kind, name = request.facts.channel, request.channel_name
    return {
        w.warehouse_id: units
        for w in request.warehouses
        if w.channel_buffers and (units := channel_buffer(dict(w.channel_buffers), kind, name))
    }


def decision_snapshot(request: RoutingRequest) -> dict[str, dict[str, int]]:
    """The stock the router was given for the order's SKUs, as routing_decision keeps it.

    ``{"<warehouse id>": {"<sku>": units}}``: on hand - reserved - safety per warehouse that
    has a stock row, before channel buffers (the router applies those; its trace shows them).
    """
    snapshot: dict[str, dict[str, int]] = {}
    for (warehouse_id, sku), units in sorted(request.stock.items()):
        snapshot.setdefault(str(warehouse_id), {})[sku] = units
    return snapshot


def snapshot_stock(snapshot: dict[str, Any]) -> dict[tuple[int, str], int]:
    """A kept ``decision_snapshot`` as a stock mapping for the router again."""
    return {
        (int(warehouse_id), sku): int(units)
        for warehouse_id, by_sku in snapshot.items()
        for sku, units in by_sku.items()
    }
