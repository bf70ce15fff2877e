"""Shopify end to end against a fake Shopify Admin API on 127.0.0.1, on SQLite and PostgreSQL.

Everything an operator or a warehouse would do goes through the HTTP API (connector set-up,
stock, aliases, listings, polls, shipment confirmations, webhooks); ``worker.handlers.drain``
runs the queued work in-process. The assertions are on the exact requests the fake shop
received: method, path, query, the headers that matter (``X-Shopify-Access-Token``,
``Accept``, ``Content-Type``) and the JSON body. Shopify takes no idempotency key on these
writes; what keeps a repeated fulfilment from fulfilling twice is the connector reading the
shop's fulfillments first, and that is shown here against a fake that applied a request it
then answered with a 503.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.housekeeping.sweeper import find_due_work
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OutboxMessage
from omniroute.core.platform.security import Role
from omniroute.core.stock.sync import sync_stock
from omniroute.worker.handlers import drain
from tests.e2e.fake_http import Reply, Request
from tests.integration.builders import World, build_world
from tests.integration.shopify_fake_api import (
    API,
    API_VERSION,
    GRAPHQL_PATH,
    ORDER_SAMPLE,
    ORDERS_PATH,
    FulfillmentOrderSpec,
    Line,
    ShopifyFake,
    fo_line_id,
    graphql_throttled,
    order_variant,
    sample_fulfillment,
    sample_order,
    sample_order_document,
    shopify_errors,
)
from tests.shopify_signing import shopify_hmac

TOKEN = "shpat_e2e_0123456789abcdef0123456789"
WEBHOOK_SECRET = "shpss_e2e_webhook_secret"
#: The Shopify location stock is set at, and that most fulfillment orders are assigned to.
LOCATION = 905684977
OTHER_LOCATION = 487838322
#: At 100 leaks/s the pause that a 429 imposes on the connector's bucket (one token) is 10 ms.
LEAK_RATE = 100

SAMPLE = sample_order()
SAMPLE_ID = SAMPLE["id"]  # 450789469, "#1001"
# The recorded order's three line items.
GREEN_LINE, RED_LINE, BLACK_LINE = 466157049, 518995019, 703073504
# Internal SKUs, and the Shopify SKUs / SKU-less variant aliased to them.
GREEN, RED, BLACK, SILVER = "IPOD-GREEN", "IPOD-RED", "IPOD-BLACK", "IPOD-SILVER"
ALIASES = {
    "IPOD2008GREEN": GREEN,
    "IPOD2008RED": RED,
    "IPOD2008BLACK": BLACK,
    "variant:1070325019": SILVER,
}
# Shopify inventory item ids the listings push to (channel_ref).
GREEN_ITEM, RED_ITEM, SILVER_ITEM = 808950810, 343153265, 49148387

ORDER_A, ORDER_B, ORDER_C, ORDER_D = 5_000_001, 5_000_002, 5_000_003, 5_000_004
VARIANTS: dict[int, dict[str, Any]] = {
    ORDER_A: order_variant(
        ORDER_A,
        number=1101,
        updated_at="2026-11-20T09:00:00-05:00",
        lines=[
            Line(50_000_011, "IPOD2008RED", 49148385, 2),
            Line(50_000_012, "IPOD2008BLACK", 457924702, 1),
        ],
        customer="Ada Lovelace",
    ),
    ORDER_B: order_variant(
        ORDER_B,
        number=1102,
        updated_at="2026-11-20T15:05:00Z",
        lines=[Line(50_000_021, None, 1070325019, 1)],  # a SKU-less variant
        customer="Brian Kernighan",
    ),
    ORDER_C: order_variant(
        ORDER_C,
        number=1103,
        updated_at="2026-11-20T16:10:00+01:00",
        lines=[Line(50_000_031, "IPOD2008GREEN", 39072856, 3)],
        customer="Claude Shannon",
    ),
}
#: Order-list pages; the recorded sample is served untouched on the first.
PAGES = [[SAMPLE_ID, ORDER_A], [ORDER_B], [ORDER_C]]
#: What each routed order asks the warehouse for.
RELEASED_LINES = {
    str(SAMPLE_ID): {GREEN: 1, RED: 1, BLACK: 1},
    str(ORDER_A): {RED: 2, BLACK: 1},
    str(ORDER_B): {SILVER: 1},
    str(ORDER_C): {GREEN: 3},
}
# The sample's fulfillment orders in Shopify: green and red at LOCATION, black elsewhere.
SAMPLE_FO, SAMPLE_FO_OTHER = 1046000778, 1046000779


def single_fulfillment_order(order: dict[str, Any]) -> list[FulfillmentOrderSpec]:
    lines = tuple(item["id"] for item in order["line_items"])
    return [FulfillmentOrderSpec(2_000_000_000 + order["id"], LOCATION, lines)]


@dataclass
class Env:
    ctx: Context
    client: TestClient
    wms: FakeWms
    shop: ShopifyFake
    world: World
    connector_id: int
    warehouse_ids: dict[str, int]
    admin: dict[str, str]
    ops: dict[str, str]
    shipper: dict[str, str]


def bearer(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=f'e2e-{role.value}')}"}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def env(ctx: Context, wms: FakeWms, client: TestClient) -> Iterator[Env]:
    # The fake answers its first fulfillment with the recorded sample's id.
    with ShopifyFake(access_token=TOKEN, first_fulfillment_id=255858046) as shop:
        world = build_world(ctx, wms.base_url)  # also a webhook-only Shopify connector "shop"
        admin, ops = bearer(ctx, Role.ADMIN), bearer(ctx, Role.OPS)
        south = ok(
            client.post(
                "/api/v1/warehouses",
                json={
                    "code": "SOUTH",
                    "name": "South, sells through Amazon only",
                    "address": {"postal_code": "40202", "country": "US"},
                    "priority": 0,
                    "channels": ["amazon"],
                    "wms_connector_id": world.wms_id,
                },
                headers=ops,
            ),
            201,
        )
        connector = ok(
            client.post(
                "/api/v1/connectors",
                json={
                    "kind": "shopify",
                    "name": "shopify-e2e",
                    "config": {
                        "api_base_url": shop.api_base_url,
                        "api_version": API_VERSION,
                        "location_id": LOCATION,
                        "rate_limit_per_second": LEAK_RATE,
                    },
                    "secrets": {"webhook_secret": WEBHOOK_SECRET, "access_token": TOKEN},
                    "enabled": True,
                },
                headers=admin,
            ),
            201,
        )
        ids = {**world.warehouse_ids, "SOUTH": south["id"]}
        for code, sku, on_hand, safety in (
            ("EAST", GREEN, 10, 1),
            ("EAST", RED, 10, 0),
            ("EAST", BLACK, 10, 0),
            ("EAST", SILVER, 5, 0),
            ("WEST", GREEN, 2, 0),
            ("WEST", RED, 4, 0),
            ("SOUTH", GREEN, 100, 0),
            ("SOUTH", RED, 100, 0),
        ):
            body = {"warehouse_id": ids[code], "sku": sku, "on_hand": on_hand, "safety": safety}
            ok(client.put("/api/v1/stock", json=body, headers=ops))
        for alias, sku in ALIASES.items():
            body = {"connector_id": connector["id"], "alias": alias, "sku": sku}
            ok(client.post("/api/v1/sku-aliases", json=body, headers=ops), 201)
        shop.add_order(
            SAMPLE,
            [
                FulfillmentOrderSpec(SAMPLE_FO, LOCATION, (GREEN_LINE, RED_LINE)),
                FulfillmentOrderSpec(SAMPLE_FO_OTHER, OTHER_LOCATION, (BLACK_LINE,)),
            ],
        )
        for order in VARIANTS.values():
            shop.add_order(order, single_fulfillment_order(order))
        shop.pages = [list(page) for page in PAGES]
        yield Env(
            ctx=ctx,
            client=client,
            wms=wms,
            shop=shop,
            world=world,
            connector_id=connector["id"],
            warehouse_ids=ids,
            admin=admin,
            ops=ops,
            shipper=bearer(ctx, Role.WAREHOUSE),
        )


# --- helpers --------------------------------------------------------------------------------


def shopify_time(moment: datetime) -> str:
    """How the connector sends ``updated_at_min``: UTC, whole seconds, ``+00:00``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def when(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def first_page(updated_at_min: str) -> dict[str, list[str]]:
    return {
        "status": ["any"],
        "updated_at_min": [updated_at_min],
        "limit": ["250"],
        "order": ["updated_at asc"],
    }


def later_page(page: int) -> dict[str, list[str]]:
    return {"page_info": [ShopifyFake.cursor_for(page)], "limit": ["250"]}


def assert_shopify_headers(request: Request, *, json_body: bool) -> None:
    assert request.headers["x-shopify-access-token"] == TOKEN
    assert request.headers["accept"] == "application/json"
    if json_body:
        assert request.headers["content-type"] == "application/json"
    else:
        assert request.raw == b""


def shape(request: Request) -> tuple[str, str, dict[str, list[str]], Any]:
    """(method, path, query, JSON body) of a request the fake received; headers checked."""
    assert_shopify_headers(request, json_body=request.method == "POST")
    return request.method, request.path, request.query, request.json


def calls(shop: ShopifyFake, *, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in shop.http.requests[since:]]


def order_lists(shop: ShopifyFake) -> list[Request]:
    return shop.http.requests_to("GET", ORDERS_PATH)


def poll(env: Env) -> None:
    url = f"/api/v1/connectors/{env.connector_id}/poll"
    assert ok(env.client.post(url, headers=env.ops), 202) == {
        "connector_id": env.connector_id,
        "queued": True,
    }
    drain(env.ctx)


def health(env: Env) -> dict[str, Any]:
    result: dict[str, Any] = ok(
        env.client.get(f"/api/v1/connectors/{env.connector_id}/health", headers=env.ops)
    )
    return result


def orders(env: Env) -> dict[str, dict[str, Any]]:
    rows = ok(env.client.get("/api/v1/orders", headers=env.ops))
    assert len({row["external_id"] for row in rows}) == len(rows)
    return {row["external_id"]: row for row in rows}


def order_detail(env: Env, external_id: int) -> dict[str, Any]:
    detail: dict[str, Any] = ok(
        env.client.get(f"/api/v1/orders/{orders(env)[str(external_id)]['id']}", headers=env.ops)
    )
    return detail


def released(env: Env) -> dict[str, dict[str, int]]:
    """What the WMS accepted, as Shopify order id -> {sku: quantity}."""
    external = {row["id"]: external_id for external_id, row in orders(env).items()}
    by_order: dict[str, dict[str, int]] = {}
    for payload in env.wms.accepted.values():
        lines = by_order.setdefault(external[payload["order_id"]], {})
        for line in payload["lines"]:
            lines[line["sku"]] = lines.get(line["sku"], 0) + line["quantity"]
    return by_order


def inbox_count(env: Env) -> int:
    with unit_of_work(env.ctx.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


def outbox_rows(env: Env, kind: str) -> list[tuple[str, str, int]]:
    with unit_of_work(env.ctx.sessions) as session:
        rows = session.execute(
            select(OutboxMessage.idempotency_key, OutboxMessage.status, OutboxMessage.attempts)
            .where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.id)
        ).all()
    return [(str(key), str(status), int(attempts)) for key, status, attempts in rows]


# --- 1. poll ----------------------------------------------------------------------------------


def test_poll_follows_link_pages_routes_releases_and_rereads_the_overlap_once(env: Env) -> None:
    settings = env.ctx.settings
    before = datetime.now(UTC)
    poll(env)
    after = datetime.now(UTC)

    # The first run reads from its start minus initial lookback and overlap; every order served
    # is older than the run, so the cursor it leaves is the run's start.
    first = health(env)
    cursor = when(first["poll_cursor"])
    assert before - timedelta(seconds=1) <= cursor <= after
    start = shopify_time(
        cursor - timedelta(seconds=settings.poll_initial_lookback + settings.poll_overlap)
    )
    # Page 1 with the filters; pages 2 and 3 by the page_info of the rel="next" Link only.
    assert [shape(r) for r in env.shop.http.requests] == [
        ("GET", f"{API}/orders.json", first_page(start), None),
        ("GET", f"{API}/orders.json", later_page(1), None),
        ("GET", f"{API}/orders.json", later_page(2), None),
    ]
    assert first["consecutive_failures"] == 0 and first["last_error"] is None
    assert first["poll_in_progress"] is False and first["last_success_at"] is not None
    # The first page carried the recorded order untouched, then variants of it.
    assert env.shop.served_pages == [
        [SAMPLE, VARIANTS[ORDER_A]],
        [VARIANTS[ORDER_B]],
        [VARIANTS[ORDER_C]],
    ]
    assert env.shop.served_pages[0][0] == sample_order_document()["order"]

    # Every order of the three pages is stored, routed and released to the WMS.
    stored = orders(env)
    assert {k: v["status"] for k, v in stored.items()} == {
        str(SAMPLE_ID): "released",
        str(ORDER_A): "released",
        str(ORDER_B): "released",
        str(ORDER_C): "released",
    }
    assert released(env) == RELEASED_LINES
    assert env.wms.accepted_count == 4
    # The recorded sample, through the Shopify mapping spec and the SKU aliases.
    sample = order_detail(env, SAMPLE_ID)
    assert (sample["channel"], sample["currency"], sample["total"]) == ("shopify", "USD", "409.94")
    assert [(ln["external_line_id"], ln["sku"], ln["quantity"]) for ln in sample["lines"]] == [
        (str(GREEN_LINE), GREEN, 1),
        (str(RED_LINE), RED, 1),
        (str(BLACK_LINE), BLACK, 1),
    ]
    assert sample["exceptions"] == []
    (fo,) = sample["fulfilment_orders"]
    assert fo["warehouse_code"] == "EAST"  # SOUTH (priority 0) does not sell through Shopify
    (key,) = [k for k, p in env.wms.accepted.items() if p["order_id"] == sample["id"]]
    assert [r.headers["idempotency-key"] for r in env.wms.requests].count(key) == 1
    assert env.wms.accepted[key] == {
        "fulfilment_order_id": fo["id"],
        "order_id": sample["id"],
        "order_reference": "#1001",  # the Shopify order name
        "warehouse_code": "EAST",
        "service_level": "standard",
        "ship_to": {
            "name": "Bob Norman",
            "company": None,
            "address1": "Chestnut Street 92",
            "address2": None,
            "city": "Louisville",
            "region": "KY",
            "postal_code": "40202",
            "country": "US",
            "phone": "555-625-1199",
        },
        # The recorded note attributes and the green line's engraving go to the warehouse.
        "note": None,
        "gift_message": None,
        "attributes": [
            {"name": "custom engraving", "value": "Happy Birthday"},
            {"name": "colour", "value": "green"},
        ],
        "lines": [
            {
                "line_id": sample["lines"][0]["id"],
                "sku": GREEN,
                "quantity": 1,
                "properties": [{"name": "Custom Engraving", "value": "Happy Birthday"}],
                "gift_message": None,
            },
            {
                "line_id": sample["lines"][1]["id"],
                "sku": RED,
                "quantity": 1,
                "properties": [],
                "gift_message": None,
            },
            {
                "line_id": sample["lines"][2]["id"],
                "sku": BLACK,
                "quantity": 1,
                "properties": [],
                "gift_message": None,
            },
        ],
    }
    # The SKU-less line found its SKU through the variant alias.
    b = order_detail(env, ORDER_B)
    assert [(ln["external_line_id"], ln["sku"]) for ln in b["lines"]] == [("50000021", SILVER)]

    # The second poll starts an overlap window before the cursor and reads all three pages
    # again; that stores and sends nothing new.
    inbox = inbox_count(env)
    poll(env)
    second = health(env)
    overlap_start = shopify_time(cursor - timedelta(seconds=settings.poll_overlap))
    assert [shape(r) for r in env.shop.http.requests[3:]] == [
        ("GET", f"{API}/orders.json", first_page(overlap_start), None),
        ("GET", f"{API}/orders.json", later_page(1), None),
        ("GET", f"{API}/orders.json", later_page(2), None),
    ]
    assert when(second["poll_cursor"]) > cursor
    assert inbox_count(env) == inbox
    assert {k: v["status"] for k, v in orders(env).items()} == {
        k: v["status"] for k, v in stored.items()
    }
    assert env.wms.accepted_count == 4 and len(env.wms.requests) == 4


# --- 2. failures on the real HTTP path ----------------------------------------------------------


def test_a_429_is_waited_out_and_a_503_reschedules_the_poll_which_resumes_at_its_page(
    env: Env,
) -> None:
    throttled = shopify_errors("Exceeded 2 calls per second for api client. Reduce request rates.")
    env.shop.http.fail("GET", ORDERS_PATH, Reply(429, throttled, {"Retry-After": "0"}))
    down = shopify_errors("Service Unavailable")
    # Page 2 is asked for once page 1 is served: 503, retried; 503 with Retry-After: 7 (more
    # than the connector sleeps in a call) stops the run, which is rescheduled for then.
    env.shop.fail_after_page(0, [Reply(503, down), Reply(503, down, {"Retry-After": "7"})])

    poll(env)

    lists = order_lists(env.shop)
    start = lists[0].param("updated_at_min")
    assert start is not None
    assert [shape(r) for r in lists] == [
        ("GET", f"{API}/orders.json", first_page(start), None),  # 429
        ("GET", f"{API}/orders.json", first_page(start), None),
        ("GET", f"{API}/orders.json", later_page(1), None),  # 503
        ("GET", f"{API}/orders.json", later_page(1), None),  # 503, Retry-After: 7
    ]
    assert calls(env.shop) == [("GET", f"{API}/orders.json")] * 4
    failed = health(env)
    lookback = env.ctx.settings.poll_initial_lookback + env.ctx.settings.poll_overlap
    assert start == shopify_time(when(failed["last_error_at"]) - timedelta(seconds=lookback))
    assert failed["consecutive_failures"] == 1
    page_2 = f"{env.shop.api_base_url}/orders.json"
    assert failed["last_error"].startswith(f"http_503: HTTP 503 from {page_2}")
    assert failed["last_success_at"] is None
    assert failed["poll_in_progress"] is True  # stopped at page 2, not finished
    assert failed["poll_cursor"] is None and failed["last_poll_at"] is None
    assert when(failed["next_poll_at"]) - when(failed["last_error_at"]) == timedelta(seconds=7)
    # The 429 emptied the connector's bucket: its retry waited for a token (1/100 s).
    assert 0.0 < failed["rate_limit_wait_seconds"] < 0.5  # a bound: load stretches waits
    # Page 1 was committed with its page_info: its orders are in and released already.
    assert released(env) == {k: RELEASED_LINES[k] for k in (str(SAMPLE_ID), str(ORDER_A))}

    poll(env)  # ops (or the sweeper, once due) polls again: the run resumes at page 2

    assert [shape(r) for r in order_lists(env.shop)[4:]] == [
        ("GET", f"{API}/orders.json", later_page(1), None),
        ("GET", f"{API}/orders.json", later_page(2), None),
    ]
    recovered = health(env)
    assert recovered["consecutive_failures"] == 0
    assert recovered["poll_in_progress"] is False
    assert when(recovered["last_success_at"]) >= when(failed["last_error_at"])
    assert recovered["last_error"] == failed["last_error"]  # kept for ops to read
    assert when(recovered["poll_cursor"]) == when(failed["last_error_at"])  # the run's start
    assert released(env) == RELEASED_LINES
    assert env.wms.accepted_count == 4


# --- 3. tracking back ---------------------------------------------------------------------------


def ship(env: Env, fo_id: int, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    url = f"/api/v1/fulfilment-orders/{fo_id}/shipments"
    result: dict[str, Any] = ok(env.client.post(url, json=body, headers=env.shipper), status)
    return result


def fulfillment_body(
    groups: list[tuple[int, list[tuple[int, int]]]], tracking: dict[str, str]
) -> dict[str, Any]:
    """A POST /fulfillments.json body: (fulfillment order id, [(order line id, qty)])."""
    return {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": fo_id,
                    "fulfillment_order_line_items": [
                        {"id": fo_line_id(line), "quantity": qty} for line, qty in lines
                    ],
                }
                for fo_id, lines in groups
            ],
            "notify_customer": False,
            "tracking_info": tracking,
        }
    }


