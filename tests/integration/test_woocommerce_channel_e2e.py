"""WooCommerce end to end, against a fake WooCommerce REST API v3 on 127.0.0.1.

Everything goes through the HTTP API (connector set-up, aliases, listings, polls, shipments,
webhooks) and the worker's ``drain``; the fake store records every request omniroute sends,
and the tests assert them exactly. Runs on SQLite, and on PostgreSQL when configured.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.connectors.woocommerce.webhooks import sign
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.housekeeping.sweeper import find_due_work
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.security import Role
from omniroute.core.stock.sync import sync_stock
from omniroute.worker.handlers import drain
from tests.e2e.fake_http import FakeHttp, Reply, Request
from tests.integration.builders import World, build_world, stock
from tests.integration.woocommerce_fake_api import (
    API,
    BASIC_AUTH,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    ORDER,
    ORDERS,
    WEBHOOK_SECRET,
    FakeWooStore,
    gmt,
    sample_bytes,
    sample_order,
    variant,
)

SINGLE = "SINGLE-1"  # the sample's SKU-less line: product 93, aliased as variant:93
SHIRT = "SHIRT-BLACK-M"  # the sample's variation 23 of product 22, channel SKU "Bar3"
PER_PAGE = 2


@dataclass
class Shop:
    ctx: Context
    client: TestClient
    wms: FakeWms
    http: FakeHttp
    store: FakeWooStore
    world: World
    connector_id: int
    admin: dict[str, str]
    ops: dict[str, str]
    shipper: dict[str, str]

    @property
    def east(self) -> int:
        return self.world.warehouse_ids["EAST"]

    @property
    def west(self) -> int:
        return self.world.warehouse_ids["WEST"]


def bearer(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=f'e2e-{role.value}')}"}


@pytest.fixture
def shop(ctx: Context, wms: FakeWms, client: TestClient) -> Iterator[Shop]:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], SINGLE, 10, safety=2)
    stock(ctx, world.warehouse_ids["EAST"], SHIRT, 4)
    stock(ctx, world.warehouse_ids["WEST"], SINGLE, 5)
    stock(ctx, world.warehouse_ids["WEST"], SHIRT, 3, safety=1)
    admin, ops = bearer(ctx, Role.ADMIN), bearer(ctx, Role.OPS)
    with FakeHttp() as http:
        store = FakeWooStore(http)
        created = client.post(
            "/api/v1/connectors",
            json={
                "kind": "woocommerce",
                "name": "woo",
                "config": {
                    "base_url": http.base_url,
                    "per_page": PER_PAGE,
                    # At 50 requests/s the pause a 429 imposes (one token) is 20 ms.
                    "requests_per_second": 50,
                    "burst": 50,
                },
                "secrets": {
                    "consumer_key": CONSUMER_KEY,
                    "consumer_secret": CONSUMER_SECRET,
                    "webhook_secret": WEBHOOK_SECRET,
                },
                "enabled": True,
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        connector_id = int(created.json()["id"])
        assert created.json()["secrets_set"] == [
            "consumer_key",
            "consumer_secret",
            "webhook_secret",
        ]
        # The sample's first line has no SKU (variant:93), its second the channel SKU Bar3.
        for alias, sku in (("variant:93", SINGLE), ("Bar3", SHIRT)):
            answer = client.post(
                "/api/v1/sku-aliases",
                json={"connector_id": connector_id, "alias": alias, "sku": sku},
                headers=ops,
            )
            assert answer.status_code == 201, answer.text
        yield Shop(
            ctx=ctx,
            client=client,
            wms=wms,
            http=http,
            store=store,
            world=world,
            connector_id=connector_id,
            admin=admin,
            ops=ops,
            shipper=bearer(ctx, Role.WAREHOUSE),
        )


# --- helpers ----------------------------------------------------------------------------------


def poll(shop: Shop) -> None:
    answer = shop.client.post(f"/api/v1/connectors/{shop.connector_id}/poll", headers=shop.ops)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"connector_id": shop.connector_id, "queued": True}
    drain(shop.ctx)


def health(shop: Shop) -> dict[str, Any]:
    answer = shop.client.get(f"/api/v1/connectors/{shop.connector_id}/health", headers=shop.ops)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def moment(value: str) -> datetime:
    """An API timestamp as a naive UTC datetime (how the cursor is kept)."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=None) - (parsed.utcoffset() or timedelta())


