"""The Amazon SP-API channel end to end against a fake SP-API + LWA on 127.0.0.1.

Everything goes through the public API and the worker's ``drain``: poll → orders stored
(merchant-fulfilled ones with the address getOrderAddress gives on a Restricted Data Token),
routed and released to the fake WMS → shipments confirmed back to Amazon → listing
quantities patched. Each test asserts the exact requests the fake received. Runs on SQLite,
and on PostgreSQL when OMNIROUTE_TEST_PG_URL is set.

Amazon has no order webhooks (its Notifications API delivers through SQS/EventBridge, not
HTTP), so the connector has no webhook capability; the last test shows the webhook URL
refuses it and stores nothing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OutboxMessage
from omniroute.core.platform.security import Role
from omniroute.core.stock.sync import sync_stock
from omniroute.worker.handlers import drain
from tests.e2e.fake_http import Reply, Request
from tests.integration.amazon_fake_api import (
    ADDRESS_RESOURCE,
    ORDERS_PATH,
    RDT_PATH,
    FakeAmazon,
    errors,
    iso,
    items_sample,
    orders_sample,
)
from tests.integration.builders import World, build_world

US = "ATVPDKIKX0DER"
SELLER = "A2SELLERE2E"
#: The NextToken both recorded samples carry (getOrders and getOrderItems).
SAMPLE_TOKEN = "2YgYW55IGNhcm5hbCBwbGVhc3VyZS4"
SAMPLE_ORDER = "902-3159896-1390916"  # the Pending order of getOrders.200.example.json
ITEMS_ORDER = "903-1671087-0812628"  # the order of getOrderItems.200.example.json
SECRETS = {
    "lwa_client_id": "amzn1.application-oa2-client.e2e",
    "lwa_client_secret": "lwa-e2e-s3cr3t",
    "refresh_token": "Atzr|e2e-refresh-s3cr3t",
}
# Amazon's real plans refill getOrders one token a minute; the test's plan is the same shape
# (rate + burst per operation) at a rate where a 429's wait costs milliseconds, not a minute.
RATE_LIMITS = {
    "get_orders": {"rate": 50.0, "burst": 20},
    "get_order_items": {"rate": 50.0, "burst": 30},
    "get_order_address": {"rate": 50.0, "burst": 30},
    "create_restricted_data_token": {"rate": 50.0, "burst": 10},
    "confirm_shipment": {"rate": 50.0, "burst": 10},
    "patch_listings_item": {"rate": 50.0, "burst": 10},
}
QUOTA_EXCEEDED = errors("QuotaExceeded", "You exceeded your quota for the requested resource.")
PAGE_SIZE = 2

Query = dict[str, list[str]]


@dataclass
class Amazon:
    ctx: Context
    api: FakeAmazon
    world: World
    wms: FakeWms
    client: TestClient
    cid: int
    ops: dict[str, str]
    shipper: dict[str, str]
    t0: datetime  # when the test began, whole seconds, UTC

    def poll(self) -> None:
        answer = self.client.post(f"/api/v1/connectors/{self.cid}/poll", headers=self.ops)
        assert answer.status_code == 202, answer.text
        drain(self.ctx)

    def health(self) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/connectors/{self.cid}/health", headers=self.ops)
        assert answer.status_code == 200, answer.text
        health: dict[str, Any] = answer.json()
        return health

    def orders(self) -> dict[str, dict[str, Any]]:
        answer = self.client.get("/api/v1/orders", headers=self.ops)
        assert answer.status_code == 200, answer.text
        return {o["external_id"]: o for o in answer.json() if o["connector_id"] == self.cid}

    def detail(self, external_id: str) -> dict[str, Any]:
        order_id = self.orders()[external_id]["id"]
        answer = self.client.get(f"/api/v1/orders/{order_id}", headers=self.ops)
        assert answer.status_code == 200, answer.text
        detail: dict[str, Any] = answer.json()
        return detail

    def mark(self) -> int:
        return len(self.api.server.requests)

    def since(self, mark: int) -> list[Request]:
        return self.api.server.requests[mark:]


def headers_for(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


@pytest.fixture
def amazon(ctx: Context, wms: FakeWms, client: TestClient) -> Iterator[Amazon]:
    api = FakeAmazon()
    with api.server:
        world = build_world(ctx, wms.base_url)
        admin = headers_for(ctx, Role.ADMIN)
        ops = headers_for(ctx, Role.OPS)
        base = api.server.base_url
        created = client.post(
            "/api/v1/connectors",
            json={
                "kind": "amazon_sp",
                "name": "amazon-us",
                "config": {
                    "marketplace_ids": [US],
                    "seller_id": SELLER,
                    "api_base_url": base,
                    "token_url": f"{base}/auth/o2/token",
                    "page_size": PAGE_SIZE,
                    "rate_limits": RATE_LIMITS,
                },
                "secrets": SECRETS,
                "enabled": True,
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        assert created.json()["webhook_url"] is None  # no webhook capability
        east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
        for warehouse, sku, on_hand, safety in [
            (east, "SKU-RED", 20, 2),
            (east, "SKU-BLUE", 20, 0),
            (east, "SKU-GREEN", 10, 0),
            (west, "SKU-RED", 5, 0),
            (west, "SKU-BLUE", 7, 0),
        ]:
            body = {"warehouse_id": warehouse, "sku": sku, "on_hand": on_hand, "safety": safety}
            answer = client.put("/api/v1/stock", json=body, headers=ops)
            assert answer.status_code == 200, answer.text
        # Amazon's SellerSKUs differ from ours: map them through aliases.
        for alias, sku in [
            ("CBA_OTF_1", "SKU-RED"),
            ("CBA_OTF_5", "SKU-BLUE"),
            ("GREEN/2 PACK", "SKU-GREEN"),
        ]:
            body = {"connector_id": cid, "alias": alias, "sku": sku}
            answer = client.post("/api/v1/sku-aliases", json=body, headers=ops)
            assert answer.status_code == 201, answer.text
        yield Amazon(
            ctx=ctx,
            api=api,
            world=world,
            wms=wms,
            client=client,
            cid=cid,
            ops=ops,
            shipper=headers_for(ctx, Role.WAREHOUSE),
            t0=datetime.now(UTC).replace(microsecond=0),
        )


# --- orders and items served by the fake: variants of the recorded samples ------------------


def paid_order(order_id: str, updated: datetime, total: str) -> dict[str, Any]:
    """The sample order once its payment is authorised, with our id and times."""
    order: dict[str, Any] = copy.deepcopy(orders_sample()["payload"]["Orders"][0])
    order.update(
        {
            "AmazonOrderId": order_id,
            "PurchaseDate": iso(updated - timedelta(minutes=5)),
            "LastUpdateDate": iso(updated),
            "OrderStatus": "Unshipped",
            "OrderTotal": {"CurrencyCode": "USD", "Amount": total},
        }
    )
    return order


def item(item_id: str, seller_sku: str, quantity: int, line_total: str) -> dict[str, Any]:
    """The sample's second OrderItem with our ids, SKU, quantity and price."""
    found: dict[str, Any] = copy.deepcopy(items_sample()["payload"]["OrderItems"][1])
    found.update(
        {
            "ASIN": f"B0{item_id[-8:]}",
            "OrderItemId": item_id,
            "SellerSKU": seller_sku,
            "QuantityOrdered": quantity,
            "ItemPrice": {"CurrencyCode": "USD", "Amount": line_total},
        }
    )
    return found


