"""Shopify objects ↔ omniroute: orders in, fulfillment and inventory bodies out.

The declarative spec ``mapping_spec.json`` beside this module maps an order (names are
joined and the service level derived by named transforms); the small pure functions below
shape the REST Admin API's poll pages, fulfillment-order allocations and request bodies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from omniroute.connectors.base import (
    ChannelOrder,
    FulfilmentNotice,
    PayloadError,
    PermanentError,
    StockUpdate,
)
from omniroute.connectors.tracking import (
    TrackingNotice,
    TrackingStatus,
    normalise_tracking_number,
)
from omniroute.mapping import MappingSpec, load_spec, map_order

#: This kind's mapping spec: a JSON resource of this package, installed with it.
SPEC_RESOURCE = "mapping_spec.json"


def spec() -> MappingSpec:
    """The compiled order spec (``connectors/shopify/mapping_spec.json``), loaded once."""
    return load_spec("omniroute.connectors.shopify", SPEC_RESOURCE)


#: Fulfillment-order statuses that still take fulfillments.
OPEN_STATUSES = frozenset({"open", "in_progress"})
#: Fulfillment statuses that did not ship anything.
VOID_FULFILLMENT_STATUSES = frozenset({"cancelled", "error", "failure"})


def to_canonical(order: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical order (mapping/schemas/order.v1.json); raises ``mapping.MappingError``."""
    return map_order(spec(), as_edited(order))


def as_edited(order: Mapping[str, Any]) -> Mapping[str, Any]:
    """The order as Shopify's order edits left it: each line's ``current_quantity`` (where
    the API version sends it) as its quantity, and lines edited down to 0 left out. An order
    edited down to no line at all is a cancelled one (its lines kept as they were, for the
    cancel to name them). The source is not changed; an order without edits is returned as
    it is."""
    items = order.get("line_items")
    if not isinstance(items, list) or not any(
        isinstance(item, Mapping) and item.get("current_quantity") is not None for item in items
    ):
        return order
    left = []
    for item in items:
        current = item.get("current_quantity") if isinstance(item, Mapping) else None
        if current is None:
            left.append(item)
        elif current != 0:
            left.append({**item, "quantity": current})
    if not left:
        edited_away = order.get("cancelled_at") or order.get("updated_at") or "edited to no line"
        return {**order, "cancelled_at": edited_away}
    return {**order, "line_items": left}


# --- polling ----------------------------------------------------------------------------------


def shopify_time(moment: datetime) -> str:
    """ISO 8601 in UTC, to the second (sub-seconds dropped: the window only grows)."""
    if moment.tzinfo is None:
        raise ValueError("Shopify time filters need a timezone-aware datetime")
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def first_page_params(updated_after: datetime, limit: int) -> dict[str, str | int]:
    """Query of a poll's first page: every status, oldest change first."""
    return {
        "status": "any",
        "updated_at_min": shopify_time(updated_after),
        "limit": limit,
        "order": "updated_at asc",
    }


def next_page_params(page_info: str, limit: int) -> dict[str, str | int]:
    """Query of a later page: Shopify refuses any filter beside ``page_info`` and ``limit``."""
    return {"page_info": page_info, "limit": limit}


def next_page_info(links: Mapping[str | None, Mapping[str, str]]) -> str | None:
    """The ``page_info`` cursor of the ``rel="next"`` Link, or None on the last page."""
    url = links.get("next", {}).get("url")
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("page_info")
    if not values or not values[0]:
        raise PayloadError("Shopify's Link rel=next has no page_info parameter")
    return values[0]


def channel_order(order: Any) -> ChannelOrder:
    """One polled or fetched Shopify order as a ``ChannelOrder`` (payload: the bare order)."""
    if not isinstance(order, dict) or order.get("id") is None:
        raise PayloadError("Shopify order list holds an entry that is not an order object")
    stamp = order.get("updated_at") or order.get("created_at")
    try:
        updated_at = datetime.fromisoformat(str(stamp))
    except ValueError:
        raise PayloadError(f"Shopify order {order['id']} has no valid updated_at") from None
    if updated_at.tzinfo is None:
        raise PayloadError(f"Shopify order {order['id']} updated_at has no UTC offset")
    return ChannelOrder(external_id=str(order["id"]), updated_at=updated_at, payload=order)


# --- fulfilment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    """Quantity of one fulfillment-order line item to fulfil."""

    location_id: int | None
    fulfillment_order_id: int
    line_id: int  # the fulfillment-order line item's id
    quantity: int