def orders(shop: Shop) -> list[dict[str, Any]]:
    answer = shop.client.get("/api/v1/orders", headers=shop.ops)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


def order_detail(shop: Shop, external_id: str) -> dict[str, Any]:
    (row,) = [o for o in orders(shop) if o["external_id"] == external_id]
    answer = shop.client.get(f"/api/v1/orders/{row['id']}", headers=shop.ops)
    assert answer.status_code == 200, answer.text
    detail: dict[str, Any] = answer.json()
    return detail


def list_query(modified_after: str, page: int) -> dict[str, list[str]]:
    """The exact query string of the connector's ``GET /orders`` call."""
    return {
        "modified_after": [modified_after],
        "dates_are_gmt": ["true"],
        "orderby": ["modified"],
        "order": ["asc"],
        "per_page": [str(PER_PAGE)],
        "page": [str(page)],
    }


def assert_rest_headers(request: Request, *, body: bool) -> None:
    """Every call carries the consumer key over Basic auth and asks for JSON."""
    assert request.headers["authorization"] == BASIC_AUTH
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("omniroute/")
    if body:
        assert request.headers["content-type"] == "application/json"
    else:
        assert request.raw == b""


def shape(request: Request) -> tuple[str, str, dict[str, list[str]], Any]:
    return request.method, request.path, request.query, request.json


def webhook_headers(body: bytes, topic: str, delivery_id: str) -> dict[str, str]:
    """What ``WC_Webhook::deliver`` sends with an order webhook."""
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)",
        "X-WC-Webhook-Source": "https://example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign(WEBHOOK_SECRET.encode(), body),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }


def send_webhook(shop: Shop, body: bytes, topic: str, delivery_id: str) -> dict[str, Any]:
    answer = shop.client.post(
        f"/webhooks/{shop.connector_id}",
        content=body,
        headers=webhook_headers(body, topic, delivery_id),
    )
    assert answer.status_code == 200, answer.text
    ack: dict[str, Any] = answer.json()
    return ack


def place_sample_order(shop: Shop) -> dict[str, Any]:
    """Order 727 as WooCommerce's order.created webhook sends it (the sample's bytes)."""
    shop.store.put(sample_order())
    ack = send_webhook(shop, sample_bytes(), "order.created", "d-727")
    assert ack["status"] == "accepted" and ack["duplicate"] is False
    drain(shop.ctx)
    detail = order_detail(shop, "727")
    assert detail["status"] == "released"
    return detail


def stock_levels(shop: Shop) -> dict[tuple[int, str], tuple[int, int, int]]:
    answer = shop.client.get("/api/v1/stock", headers=shop.ops)
    assert answer.status_code == 200, answer.text
    return {
        (row["warehouse_id"], row["sku"]): (row["on_hand"], row["reserved"], row["safety"])
        for row in answer.json()
    }


def wms_lines(shop: Shop) -> list[tuple[str, list[tuple[str, int]]]]:
    return sorted(
        (payload["order_reference"], [(ln["sku"], ln["quantity"]) for ln in payload["lines"]])
        for payload in shop.wms.accepted.values()
    )


# --- 1. polling -------------------------------------------------------------------------------


