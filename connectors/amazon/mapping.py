"""Amazon SP-API order → canonical order, and omniroute shipments and stock → SP-API request
bodies. Pure: no I/O.

What the poller stores for one order version: ``{"order": <Order>, "items": [<OrderItem>...]}``
and, for an order the seller ships, ``"address": <OrderAddress>`` from getOrderAddress (getOrders
lists no name or street without a Restricted Data Token), or ``"address_error"`` when Amazon
would not give it for good.

The declarative spec ``mapping_spec.json`` beside this module does the field work. The one
thing a spec cannot say is a table lookup, so the marketplace's currency is added here: an
order in ``Pending`` has no ``OrderTotal`` and its items carry no prices yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from omniroute.connectors.base import FulfilmentNotice, PayloadError, PermanentError, StockUpdate
from omniroute.mapping import MappingSpec, load_spec, map_order

#: This kind's mapping spec: a JSON resource of this package, installed with it.
SPEC_RESOURCE = "mapping_spec.json"


def spec() -> MappingSpec:
    """The compiled order spec (``connectors/amazon/mapping_spec.json``), loaded once."""
    return load_spec("omniroute.connectors.amazon", SPEC_RESOURCE)


#: Statuses whose orders have no address, no prices and no authorised payment yet.
UNPAID_STATUSES = frozenset({"Pending", "PendingAvailability"})
#: Statuses in which getOrderAddress has the ShippingAddress (Orders v0 ``OrderAddress``).
ADDRESS_STATUSES = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})

#: Marketplace id → its currency (SP-API "Marketplace IDs" table).
MARKETPLACE_CURRENCY: Mapping[str, str] = MappingProxyType(
    {
        "ATVPDKIKX0DER": "USD",  # United States
        "A2EUQ1WTGCTBG": "CAD",  # Canada
        "A1AM78C64UM0Y8": "MXN",  # Mexico
        "A2Q3Y263D00KWC": "BRL",  # Brazil
        "A1F83G8C2ARO7P": "GBP",  # United Kingdom
        "A1PA6795UKMFR9": "EUR",  # Germany
        "A13V1IB3VIYZZH": "EUR",  # France
        "APJ6JRA9NG5V4": "EUR",  # Italy
        "A1RKKUPIHCS9HS": "EUR",  # Spain
        "A33AVAJ2PDY3EV": "TRY",  # Turkey
        "A21TJRUUN4KGV": "INR",  # India
        "A19VAU5U5O7RUS": "SGD",  # Singapore
        "A39IBJ37TRP1C6": "AUD",  # Australia
        "A1VC38T7YXB528": "JPY",  # Japan
    }
)


class AddressUnavailable(PayloadError):
    """Amazon would not give the shipping address of an order the seller must ship."""

    reason = "address_unavailable"
    path = "ship_to"  # where it would have gone, and what the stored payload says instead
    source = "address_error"


def build_payload(
    order: Mapping[str, Any],
    items: list[dict[str, Any]],
    *,
    address: Mapping[str, Any] | None = None,
    address_error: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored form of one order version: the Order, all its OrderItems and, for an order
    the seller ships, its OrderAddress or why Amazon would not give it."""
    payload: dict[str, Any] = {"order": dict(order), "items": items}
    if address is not None:
        payload["address"] = dict(address)
    if address_error is not None:
        payload["address_error"] = dict(address_error)
    return payload


def is_unpaid(order: Mapping[str, Any]) -> bool:
    """Whether the order is still waiting for payment authorisation (no address or prices)."""
    return order.get("OrderStatus") in UNPAID_STATUSES


def needs_address(order: Mapping[str, Any]) -> bool:
    """Whether the seller ships this order (not FBA) and Amazon has its address by now."""
    return order.get("FulfillmentChannel") != "AFN" and order.get("OrderStatus") in (
        ADDRESS_STATUSES
    )