def items_page(order_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"payload": {"AmazonOrderId": order_id, "OrderItems": items}}


def seed(amz: Amazon) -> None:
    """The seller's orders before the first poll.

    The first getOrders page is the untouched recorded sample (one Pending order, skipped);
    its NextToken leads to the fake's own listing: 903-… (items: the untouched getOrderItems
    sample, whose NextToken leads to a third item), 111-2000002-…, then 111-2000003-… on a
    page of its own. The sample's Pending order sits in the store with its 2017 date.
    """
    api, t0 = amz.api, amz.t0
    api.serve_first(orders_sample())
    api.put_order(orders_sample()["payload"]["Orders"][0], [])
    api.put_order(
        paid_order(ITEMS_ORDER, t0 - timedelta(minutes=40), "61.89"),
        [
            items_sample(),
            items_page(ITEMS_ORDER, [item("31000000000003", "GREEN/2 PACK", 1, "12.00")]),
        ],
    )
    api.put_order(
        paid_order("111-2000002-0000002", t0 - timedelta(minutes=30), "30.00"),
        [items_page("111-2000002-0000002", [item("32000000000001", "CBA_OTF_5", 3, "30.00")])],
    )
    api.put_order(
        paid_order("111-2000003-0000003", t0 - timedelta(minutes=3), "40.00"),
        [items_page("111-2000003-0000003", [item("33000000000001", "CBA_OTF_1", 2, "40.00")])],
    )


def shape(requests: list[Request]) -> list[tuple[str, str, Query]]:
    return [(r.method, r.path, r.query) for r in requests]


def orders_query(**params: str) -> Query:
    return {"MarketplaceIds": [US], **{k: [v] for k, v in params.items()}}


def items_path(order_id: str) -> str:
    return f"{ORDERS_PATH}/{order_id}/orderItems"


def address_path(order_id: str) -> str:
    return f"{ORDERS_PATH}/{order_id}/address"