def test_shipments_become_shopify_fulfillments_partial_then_the_rest_never_twice(
    env: Env,
) -> None:
    poll(env)
    (fo,) = order_detail(env, SAMPLE_ID)["fulfilment_orders"]
    start = len(env.shop.http.requests)
    fulfillments = f"{API}/orders/{SAMPLE_ID}/fulfillments.json"
    fulfillment_orders = f"{API}/orders/{SAMPLE_ID}/fulfillment_orders.json"
    create = f"{API}/fulfillments.json"

    # The warehouse ships the green iPod first, with the tracking of the recorded fulfillment.
    partial = {
        "external_ref": "WMS-PKG-1",
        "lines": [{"sku": GREEN, "quantity": 1}],
        "carrier": "null-company",
        "tracking_number": "1Z2345",
        "tracking_url": "http://www.google.com/search?q=1Z2345",
    }
    first = ship(env, fo["id"], partial)
    assert first["order_status"] == "partially_shipped"
    drain(env.ctx)
    # Read what Shopify has (the sample's own fulfillment with 1Z2345 failed: it does not
    # count), then the fulfillment orders, then one fulfillment for the green line item.
    assert [shape(r) for r in env.shop.http.requests[start:]] == [
        ("GET", fulfillments, {"limit": ["250"]}, None),
        ("GET", fulfillment_orders, {}, None),
        (
            "POST",
            create,
            {},
            fulfillment_body(
                [(SAMPLE_FO, [(GREEN_LINE, 1)])],
                {
                    "number": "1Z2345",
                    "url": "http://www.google.com/search?q=1Z2345",
                    "company": "null-company",
                },
            ),
        ),
    ]
    # Shopify answered the recorded fulfillment sample, untouched.
    assert env.shop.created == [sample_fulfillment()]

    # The same package confirmed again: absorbed, nothing more reaches Shopify.
    again = ship(env, fo["id"], partial, status=200)
    assert again == {**first, "created": False}
    drain(env.ctx)
    assert len(env.shop.http.requests) == start + 3

    # The rest (red at LOCATION, black at OTHER_LOCATION: one fulfillment per location).
    # Shopify makes the first fulfillment but answers 503: the POST is not repeated in the
    # call, the outbox row retries, reads the fulfillments again, finds red carried by this
    # tracking number and sends only black.
    env.shop.apply_then_fail_next_fulfillment(Reply(503, shopify_errors("Service Unavailable")))
    rest = {
        "external_ref": "WMS-PKG-2",
        "carrier": "UPS",
        "tracking_number": "1ZE2E0000000000002",
        "tracking_url": "https://track.example/1ZE2E0000000000002",
    }
    second = ship(env, fo["id"], rest)
    assert second["order_status"] == "shipped"
    drain(env.ctx)
    ups = {
        "number": "1ZE2E0000000000002",
        "url": "https://track.example/1ZE2E0000000000002",
        "company": "UPS",
    }
    assert [shape(r) for r in env.shop.http.requests[start + 3 :]] == [
        ("GET", fulfillments, {"limit": ["250"]}, None),
        ("GET", fulfillment_orders, {}, None),
        ("POST", create, {}, fulfillment_body([(SAMPLE_FO, [(RED_LINE, 1)])], ups)),
    ]
    failing = health(env)
    assert failing["consecutive_failures"] == 1
    assert (
        failing["last_error"]
        == f"http_503: HTTP 503 from {env.shop.api_base_url}/fulfillments.json"
    )

    # The retry is due after its backoff; the sweeper finds it and it is sent again.
    for task, row_id in find_due_work(env.ctx, now=utcnow() + timedelta(seconds=5)):
        env.ctx.dispatcher.enqueue(task, row_id)
    drain(env.ctx)
    assert [shape(r) for r in env.shop.http.requests[start + 6 :]] == [
        ("GET", fulfillments, {"limit": ["250"]}, None),
        ("GET", fulfillment_orders, {}, None),
        ("POST", create, {}, fulfillment_body([(SAMPLE_FO_OTHER, [(BLACK_LINE, 1)])], ups)),
    ]
    # Shopify holds each line item fulfilled once; both fulfillment orders are closed.
    assert [
        [(item["id"], item["quantity"]) for item in made["line_items"]] for made in env.shop.created
    ] == [[(GREEN_LINE, 1)], [(RED_LINE, 1)], [(BLACK_LINE, 1)]]
    assert [made["tracking_number"] for made in env.shop.created] == [
        "1Z2345",
        "1ZE2E0000000000002",
        "1ZE2E0000000000002",
    ]
    assert [fo["status"] for fo in env.shop.fulfillment_orders[SAMPLE_ID]] == ["closed", "closed"]
    assert outbox_rows(env, "channel.fulfilment") == [
        (f"shipment-{first['shipment_id']}", "sent", 1),
        (f"shipment-{second['shipment_id']}", "sent", 2),
    ]
    assert health(env)["consecutive_failures"] == 0
    assert order_detail(env, SAMPLE_ID)["status"] == "shipped"
    # Only the sample's requests: no other order was touched.
    assert all(
        r.path in (fulfillments, fulfillment_orders, create) for r in env.shop.http.requests[start:]
    )


