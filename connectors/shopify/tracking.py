"""Delivery status to Shopify: a fulfillment event on each fulfillment with the tracking
number (REST ``FulfillmentEvent``), so the order's status page shows where the parcel is.

Shopify's events carry no idempotency key, so the fulfillment's events are read first and an
event of the same status and time is not sent again; the POST itself is sent once per outbox
attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from omniroute.connectors.base import PayloadError, PushReceipt, TransientError
from omniroute.connectors.shopify import mapping
from omniroute.connectors.shopify.client import ShopifyAdminClient
from omniroute.connectors.tracking import TrackingNotice

# The connector's paced call: (call, write) -> (response, requests made).
Send = Callable[[Callable[[ShopifyAdminClient], httpx.Response], bool], tuple[httpx.Response, int]]


def push_tracking(send: Send, notice: TrackingNotice) -> PushReceipt:
    status = mapping.EVENT_STATUS.get(notice.status)
    number = notice.tracking_number
    if status is None or not number:
        return PushReceipt(external_ref=None, attempts=0)  # nothing Shopify can show
    order_id = mapping.shopify_id(notice.external_order_id, "order id")
    response, attempts = send(lambda api: api.list_fulfillments(order_id), False)
    fulfillments = _list(response, "fulfillments")
    ids: list[int] = _shaped(lambda: mapping.fulfillments_with_tracking(fulfillments, number))
    if not ids:
        raise TransientError(
            f"Shopify order {order_id} has no fulfillment with tracking number {number} yet; "
            "the shipment's own push must come first",
            retry_after=60,
        )
    created = []
    for fulfillment_id in ids:
        ref, made = _add_event(send, order_id, fulfillment_id, notice, status)
        attempts += made
        if ref is not None:
            created.append(ref)
    return PushReceipt(external_ref=",".join(created) or None, attempts=attempts)


def _add_event(
    send: Send, order_id: int, fulfillment_id: int, notice: TrackingNotice, status: str
) -> tuple[str | None, int]:
    """The new event's id (None: the fulfillment has it already) and the requests made."""

    def listing(api: ShopifyAdminClient) -> httpx.Response:
        return api.list_fulfillment_events(order_id, fulfillment_id)

    response, attempts = send(listing, False)
    events = _list(response, "fulfillment_events")
    if _shaped(lambda: mapping.event_reported(events, status, notice.occurred_at)):
        return None, attempts
    body = mapping.fulfillment_event_body(notice, status)

    def posting(api: ShopifyAdminClient) -> httpx.Response:
        return api.create_fulfillment_event(order_id, fulfillment_id, body)

    response, made = send(posting, True)
    event = _object(response).get("fulfillment_event")
    return (str(event.get("id")) if isinstance(event, dict) else ""), attempts + made


def _object(response: httpx.Response) -> dict[str, Any]:
    try:
        doc = response.json()
    except ValueError:
        raise PayloadError("Shopify answered with a body that is not JSON") from None
    if not isinstance(doc, dict):
        raise PayloadError("Shopify answered with JSON that is not an object")
    return doc


def _list(response: httpx.Response, key: str) -> list[Any]:
    value = _object(response).get(key)
    if not isinstance(value, list):
        raise PayloadError(f"Shopify's answer has no {key!r} list")
    return value


def _shaped(compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"Shopify's response has an unexpected shape: {exc!r}") from None