#: The Restricted Data Token request, once per token lifetime (an hour), before the first
#: getOrderAddress.
RDT_REQUEST = ("POST", RDT_PATH, {})
#: The built getOrderAddress sample as the canonical ship_to the WMS receives.
SAMPLE_SHIP_TO = {
    "name": "Michigan address",
    "company": None,
    "address1": "1 Cross St.",
    "address2": "Apt 2",
    "city": "Canton",
    "region": "MI",
    "postal_code": "48817",
    "country": "US",
    "phone": "+1 313-555-0142",
}


def cursor_of(health: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(health["poll_cursor"])


def check_sp_headers(amz: Amazon, requests: list[Request]) -> None:
    """Every SP-API call carries the LWA access token (getOrderAddress the Restricted Data
    Token instead), asks for JSON, and is not SigV4-signed."""
    for request in requests:
        if request.path.startswith("/auth/"):
            continue
        restricted = request.path.endswith("/address")
        token = amz.api.restricted_token if restricted else amz.api.access_token
        assert request.headers["x-amz-access-token"] == token
        assert request.headers["accept"] == "application/json"
        assert request.headers["user-agent"].startswith("omniroute/")
        assert "authorization" not in request.headers
        assert "x-amz-date" not in request.headers


def check_token_request(request: Request) -> None:
    assert (request.method, request.path, request.query) == ("POST", "/auth/o2/token", {})
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.raw.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [SECRETS["refresh_token"]],
        "client_id": [SECRETS["lwa_client_id"]],
        "client_secret": [SECRETS["lwa_client_secret"]],
    }


def inbox_count(ctx: Context) -> int:
    with unit_of_work(ctx.sessions) as s:
        return int(s.scalar(select(func.count()).select_from(InboundMessage)) or 0)


def ship_to_at_wms(amz: Amazon) -> dict[str, dict[str, Any]]:
    """The ship-to of every fulfilment order the fake WMS accepted, by order external id."""
    return {
        str(payload["order_reference"]): payload["ship_to"] for payload in amz.wms.accepted.values()
    }


def released_to_wms(amz: Amazon) -> list[tuple[str, list[tuple[str, int]]]]:
    """(order external id, [(sku, qty)]) of every fulfilment order the fake WMS accepted."""
    return sorted(
        (
            str(payload["order_reference"]),
            sorted((ln["sku"], ln["quantity"]) for ln in payload["lines"]),
        )
        for payload in amz.wms.accepted.values()
    )


# --- 1. poll: pages, items, orders routed and released, overlap re-read -----------------------