def shopify_id(value: str | int, what: str) -> int:
    """A Shopify numeric id, or ``PermanentError`` naming what was wrong."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        raise PermanentError(f"{what} {value!r} is not a Shopify numeric id")
    return int(text)


def requested_quantities(notice: FulfilmentNotice) -> dict[int, int]:
    """Shipped quantity per Shopify order line item id."""
    wanted: dict[int, int] = {}
    for line in notice.lines:
        if line.external_line_id is None:
            raise PermanentError(
                f"shipped line {line.sku!r} has no Shopify line item id; "
                "the order must come from Shopify with its line ids"
            )
        if line.quantity > 0:
            line_id = shopify_id(line.external_line_id, "line item id")
            wanted[line_id] = wanted.get(line_id, 0) + line.quantity
    if not wanted:
        raise PermanentError(f"shipment {notice.shipment_ref} has no quantity to report")
    return wanted


def already_reported(
    fulfillments: Iterable[Mapping[str, Any]], tracking_number: str
) -> tuple[dict[int, int], str | None]:
    """Quantities per line item that live fulfillments with this tracking number carry."""
    done: dict[int, int] = {}
    ref: str | None = None
    for fulfillment in fulfillments:
        if fulfillment.get("status") in VOID_FULFILLMENT_STATUSES:
            continue
        numbers = {fulfillment.get("tracking_number"), *(fulfillment.get("tracking_numbers") or ())}
        if tracking_number not in numbers:
            continue
        ref = str(fulfillment.get("id"))
        for item in fulfillment.get("line_items") or ():
            line_id, quantity = int(item["id"]), int(item.get("quantity") or 0)
            done[line_id] = done.get(line_id, 0) + quantity
    return done, ref


def subtract(wanted: Mapping[int, int], done: Mapping[int, int]) -> dict[int, int]:
    """What is still to report once ``done`` is taken off ``wanted``."""
    left = {line: qty - done.get(line, 0) for line, qty in wanted.items()}
    return {line: qty for line, qty in left.items() if qty > 0}


def fulfilled_quantities(fulfillments: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """Units per order line item that live fulfillments carry, whatever their tracking."""
    done: dict[int, int] = {}
    for fulfillment in fulfillments:
        if fulfillment.get("status") in VOID_FULFILLMENT_STATUSES:
            continue
        for item in fulfillment.get("line_items") or ():
            line_id = int(item["id"])
            done[line_id] = done.get(line_id, 0) + int(item.get("quantity") or 0)
    return done


def lacks_fulfillable_quantity(fulfillment_orders: Sequence[Mapping[str, Any]]) -> bool:
    """Whether an open fulfillment order has a line without ``fulfillable_quantity`` (older
    API versions leave it out): then what is fulfilled already must be read to allocate."""
    return any(
        item.get("fulfillable_quantity") is None
        for fulfillment_order in fulfillment_orders
        if fulfillment_order.get("status") in OPEN_STATUSES
        for item in fulfillment_order.get("line_items") or ()
    )


def allocate(
    fulfillment_orders: Sequence[Mapping[str, Any]],
    wanted: Mapping[int, int],
    fulfilled: Mapping[int, int] | None = None,
) -> tuple[list[Allocation], dict[int, int]]:
    """Spread ``wanted`` over open fulfillment-order line items; also return the shortfall.

    ``fulfilled`` (units per order line item that live fulfillments carry) is only read for
    lines that come without ``fulfillable_quantity``.
    """
    left = dict(wanted)
    unaccounted = _fulfilled_outside_closed(fulfillment_orders, fulfilled or {})
    allocations: list[Allocation] = []
    for fulfillment_order in fulfillment_orders:
        if fulfillment_order.get("status") not in OPEN_STATUSES:
            continue
        for item in fulfillment_order.get("line_items") or ():
            line_id = int(item["line_item_id"])
            take = min(left.get(line_id, 0), _fulfillable(item, unaccounted))
            if take <= 0:
                continue
            left[line_id] -= take
            allocations.append(
                Allocation(
                    location_id=fulfillment_order.get("assigned_location_id"),
                    fulfillment_order_id=int(fulfillment_order["id"]),
                    line_id=int(item["id"]),
                    quantity=take,
                )
            )
    return allocations, {line: qty for line, qty in left.items() if qty > 0}


def _fulfillable(item: Mapping[str, Any], unaccounted: dict[int, int]) -> int:
    """Units of a fulfillment-order line item still to fulfil.

    Shopify's ``fulfillable_quantity`` (GraphQL ``remainingQuantity``) when it is sent. An
    older API version leaves it out: then it is not known, never 0, and is the line's
    ``quantity`` (its total, GraphQL ``totalQuantity``) less the fulfilled units of its order
    line that no closed fulfillment order accounts for, taken by the first open lines.
    """
    known = item.get("fulfillable_quantity")
    if known is not None:
        return int(known)
    line_id, total = int(item["line_item_id"]), int(item.get("quantity") or 0)
    done = min(unaccounted.get(line_id, 0), total)
    if done:
        unaccounted[line_id] -= done
    return total - done


def _fulfilled_outside_closed(
    fulfillment_orders: Sequence[Mapping[str, Any]], fulfilled: Mapping[int, int]
) -> dict[int, int]:
    """Fulfilled units per order line item less those of closed fulfillment orders."""
    left = dict(fulfilled)
    for fulfillment_order in fulfillment_orders:
        if fulfillment_order.get("status") != "closed":
            continue
        for item in fulfillment_order.get("line_items") or ():
            line_id = int(item["line_item_id"])
            left[line_id] = left.get(line_id, 0) - int(item.get("quantity") or 0)
    return {line: units for line, units in left.items() if units > 0}


def only_in_closed(fulfillment_orders: Sequence[Mapping[str, Any]], lines: Iterable[int]) -> bool:
    """Every one of ``lines`` sits only in closed (fully fulfilled) fulfillment orders."""
    statuses: dict[int, set[str]] = {}
    for fulfillment_order in fulfillment_orders:
        for item in fulfillment_order.get("line_items") or ():
            line_id = int(item["line_item_id"])
            statuses.setdefault(line_id, set()).add(str(fulfillment_order.get("status")))
    return all(statuses.get(line) == {"closed"} for line in lines)


def fulfillment_bodies(
    allocations: Sequence[Allocation], notice: FulfilmentNotice, *, notify_customer: bool
) -> list[dict[str, Any]]:
    """One ``POST /fulfillments.json`` body per assigned location, in first-seen order."""
    by_location: dict[int | None, dict[int, list[dict[str, int]]]] = {}
    for allocation in allocations:
        orders = by_location.setdefault(allocation.location_id, {})
        orders.setdefault(allocation.fulfillment_order_id, []).append(
            {"id": allocation.line_id, "quantity": allocation.quantity}
        )
    tracking = tracking_info(notice)
    bodies: list[dict[str, Any]] = []
    for orders in by_location.values():
        fulfillment: dict[str, Any] = {
            "line_items_by_fulfillment_order": [
                {"fulfillment_order_id": order_id, "fulfillment_order_line_items": items}
                for order_id, items in orders.items()
            ],
            "notify_customer": notify_customer,
        }
        if tracking:
            fulfillment["tracking_info"] = tracking
        bodies.append({"fulfillment": fulfillment})
    return bodies


def tracking_info(notice: FulfilmentNotice) -> dict[str, str]:
    """Shopify's ``tracking_info`` (number, url, company), without the parts we do not have."""
    values = {
        "number": notice.tracking_number,
        "url": notice.tracking_url,
        "company": notice.carrier,
    }
    return {key: value for key, value in values.items() if value}