def test_poll_reads_every_page_routes_the_orders_and_rereads_the_overlap_without_duplicates(
    shop: Shop,
) -> None:
    base = utcnow().replace(microsecond=0)
    shop.store.put(sample_order())  # modified in 2017: outside any poll window
    for order_id, minutes in ((801, 30), (802, 20), (803, 10), (804, 2)):
        shop.store.put(variant(order_id, base - timedelta(minutes=minutes)))

    poll(shop)

    lookback = shop.ctx.settings.poll_initial_lookback + shop.ctx.settings.poll_overlap
    first_run = moment(health(shop)["poll_cursor"])  # a quiet channel: the run's start
    first_after = gmt(first_run - timedelta(seconds=lookback))
    lists = shop.http.requests_to("GET", ORDERS)
    assert [(r.method, r.path, r.query) for r in lists] == [
        ("GET", f"{API}/orders", list_query(first_after, 1)),
        ("GET", f"{API}/orders", list_query(first_after, 2)),
    ]
    for request in lists:
        assert_rest_headers(request, body=False)
    assert [o["id"] for o in shop.store.served_orders] == [801, 802, 803, 804]
    assert len(shop.http.requests) == 2  # nothing else was asked of the store

    placed = orders(shop)
    assert [(o["external_id"], o["channel"], o["status"]) for o in placed] == [
        (str(i), "woocommerce", "released") for i in (801, 802, 803, 804)
    ]
    detail = order_detail(shop, "801")
    assert [
        (ln["external_line_id"], ln["channel_sku"], ln["sku"], ln["quantity"])
        for ln in detail["lines"]
    ] == [("8010", None, SINGLE, 2), ("8011", "Bar3", SHIRT, 1)]
    assert (detail["currency"], detail["total"]) == ("USD", "29.35")
    assert detail["ship_to"]["postal_code"] == "94103"
    # Each order went to the WMS once, whole; 801's release exactly:
    assert shop.wms.accepted_count == 4
    (fo,) = detail["fulfilment_orders"]
    (release,) = [p for p in shop.wms.accepted.values() if p["order_reference"] == "801"]
    assert release == {
        "fulfilment_order_id": fo["id"],
        "order_id": detail["id"],
        "order_reference": "801",
        "warehouse_code": "EAST",
        "service_level": "standard",  # the sample's "Flat Rate" shipping line
        "ship_to": {
            "name": "John Doe",
            "company": None,
            "address1": "969 Market",
            "address2": None,
            "city": "San Francisco",
            "region": "CA",
            "postal_code": "94103",
            "country": "US",
            "phone": None,
        },
        "note": None,
        "gift_message": None,
        "attributes": [],  # the sample's one order meta is private ("_download_...")
        "lines": [
            {
                "line_id": detail["lines"][0]["id"],
                "sku": SINGLE,
                "quantity": 2,
                "properties": [],
                "gift_message": None,
            },
            {
                "line_id": detail["lines"][1]["id"],
                "sku": SHIRT,
                "quantity": 1,
                # The recorded variation's attributes, for the picker.
                "properties": [
                    {"name": "pa_color", "value": "black"},
                    {"name": "size", "value": "M Test"},
                ],
                "gift_message": None,
            },
        ],
    }
    assert {ref for ref, _ in wms_lines(shop)} == {"801", "802", "803", "804"}
    assert all(lines == [(SINGLE, 2), (SHIRT, 1)] for _, lines in wms_lines(shop))

    # Second turn: from the cursor minus the overlap, which re-reads 804; 805 is new.
    shop.store.put(variant(805, utcnow()))
    poll(shop)

    overlap = timedelta(seconds=shop.ctx.settings.poll_overlap)
    third = shop.http.requests_to("GET", ORDERS)[2:]
    assert [(r.method, r.path, r.query) for r in third] == [
        ("GET", f"{API}/orders", list_query(gmt(first_run - overlap), 1))
    ]
    assert [o["id"] for o in shop.store.served_orders[4:]] == [804, 805]
    placed = orders(shop)
    assert [(o["external_id"], o["status"]) for o in placed] == [
        (str(i), "released") for i in (801, 802, 803, 804, 805)
    ]
    assert shop.wms.accepted_count == 5
    with unit_of_work(shop.ctx.sessions) as session:
        keys = list(
            session.scalars(
                select(InboundMessage.dedupe_key).where(
                    InboundMessage.connector_id == shop.connector_id
                )
            )
        )
    assert len(keys) == 5  # the re-read of 804 was absorbed by its dedupe key
    state = health(shop)
    assert moment(state["poll_cursor"]) > first_run
    assert state["consecutive_failures"] == 0 and state["poll_in_progress"] is False