def test_poll_pages_orders_and_items_then_routes_and_rereads_the_overlap(amazon: Amazon) -> None:
    amz = amazon
    seed(amz)

    amz.poll()

    health = amz.health()
    lookback = amz.ctx.settings.poll_initial_lookback + amz.ctx.settings.poll_overlap
    first_after = iso(cursor_of(health) - timedelta(seconds=lookback))
    sent = amz.since(0)
    check_token_request(sent[0])
    assert shape(sent[1:]) == [
        ("GET", ORDERS_PATH, orders_query(LastUpdatedAfter=first_after, MaxResultsPerPage="2")),
        ("GET", ORDERS_PATH, orders_query(NextToken=SAMPLE_TOKEN)),  # the sample's token
        ("GET", items_path(ITEMS_ORDER), {}),
        ("GET", items_path(ITEMS_ORDER), {"NextToken": [SAMPLE_TOKEN]}),
        RDT_REQUEST,
        ("GET", address_path(ITEMS_ORDER), {}),
        ("GET", items_path("111-2000002-0000002"), {}),
        ("GET", address_path("111-2000002-0000002"), {}),
        ("GET", ORDERS_PATH, orders_query(NextToken="orders-page-1")),
        ("GET", items_path("111-2000003-0000003"), {}),
        ("GET", address_path("111-2000003-0000003"), {}),
    ]  # the Pending sample order cost no getOrderItems or getOrderAddress call
    check_sp_headers(amz, sent)
    assert all(r.raw == b"" for r in sent[1:] if r.method == "GET")
    # The run began at most a few seconds after the test did; the cursor is that start.
    assert amz.t0 <= cursor_of(health) <= datetime.now(UTC)
    assert (health["consecutive_failures"], health["last_error"]) == (0, None)
    assert health["poll_in_progress"] is False and health["last_poll_at"] is not None

    orders = amz.orders()
    assert sorted(orders) == sorted([ITEMS_ORDER, "111-2000002-0000002", "111-2000003-0000003"])
    assert {o["status"] for o in orders.values()} == {"released"}
    assert released_to_wms(amz) == [
        ("111-2000002-0000002", [("SKU-BLUE", 3)]),
        ("111-2000003-0000003", [("SKU-RED", 2)]),
        (ITEMS_ORDER, [("SKU-BLUE", 2), ("SKU-GREEN", 1), ("SKU-RED", 1)]),
    ]
    detail = amz.detail(ITEMS_ORDER)
    assert (detail["currency"], detail["total"], detail["customer_email"]) == (
        "USD",
        "61.89",
        "user@example.com",
    )
    assert [
        (ln["external_line_id"], ln["channel_sku"], ln["sku"], ln["quantity"], ln["unit_price"])
        for ln in detail["lines"]
    ] == [
        ("68828574383266", "CBA_OTF_1", "SKU-RED", 1, "25.99"),
        ("79039765272157", "CBA_OTF_5", "SKU-BLUE", 2, "8.975"),
        ("31000000000003", "GREEN/2 PACK", "SKU-GREEN", 1, "12.00"),
    ]
    assert [fo["warehouse_code"] for fo in detail["fulfilment_orders"]] == ["EAST"]
    assert inbox_count(amz.ctx) == 3

    # The sample's Pending order is paid: Amazon moves its LastUpdateDate, the next poll reads
    # it. The same poll re-reads 111-2000003-… (3 minutes old: inside the 5-minute overlap).
    amz.api.put_order(
        paid_order(SAMPLE_ORDER, amz.t0 - timedelta(minutes=1), "10.00"),
        [items_page(SAMPLE_ORDER, [item("34000000000001", "CBA_OTF_5", 1, "10.00")])],
    )
    cursor_before = cursor_of(amz.health())
    mark = amz.mark()

    amz.poll()

    overlap = timedelta(seconds=amz.ctx.settings.poll_overlap)
    second = amz.since(mark)
    assert shape(second) == [
        (
            "GET",
            ORDERS_PATH,
            orders_query(LastUpdatedAfter=iso(cursor_before - overlap), MaxResultsPerPage="2"),
        ),
        ("GET", items_path("111-2000003-0000003"), {}),
        ("GET", address_path("111-2000003-0000003"), {}),
        ("GET", items_path(SAMPLE_ORDER), {}),
        ("GET", address_path(SAMPLE_ORDER), {}),
    ]  # no new token requests: the access token and the RDT are cached
    check_sp_headers(amz, second)
    orders = amz.orders()
    assert sorted(orders) == sorted(
        [ITEMS_ORDER, "111-2000002-0000002", "111-2000003-0000003", SAMPLE_ORDER]
    )
    assert {o["status"] for o in orders.values()} == {"released"}
    assert inbox_count(amz.ctx) == 4  # the re-read version was a duplicate key, not a row
    assert amz.wms.accepted_count == 4
    assert (SAMPLE_ORDER, [("SKU-BLUE", 1)]) in released_to_wms(amz)
    assert cursor_of(amz.health()) > cursor_before


# --- 1b. merchant-fulfilled orders: the address, and one token for the whole poll --------------


def test_merchant_fulfilled_orders_route_to_the_address_amazon_gives_on_one_token(
    amazon: Amazon,
) -> None:
    amz = amazon
    api, t0 = amz.api, amz.t0
    # Tokens that live under a minute (once fetched again before every call): both polls
    # fit in one token's life, so the token endpoint is asked once, not once per call.
    api.expires_in = 59
    orders = [f"113-500000{n}-0000000" for n in range(1, 6)]
    for n, oid in enumerate(orders, start=1):
        api.put_order(
            paid_order(oid, t0 - timedelta(minutes=60 - n), "10.00"),
            [items_page(oid, [item(f"5{n}000000000001", "CBA_OTF_5", 1, "10.00")])],
        )
    api.put_order(  # Amazon ships this one itself (FBA): recorded, no address asked for
        {
            **paid_order("113-5000009-0000000", t0 - timedelta(minutes=20), "10.00"),
            "FulfillmentChannel": "AFN",
        },
        [items_page("113-5000009-0000000", [item("59000000000001", "CBA_OTF_1", 1, "10.00")])],
    )

    amz.poll()

    sent = amz.since(0)
    check_token_request(sent[0])
    assert api.tokens_issued == 1  # for all the SP-API calls below
    sp_calls = [r for r in sent if not r.path.startswith("/auth/")]
    assert len(sp_calls) == 3 + 1 + 6 + 5  # getOrders pages, the RDT, items, addresses
    rdt_calls = [r for r in sent if r.path == RDT_PATH]
    assert len(rdt_calls) == 1 and rdt_calls[0].json == {"restrictedResources": [ADDRESS_RESOURCE]}
    assert [r.path for r in sent if r.path.endswith("/address")] == [
        address_path(oid) for oid in orders
    ]
    check_sp_headers(amz, sent)
    # getOrders listed them without name or street; the WMS got the full address.
    statuses = amz.orders()
    assert {oid: statuses[oid]["status"] for oid in orders} == dict.fromkeys(orders, "released")
    assert statuses["113-5000009-0000000"]["status"] == "shipped"  # FBA: recorded only
    assert ship_to_at_wms(amz) == dict.fromkeys(orders, SAMPLE_SHIP_TO)
    assert amz.detail(orders[0])["ship_to"] == SAMPLE_SHIP_TO

    # The next poll within the token's life (and the RDT's hour) asks for neither again.
    api.put_order(
        paid_order("113-5000006-0000000", t0 - timedelta(minutes=3), "10.00"),
        [items_page("113-5000006-0000000", [item("56000000000001", "CBA_OTF_5", 1, "10.00")])],
    )
    mark = amz.mark()
    amz.poll()
    again = amz.since(mark)
    assert not [r for r in again if r.path.startswith("/auth/") or r.path == RDT_PATH]
    assert address_path("113-5000006-0000000") in [r.path for r in again]
    assert api.tokens_issued == 1
    assert amz.orders()["113-5000006-0000000"]["status"] == "released"


