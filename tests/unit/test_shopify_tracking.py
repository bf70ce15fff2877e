"""Delivery status to Shopify: a fulfillment event on the fulfillment with the tracking
number, not sent twice, and waiting while Shopify has no such fulfillment yet (respx)."""

from __future__ import annotations

import copy
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    TransientError,
    enabled_capabilities,
)
from omniroute.connectors.shopify.connector import ShopifyConnector
from omniroute.connectors.tracking import TrackingNotice, TrackingSink, TrackingStatus

SHOP = "example.myshopify.com"
BASE = f"https://{SHOP}/admin/api/2024-07"
SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "third_party"
    / "shopify"
    / "shopify_python_api_fulfillment.json"
)
ORDER = 450789469
FULFILLMENT = 255858046  # the sample's, with tracking number 1Z2345
FULFILLMENTS = f"{BASE}/orders/{ORDER}/fulfillments.json"
EVENTS = f"{BASE}/orders/{ORDER}/fulfillments/{FULFILLMENT}/events.json"
AT = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != SHOP:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("23.227.38.65", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def connector() -> ShopifyConnector:
    return ShopifyConnector(
        {"shop_domain": SHOP},
        {"webhook_secret": "whsec", "access_token": "shpat_test"},
        runtime=ConnectorRuntime(retry_attempts=2, retry_max_wait=0.001),
    )


def fulfillments() -> dict[str, Any]:
    fulfillment = json.loads(SAMPLE.read_text())["fulfillment"]
    cancelled = {**copy.deepcopy(fulfillment), "id": 1, "status": "cancelled"}
    return {"fulfillments": [fulfillment, cancelled]}


def notice(
    status: TrackingStatus = TrackingStatus.DELIVERED, number: str = "1z 2345"
) -> TrackingNotice:
    return TrackingNotice(
        external_order_id=str(ORDER),
        shipment_ref="7",
        status=status,
        occurred_at=AT,
        idempotency_key="tracking-7-1-delivered-20261128T123000",
        carrier="UPS",
        tracking_number=number,
        message="Left at front door",
    )


def test_tracking_push_is_a_capability_with_an_api_token() -> None:
    conn = connector()
    assert isinstance(conn, TrackingSink)
    assert Capability.TRACKING_PUSH in enabled_capabilities(conn)
    webhook_only = ShopifyConnector({}, {"webhook_secret": "x"}, runtime=ConnectorRuntime())
    assert Capability.TRACKING_PUSH not in enabled_capabilities(webhook_only)


@respx.mock
def test_a_delivery_becomes_a_fulfillment_event_on_the_live_fulfillment() -> None:
    respx.get(FULFILLMENTS).mock(return_value=httpx.Response(200, json=fulfillments()))
    respx.get(EVENTS).mock(return_value=httpx.Response(200, json={"fulfillment_events": []}))
    posted = respx.post(EVENTS).mock(
        return_value=httpx.Response(201, json={"fulfillment_event": {"id": 944956395}})
    )
    receipt = connector().push_tracking(notice())
    assert receipt.external_ref == "944956395"
    assert posted.call_count == 1
    sent = json.loads(posted.calls.last.request.content)
    assert sent == {
        "event": {
            "status": "delivered",
            "happened_at": "2026-11-28T12:30:00+00:00",
            "message": "Left at front door",
        }
    }


@respx.mock
def test_an_event_shopify_has_already_is_not_sent_again() -> None:
    respx.get(FULFILLMENTS).mock(return_value=httpx.Response(200, json=fulfillments()))
    existing = {"status": "delivered", "happened_at": "2026-11-28T07:30:00-05:00"}
    respx.get(EVENTS).mock(
        return_value=httpx.Response(200, json={"fulfillment_events": [existing]})
    )
    posted = respx.post(EVENTS).mock(return_value=httpx.Response(201, json={}))
    receipt = connector().push_tracking(notice())
    assert posted.call_count == 0
    assert receipt.external_ref is None


@respx.mock
def test_no_fulfillment_with_the_number_yet_is_retried_later() -> None:
    respx.get(FULFILLMENTS).mock(return_value=httpx.Response(200, json=fulfillments()))
    with pytest.raises(TransientError, match="no fulfillment with tracking number OTHER"):
        connector().push_tracking(notice(number="OTHER"))


@pytest.mark.parametrize(
    ("status", "shopify"),
    [
        (TrackingStatus.IN_TRANSIT, "in_transit"),
        (TrackingStatus.OUT_FOR_DELIVERY, "out_for_delivery"),
        (TrackingStatus.AVAILABLE_FOR_PICKUP, "ready_for_pickup"),
        (TrackingStatus.FAILED_ATTEMPT, "attempted_delivery"),
        (TrackingStatus.EXCEPTION, "failure"),
    ],
)
@respx.mock
def test_statuses_map_to_shopify_event_statuses(status: TrackingStatus, shopify: str) -> None:
    respx.get(FULFILLMENTS).mock(return_value=httpx.Response(200, json=fulfillments()))
    respx.get(EVENTS).mock(return_value=httpx.Response(200, json={"fulfillment_events": []}))
    posted = respx.post(EVENTS).mock(
        return_value=httpx.Response(201, json={"fulfillment_event": {"id": 1}})
    )
    connector().push_tracking(notice(status))
    assert json.loads(posted.calls.last.request.content)["event"]["status"] == shopify


@respx.mock
def test_unknown_has_no_shopify_status_and_calls_nothing() -> None:
    route = respx.get(FULFILLMENTS)
    receipt = connector().push_tracking(notice(TrackingStatus.UNKNOWN))
    assert route.call_count == 0
    assert receipt.attempts == 0
