"""What booking a fulfilment order's carrier needs, read in one transaction: its parcels,
the warehouse and ship-to, the order's service level and dates, the rule's carrier policy
and the carriers the warehouse may use (``connectors`` of the carrier kinds whose
``warehouses`` include it, or name none)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import Capability, PermanentError, enabled_capabilities
from omniroute.connectors.carriers import (
    Address,
    CarrierBooking,
    CarrierRating,
    RateRequest,
)
from omniroute.core.order_routing.inputs import HasRoutingCaches, locate_ship_to
from omniroute.core.platform.models import (
    Connector,
    FulfilmentLine,
    FulfilmentOrder,
    RoutingDecision,
    SalesOrder,
    Sku,
    Warehouse,
)
from omniroute.core.platform.ports import HasConnectors, HasSettings, Store
from omniroute.routing.carrier_choice.calendar import BusinessDays
from omniroute.routing.carrier_choice.choose import Demand
from omniroute.routing.carrier_choice.packages import PackLine, pack
from omniroute.routing.carrier_choice.policy import CarrierPolicy
from omniroute.routing.geo import distance_km

#: The connector kinds that quote and book.
CARRIER_KINDS: Final = ("carrier_rates", "carrier_rest")
#: Ship-to keys that mark a home address (a channel's ``address_type`` or ``residential``).
_HOME_WORDS: Final = frozenset({"residential", "home", "house"})


class Deps(Store, HasSettings, HasConnectors, HasRoutingCaches, Protocol):
    """What booking a carrier uses."""


@dataclass(frozen=True)
class Carrier:
    connector_id: int
    name: str
    adapter: Any  # CarrierRating and CarrierBooking


@dataclass(frozen=True)
class BookingJob:
    outbox_id: int
    idempotency_key: str
    fulfilment_order_id: int
    order_id: int
    warehouse_id: int
    rates: RateRequest
    ship_to: dict[str, Any]
    demand: Demand
    policy: CarrierPolicy
    calendar: BusinessDays
    carriers: tuple[Carrier, ...]
    unweighed_skus: tuple[str, ...]
    # The choice an earlier attempt sent a booking with (the row's payload ``choice``).
    earlier_choice: dict[str, Any] | None = None


def serves(config: Mapping[str, Any] | None, warehouse_code: str) -> bool:
    """Whether a carrier connector's stored config lets that warehouse use it."""
    listed = (config or {}).get("warehouses") or []
    return not listed or warehouse_code in listed


def carrier_rows(session: Session, warehouse_code: str) -> list[Connector]:
    rows = session.scalars(
        select(Connector)
        .where(Connector.kind.in_(CARRIER_KINDS), Connector.enabled.is_(True))
        .order_by(Connector.id)
    )
    return [row for row in rows if serves(row.config, warehouse_code)]