# --- stock ------------------------------------------------------------------------------------


def inventory_set_body(update: StockUpdate, location_id: int) -> dict[str, int]:
    """``POST /inventory_levels/set.json`` body; ``channel_ref`` is the inventory item id."""
    return {
        "location_id": location_id,
        "inventory_item_id": shopify_id(update.channel_ref, f"inventory item id of {update.sku}"),
        "available": update.available,
    }


# Shopify's fulfillment event statuses (REST ``FulfillmentEvent.status``) for omniroute's
# canonical tracking statuses; ``unknown`` has none and is not sent.
EVENT_STATUS: Mapping[TrackingStatus, str] = {
    TrackingStatus.LABEL_CREATED: "label_purchased",
    TrackingStatus.IN_TRANSIT: "in_transit",
    TrackingStatus.OUT_FOR_DELIVERY: "out_for_delivery",
    TrackingStatus.AVAILABLE_FOR_PICKUP: "ready_for_pickup",
    TrackingStatus.FAILED_ATTEMPT: "attempted_delivery",
    TrackingStatus.EXCEPTION: "failure",
    TrackingStatus.RETURNED_TO_SENDER: "failure",
    TrackingStatus.DELIVERED: "delivered",
}


def fulfillments_with_tracking(
    fulfillments: Iterable[Mapping[str, Any]], tracking_number: str
) -> list[int]:
    """The ids of live fulfillments carrying this tracking number (spaces and case aside)."""
    wanted = normalise_tracking_number(tracking_number)
    ids = []
    for fulfillment in fulfillments:
        if fulfillment.get("status") in VOID_FULFILLMENT_STATUSES:
            continue
        numbers = {fulfillment.get("tracking_number"), *(fulfillment.get("tracking_numbers") or ())}
        if any(isinstance(n, str) and normalise_tracking_number(n) == wanted for n in numbers):
            ids.append(int(fulfillment["id"]))
    return ids


def event_reported(events: Iterable[Mapping[str, Any]], status: str, happened_at: datetime) -> bool:
    """Whether a fulfillment already has this event (a repeat after a timeout)."""
    for event in events:
        if event.get("status") != status or not isinstance(event.get("happened_at"), str):
            continue
        stamp = datetime.fromisoformat(str(event["happened_at"]).replace("Z", "+00:00"))
        if stamp.tzinfo is not None and stamp == happened_at:
            return True
    return False


def fulfillment_event_body(notice: TrackingNotice, status: str) -> dict[str, Any]:
    """The body of ``POST /orders/{id}/fulfillments/{id}/events.json``."""
    event: dict[str, Any] = {"status": status, "happened_at": notice.occurred_at.isoformat()}
    if notice.message:
        event["message"] = notice.message[:255]
    return {"event": event}