def test_an_address_amazon_refuses_keeps_the_order_as_an_exception_and_the_rest_route(
    amazon: Amazon,
) -> None:
    amz = amazon
    api, t0 = amz.api, amz.t0
    refused, routed = "113-6000001-0000000", "113-6000002-0000000"
    api.put_order(
        paid_order(refused, t0 - timedelta(minutes=30), "10.00"),
        [items_page(refused, [item("61000000000001", "CBA_OTF_5", 1, "10.00")])],
        address=Reply(404, errors("NotFound", f"Order {refused} has no address.")),
    )
    api.put_order(
        paid_order(routed, t0 - timedelta(minutes=20), "10.00"),
        [items_page(routed, [item("62000000000001", "CBA_OTF_5", 1, "10.00")])],
    )
    # A transient failure of an address is retried in place.
    api.server.fail("GET", address_path(routed), Reply(503, {"errors": []}))

    amz.poll()

    health = amz.health()
    assert (health["consecutive_failures"], health["last_error"]) == (0, None)
    assert [r.path for r in amz.since(0) if r.path.endswith("/address")] == [
        address_path(refused),
        address_path(routed),
        address_path(routed),
    ]
    orders = amz.orders()
    assert refused not in orders  # never made into an order: no address to ship to
    assert orders[routed]["status"] == "released"
    assert list(ship_to_at_wms(amz)) == [routed]
    answer = amz.client.get("/api/v1/exceptions", headers=amz.ops)
    assert answer.status_code == 200, answer.text
    (exception,) = answer.json()
    assert exception["reason"] == "invalid_payload"
    assert exception["inbound_message_id"] is not None  # the polled version is kept
    assert (exception["detail"]["path"], exception["detail"]["source"]) == (
        "ship_to",
        "address_error",
    )
    message = exception["detail"]["message"]
    assert refused in message and "http_404" in message and "has no address" in message


def test_a_missing_address_role_fails_the_poll_and_loses_nothing(amazon: Amazon) -> None:
    amz = amazon
    api, t0 = amz.api, amz.t0
    oid = "113-7000001-0000000"
    api.put_order(
        paid_order(oid, t0 - timedelta(minutes=30), "10.00"),
        [items_page(oid, [item("71000000000001", "CBA_OTF_5", 1, "10.00")])],
    )
    denied = errors("Unauthorized", "Access to requested resource is denied.")
    api.server.fail("POST", RDT_PATH, Reply(403, denied))

    amz.poll()

    health = amz.health()
    assert health["consecutive_failures"] == 1
    assert health["last_error"].startswith("rdt_refused: ")
    assert "Direct-to-Consumer Shipping" in health["last_error"]
    assert amz.orders() == {} and inbox_count(amz.ctx) == 0

    amz.poll()  # the role granted (the fake no longer refuses): the same orders are read

    assert amz.orders()[oid]["status"] == "released"
    assert ship_to_at_wms(amz) == {oid: SAMPLE_SHIP_TO}


# --- 2. failures on the real HTTP path ----------------------------------------------------------


