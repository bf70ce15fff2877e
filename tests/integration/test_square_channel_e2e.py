"""Square POS end to end against a fake Square API on 127.0.0.1, on SQLite and PostgreSQL.

Everything an operator or a warehouse would do goes through the HTTP API (connector set-up,
stock, aliases, listings, polls, shipment confirmations, webhooks); ``worker.handlers.drain``
runs the queued work in-process. The assertions are on the exact requests the fake Square
received: method, path, the headers that matter (``Authorization``, ``Square-Version``,
``Content-Type``) and the JSON body, idempotency keys included (Square takes them in the body).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
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
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OutboxMessage
from omniroute.core.platform.security import Role
from omniroute.core.stock.sync import sync_stock
from omniroute.worker.handlers import drain
from tests.e2e.fake_http import Reply, Request
from tests.integration.builders import World, build_world
from tests.integration.square_fake_api import (
    INVENTORY_PATH,
    SEARCH_PATH,
    SquareFake,
    order_variant,
    sample_event_body,
    sample_order_response,
    square_error,
)

TOKEN = "EAAAl-e2e-square-access-token"
SIGNATURE_KEY = "e2e-square-webhook-signature-key"
NOTIFICATION_URL = "https://hub.example.com/webhooks/square-pos"
SQUARE_VERSION = "2025-09-24"  # not the connector's default: the configured one is sent
PAGE_SIZE = 2
#: After a 429 the connector's bucket is empty: the next call waits 1/rate (5 ms here).
REQUESTS_PER_SECOND = 200

SAMPLE = sample_order_response()["order"]
LOCATION = SAMPLE["location_id"]  # D7AVYMEAPJ3A3, the recorded order's location
EVENT_LOCATION = "FPYCBCHYMXFK1"  # the recorded order.created event's location
EVENT_ORDER_ID = "eA3vssLHKJrv9H0IdJCM3gNqfdcZY"  # the recorded event's order id

# Square item variation (catalog object) ids and the internal SKUs they are aliased to.
VAR_RED = "W62UWFY35CWMYGVWK6TWJDNI"
VAR_BLUE = "AII22A2ZVKZPWT4DG6NQDF33"
RED, BLUE = "SQ-RED", "SQ-BLUE"

ORDER_A, ORDER_B, ORDER_C = "sqE2eOrderA0000000000000001", "sqE2eOrderB0002", "sqE2eOrderC0003"
ORDERS: dict[str, dict[str, Any]] = {
    ORDER_A: order_variant(
        ORDER_A,
        location_id=LOCATION,
        updated_at="2026-11-20T09:00:00.000Z",
        lines=[("A-L1", VAR_RED, 2), ("A-L2", VAR_BLUE, 1)],
        fulfilment_uid="A-SHIPMENT",
        recipient="Ada Lovelace",
    ),
    ORDER_B: order_variant(
        ORDER_B,
        location_id=LOCATION,
        updated_at="2026-11-20T09:05:00.000Z",
        lines=[("B-L1", VAR_RED, 1)],
        fulfilment_uid="B-SHIPMENT",
        recipient="Brian Kernighan",
    ),
    ORDER_C: order_variant(
        ORDER_C,
        location_id=EVENT_LOCATION,
        updated_at="2026-11-20T09:10:00.000Z",
        lines=[("C-L1", VAR_BLUE, 3)],
        fulfilment_uid="C-SHIPMENT",
        recipient="Claude Shannon",
    ),
}
#: SearchOrders pages (PAGE_SIZE orders each); the recorded sample is served untouched.
PAGES = [[ORDER_A, ORDER_B], [SAMPLE["id"], ORDER_C]]
#: What each routed order asks the warehouse for.
RELEASED_LINES = {
    ORDER_A: {RED: 2, BLUE: 1},
    ORDER_B: {RED: 1},
    ORDER_C: {BLUE: 3},
}


@dataclass
class Env:
    ctx: Context
    client: TestClient
    wms: FakeWms
    square: SquareFake
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
    with SquareFake(access_token=TOKEN) as square:
        world = build_world(ctx, wms.base_url)
        admin, ops = bearer(ctx, Role.ADMIN), bearer(ctx, Role.OPS)
        north = ok(
            client.post(
                "/api/v1/warehouses",
                json={
                    "code": "NORTH",
                    "name": "North, sells through Shopify only",
                    "address": {"postal_code": "10001", "country": "US"},
                    "priority": 0,
                    "channels": ["shopify"],
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
                    "kind": "square",
                    "name": "square-pos",
                    "config": {
                        "api_base_url": square.base_url,
                        "square_version": SQUARE_VERSION,
                        "notification_url": NOTIFICATION_URL,
                        "location_ids": [LOCATION, EVENT_LOCATION],
                        "page_size": PAGE_SIZE,
                        "requests_per_second": REQUESTS_PER_SECOND,
                    },
                    "secrets": {"access_token": TOKEN, "webhook_signature_key": SIGNATURE_KEY},
                    "enabled": True,
                },
                headers=admin,
            ),
            201,
        )
        ids = {**world.warehouse_ids, "NORTH": north["id"]}
        for code, sku, on_hand, safety in (
            ("EAST", RED, 10, 1),
            ("EAST", BLUE, 10, 0),
            ("WEST", RED, 4, 0),
            ("NORTH", RED, 50, 0),
            ("NORTH", BLUE, 50, 0),
        ):
            body = {"warehouse_id": ids[code], "sku": sku, "on_hand": on_hand, "safety": safety}
            ok(client.put("/api/v1/stock", json=body, headers=ops))
        for variation, sku in ((VAR_RED, RED), (VAR_BLUE, BLUE)):
            alias = {"connector_id": connector["id"], "alias": f"variant:{variation}", "sku": sku}
            ok(client.post("/api/v1/sku-aliases", json=alias, headers=ops), 201)
        for order in ORDERS.values():
            square.add_order(order)
        square.add_order(SAMPLE)
        square.pages = [list(page) for page in PAGES]
        yield Env(
            ctx=ctx,
            client=client,
            wms=wms,
            square=square,
            world=world,
            connector_id=connector["id"],
            warehouse_ids=ids,
            admin=admin,
            ops=ops,
            shipper=bearer(ctx, Role.WAREHOUSE),
        )


# --- helpers --------------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """How Square wants times: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def when(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def search_body(start_at: str, cursor: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location_ids": [LOCATION, EVENT_LOCATION],
        "query": {
            "filter": {
                "date_time_filter": {"updated_at": {"start_at": start_at}},
                "state_filter": {"states": ["OPEN", "COMPLETED", "CANCELED"]},
            },
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
        },
        "limit": PAGE_SIZE,
        "return_entries": False,
    }
    if cursor is not None:
        body["cursor"] = cursor
    return body


def assert_square_headers(request: Request, *, json_body: bool) -> None:
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["square-version"] == SQUARE_VERSION
    assert request.headers["accept"] == "application/json"
    if json_body:
        assert request.headers["content-type"] == "application/json"
    assert request.query == {}


def calls(square: SquareFake, *, since: int = 0, search: bool = True) -> list[tuple[str, str]]:
    return [
        (r.method, r.path) for r in square.http.requests[since:] if search or r.path != SEARCH_PATH
    ]


def searches(square: SquareFake) -> list[Request]:
    return square.http.requests_to("POST", SEARCH_PATH)


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


def order_detail(env: Env, external_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = ok(
        env.client.get(f"/api/v1/orders/{orders(env)[external_id]['id']}", headers=env.ops)
    )
    return detail


def released(env: Env) -> dict[str, dict[str, int]]:
    """What the WMS accepted, as channel order id -> {sku: quantity}."""
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


def square_signature(body: bytes) -> str:
    """Square's scheme, computed here on its own: base64(HMAC-SHA256(key, url + body))."""
    digest = hmac.new(
        SIGNATURE_KEY.encode(), NOTIFICATION_URL.encode() + body, hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


# --- 1. poll -------------------------------------------------------------------------------


def test_poll_follows_pages_routes_releases_and_rereads_the_overlap_once(env: Env) -> None:
    settings = env.ctx.settings
    before = datetime.now(UTC)
    poll(env)
    after = datetime.now(UTC)

    # The first run reads from now - initial lookback - overlap; the cursor is then the run's
    # start (every order served is older), so the start_at sent is known to the millisecond.
    first = health(env)
    cursor = when(first["poll_cursor"])
    assert before <= cursor <= after
    start = rfc3339(
        cursor - timedelta(seconds=settings.poll_initial_lookback + settings.poll_overlap)
    )
    page_calls = searches(env.square)
    assert [r.json for r in page_calls] == [
        search_body(start),
        search_body(start, cursor=SquareFake.cursor_for(1)),
    ]
    for request in page_calls:
        assert_square_headers(request, json_body=True)
    assert calls(env.square) == [("POST", SEARCH_PATH)] * 2  # polling fetches nothing else
    assert first["consecutive_failures"] == 0 and first["last_error"] is None
    assert first["poll_in_progress"] is False and first["last_success_at"] is not None

    # Every order of both pages is stored; the three shippable ones routed and released.
    stored = orders(env)
    assert {k: v["status"] for k, v in stored.items()} == {
        ORDER_A: "released",
        ORDER_B: "released",
        ORDER_C: "released",
        SAMPLE["id"]: "exception",
    }
    assert released(env) == RELEASED_LINES
    assert env.wms.accepted_count == 3
    a = order_detail(env, ORDER_A)
    assert (a["channel"], a["currency"], a["total"]) == ("square", "USD", "15.00")
    assert [(ln["external_line_id"], ln["sku"], ln["quantity"]) for ln in a["lines"]] == [
        ("A-L1", RED, 2),
        ("A-L2", BLUE, 1),
    ]
    assert a["ship_to"]["postal_code"] == "10001" and a["customer_email"] == "ada@example.com"
    (fo,) = a["fulfilment_orders"]
    assert fo["warehouse_code"] == "EAST"  # priority 1 with stock; NORTH does not sell Square
    # The release the WMS accepted for order A, under the Idempotency-Key it was sent with.
    (a_key,) = [k for k, p in env.wms.accepted.items() if p["order_reference"] == ORDER_A]
    assert [r.headers["idempotency-key"] for r in env.wms.requests].count(a_key) == 1
    assert env.wms.accepted[a_key] == {
        "fulfilment_order_id": fo["id"],
        "order_id": a["id"],
        "order_reference": ORDER_A,
        "warehouse_code": "EAST",
        "service_level": "standard",
        "ship_to": {
            "name": "Ada Lovelace",
            "address1": "500 Electric Ave",
            "address2": None,
            "city": "New York",
            "region": "NY",
            "postal_code": "10001",
            "country": "US",
            "phone": None,
        },
        "note": None,
        "gift_message": None,
        "attributes": [],
        "lines": [
            {
                "line_id": a["lines"][0]["id"],
                "sku": RED,
                "quantity": 2,
                "properties": [],
                "gift_message": None,
            },
            {
                "line_id": a["lines"][1]["id"],
                "sku": BLUE,
                "quantity": 1,
                "properties": [],
                "gift_message": None,
            },
        ],
    }
    # The recorded sample (no catalog ids, no shipment recipient) is kept and parked.
    sample = order_detail(env, SAMPLE["id"])
    assert sorted(e["reason"] for e in sample["exceptions"]) == ["bad_address", "unknown_sku"]
    assert sample["total"] == "5.50" and [ln["quantity"] for ln in sample["lines"]] == [1, 2]

    # The second poll starts an overlap window before the cursor: it reads the same orders
    # again (both pages), and that creates nothing.
    inbox = inbox_count(env)
    poll(env)
    second = health(env)
    overlap_start = rfc3339(cursor - timedelta(seconds=settings.poll_overlap))
    assert [r.json for r in searches(env.square)[2:]] == [
        search_body(overlap_start),
        search_body(overlap_start, cursor=SquareFake.cursor_for(1)),
    ]
    assert when(second["poll_cursor"]) > cursor
    assert inbox_count(env) == inbox
    assert {k: v["status"] for k, v in orders(env).items()} == {
        k: v["status"] for k, v in stored.items()
    }
    assert env.wms.accepted_count == 3 and len(env.wms.requests) == 3
    assert calls(env.square) == [("POST", SEARCH_PATH)] * 4


def exceptions(env: Env, reason: str, status: str = "open") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(
        env.client.get(
            "/api/v1/exceptions", params={"reason": reason, "status": status}, headers=env.ops
        )
    )
    return found


ORDER_BAD = "sqE2eOrderBad0000000000009"


def test_an_order_square_sends_without_a_valid_updated_at_does_not_stop_the_poll(
    env: Env,
) -> None:
    # A page of three with the bad order in the middle: its updated_at is not RFC 3339.
    bad = order_variant(
        ORDER_BAD,
        location_id=LOCATION,
        updated_at="2026-11-20T09:07:00.000Z",
        lines=[("BAD-L1", VAR_RED, 1)],
        fulfilment_uid="BAD-SHIPMENT",
        recipient="Barbara Liskov",
    )
    bad["updated_at"] = "Fri, 20 Nov 2026 09:07:00 GMT"
    env.square.add_order(bad)
    env.square.pages = [[ORDER_A, ORDER_BAD, ORDER_B], [SAMPLE["id"], ORDER_C]]
    reason = f"Square order {ORDER_BAD} has no valid updated_at"

    poll(env)

    # The good orders of both pages came in and were released; the run finished.
    stored = orders(env)
    assert {k: v["status"] for k, v in stored.items()} == {
        ORDER_A: "released",
        ORDER_B: "released",
        ORDER_C: "released",
        SAMPLE["id"]: "exception",
    }
    assert released(env) == RELEASED_LINES
    after_first = health(env)
    assert after_first["poll_in_progress"] is False and after_first["poll_cursor"] is not None
    assert after_first["consecutive_failures"] == 0 and after_first["last_error"] is None
    assert len(searches(env.square)) == 2
    # The bad order is kept as Square sent it, with an exception saying why.
    (problem,) = exceptions(env, "invalid_payload")
    assert problem["detail"] == {"message": reason, "source": "poll", "external_id": ORDER_BAD}
    assert problem["order_id"] is None
    with unit_of_work(env.ctx.sessions) as session:
        kept = session.get_one(InboundMessage, problem["inbound_message_id"])
        assert (kept.status, kept.topic, kept.last_error) == ("failed", "poll", reason)
        assert json.loads(kept.body) == env.square.order(ORDER_BAD)

    # The next poll reads the overlap again, the bad order with it: nothing is added.
    inbox = inbox_count(env)
    poll(env)
    assert inbox_count(env) == inbox
    assert when(health(env)["poll_cursor"]) > when(after_first["poll_cursor"])
    assert [e["id"] for e in exceptions(env, "invalid_payload")] == [problem["id"]]

    # Ops retry it while Square still sends it so: it fails again, for the same reason.
    retry = env.client.post(f"/api/v1/exceptions/{problem['id']}/retry", headers=env.ops)
    ok(retry, 202)
    drain(env.ctx)
    (again,) = exceptions(env, "invalid_payload")
    # One exception per record: the same one, open again, counted twice.
    assert again["id"] == problem["id"] and again["detail"]["message"] == reason
    assert again["inbound_message_id"] == problem["inbound_message_id"]
    assert again["occurrences"] == 2
    assert exceptions(env, "invalid_payload", "retried") == []
    assert orders(env).keys() == stored.keys()

    # Once Square sends it with a valid updated_at, the next poll takes it in like any order.
    fixed = copy.deepcopy(env.square.order(ORDER_BAD))
    fixed["updated_at"] = "2026-11-20T09:07:00.000Z"
    env.square.add_order(fixed)
    poll(env)
    assert orders(env)[ORDER_BAD]["status"] == "released"
    assert released(env)[ORDER_BAD] == {RED: 1}


def test_an_in_store_sale_without_catalog_ids_is_recorded_and_flagged(env: Env) -> None:
    # The recorded location is the store, whose stockroom is the WEST warehouse.
    config = {
        "api_base_url": env.square.base_url,
        "square_version": SQUARE_VERSION,
        "notification_url": NOTIFICATION_URL,
        "location_ids": [LOCATION, EVENT_LOCATION],
        "page_size": PAGE_SIZE,
        "requests_per_second": REQUESTS_PER_SECOND,
        "location_warehouses": {LOCATION: "WEST"},
    }
    url = f"/api/v1/connectors/{env.connector_id}"
    ok(env.client.patch(url, json={"config": config}, headers=env.admin))
    # The recorded order, paid and handed over at the till: COMPLETED, no fulfillment. Its
    # first line was rung up from the catalog (RED); its second, as recorded, has no
    # catalog_object_id (an ad-hoc item): nothing to match a SKU by.
    sale = copy.deepcopy(SAMPLE)
    sale.update(state="COMPLETED", updated_at="2026-11-20T09:20:00.000Z", version=3)
    sale["line_items"][0]["catalog_object_id"] = VAR_RED
    env.square.add_order(sale)
    env.square.pages = [[SAMPLE["id"]]]

    poll(env)

    detail = order_detail(env, SAMPLE["id"])
    assert detail["status"] == "shipped" and detail["fulfilment_orders"] == []
    assert env.wms.accepted_count == 0
    assert [(ln["sku"], ln["quantity"]) for ln in detail["lines"]] == [(RED, 1), (None, 2)]
    assert stock_levels(env, RED)["WEST"] == (3, 0, 0)  # the matched line left the shelf
    (problem,) = detail["exceptions"]
    assert problem["reason"] == "stock_discrepancy" and problem["status"] == "open"
    assert problem["detail"]["warehouse"] == "WEST"
    assert problem["detail"]["unmatched_lines"] == [
        {
            "external_line_id": "mumY8Nun4BC5aKe2yyx5a",
            "title": "Item 2",
            "quantity": 2,
            "channel_sku": None,
            "variant_id": None,
        }
    ]


# --- 2. failures on the real HTTP path -------------------------------------------------------


def test_poll_survives_5xx_mid_run_and_a_429_and_health_shows_both(env: Env) -> None:
    settings = env.ctx.settings
    unavailable = Reply(503, square_error("INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "busy"))
    # Page 1 is served; then every attempt at page 2 in that run fails (3 attempts).
    env.square.fail_search_after_page(0, [unavailable] * settings.http_retry_attempts)
    poll(env)

    page_calls = searches(env.square)
    assert len(page_calls) == 1 + settings.http_retry_attempts
    start = page_calls[0].json["query"]["filter"]["date_time_filter"]["updated_at"]["start_at"]
    assert [r.json for r in page_calls] == [search_body(start)] + [
        search_body(start, cursor=SquareFake.cursor_for(1))
    ] * settings.http_retry_attempts
    failed = health(env)
    assert failed["consecutive_failures"] == 1
    assert failed["last_error"].startswith("http_503: HTTP 503 from ")
    assert failed["last_success_at"] is None
    assert failed["poll_in_progress"] is True  # the run stopped at page 2, not finished
    assert failed["poll_cursor"] is None and failed["last_poll_at"] is None
    # Rescheduled with backoff: poll interval x 2^failures after the failed run.
    assert when(failed["next_poll_at"]) - when(failed["last_error_at"]) == timedelta(
        seconds=settings.poll_interval * 2
    )
    # Page 1 was committed with the page token: its orders are in and released already.
    assert set(orders(env)) == {ORDER_A, ORDER_B}
    assert set(released(env)) == {ORDER_A, ORDER_B}

    # The next poll resumes at page 2 of the same run; Square answers 429 (Retry-After: 0)
    # once, the call is retried at once, and the run completes.
    env.square.http.fail(
        "POST",
        SEARCH_PATH,
        Reply(
            429,
            square_error("RATE_LIMIT_ERROR", "RATE_LIMITED", "slow down"),
            {"Retry-After": "0"},
        ),
    )
    poll(env)
    resumed = searches(env.square)[len(page_calls) :]
    assert [r.json for r in resumed] == [search_body(start, cursor=SquareFake.cursor_for(1))] * 2
    for request in resumed:
        assert_square_headers(request, json_body=True)
    recovered = health(env)
    assert recovered["consecutive_failures"] == 0
    assert recovered["poll_in_progress"] is False
    assert when(recovered["last_success_at"]) >= when(failed["last_error_at"])
    assert recovered["last_error"] == failed["last_error"]  # kept for ops to read
    # The cursor is the start of the interrupted run: start_at was that minus lookback+overlap.
    run_start = when(recovered["poll_cursor"])
    assert start == rfc3339(
        run_start - timedelta(seconds=settings.poll_initial_lookback + settings.poll_overlap)
    )
    # The 429 emptied the connector's token bucket: the retry waited for a token (<= 5 ms).
    assert 0.0 < recovered["rate_limit_wait_seconds"] <= 1 / REQUESTS_PER_SECOND
    assert set(orders(env)) == {ORDER_A, ORDER_B, ORDER_C, SAMPLE["id"]}
    assert released(env) == RELEASED_LINES
    assert calls(env.square, search=False) == []


# --- 3. tracking back -------------------------------------------------------------------------


def ship(env: Env, fo_id: int, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    url = f"/api/v1/fulfilment-orders/{fo_id}/shipments"
    result: dict[str, Any] = ok(env.client.post(url, json=body, headers=env.shipper), status)
    return result


def test_shipments_update_the_square_fulfillment_partial_then_complete(env: Env) -> None:
    poll(env)
    detail = order_detail(env, ORDER_A)
    (fo,) = detail["fulfilment_orders"]
    start = len(env.square.http.requests)

    partial = {
        "external_ref": "WMS-PKG-1",
        "lines": [{"sku": RED, "quantity": 1}],
        "carrier": "UPS",
        "tracking_number": "1ZE2E0000000000001",
        "tracking_url": "https://track.example/1ZE2E0000000000001",
        "shipped_at": "2026-11-26T15:30:00Z",
    }
    first = ship(env, fo["id"], partial)
    assert first["order_status"] == "partially_shipped"
    drain(env.ctx)
    order_path = f"/v2/orders/{ORDER_A}"
    assert calls(env.square, since=start) == [("GET", order_path), ("PUT", order_path)]
    get, put = env.square.http.requests[start:]
    assert_square_headers(get, json_body=False)
    assert get.raw == b""
    assert_square_headers(put, json_body=True)
    # Partial: tracking on the SHIPMENT fulfillment, its state left as it is.
    assert put.json == {
        "idempotency_key": f"shipment-{first['shipment_id']}:v1",
        "order": {
            "location_id": LOCATION,
            "version": 1,
            "fulfillments": [
                {
                    "uid": "A-SHIPMENT",
                    "shipment_details": {
                        "carrier": "UPS",
                        "tracking_number": "1ZE2E0000000000001",
                        "tracking_url": "https://track.example/1ZE2E0000000000001",
                        "shipped_at": "2026-11-26T15:30:00.000Z",
                    },
                }
            ],
        },
    }

    # The warehouse confirms the same package again: nothing more reaches Square.
    again = ship(env, fo["id"], partial, status=200)
    assert again == {**first, "created": False}
    drain(env.ctx)
    assert len(env.square.http.requests) == start + 2

    rest = {
        "external_ref": "WMS-PKG-2",
        "carrier": "USPS",
        "tracking_number": "9400E2E0000000000002",
        "tracking_url": "https://track.example/9400E2E0000000000002",
        "shipped_at": "2026-11-26T17:45:10.250Z",
    }
    # Someone edits the order at the POS between our read and our update: Square answers
    # VERSION_MISMATCH, the connector reads the order again and updates the new version.
    env.square.edit_before_next_update(ORDER_A)
    second = ship(env, fo["id"], rest)
    assert second["order_status"] == "shipped"
    drain(env.ctx)
    assert calls(env.square, since=start + 2) == [("GET", order_path), ("PUT", order_path)] * 2
    stale, fresh = env.square.http.requests_to("PUT", order_path)[1:]

    def completed(version: int) -> dict[str, Any]:
        return {
            "idempotency_key": f"shipment-{second['shipment_id']}:v{version}",
            "order": {
                "location_id": LOCATION,
                "version": version,
                "fulfillments": [
                    {
                        "uid": "A-SHIPMENT",
                        "state": "COMPLETED",
                        "shipment_details": {
                            "carrier": "USPS",
                            "tracking_number": "9400E2E0000000000002",
                            "tracking_url": "https://track.example/9400E2E0000000000002",
                            "shipped_at": "2026-11-26T17:45:10.250Z",
                        },
                    }
                ],
            },
        }

    # Complete: the version Square answered after the first update (2), refused because of the
    # edit, then the edited version (3); state COMPLETED and the second package's tracking.
    assert stale.json == completed(2)
    assert fresh.json == completed(3)
    for request in (stale, fresh):
        assert_square_headers(request, json_body=True)
    in_square = env.square.order(ORDER_A)
    assert in_square["version"] == 4
    assert in_square["fulfillments"][0]["state"] == "COMPLETED"
    assert in_square["fulfillments"][0]["shipment_details"]["tracking_number"] == (
        "9400E2E0000000000002"
    )
    assert order_detail(env, ORDER_A)["status"] == "shipped"
    with unit_of_work(env.ctx.sessions) as session:
        pushes = session.execute(
            select(OutboxMessage.idempotency_key, OutboxMessage.status, OutboxMessage.attempts)
            .where(OutboxMessage.kind == "channel.fulfilment")
            .order_by(OutboxMessage.id)
        ).all()
    assert [tuple(p) for p in pushes] == [
        (f"shipment-{first['shipment_id']}", "sent", 1),
        (f"shipment-{second['shipment_id']}", "sent", 1),
    ]

    # Square now holds a newer version of the order; polling it again changes nothing here.
    poll(env)
    assert order_detail(env, ORDER_A)["status"] == "shipped"
    assert len(orders(env)) == 4 and env.wms.accepted_count == 3


# --- 4. stock back ----------------------------------------------------------------------------


def stock_levels(env: Env, sku: str) -> dict[str, tuple[int, int, int]]:
    codes = {wid: code for code, wid in env.warehouse_ids.items()}
    rows = ok(env.client.get("/api/v1/stock", params={"sku": sku}, headers=env.ops))
    return {codes[r["warehouse_id"]]: (r["on_hand"], r["reserved"], r["safety"]) for r in rows}


def outbox_keys(env: Env) -> list[str]:
    with unit_of_work(env.ctx.sessions) as session:
        return list(
            session.scalars(
                select(OutboxMessage.idempotency_key)
                .where(OutboxMessage.kind == "channel.stock")
                .order_by(OutboxMessage.id)
            )
        )


def physical_count(variation: str, quantity: int, occurred_at: str) -> dict[str, Any]:
    return {
        "type": "PHYSICAL_COUNT",
        "physical_count": {
            "catalog_object_id": variation,
            "state": "IN_STOCK",
            "location_id": LOCATION,
            "quantity": str(quantity),
            "occurred_at": occurred_at,
        },
    }


def check_inventory_push(
    request: Request, key: str, counts: list[tuple[str, int]], window: tuple[datetime, datetime]
) -> None:
    """One BatchChangeInventory with the outbox row's key and the count's time in the body."""
    assert_square_headers(request, json_body=True)
    body = request.json
    occurred_at = body["changes"][0]["physical_count"]["occurred_at"]
    assert window[0] - timedelta(milliseconds=1) <= when(occurred_at) <= window[1]
    assert body == {
        "idempotency_key": f"{key}:0:{occurred_at}",
        "changes": [physical_count(v, q, occurred_at) for v, q in counts],
        "ignore_unchanged_counts": True,
    }


def test_stock_goes_out_as_physical_counts_of_available_minus_buffer(env: Env) -> None:
    poll(env)  # three orders reserve stock in EAST
    assert stock_levels(env, RED) == {
        "EAST": (10, 3, 1),
        "WEST": (4, 0, 0),
        "NORTH": (50, 0, 0),
    }
    assert stock_levels(env, BLUE) == {"EAST": (10, 4, 0), "NORTH": (50, 0, 0)}
    listings = [
        {"sku": RED, "channel_ref": VAR_RED, "buffer": 2},
        {"sku": BLUE, "channel_ref": VAR_BLUE, "buffer": 0},
    ]
    url = f"/api/v1/connectors/{env.connector_id}/listings"
    ok(env.client.put(url, json=listings, headers=env.ops))

    # Push every listing now. NORTH does not sell through Square, so its 50 do not count:
    # RED = (10 - 3 - 1) + (4 - 0 - 0) - buffer 2 = 8; BLUE = (10 - 4 - 0) - 0 = 6.
    start = len(env.square.http.requests)
    before = datetime.now(UTC)
    resync = f"/api/v1/connectors/{env.connector_id}/stock-sync"
    assert ok(env.client.post(resync, headers=env.ops), 202) == {
        "connector_id": env.connector_id,
        "queued_pushes": 1,
    }
    drain(env.ctx)
    after = datetime.now(UTC)
    assert calls(env.square, since=start) == [("POST", INVENTORY_PATH)]
    (key,) = outbox_keys(env)
    check_inventory_push(
        env.square.http.requests[-1], key, [(VAR_BLUE, 6), (VAR_RED, 8)], (before, after)
    )
    assert env.square.counts == {(VAR_BLUE, LOCATION): "6", (VAR_RED, LOCATION): "8"}
    pushed = ok(env.client.get(url, headers=env.ops))
    assert [(p["sku"], p["pushed_available"]) for p in pushed] == [(BLUE, 6), (RED, 8)]

    # A stock change in a warehouse that serves Square: only RED changed, only RED goes out.
    body = {"warehouse_id": env.warehouse_ids["WEST"], "sku": RED, "on_hand": 7}
    ok(env.client.put("/api/v1/stock", json=body, headers=env.ops))
    # ...and one in NORTH, which does not serve Square: it must not move the figures.
    body = {"warehouse_id": env.warehouse_ids["NORTH"], "sku": BLUE, "on_hand": 80}
    ok(env.client.put("/api/v1/stock", json=body, headers=env.ops))
    start = len(env.square.http.requests)
    before = datetime.now(UTC)
    assert sync_stock(env.ctx, force=True) == 1
    drain(env.ctx)
    after = datetime.now(UTC)
    assert calls(env.square, since=start) == [("POST", INVENTORY_PATH)]
    key = outbox_keys(env)[-1]
    # RED = (10 - 3 - 1) + (7 - 0 - 0) - 2 = 11.
    check_inventory_push(env.square.http.requests[-1], key, [(VAR_RED, 11)], (before, after))
    assert env.square.counts == {(VAR_BLUE, LOCATION): "6", (VAR_RED, LOCATION): "11"}

    # Nothing changed since: the next sync sends nothing.
    assert sync_stock(env.ctx, force=True) == 0
    drain(env.ctx)
    assert len(env.square.http.requests) == start + 1


# --- 5. webhooks --------------------------------------------------------------------------------


def test_signed_order_created_webhook_is_fetched_routed_and_released(env: Env) -> None:
    fetched = order_variant(
        EVENT_ORDER_ID,
        location_id=EVENT_LOCATION,
        updated_at="2020-04-16T23:14:26.129Z",  # the event's created_at
        lines=[("EV-L1", VAR_RED, 1), ("EV-L2", VAR_BLUE, 2)],
        fulfilment_uid="EV-SHIPMENT",
        recipient="Grace Hopper",
    )
    env.square.add_order(fetched)
    body = sample_event_body()  # the recorded order.created notification, untouched
    url = f"/webhooks/{env.connector_id}"

    forged = env.client.post(
        url,
        content=body,
        headers={"content-type": "application/json", "x-square-hmacsha256-signature": "AAAA"},
    )
    assert forged.status_code == 401, forged.text
    drain(env.ctx)
    assert env.square.http.requests == [] and inbox_count(env) == 0

    headers = {
        "content-type": "application/json",
        "x-square-hmacsha256-signature": square_signature(body),
    }
    accepted = ok(env.client.post(url, content=body, headers=headers))
    assert accepted["duplicate"] is False and accepted["inbound_id"] is not None
    drain(env.ctx)

    # The event carries only the id: the order is fetched with RetrieveOrder.
    assert calls(env.square) == [("GET", f"/v2/orders/{EVENT_ORDER_ID}")]
    assert_square_headers(env.square.http.requests[0], json_body=False)
    assert orders(env)[EVENT_ORDER_ID]["status"] == "released"
    assert released(env) == {EVENT_ORDER_ID: {RED: 1, BLUE: 2}}
    detail = order_detail(env, EVENT_ORDER_ID)
    assert [(ln["external_line_id"], ln["sku"]) for ln in detail["lines"]] == [
        ("EV-L1", RED),
        ("EV-L2", BLUE),
    ]
    assert health(env)["last_webhook_at"] is not None

    # Square delivers the same event again (same event_id): absorbed, nothing fetched.
    again = ok(env.client.post(url, content=body, headers=headers))
    assert again["duplicate"] is True
    drain(env.ctx)
    assert len(env.square.http.requests) == 1
    assert len(orders(env)) == 1 and env.wms.accepted_count == 1