def test_fulfillment_orders_without_fulfillable_quantity_still_take_the_tracking(
    env: Env,
) -> None:
    # An older Admin API version: fulfillment-order line items carry no fulfillable_quantity.
    env.shop.omit_fulfillable_quantity = True
    poll(env)
    (fo,) = order_detail(env, ORDER_C)["fulfilment_orders"]  # three green iPods
    shopify_fo = 2_000_000_000 + ORDER_C
    create = f"{API}/fulfillments.json"
    start = len(env.shop.http.requests)

    first = ship(
        env,
        fo["id"],
        {"external_ref": "C-PKG-1", "lines": [{"sku": GREEN, "quantity": 1}],
         "carrier": "UPS", "tracking_number": "1ZC0000000000001"},
    )  # fmt: skip
    drain(env.ctx)
    second = ship(
        env,
        fo["id"],
        {"external_ref": "C-PKG-2", "carrier": "UPS", "tracking_number": "1ZC0000000000002"},
    )
    assert second["order_status"] == "shipped"
    drain(env.ctx)

    posts = [shape(r) for r in env.shop.http.requests[start:] if r.method == "POST"]
    assert posts == [
        ("POST", create, {}, fulfillment_body([(shopify_fo, [(50_000_031, n)])], tracking))
        for n, tracking in (
            (1, {"number": "1ZC0000000000001", "company": "UPS"}),
            # 3 in the fulfillment order, 1 known fulfilled: 2 left, not 0.
            (2, {"number": "1ZC0000000000002", "company": "UPS"}),
        )
    ]
    assert [fo["status"] for fo in env.shop.fulfillment_orders[ORDER_C]] == ["closed"]
    assert outbox_rows(env, "channel.fulfilment") == [
        (f"shipment-{first['shipment_id']}", "sent", 1),
        (f"shipment-{second['shipment_id']}", "sent", 1),
    ]