def test_throttling_and_server_errors_are_retried_or_rescheduled_and_shown_in_health(
    amazon: Amazon,
) -> None:
    amz = amazon
    api, t0 = amz.api, amz.t0
    for n, minutes in enumerate((50, 45, 40), start=1):
        oid = f"112-300000{n}-0000000"
        api.put_order(
            paid_order(oid, t0 - timedelta(minutes=minutes), "10.00"),
            [items_page(oid, [item(f"4{n}000000000001", "CBA_OTF_1", 1, "10.00")])],
        )
    # A 429 with Retry-After 0, then a 503: both retried in place within one poll.
    api.server.fail("GET", ORDERS_PATH, Reply(429, QUOTA_EXCEEDED, {"Retry-After": "0"}))
    api.server.fail("GET", ORDERS_PATH, Reply(503, {"errors": []}))

    amz.poll()

    sent = amz.since(0)
    first = orders_query(
        LastUpdatedAfter=iso(
            cursor_of(amz.health())
            - timedelta(
                seconds=amz.ctx.settings.poll_initial_lookback + amz.ctx.settings.poll_overlap
            )
        ),
        MaxResultsPerPage="2",
    )
    check_token_request(sent[0])
    assert shape(sent[1:]) == [
        ("GET", ORDERS_PATH, first),  # 429
        ("GET", ORDERS_PATH, first),  # 503
        ("GET", ORDERS_PATH, first),  # 200
        ("GET", items_path("112-3000001-0000000"), {}),
        RDT_REQUEST,
        ("GET", address_path("112-3000001-0000000"), {}),
        ("GET", items_path("112-3000002-0000000"), {}),
        ("GET", address_path("112-3000002-0000000"), {}),
        ("GET", ORDERS_PATH, orders_query(NextToken="orders-page-1")),
        ("GET", items_path("112-3000003-0000000"), {}),
        ("GET", address_path("112-3000003-0000000"), {}),
    ]
    check_sp_headers(amz, sent)
    health = amz.health()
    assert (health["consecutive_failures"], health["last_error"]) == (0, None)
    assert health["last_success_at"] is not None and health["poll_in_progress"] is False
    # Retried in place, the 429 leaves no failure in health. Its wait is not counted either:
    # tenacity slept the Retry-After plus one token (0.02 s) outside the bucket; the bucket
    # waited at most one token before the request after the 503 (jittered backoff).
    # (A bound, not an exact figure: a loaded machine stretches the bucket's wait a little.)
    assert health["rate_limit_wait_seconds"] < 0.5
    assert len(amz.orders()) == 3

    # Three new orders: two pages. Amazon throttles the second page asking for longer than
    # the connector will sleep in place: the run stops, keeps its page and is rescheduled.
    for n, seconds in enumerate((90, 80, 70), start=4):
        oid = f"112-300000{n}-0000000"
        api.put_order(
            paid_order(oid, t0 - timedelta(seconds=seconds), "10.00"),
            [items_page(oid, [item(f"4{n}000000000001", "CBA_OTF_5", 1, "10.00")])],
        )
    api.fail_next_page(Reply(429, QUOTA_EXCEEDED, {"Retry-After": "0.2"}))
    cursor_before = cursor_of(amz.health())
    mark = amz.mark()

    amz.poll()

    second_after = orders_query(
        LastUpdatedAfter=iso(cursor_before - timedelta(seconds=amz.ctx.settings.poll_overlap)),
        MaxResultsPerPage="2",
    )
    assert shape(amz.since(mark)) == [
        ("GET", ORDERS_PATH, second_after),
        ("GET", items_path("112-3000004-0000000"), {}),
        ("GET", address_path("112-3000004-0000000"), {}),
        ("GET", items_path("112-3000005-0000000"), {}),
        ("GET", address_path("112-3000005-0000000"), {}),
        ("GET", ORDERS_PATH, orders_query(NextToken="orders-page-2")),  # 429, Retry-After 0.2
    ]
    health = amz.health()
    assert health["consecutive_failures"] == 1
    assert health["last_error"] == (
        "http_429: SP-API quota exceeded (HTTP 429, QuotaExceeded: You exceeded your quota "
        "for the requested resource.)"
    )
    assert health["poll_in_progress"] is True  # the run is parked on its page, not lost
    next_poll = datetime.fromisoformat(health["next_poll_at"])
    last_error_at = datetime.fromisoformat(health["last_error_at"])
    # Rescheduled after Retry-After plus one getOrders token (1/50 s), not a poll interval.
    assert 0.2 <= (next_poll - last_error_at).total_seconds() <= 0.25
    assert len(amz.orders()) == 5  # the first page's orders are in
    mark = amz.mark()

    amz.poll()  # the rescheduled run resumes at the page it had reached

    assert shape(amz.since(mark)) == [
        ("GET", ORDERS_PATH, orders_query(NextToken="orders-page-2")),
        ("GET", items_path("112-3000006-0000000"), {}),
        ("GET", address_path("112-3000006-0000000"), {}),
    ]
    health = amz.health()
    assert (health["consecutive_failures"], health["poll_in_progress"]) == (0, False)
    assert datetime.fromisoformat(health["last_success_at"]) > last_error_at
    # The resumed request went no sooner than the 0.2 s Retry-After after the 429.
    throttled, resumed = [t for t, _, token in api.arrivals if token == "orders-page-2"]
    assert resumed - throttled >= 0.2
    assert len(amz.orders()) == 6

    # 503 on every attempt: the poll fails after the configured attempts, health shows it,
    # and the next poll completes.
    attempts = amz.ctx.settings.http_retry_attempts
    for _ in range(attempts):
        api.server.fail("GET", ORDERS_PATH, Reply(503, {"errors": []}))
    mark = amz.mark()

    amz.poll()

    failed = amz.since(mark)
    assert [(r.method, r.path) for r in failed] == [("GET", ORDERS_PATH)] * attempts
    assert failed[0].query == orders_query(
        LastUpdatedAfter=iso(cursor_of(health) - timedelta(seconds=amz.ctx.settings.poll_overlap)),
        MaxResultsPerPage="2",
    )
    assert all(r.query == failed[0].query for r in failed)  # the same request each time
    health = amz.health()
    assert health["consecutive_failures"] == 1
    assert health["last_error"] == (f"http_503: HTTP 503 from {api.server.base_url}{ORDERS_PATH}")
    mark = amz.mark()

    amz.poll()

    # The same run again, from its first page (the 503s left it there); all three orders
    # are inside the overlap: re-read, no new rows.
    assert shape(amz.since(mark)) == [
        ("GET", ORDERS_PATH, failed[0].query),
        ("GET", items_path("112-3000004-0000000"), {}),
        ("GET", address_path("112-3000004-0000000"), {}),
        ("GET", items_path("112-3000005-0000000"), {}),
        ("GET", address_path("112-3000005-0000000"), {}),
        ("GET", ORDERS_PATH, orders_query(NextToken="orders-page-3")),
        ("GET", items_path("112-3000006-0000000"), {}),
        ("GET", address_path("112-3000006-0000000"), {}),
    ]
    health = amz.health()
    assert (health["consecutive_failures"], health["poll_in_progress"]) == (0, False)
    assert len(amz.orders()) == 6 and inbox_count(amz.ctx) == 6
    assert amz.wms.accepted_count == 6