def to_canonical(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical order (mapping/schemas/order.v1.json); raises ``mapping.MappingError``,
    or ``AddressUnavailable`` for an order stored without the address it must ship to."""
    problem = payload.get("address_error")
    if problem is not None:
        raise _unavailable(payload, problem)
    order = payload.get("order")
    marketplace = order.get("MarketplaceId") if isinstance(order, Mapping) else None
    view = dict(payload)
    view["marketplace_currency"] = (
        MARKETPLACE_CURRENCY.get(marketplace) if isinstance(marketplace, str) else None
    )
    return map_order(spec(), view)


def _unavailable(payload: Mapping[str, Any], problem: Any) -> AddressUnavailable:
    order = payload.get("order")
    order_id = order.get("AmazonOrderId") if isinstance(order, Mapping) else None
    found = problem if isinstance(problem, Mapping) else {}
    return AddressUnavailable(
        f"Amazon order {order_id} is kept without routing: getOrderAddress gave no address to "
        f"ship to ({found.get('reason', '?')}: {found.get('message', problem)})"
    )


# --- outbound bodies ---------------------------------------------------------------------------


def package_reference_id(shipment_ref: str) -> str:
    """Amazon takes only positive numbers here: the ref itself, else a stable number from it."""
    text = shipment_ref.strip()
    if text.isascii() and text.isdigit() and int(text) > 0:
        return str(int(text))
    return str(int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:15], 16) or 1)


def shipment_confirmation_body(
    notice: FulfilmentNotice, marketplace_id: str, carrier_codes: Mapping[str, str]
) -> dict[str, Any]:
    """The confirmShipment request: one package with its carrier, tracking and order items."""
    if not notice.tracking_number or not notice.tracking_number.strip():
        raise PermanentError(
            "Amazon's shipment confirmation needs a tracking number; add it to the shipment "
            "and redrive",
            reason="missing_tracking_number",
        )
    if not notice.carrier or not notice.carrier.strip():
        raise PermanentError(
            "Amazon's shipment confirmation needs a carrier; add it to the shipment and redrive",
            reason="missing_carrier",
        )
    carrier = notice.carrier.strip()
    code = _carrier_code(carrier, carrier_codes)
    package: dict[str, Any] = {
        "packageReferenceId": package_reference_id(notice.shipment_ref),
        "carrierCode": code,
        "trackingNumber": notice.tracking_number.strip(),
        "shipDate": iso_utc(aware(notice.shipped_at)),
        "orderItems": _shipped_items(notice),
    }
    if code == "Others":
        package["carrierName"] = carrier
    return {"marketplaceId": marketplace_id, "packageDetail": package}


_KNOWN_CARRIER_CODES = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL"}


def _carrier_code(carrier: str, overrides: Mapping[str, str]) -> str:
    for name, code in overrides.items():
        if name.strip().lower() == carrier.lower():
            return code
    return _KNOWN_CARRIER_CODES.get(carrier.lower(), "Others")


def _shipped_items(notice: FulfilmentNotice) -> list[dict[str, Any]]:
    quantities: dict[str, int] = {}
    for line in notice.lines:
        if not line.external_line_id:
            raise PermanentError(
                f"shipped line for SKU {line.sku} has no Amazon OrderItemId; the order must "
                "have come from the Amazon poller",
                reason="missing_order_item_id",
            )
        if line.quantity <= 0:
            raise PermanentError(
                f"shipped quantity for OrderItemId {line.external_line_id} must be positive",
                reason="invalid_quantity",
            )
        quantities[line.external_line_id] = quantities.get(line.external_line_id, 0) + line.quantity
    if not quantities:
        raise PermanentError("a shipment confirmation needs at least one line", reason="no_lines")
    return [{"orderItemId": item, "quantity": qty} for item, qty in quantities.items()]


def listing_quantity_patch(
    update: StockUpdate, *, product_type: str, channel_code: str, op: str
) -> dict[str, Any]:
    """A patchListingsItem body setting the seller-fulfilled quantity of one listing."""
    return {
        "productType": product_type,
        "patches": [
            {
                "op": op,
                "path": "/attributes/fulfillment_availability",
                "value": [
                    {
                        "fulfillment_channel_code": channel_code,
                        "quantity": max(update.available, 0),
                    }
                ],
            }
        ],
    }


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def iso_utc(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, whole seconds: ``2026-11-27T10:00:00Z``."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