# --- 4. stock back ------------------------------------------------------------------------------


def stock_levels(env: Env, sku: str) -> dict[str, tuple[int, int, int]]:
    codes = {wid: code for code, wid in env.warehouse_ids.items()}
    rows = ok(env.client.get("/api/v1/stock", params={"sku": sku}, headers=env.ops))
    return {codes[r["warehouse_id"]]: (r["on_hand"], r["reserved"], r["safety"]) for r in rows}


READ_AVAILABLE = """\
query OmnirouteAvailable($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id
      inventoryLevel(locationId: $locationId) {
        quantities(names: ["available"]) { name quantity }
      }
    }
  }
}"""
SET_AVAILABLE = """\
mutation OmnirouteSetAvailable($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    userErrors { code field message }
  }
}"""


def read_available(*items: int) -> tuple[str, str, dict[str, Any], Any]:
    variables = {
        "ids": [f"gid://shopify/InventoryItem/{item}" for item in items],
        "locationId": f"gid://shopify/Location/{LOCATION}",
    }
    return ("POST", f"{API}/graphql.json", {}, {"query": READ_AVAILABLE, "variables": variables})


def set_available(key: str, *sets: tuple[int, int, int]) -> tuple[str, str, dict[str, Any], Any]:
    """The compare-and-set of (inventory item, value, compared with) at LOCATION."""
    quantities = [
        {
            "inventoryItemId": f"gid://shopify/InventoryItem/{item}",
            "locationId": f"gid://shopify/Location/{LOCATION}",
            "quantity": value,
            "compareQuantity": compared,
        }
        for item, value, compared in sets
    ]
    payload = {
        "name": "available",
        "reason": "correction",
        "referenceDocumentUri": f"gid://omniroute/StockPush/{key}",
        "quantities": quantities,
    }
    return (
        "POST",
        f"{API}/graphql.json",
        {},
        {"query": SET_AVAILABLE, "variables": {"input": payload}},
    )