# --- 2. failures on the list endpoint ---------------------------------------------------------


def test_a_429_is_waited_out_and_a_503_reschedules_the_poll_which_resumes_at_its_page(
    shop: Shop,
) -> None:
    base = utcnow().replace(microsecond=0)
    for offset, order_id in enumerate(range(811, 816)):
        shop.store.put(variant(order_id, base - timedelta(minutes=50 - offset)))
    limited = {"code": "rest_too_many_requests", "message": "Too many requests."}
    shop.http.fail("GET", ORDERS, Reply(429, limited, {"Retry-After": "0"}))
    down = {"code": "internal_server_error", "message": "Service unavailable."}
    shop.store.fault_page(3, Reply(503, down), Reply(503, down, {"Retry-After": "7"}))

    poll(shop)

    lists = shop.http.requests_to("GET", ORDERS)
    after = lists[0].param("modified_after")
    assert after is not None
    # 429 → waited (Retry-After: 0) and asked again; page 3: 503 → retried, 503 with
    # Retry-After: 7 (more than the retry budget) → the run stops and is rescheduled.
    assert [r.query for r in lists] == [
        list_query(after, 1),
        list_query(after, 1),
        list_query(after, 2),
        list_query(after, 3),
        list_query(after, 3),
    ]
    for request in lists:
        assert_rest_headers(request, body=False)
    state = health(shop)
    # The run's lower bound: its start (the failure is stamped with it) minus lookback+overlap.
    lookback = shop.ctx.settings.poll_initial_lookback + shop.ctx.settings.poll_overlap
    assert after == gmt(moment(state["last_error_at"]) - timedelta(seconds=lookback))
    assert state["consecutive_failures"] == 1
    assert state["last_error"] == f"http_503: HTTP 503 from {shop.http.base_url}{API}/orders"
    assert state["last_success_at"] is None
    assert state["poll_in_progress"] is True
    assert moment(state["next_poll_at"]) - moment(state["last_error_at"]) == timedelta(seconds=7)
    assert state["rate_limit_wait_seconds"] > 0  # the pause the 429 asked for was counted
    # The pages read before the failure are kept and their orders routed.
    assert [(o["external_id"], o["status"]) for o in orders(shop)] == [
        (str(i), "released") for i in (811, 812, 813, 814)
    ]

    poll(shop)  # ops (or the sweeper, once due) polls again: it resumes at page 3

    resumed = shop.http.requests_to("GET", ORDERS)[5:]
    assert [(r.method, r.path, r.query) for r in resumed] == [
        ("GET", f"{API}/orders", list_query(after, 3))
    ]
    state = health(shop)
    assert state["consecutive_failures"] == 0
    assert state["poll_in_progress"] is False
    assert moment(state["last_success_at"]) >= moment(state["last_error_at"])
    assert [(o["external_id"], o["status"]) for o in orders(shop)] == [
        (str(i), "released") for i in (811, 812, 813, 814, 815)
    ]
    assert shop.wms.accepted_count == 5


# --- 3. tracking back -------------------------------------------------------------------------