# --- 3. shipments back: partial, then the rest --------------------------------------------------


def test_partial_then_final_shipment_are_confirmed_to_amazon(amazon: Amazon) -> None:
    amz = amazon
    seed(amz)
    amz.poll()
    detail = amz.detail(ITEMS_ORDER)
    (fo,) = detail["fulfilment_orders"]
    url = f"/api/v1/fulfilment-orders/{fo['id']}/shipments"
    confirm_path = f"{ORDERS_PATH}/{ITEMS_ORDER}/shipmentConfirmation"
    mark = amz.mark()

    first = {
        "external_ref": "WMS-PKG-1",
        "lines": [{"sku": "SKU-RED", "quantity": 1}],
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "shipped_at": "2026-11-27T15:30:12.500000Z",
    }
    answer = amz.client.post(url, json=first, headers=amz.shipper)
    assert answer.status_code == 201, answer.text
    assert answer.json()["order_status"] == "partially_shipped"
    first_id = answer.json()["shipment_id"]
    again = amz.client.post(url, json=first, headers=amz.shipper)  # the WMS confirms twice
    assert again.status_code == 200 and again.json()["created"] is False
    drain(amz.ctx)

    rest = {
        "external_ref": "WMS-PKG-2",
        "carrier": "Royal Mail",
        "tracking_number": "RM123456785GB",
        "shipped_at": "2026-11-27T17:05:00Z",
    }  # no lines: everything still open
    answer = amz.client.post(url, json=rest, headers=amz.shipper)
    assert answer.status_code == 201, answer.text
    assert answer.json()["order_status"] == "shipped"
    rest_id = answer.json()["shipment_id"]
    drain(amz.ctx)

    sent = amz.since(mark)
    assert shape(sent) == [("POST", confirm_path, {}), ("POST", confirm_path, {})]
    check_sp_headers(amz, sent)
    assert all(r.headers["content-type"] == "application/json" for r in sent)
    assert [r.json for r in sent] == [
        {
            "marketplaceId": US,
            "packageDetail": {
                "packageReferenceId": str(first_id),
                "carrierCode": "UPS",
                "trackingNumber": "1Z999AA10123456784",
                "shipDate": "2026-11-27T15:30:12Z",
                "orderItems": [{"orderItemId": "68828574383266", "quantity": 1}],
            },
        },
        {
            "marketplaceId": US,
            "packageDetail": {
                "packageReferenceId": str(rest_id),
                "carrierCode": "Others",
                "trackingNumber": "RM123456785GB",
                "shipDate": "2026-11-27T17:05:00Z",
                "orderItems": [
                    {"orderItemId": "79039765272157", "quantity": 2},
                    {"orderItemId": "31000000000003", "quantity": 1},
                ],
                "carrierName": "Royal Mail",
            },
        },
    ]
    assert amz.detail(ITEMS_ORDER)["status"] == "shipped"
    with unit_of_work(amz.ctx.sessions) as s:
        pushes = list(
            s.scalars(
                select(OutboxMessage.status)
                .where(OutboxMessage.kind == "channel.fulfilment")
                .order_by(OutboxMessage.id)
            )
        )
    assert pushes == ["sent", "sent"]  # one per shipment; the repeated confirmation added none