def set_stock(env: Env, code: str, sku: str, on_hand: int) -> None:
    body = {"warehouse_id": env.warehouse_ids[code], "sku": sku, "on_hand": on_hand}
    ok(env.client.put("/api/v1/stock", json=body, headers=env.ops))


def stock_keys(env: Env) -> list[str]:
    return [key for key, _, _ in outbox_rows(env, "channel.stock")]


def test_stock_goes_out_by_compare_and_set_without_undoing_shopifys_own_sales(env: Env) -> None:
    poll(env)  # four orders reserve stock in EAST
    assert stock_levels(env, GREEN) == {"EAST": (10, 4, 1), "WEST": (2, 0, 0), "SOUTH": (100, 0, 0)}
    assert stock_levels(env, RED) == {"EAST": (10, 3, 0), "WEST": (4, 0, 0), "SOUTH": (100, 0, 0)}
    assert stock_levels(env, SILVER) == {"EAST": (5, 1, 0)}
    listings = [
        {"sku": GREEN, "channel_ref": str(GREEN_ITEM), "buffer": 2},
        {"sku": RED, "channel_ref": str(RED_ITEM), "buffer": 0},
        {"sku": SILVER, "channel_ref": str(SILVER_ITEM), "buffer": 1},
    ]
    url = f"/api/v1/connectors/{env.connector_id}/listings"
    ok(env.client.put(url, json=listings, headers=env.ops))
    # What the shop shows before omniroute ever pushed.
    env.shop.levels.update(
        {(GREEN_ITEM, LOCATION): 7, (RED_ITEM, LOCATION): 20, (SILVER_ITEM, LOCATION): 3}
    )
    set_stock(env, "WEST", RED, 9)  # a stock change in a warehouse that serves Shopify
    start = len(env.shop.http.requests)
    # Shopify throttles the first GraphQL call once (its points are back): it goes again.
    env.shop.http.fail("POST", GRAPHQL_PATH, Reply(200, graphql_throttled()))

    assert sync_stock(env.ctx, force=True) == 1  # one outbox row for the three listings
    drain(env.ctx)

    # SOUTH does not sell through Shopify, so its 100s never count:
    # GREEN = (10 - 4 - 1) + (2 - 0 - 0) - buffer 2 = 5
    # RED   = (10 - 3 - 0) + (9 - 0 - 0) - buffer 0 = 16
    # SILVER = (5 - 1 - 0) - buffer 1 = 3, which the shop shows already: not sent.
    (first,) = stock_keys(env)
    assert [shape(r) for r in env.shop.http.requests[start:]] == [
        read_available(GREEN_ITEM, RED_ITEM, SILVER_ITEM),
        read_available(GREEN_ITEM, RED_ITEM, SILVER_ITEM),
        set_available(first, (GREEN_ITEM, 5, 7), (RED_ITEM, 16, 20)),
    ]
    assert env.shop.levels == {
        (GREEN_ITEM, LOCATION): 5,
        (RED_ITEM, LOCATION): 16,
        (SILVER_ITEM, LOCATION): 3,
    }
    pushed = ok(env.client.get(url, headers=env.ops))
    assert [(p["sku"], p["pushed_available"]) for p in pushed] == [
        (GREEN, 5),
        (RED, 16),
        (SILVER, 3),
    ]
    ((_, status, attempts),) = outbox_rows(env, "channel.stock")
    assert (status, attempts) == ("sent", 1)

    # A change in SOUTH (not a Shopify warehouse) moves nothing; one in EAST moves SILVER only.
    set_stock(env, "SOUTH", GREEN, 40)
    set_stock(env, "EAST", SILVER, 8)
    start = len(env.shop.http.requests)
    assert sync_stock(env.ctx, force=True) == 1
    drain(env.ctx)
    # SILVER = (8 - 1 - 0) - 1 = 6.
    assert [shape(r) for r in env.shop.http.requests[start:]] == [
        read_available(SILVER_ITEM),
        set_available(stock_keys(env)[-1], (SILVER_ITEM, 6, 3)),
    ]

    # Nothing changed since: the next sync sends nothing.
    assert sync_stock(env.ctx, force=True) == 0
    drain(env.ctx)
    assert len(env.shop.http.requests) == start + 2

    # Customers order in the shop, and Shopify lowers its figures itself: 2 RED in an order
    # whose webhook omniroute takes in, 1 GREEN in one whose webhook is still on its way.
    env.shop.sell(RED_ITEM, LOCATION, 2)
    env.shop.sell(GREEN_ITEM, LOCATION, 1)
    order = order_variant(
        ORDER_D,
        number=1104,
        updated_at="2026-11-21T08:30:00-05:00",
        lines=[Line(50_000_041, "IPOD2008RED", 49148385, 2)],
        customer="Dennis Ritchie",
    )
    body = json.dumps(order).encode()
    headers = webhook_headers(body, "wh-stock")
    ok(env.client.post(f"/webhooks/{env.connector_id}", content=body, headers=headers))
    drain(env.ctx)
    assert released(env)[str(ORDER_D)] == {RED: 2}

    # Ops push every listing now. RED is 14 in omniroute (the order reserved 2) and 14 in the
    # shop. GREEN is 5 in omniroute, but the shop sold 1 that omniroute has not seen: setting 5
    # would sell that unit twice. Both figures stand; nothing is written.
    start = len(env.shop.http.requests)
    resync = f"/api/v1/connectors/{env.connector_id}/stock-sync"
    assert ok(env.client.post(resync, headers=env.ops), 202) == {
        "connector_id": env.connector_id,
        "queued_pushes": 1,
    }
    drain(env.ctx)
    assert [shape(r) for r in env.shop.http.requests[start:]] == [
        read_available(GREEN_ITEM, RED_ITEM, SILVER_ITEM)
    ]
    assert env.shop.levels == {
        (GREEN_ITEM, LOCATION): 4,
        (RED_ITEM, LOCATION): 14,
        (SILVER_ITEM, LOCATION): 6,
    }
    # Recorded as pushed: what the shop holds (GREEN 4), which the next compare expects.
    pushed = ok(env.client.get(url, headers=env.ops))
    assert [(p["sku"], p["pushed_available"]) for p in pushed] == [
        (GREEN, 4),
        (RED, 14),
        (SILVER, 6),
    ]

    # More RED arrives in WEST (RED 17), and a customer buys 1 RED in the shop between the
    # read and the set: the compare fails, the figure is read again and that sale held back.
    set_stock(env, "WEST", RED, 12)
    env.shop.sell_before_next_set(RED_ITEM, LOCATION, 1)
    start = len(env.shop.http.requests)
    assert sync_stock(env.ctx, force=True) == 1
    drain(env.ctx)
    key = stock_keys(env)[-1]
    assert [shape(r) for r in env.shop.http.requests[start:]] == [
        read_available(RED_ITEM),
        set_available(key, (RED_ITEM, 17, 14)),
        read_available(RED_ITEM),
        set_available(key, (RED_ITEM, 16, 13)),
    ]
    assert env.shop.levels[(RED_ITEM, LOCATION)] == 16
    assert outbox_rows(env, "channel.stock")[-1][1:] == ("sent", 1)


