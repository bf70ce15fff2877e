"""A small stateful fake of the Square API on 127.0.0.1, built on ``tests.e2e.fake_http``.

It serves what the Square connector calls: SearchOrders (scripted pages of the orders it
holds, joined by opaque cursors), RetrieveOrder, UpdateOrder (sparse fulfillment updates that
must carry the current ``version``; each applied update bumps it) and BatchChangeInventory
(PHYSICAL_COUNT changes kept as the current counts). Every request is answered 401 unless it
carries the access token, and 400 without a ``Square-Version`` header, as Square does.

Orders are the recorded sample (served untouched) or variants of it built by
:func:`order_variant`: other ids, locations, timestamps, catalog variations and a SHIPMENT
fulfillment with a recipient.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.e2e.fake_http import FakeHttp, Reply, Request

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "square"
ORDER_SAMPLE = SAMPLES / "RetrieveOrderResponse.example.json"
EVENT_SAMPLE = SAMPLES / "OrderCreatedEvent.example.json"

SEARCH_PATH = r"/v2/orders/search"
ORDER_PATH = r"/v2/orders/(?P<order_id>[^/]+)"
INVENTORY_PATH = r"/v2/inventory/changes/batch-create"
_ORDER_ID = re.compile(ORDER_PATH)


def sample_order_response() -> dict[str, Any]:
    """RetrieveOrderResponse.example.json as recorded: ``{"order": {...}}``."""
    document: dict[str, Any] = json.loads(ORDER_SAMPLE.read_bytes())
    return document


def sample_event_body() -> bytes:
    """OrderCreatedEvent.example.json, byte for byte (the body Square signs)."""
    return EVENT_SAMPLE.read_bytes()


def order_variant(
    order_id: str,
    *,
    location_id: str,
    updated_at: str,
    lines: list[tuple[str, str, int]],
    fulfilment_uid: str,
    recipient: str,
    postal_code: str = "10001",
    state: str = "OPEN",
) -> dict[str, Any]:
    """The sample order with another id, location and time, and ``lines`` of
    (line uid, catalog item variation id, quantity) priced like the sample's first line,
    shipped to ``recipient`` through one SHIPMENT fulfillment in state PROPOSED."""
    order: dict[str, Any] = copy.deepcopy(sample_order_response()["order"])
    template = order["line_items"][0]
    currency = template["base_price_money"]["currency"]
    unit = template["base_price_money"]["amount"]
    order.pop("discounts", None)
    order.pop("total_discount_money", None)
    items = []
    for uid, variation, quantity in lines:
        item = {k: v for k, v in template.items() if k not in ("applied_discounts",)}
        money = {"amount": unit * quantity, "currency": currency}
        item.update(
            uid=uid,
            catalog_object_id=variation,
            catalog_version=1731400000000,
            variation_name=f"Variation {variation[:4]}",
            quantity=str(quantity),
            gross_sales_money=money,
            total_money=money,
            variation_total_price_money=money,
            total_discount_money={"amount": 0, "currency": currency},
        )
        items.append(item)
    total = {"amount": sum(i["total_money"]["amount"] for i in items), "currency": currency}
    order.update(
        id=order_id,
        location_id=location_id,
        created_at=updated_at,
        updated_at=updated_at,
        state=state,
        version=1,
        line_items=items,
        total_money=total,
        fulfillments=[
            {
                "uid": fulfilment_uid,
                "type": "SHIPMENT",
                "state": "PROPOSED",
                "shipment_details": {
                    "recipient": {
                        "display_name": recipient,
                        "email_address": f"{recipient.split(maxsplit=1)[0].lower()}@example.com",
                        "address": {
                            "address_line_1": "500 Electric Ave",
                            "locality": "New York",
                            "administrative_district_level_1": "NY",
                            "postal_code": postal_code,
                            "country": "US",
                        },
                    }
                },
            }
        ],
    )
    order["net_amounts"] = {
        **order["net_amounts"],
        "discount_money": {"amount": 0, "currency": currency},
        "total_money": total,
    }
    return order


def square_error(category: str, code: str, detail: str) -> dict[str, Any]:
    """Square's error envelope."""
    return {"errors": [{"category": category, "code": code, "detail": detail}]}