# --- 4. stock back ------------------------------------------------------------------------------


def test_listing_quantities_are_patched_from_the_warehouses_that_serve_amazon(
    amazon: Amazon,
) -> None:
    amz = amazon
    seed(amz)
    amz.poll()  # reserves RED 1+2, BLUE 2+3, GREEN 1 in EAST
    east, west = amz.world.warehouse_ids["EAST"], amz.world.warehouse_ids["WEST"]
    answer = amz.client.patch(
        f"/api/v1/warehouses/{west}", json={"channels": ["shopify"]}, headers=amz.ops
    )
    assert answer.status_code == 200, answer.text  # WEST's stock no longer counts for Amazon
    listings = [
        {"sku": "SKU-RED", "channel_ref": "CBA_OTF_1", "buffer": 1},
        {"sku": "SKU-BLUE", "channel_ref": "CBA_OTF_5"},
        {"sku": "SKU-GREEN", "channel_ref": "GREEN/2 PACK", "buffer": 2},
    ]
    answer = amz.client.put(
        f"/api/v1/connectors/{amz.cid}/listings", json=listings, headers=amz.ops
    )
    assert answer.status_code == 200, answer.text
    mark = amz.mark()

    answer = amz.client.post(f"/api/v1/connectors/{amz.cid}/stock-sync", headers=amz.ops)
    assert answer.json() == {"connector_id": amz.cid, "queued_pushes": 1}
    drain(amz.ctx)

    listing = "/listings/2021-08-01/items/" + SELLER + "/{}"
    market = {"marketplaceIds": [US]}
    sent = amz.since(mark)
    # One PATCH per listing, by SKU; a '/' or space in the SellerSKU stays in one segment.
    assert shape(sent) == [
        ("PATCH", listing.format("CBA_OTF_5"), market),  # SKU-BLUE
        ("PATCH", listing.format("GREEN%2F2%20PACK"), market),  # SKU-GREEN
        ("PATCH", listing.format("CBA_OTF_1"), market),  # SKU-RED
    ]
    check_sp_headers(amz, sent)
    assert all(r.headers["content-type"] == "application/json" for r in sent)
    # The Listings Items API takes no idempotency key; the absolute quantity is the guard.
    assert not any("idempotency-key" in r.headers for r in sent)
    # available = on hand - reserved - safety over EAST only, minus the listing buffer:
    # BLUE 20-5-0 = 15; GREEN 10-1-0 = 9, -2 = 7; RED 20-3-2 = 15, -1 = 14.
    assert [r.json for r in sent] == [quantity_patch(15), quantity_patch(7), quantity_patch(14)]

    # A count in EAST changes BLUE; a receipt in WEST touches RED but WEST does not serve
    # Amazon, so RED's quantity is unchanged and not sent again.
    for body in (
        {"warehouse_id": east, "sku": "SKU-BLUE", "delta": -4, "reason": "count"},
        {"warehouse_id": west, "sku": "SKU-RED", "delta": 10, "reason": "receipt"},
    ):
        answer = amz.client.post("/api/v1/stock/adjustments", json=body, headers=amz.ops)
        assert answer.status_code == 200, answer.text
    mark = amz.mark()

    assert sync_stock(amz.ctx, force=True) == 1
    drain(amz.ctx)

    sent = amz.since(mark)
    assert shape(sent) == [("PATCH", listing.format("CBA_OTF_5"), market)]
    assert sent[0].json == quantity_patch(11)  # 16 - 5 reserved
    pushed = amz.client.get(f"/api/v1/connectors/{amz.cid}/listings", headers=amz.ops).json()
    assert [(x["sku"], x["pushed_available"]) for x in pushed] == [
        ("SKU-BLUE", 11),
        ("SKU-GREEN", 7),
        ("SKU-RED", 14),
    ]
    assert amz.api.listings == {
        "CBA_OTF_5": quantity_patch(11),
        "GREEN/2 PACK": quantity_patch(7),
        "CBA_OTF_1": quantity_patch(14),
    }


def quantity_patch(quantity: int) -> dict[str, Any]:
    return {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}],
            }
        ],
    }


# --- 5. webhooks: Amazon has none ----------------------------------------------------------------


def test_the_webhook_url_refuses_amazon_and_stores_nothing(amazon: Amazon) -> None:
    amz = amazon
    body = b'{"NotificationType": "ORDER_CHANGE", "Payload": {}}'
    answer = amz.client.post(
        f"/webhooks/{amz.cid}", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 404, answer.text
    assert re.search("does not take webhooks", answer.text)
    drain(amz.ctx)
    assert inbox_count(amz.ctx) == 0
    assert amz.api.server.requests == []