def ship(shop: Shop, fulfilment_order_id: int, body: dict[str, Any]) -> dict[str, Any]:
    answer = shop.client.post(
        f"/api/v1/fulfilment-orders/{fulfilment_order_id}/shipments",
        json=body,
        headers=shop.shipper,
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_shipments_become_tracking_notes_and_the_last_one_completes_the_order(
    shop: Shop,
) -> None:
    detail = place_sample_order(shop)
    assert shop.http.requests == []  # the webhook carried the whole order
    (fo,) = detail["fulfilment_orders"]
    notes_path, order_path = f"{API}/orders/727/notes", f"{API}/orders/727"

    first = ship(
        shop,
        fo["id"],
        {
            "external_ref": "PKG-1",
            "lines": [{"sku": SINGLE, "quantity": 1}],
            "carrier": "UPS",
            "tracking_number": "1Z999AA10123456784",
            "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        },
    )
    assert first["order_status"] == "partially_shipped"
    drain(shop.ctx)

    first_note = (
        "Your order has shipped with UPS.\n"
        "Tracking number: 1Z999AA10123456784\n"
        "Track it at: https://www.ups.com/track?tracknum=1Z999AA10123456784\n"
        f"Shipment reference: {first['shipment_id']}"
    )
    assert [shape(r) for r in shop.http.requests] == [
        ("GET", notes_path, {"type": ["any"]}, None),
        ("POST", notes_path, {}, {"note": first_note, "customer_note": True}),
    ]
    assert_rest_headers(shop.http.requests[0], body=False)
    assert_rest_headers(shop.http.requests[1], body=True)
    assert shop.store.orders[727]["status"] == "processing"  # a partial shipment: not complete

    # The rest ships; WooCommerce fails the completion, then the outbox retry goes through. A
    # write is sent once per delivery attempt (the outbox row's attempts are its retries).
    shop.http.fail("PUT", ORDER, Reply(503, {"code": "internal_server_error"}))
    rest = ship(
        shop,
        fo["id"],
        {"external_ref": "PKG-2", "carrier": "USPS", "tracking_number": "9400111899223197428490"},
    )
    assert rest["order_status"] == "shipped"
    drain(shop.ctx)

    second_note = (
        "Your order has shipped with USPS.\n"
        "Tracking number: 9400111899223197428490\n"
        f"Shipment reference: {rest['shipment_id']}"
    )
    complete: tuple[str, str, dict[str, list[str]], Any] = (
        "PUT",
        order_path,
        {},
        {"status": "completed"},
    )
    assert [shape(r) for r in shop.http.requests[2:]] == [
        ("GET", notes_path, {"type": ["any"]}, None),
        ("POST", notes_path, {}, {"note": second_note, "customer_note": True}),
        ("GET", order_path, {}, None),
        complete,
    ]
    state = health(shop)
    assert state["consecutive_failures"] == 1
    assert state["last_error"] == f"http_503: HTTP 503 from {shop.http.base_url}{order_path}"

    # The outbox retry is due after its backoff; the sweeper finds it and it is sent again.
    for task, row_id in find_due_work(shop.ctx, now=utcnow() + timedelta(seconds=5)):
        shop.ctx.dispatcher.enqueue(task, row_id)
    drain(shop.ctx)

    # The retry finds its note (by the shipment reference) and adds no second one.
    assert [shape(r) for r in shop.http.requests[6:]] == [
        ("GET", notes_path, {"type": ["any"]}, None),
        ("GET", order_path, {}, None),
        complete,
    ]
    for request in shop.http.requests:
        assert_rest_headers(request, body=request.method in ("POST", "PUT"))
    assert [n["note"] for n in shop.store.notes[727]] == [second_note, first_note]
    assert shop.store.orders[727]["status"] == "completed"
    # Both times the store was asked for the order it answered the recorded sample, untouched.
    assert shop.store.served_orders == [sample_order(), sample_order()]
    assert health(shop)["consecutive_failures"] == 0
    shipped = order_detail(shop, "727")
    assert shipped["status"] == "shipped"
    assert [(s["external_ref"], s["tracking_number"]) for s in shipped["shipments"]] == [
        ("PKG-1", "1Z999AA10123456784"),
        ("PKG-2", "9400111899223197428490"),
    ]


# --- 4. stock back ----------------------------------------------------------------------------


def product_93(quantity: int) -> tuple[str, str, dict[str, list[str]], Any]:
    """The batch call that sets simple product 93's stock (the sample's SKU-less line)."""
    body = {"update": [{"id": 93, "manage_stock": True, "stock_quantity": quantity}]}
    return "POST", f"{API}/products/batch", {}, body


def variation_23(quantity: int) -> tuple[str, str, dict[str, list[str]], Any]:
    """The batch call that sets variation 23 of product 22 (the sample's "Bar3" line)."""
    body = {"update": [{"id": 23, "manage_stock": True, "stock_quantity": quantity}]}
    return "POST", f"{API}/products/22/variations/batch", {}, body


def test_stock_changes_are_pushed_as_absolute_quantities_per_product_and_variation(
    shop: Shop,
) -> None:
    place_sample_order(shop)  # reserves 2 x SINGLE and 1 x SHIRT
    popup = shop.client.post(
        "/api/v1/warehouses",
        json={
            "code": "POPUP",
            "name": "Pop-up store",
            "address": {"postal_code": "10001", "country": "US"},
            "priority": 3,
            "wms_connector_id": shop.world.wms_id,
            "channels": ["shopify"],  # does not sell through WooCommerce
        },
        headers=shop.ops,
    )
    assert popup.status_code == 201, popup.text
    popup_id = int(popup.json()["id"])
    answer = shop.client.put(
        "/api/v1/stock",
        json={"warehouse_id": popup_id, "sku": SINGLE, "on_hand": 100},
        headers=shop.ops,
    )
    assert answer.status_code == 200, answer.text
    shop.store.products.add(93)
    shop.store.variations[22] = {23}
    listings: list[dict[str, Any]] = [
        {"sku": SINGLE, "channel_ref": "product:93", "buffer": 1},
        {"sku": SHIRT, "channel_ref": "variation:22:23"},
    ]
    url = f"/api/v1/connectors/{shop.connector_id}/listings"
    answer = shop.client.put(url, json=listings, headers=shop.ops)
    assert answer.status_code == 200, answer.text

    levels = stock_levels(shop)
    (reserved_at,) = [wh for (wh, sku), (_, r, _) in levels.items() if sku == SINGLE and r]
    assert reserved_at == shop.east
    assert levels[(shop.east, SINGLE)] == (10, 2, 2)
    assert levels[(shop.east, SHIRT)] == (4, 1, 0)
    assert levels[(shop.west, SINGLE)] == (5, 0, 0)
    assert levels[(shop.west, SHIRT)] == (3, 0, 1)

    def available(sku: str, buffer: int) -> int:
        free = sum(
            on_hand - reserved - safety
            for (wh, s), (on_hand, reserved, safety) in stock_levels(shop).items()
            if s == sku and wh in (shop.east, shop.west)
        )
        return free - buffer

    assert sync_stock(shop.ctx, force=True) == 1
    drain(shop.ctx)
    # SINGLE: EAST 10 - 2 reserved - 2 safety + WEST 5, minus the buffer of 1; POPUP not counted.
    # SHIRT: EAST 4 - 1 reserved + WEST 3 - 1 safety.
    assert (available(SINGLE, 1), available(SHIRT, 0)) == (10, 5)
    assert [shape(r) for r in shop.http.requests] == [
        product_93(10),
        variation_23(5),
    ]
    for request in shop.http.requests:
        assert_rest_headers(request, body=True)
    assert shop.store.stock == {93: 10, 23: 5}

    # A receipt at WEST: only the shirt changed, so only its variation is pushed.
    answer = shop.client.post(
        "/api/v1/stock/adjustments",
        json={"warehouse_id": shop.west, "sku": SHIRT, "delta": 4, "reason": "receipt"},
        headers=shop.ops,
    )
    assert answer.status_code == 200, answer.text
    assert sync_stock(shop.ctx, force=True) == 1
    drain(shop.ctx)
    assert [shape(r) for r in shop.http.requests[2:]] == [variation_23(9)]

    # A change in a warehouse that does not serve WooCommerce changes nothing it is told.
    answer = shop.client.post(
        "/api/v1/stock/adjustments",
        json={"warehouse_id": popup_id, "sku": SINGLE, "delta": -50, "reason": "count"},
        headers=shop.ops,
    )
    assert answer.status_code == 200, answer.text
    assert sync_stock(shop.ctx, force=True) == 0
    drain(shop.ctx)
    assert len(shop.http.requests) == 3

    # Ops raise the buffer and push every listing now.
    listings[0]["buffer"] = 3
    assert shop.client.put(url, json=listings, headers=shop.ops).status_code == 200
    answer = shop.client.post(
        f"/api/v1/connectors/{shop.connector_id}/stock-sync", headers=shop.ops
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"connector_id": shop.connector_id, "queued_pushes": 1}
    drain(shop.ctx)
    assert [shape(r) for r in shop.http.requests[3:]] == [
        product_93(8),
        variation_23(9),
    ]
    pushed = shop.client.get(url, headers=shop.ops).json()
    assert [(item["sku"], item["pushed_available"]) for item in pushed] == [(SHIRT, 9), (SINGLE, 8)]


# --- 5. webhooks ------------------------------------------------------------------------------


def test_signed_webhooks_become_orders_and_an_id_only_hint_is_fetched(shop: Shop) -> None:
    url = f"/webhooks/{shop.connector_id}"
    # Saving a webhook in WooCommerce sends an unsigned ping: acknowledged, nothing stored.
    ping = shop.client.post(
        url,
        content=b"webhook_id=12",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ping.status_code == 200 and ping.json()["status"] == "ignored"

    now = utcnow().replace(microsecond=0)
    body = json.dumps(variant(901, now), separators=(",", ":")).encode()
    forged = webhook_headers(body, "order.created", "d-901")
    forged["X-WC-Webhook-Signature"] = sign(b"not-the-secret", body)
    assert shop.client.post(url, content=body, headers=forged).status_code == 401

    ack = send_webhook(shop, body, "order.created", "d-901")
    assert ack["status"] == "accepted"
    again = send_webhook(shop, body, "order.created", "d-901")  # WooCommerce redelivers
    assert again == {"status": "duplicate", "inbound_id": None, "duplicate": True}
    drain(shop.ctx)
    assert [(o["external_id"], o["status"]) for o in orders(shop)] == [("901", "released")]
    assert wms_lines(shop) == [("901", [(SINGLE, 2), (SHIRT, 1)])]
    assert shop.http.requests == []  # a full order body needs no call back

    # An order with a product omniroute does not know is parked...
    unknown_lines = [(500, 0, "NOT-STOCKED", 1)]
    unknown = variant(902, now, lines=unknown_lines)
    body = json.dumps(unknown, separators=(",", ":")).encode()
    assert send_webhook(shop, body, "order.created", "d-902")["status"] == "accepted"
    drain(shop.ctx)
    assert order_detail(shop, "902")["status"] == "exception"

    # ...then the shop trashes it: order.deleted sends only the id, so the order is fetched.
    shop.store.put(
        variant(902, now + timedelta(minutes=1), status="trash", lines=[(500, 0, "NOT-STOCKED", 1)])
    )
    deleted = send_webhook(shop, b'{"id":902}', "order.deleted", "d-902-del")
    assert deleted["status"] == "accepted"
    # A hint for an order the shop no longer has: the fetch is a 404.
    assert send_webhook(shop, b'{"id":903}', "order.deleted", "d-903-del")["status"] == "accepted"
    drain(shop.ctx)

    assert [shape(r) for r in shop.http.requests] == [
        ("GET", f"{API}/orders/902", {}, None),
        ("GET", f"{API}/orders/903", {}, None),
    ]
    for request in shop.http.requests:
        assert_rest_headers(request, body=False)
    assert order_detail(shop, "902")["status"] == "cancelled"
    assert [o["external_id"] for o in orders(shop)] == ["901", "902"]
    with unit_of_work(shop.ctx.sessions) as session:
        outcomes = {
            key: status
            for key, status in session.execute(
                select(InboundMessage.dedupe_key, InboundMessage.status)
            )
        }
    assert sorted(outcomes.values()) == ["done", "done", "done", "failed"]
    failed = shop.client.get(
        "/api/v1/exceptions", params={"reason": "invalid_payload"}, headers=shop.ops
    ).json()
    assert len(failed) == 1 and "903" in failed[0]["detail"]["message"]
    assert health(shop)["last_webhook_at"] is not None