def read_job(
    deps: Deps,
    session: Session,
    outbox_id: int,
    key: str,
    fo: FulfilmentOrder,
    *,
    earlier_choice: dict[str, Any] | None = None,
) -> BookingJob:
    order = session.get_one(SalesOrder, fo.order_id)
    warehouse = session.get_one(Warehouse, fo.warehouse_id)
    if order.promised_ship_by is None:
        raise PermanentError(
            f"order {order.id} has no ship-by date to count transit from", reason="no_ship_by"
        )
    carriers = _carriers(deps, session, warehouse.code)
    if not carriers:
        raise PermanentError(
            f"warehouse {warehouse.code} has no enabled carrier", reason="no_carrier"
        )
    lines = session.execute(
        select(FulfilmentLine.sku, FulfilmentLine.quantity, FulfilmentLine.cancelled_quantity)
        .where(FulfilmentLine.fulfilment_order_id == fo.id)
        .order_by(FulfilmentLine.id)
    ).all()
    weights: dict[str, float | None] = {
        code: weight
        for code, weight in session.execute(
            select(Sku.code, Sku.weight_kg).where(Sku.code.in_({r.sku for r in lines}))
        )
    }
    packing = pack(
        PackLine(r.sku, r.quantity - r.cancelled_quantity, weights.get(r.sku)) for r in lines
    )
    ship_to = dict(order.ship_to or {})
    decision = session.get(RoutingDecision, fo.decision_id)
    rates = RateRequest(
        reference=f"fo-{fo.id}",
        warehouse_code=warehouse.code,
        origin=Address(warehouse.country, warehouse.postal_code or ""),
        destination=_address(ship_to),
        parcels=packing.parcels,
        distance_km=_distance(deps, warehouse, ship_to),
    )
    calendar = warehouse.calendar or {}
    return BookingJob(
        outbox_id=outbox_id,
        idempotency_key=key,
        fulfilment_order_id=fo.id,
        order_id=order.id,
        warehouse_id=warehouse.id,
        rates=rates,
        ship_to=ship_to,
        demand=Demand(
            service_level=order.promised_service_level or order.service_level or "standard",
            ship_by=order.promised_ship_by,
            deliver_by=requested_deliver_by(order),
            currency=order.currency,
        ),
        policy=CarrierPolicy.from_json((decision.trace or {}).get("carrier") if decision else None),
        calendar=BusinessDays.of(
            (int(d) for d in calendar.get("closed_weekdays") or []),
            (date.fromisoformat(d) for d in calendar.get("holidays") or []),
        ),
        carriers=carriers,
        unweighed_skus=packing.unweighed_skus,
        earlier_choice=earlier_choice,
    )


def _carriers(deps: Deps, session: Session, warehouse_code: str) -> tuple[Carrier, ...]:
    found = []
    for row in carrier_rows(session, warehouse_code):
        adapter = deps.connectors.for_row(row)
        able = enabled_capabilities(adapter)
        if (
            Capability.CARRIER_RATES in able
            and Capability.CARRIER_BOOKING in able
            and isinstance(adapter, CarrierRating)
            and isinstance(adapter, CarrierBooking)
            and adapter.serves(warehouse_code)
        ):
            found.append(Carrier(row.id, row.name, adapter))
    return tuple(found)


def _address(ship_to: Mapping[str, Any]) -> Address:
    kind = str(ship_to.get("address_type") or "").strip().lower()
    return Address(
        country=str(ship_to.get("country") or "").upper(),
        postal_code=str(ship_to.get("postal_code") or ""),
        region=ship_to.get("region"),
        city=ship_to.get("city"),
        residential=ship_to.get("residential") is True or kind in _HOME_WORDS,
    )


def _distance(deps: Deps, warehouse: Warehouse, ship_to: dict[str, Any]) -> float | None:
    to = locate_ship_to(deps.routing, ship_to)
    if to is None:
        return None
    if warehouse.latitude is not None and warehouse.longitude is not None:
        origin = to.__class__(warehouse.latitude, warehouse.longitude, to.level, warehouse.code)
    else:
        address = warehouse.address or {}
        located = deps.routing.geocoder.locate(
            country=warehouse.country,
            postal_code=warehouse.postal_code,
            city=address.get("city"),
            region=address.get("region"),
        )
        if located is None:
            return None
        origin = located
    return round(distance_km(origin, to), 3)


def requested_deliver_by(order: SalesOrder) -> date | None:
    """The latest delivery the order asks for: its canonical ``deliver_by``, else an order
    attribute (a Shopify note attribute, a marketplace field mapped to one) named
    ``deliver_by``; an ISO date. None when it asks for none (or not readably)."""
    stated = (order.canonical or {}).get("deliver_by")
    if stated is None:
        stated = next(
            (
                a.get("value")
                for a in order.attributes or []
                if isinstance(a, dict) and str(a.get("name", "")).strip().lower() == "deliver_by"
            ),
            None,
        )
    return _date(stated)


def _date(value: Any) -> date | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            return None
    return None