class SquareFake:
    """The fake Square API; ``http`` is the underlying :class:`FakeHttp` (requests, fail())."""

    def __init__(self, *, access_token: str, clock_start: str = "2026-11-27T10:00:00") -> None:
        self.http = FakeHttp()
        self.access_token = access_token
        self.orders: dict[str, dict[str, Any]] = {}
        #: SearchOrders pages: order ids per page, in order; page n > 0 is reached by cursor.
        self.pages: list[list[str]] = []
        #: Current IN_STOCK counts by (catalog object id, location id).
        self.counts: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._replies: dict[str, tuple[bytes, Reply]] = {}  # idempotency key -> (body, reply)
        self._clock_start = clock_start
        self._ticks = 0
        self._page_served_hooks: dict[int, list[Reply]] = {}
        self._edits_before_update: set[str] = set()
        self.http.route("POST", SEARCH_PATH, self._search)
        self.http.route("GET", ORDER_PATH, self._retrieve)
        self.http.route("PUT", ORDER_PATH, self._update)
        self.http.route("POST", INVENTORY_PATH, self._change_inventory)

    # --- lifecycle and set-up ----------------------------------------------------------------

    def __enter__(self) -> Self:
        self.http.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.http.__exit__(exc_type, exc, tb)

    @property
    def base_url(self) -> str:
        return self.http.base_url

    def add_order(self, order: dict[str, Any]) -> None:
        """Hold (a copy of) ``order``; updates change the copy, never the caller's dict."""
        with self._lock:
            self.orders[order["id"]] = copy.deepcopy(order)

    def order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.orders[order_id])

    def fail_search_after_page(self, page: int, replies: list[Reply]) -> None:
        """Once page ``page`` (0-based) has been served, answer the next SearchOrders calls
        with ``replies`` (through ``FakeHttp.fail``): a failure in the middle of a run."""
        with self._lock:
            self._page_served_hooks[page] = list(replies)

    def edit_before_next_update(self, order_id: str) -> None:
        """Someone edits the order in Square between the next RetrieveOrder and UpdateOrder:
        its version moves on, so that update is answered VERSION_MISMATCH."""
        with self._lock:
            self._edits_before_update.add(order_id)

    @staticmethod
    def cursor_for(page: int) -> str:
        """The opaque cursor that leads to page ``page`` (1-based pages after the first)."""
        return f"CURSOR-page-{page}-e2e"

    # --- handlers ----------------------------------------------------------------------------

    def _refused(self, request: Request) -> Reply | None:
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return Reply(
                401, square_error("AUTHENTICATION_ERROR", "UNAUTHORIZED", "bad access token")
            )
        if not request.headers.get("square-version"):
            return Reply(
                400, square_error("INVALID_REQUEST_ERROR", "BAD_REQUEST", "no Square-Version")
            )
        return None

    def _search(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = request.json or {}
        cursor = body.get("cursor")
        pages = {None: 0} | {self.cursor_for(n): n for n in range(1, len(self.pages))}
        if cursor not in pages:
            return Reply(
                400, square_error("INVALID_REQUEST_ERROR", "INVALID_CURSOR", "unknown cursor")
            )
        index = pages[cursor]
        with self._lock:
            orders = [copy.deepcopy(self.orders[i]) for i in self.pages[index]]
            failures = self._page_served_hooks.pop(index, [])
        for reply in failures:
            self.http.fail("POST", SEARCH_PATH, reply)
        document: dict[str, Any] = {"orders": orders}
        if index + 1 < len(self.pages):
            document["cursor"] = self.cursor_for(index + 1)
        return Reply(200, document)

    def _retrieve(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        order_id = self._order_id(request)
        with self._lock:
            order = self.orders.get(order_id)
            if order is None:
                return Reply(
                    404, square_error("INVALID_REQUEST_ERROR", "NOT_FOUND", "no such order")
                )
            return Reply(200, {"order": copy.deepcopy(order)})

    def _update(self, request: Request) -> Reply:
        """UpdateOrder: apply a sparse fulfillment change to the current version."""
        return self._idempotent(request, lambda body: self._apply_update(request, body))

    def _apply_update(self, request: Request, body: dict[str, Any]) -> Reply:
        change = body.get("order") or {}
        order = self.orders.get(self._order_id(request))
        if order is None:
            return Reply(404, square_error("INVALID_REQUEST_ERROR", "NOT_FOUND", "no such order"))
        if order["id"] in self._edits_before_update:
            self._edits_before_update.discard(order["id"])
            order["version"] += 1
            order["updated_at"] = self._tick()
        if change.get("version") != order["version"]:
            return Reply(
                400, square_error("INVALID_REQUEST_ERROR", "VERSION_MISMATCH", "stale version")
            )
        by_uid = {f["uid"]: f for f in order.get("fulfillments") or []}
        updates = change.get("fulfillments") or []
        if any(item.get("uid") not in by_uid for item in updates):
            return Reply(400, square_error("INVALID_REQUEST_ERROR", "NOT_FOUND", "no fulfillment"))
        for item in updates:
            target = by_uid[item["uid"]]
            if "state" in item:
                target["state"] = item["state"]
            target.setdefault("shipment_details", {}).update(item.get("shipment_details", {}))
        order["version"] += 1
        order["updated_at"] = self._tick()
        return Reply(200, {"order": copy.deepcopy(order)})

    def _change_inventory(self, request: Request) -> Reply:
        """BatchChangeInventory: each PHYSICAL_COUNT becomes the current count."""
        return self._idempotent(request, self._apply_counts)

    def _apply_counts(self, body: dict[str, Any]) -> Reply:
        counts = []
        for change in body.get("changes") or []:
            count = change["physical_count"]
            self.counts[(count["catalog_object_id"], count["location_id"])] = count["quantity"]
            counts.append(
                {
                    "catalog_object_id": count["catalog_object_id"],
                    "catalog_object_type": "ITEM_VARIATION",
                    "state": count["state"],
                    "location_id": count["location_id"],
                    "quantity": count["quantity"],
                    "calculated_at": self._tick(),
                }
            )
        return Reply(200, {"counts": counts})

    # --- helpers -----------------------------------------------------------------------------

    def _idempotent(self, request: Request, apply: Callable[[dict[str, Any]], Reply]) -> Reply:
        """Square's idempotency: a key seen with the same body gets its first successful
        answer again; the same key with another body is refused; no key is an error."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = request.json or {}
        key = body.get("idempotency_key")
        if not key:
            return Reply(
                400, square_error("INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", "key")
            )
        with self._lock:
            seen = self._replies.get(key)
            if seen is not None:
                if seen[0] != request.raw:
                    return Reply(
                        400,
                        square_error("INVALID_REQUEST_ERROR", "IDEMPOTENCY_KEY_REUSED", "reused"),
                    )
                return seen[1]
            reply = apply(body)
            if reply.status == 200:
                self._replies[key] = (request.raw, reply)
            return reply

    def _tick(self) -> str:
        self._ticks += 1
        return f"{self._clock_start}.{self._ticks:03d}Z"

    @staticmethod
    def _order_id(request: Request) -> str:
        match = _ORDER_ID.fullmatch(request.path)
        assert match is not None  # the route matched this pattern
        return match.group("order_id")