# --- 5. webhooks --------------------------------------------------------------------------------


def webhook_headers(body: bytes, webhook_id: str, topic: str = "orders/create") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "e2e-shop.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": shopify_hmac(WEBHOOK_SECRET.encode(), body),
    }


def test_signed_order_webhook_becomes_a_routed_order_and_a_poll_does_not_duplicate_it(
    env: Env,
) -> None:
    order = order_variant(
        ORDER_D,
        number=1104,
        updated_at="2026-11-21T08:30:00-05:00",
        lines=[Line(50_000_041, "IPOD2008BLACK", 457924702, 2)],
        customer="Dennis Ritchie",
    )
    body = json.dumps(order).encode()
    url = f"/webhooks/{env.connector_id}"

    forged = env.client.post(
        url,
        content=body,
        headers={**webhook_headers(body, "wh-1"), "X-Shopify-Hmac-Sha256": "AAAA"},
    )
    assert forged.status_code == 401, forged.text
    # Signed with another shop's secret (the "shop" connector's): refused as well.
    other = webhook_headers(body, "wh-1")
    other["X-Shopify-Hmac-Sha256"] = shopify_hmac(b"shpss_test_secret", body)
    assert env.client.post(url, content=body, headers=other).status_code == 401
    drain(env.ctx)
    assert inbox_count(env) == 0

    accepted = ok(env.client.post(url, content=body, headers=webhook_headers(body, "wh-1")))
    assert accepted["duplicate"] is False and accepted["inbound_id"] is not None
    drain(env.ctx)

    # The webhook carries the whole order: nothing is asked of Shopify.
    assert env.shop.http.requests == []
    assert orders(env)[str(ORDER_D)]["status"] == "released"
    assert released(env) == {str(ORDER_D): {BLACK: 2}}
    detail = order_detail(env, ORDER_D)
    assert [(ln["external_line_id"], ln["sku"]) for ln in detail["lines"]] == [("50000041", BLACK)]
    assert detail["ship_to"]["name"] == "Dennis Ritchie"
    assert health(env)["last_webhook_at"] is not None

    # Shopify delivers the same webhook again (same X-Shopify-Webhook-Id): absorbed.
    again = ok(env.client.post(url, content=body, headers=webhook_headers(body, "wh-1")))
    assert again["duplicate"] is True
    drain(env.ctx)
    assert inbox_count(env) == 1

    # Polling (the reconciliation) reads the same version of the order: no second order.
    env.shop.add_order(order, single_fulfillment_order(order))
    env.shop.pages = [[ORDER_D]]
    poll(env)
    assert calls(env.shop) == [("GET", f"{API}/orders.json")]
    assert inbox_count(env) == 2
    assert list(orders(env)) == [str(ORDER_D)]
    assert env.wms.accepted_count == 1

    # The recorded sample file, byte for byte, as an orders/create webhook body (wrapped as
    # the REST answer is: the connector takes both shapes).
    document = ORDER_SAMPLE.read_bytes()
    ok(env.client.post(url, content=document, headers=webhook_headers(document, "wh-2")))
    drain(env.ctx)
    assert orders(env)[str(SAMPLE_ID)]["status"] == "released"
    assert released(env)[str(SAMPLE_ID)] == {GREEN: 1, RED: 1, BLACK: 1}
    assert calls(env.shop) == [("GET", f"{API}/orders.json")]
    # The version of the API configured is the one in every path.
    assert all(r.path.startswith(f"/admin/api/{API_VERSION}/") for r in env.shop.http.requests)


def test_webhooks_of_topics_omniroute_does_not_use_are_kept_and_ignored(env: Env) -> None:
    url = f"/webhooks/{env.connector_id}"
    others = {
        "products/update": {"id": 632910392, "title": "IPod Nano - 8GB", "variants": []},
        "customers/create": {"id": 207119551, "email": "bob.norman@mail.example.com"},
        "app/uninstalled": {"id": 548380009, "name": "e2e shop", "domain": "shop.example.com"},
        # Shaped like an order, but a draft: nothing to fulfil.
        "draft_orders/create": SAMPLE,
    }
    for n, (topic, document) in enumerate(others.items()):
        body = json.dumps(document).encode()
        accepted = ok(
            env.client.post(url, content=body, headers=webhook_headers(body, f"wh-x{n}", topic))
        )
        assert accepted["duplicate"] is False and accepted["inbound_id"] is not None
    # An order topic beside them keeps working.
    order = order_variant(
        ORDER_D,
        number=1104,
        updated_at="2026-11-21T08:30:00-05:00",
        lines=[Line(50_000_041, "IPOD2008BLACK", 457924702, 1)],
        customer="Dennis Ritchie",
    )
    body = json.dumps(order).encode()
    ok(env.client.post(url, content=body, headers=webhook_headers(body, "wh-o", "orders/updated")))
    drain(env.ctx)

    with unit_of_work(env.ctx.sessions) as session:
        rows = {
            topic: (status, last_error)
            for topic, status, last_error in session.execute(
                select(InboundMessage.topic, InboundMessage.status, InboundMessage.last_error)
            )
        }
    assert rows == {topic: ("ignored", None) for topic in others} | {
        "orders/updated": ("done", None)
    }
    problems = ok(env.client.get("/api/v1/exceptions", params={"status": "all"}, headers=env.ops))
    assert problems == []
    assert list(orders(env)) == [str(ORDER_D)]
    assert orders(env)[str(ORDER_D)]["status"] == "released"
    assert env.shop.http.requests == []
