"""A small WooCommerce REST API v3 store served by ``FakeHttp`` on 127.0.0.1.

It answers the endpoints the WooCommerce connector calls, the way WooCommerce does: HTTP Basic
with the consumer key and secret, ``GET /orders`` filtered by ``modified_after`` (GMT),
ordered by modification time and paged with ``X-WP-Total`` / ``X-WP-TotalPages``, order notes,
order updates and the product / variation batch endpoints. Orders are the real recorded
sample (``wp-api-v3_orders_retrieve.response.json``) or variants of it built by ``variant``.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.e2e.fake_http import FakeHttp, Reply, Request

SAMPLE_PATH = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "third_party"
    / "woocommerce"
    / "wp-api-v3_orders_retrieve.response.json"
)
API = "/wp-json/wc/v3"
ORDERS = rf"{API}/orders"
ORDER = rf"{API}/orders/(\d+)"
NOTES = rf"{API}/orders/(\d+)/notes"
PRODUCT_BATCH = rf"{API}/products/batch"
VARIATION_BATCH = rf"{API}/products/(\d+)/variations/batch"

CONSUMER_KEY = "ck_e2e_0123456789abcdef"
CONSUMER_SECRET = "cs_e2e_fedcba9876543210"
WEBHOOK_SECRET = "wc-e2e-webhook-secret"
BASIC_AUTH = "Basic " + base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()


def sample_bytes() -> bytes:
    """The recorded sample, byte for byte."""
    return SAMPLE_PATH.read_bytes()


def sample_order() -> dict[str, Any]:
    """The recorded sample (order 727) as a dict, untouched."""
    order: dict[str, Any] = json.loads(sample_bytes())
    return order


def gmt(moment: datetime) -> str:
    """A naive UTC moment in WooCommerce's ``*_gmt`` format (seconds, no offset)."""
    return moment.replace(microsecond=0, tzinfo=None).isoformat()


def variant(
    order_id: int,
    modified: datetime,
    *,
    status: str = "processing",
    lines: list[tuple[int, int, str, int]] | None = None,
) -> dict[str, Any]:
    """The sample with another id, modification time and status, and optionally other lines.

    ``lines`` are ``(product_id, variation_id, sku, quantity)``; the sample's two lines are
    kept (with new line ids) when it is None.
    """
    order = sample_order()
    order.update(
        {
            "id": order_id,
            "number": str(order_id),
            "order_key": f"wc_order_e2e{order_id}",
            "status": status,
            "date_created_gmt": gmt(modified),
            "date_modified_gmt": gmt(modified),
        }
    )
    template = order["line_items"]
    items = []
    for index, item in enumerate(template if lines is None else lines):
        if lines is None:
            line = copy.deepcopy(item)
        else:
            product_id, variation_id, sku, quantity = item
            line = copy.deepcopy(template[0])
            line.update(
                {
                    "product_id": product_id,
                    "variation_id": variation_id,
                    "sku": sku,
                    "quantity": quantity,
                }
            )
        line["id"] = order_id * 10 + index
        items.append(line)
    order["line_items"] = items
    order["_links"] = {
        "self": [{"href": f"https://example.com/wp-json/wc/v3/orders/{order_id}"}],
        "collection": [{"href": "https://example.com/wp-json/wc/v3/orders"}],
    }
    return order


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status}})


class FakeWooStore:
    """Orders, notes and stock of one store, behind WooCommerce's REST routes on ``http``."""

    def __init__(self, http: FakeHttp) -> None:
        self.http = http
        self.orders: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.stock: dict[int, int] = {}  # product or variation id -> stock_quantity
        self.products: set[int] = set()
        self.variations: dict[int, set[int]] = {}  # parent product id -> variation ids
        self.list_faults: dict[int, list[Reply]] = {}  # page -> replies served before it
        self.served_orders: list[dict[str, Any]] = []  # every order object sent, in order
        self._lock = threading.Lock()
        self._next_note = 1000
        http.route("GET", ORDERS, self._list_orders)
        http.route("GET", ORDER, self._get_order)
        http.route("PUT", ORDER, self._update_order)
        http.route("GET", NOTES, self._list_notes)
        http.route("POST", NOTES, self._create_note)
        http.route("POST", PRODUCT_BATCH, self._batch_products)
        http.route("POST", VARIATION_BATCH, self._batch_variations)

    def put(self, order: Mapping[str, Any]) -> None:
        with self._lock:
            self.orders[int(order["id"])] = copy.deepcopy(dict(order))

    def fault_page(self, page: int, *replies: Reply) -> None:
        """Answer the next requests for list page ``page`` with ``replies``, in turn."""
        with self._lock:
            self.list_faults.setdefault(page, []).extend(replies)

    # --- handlers -----------------------------------------------------------------------------

    def _list_orders(self, request: Request) -> Reply:
        if request.headers.get("authorization") != BASIC_AUTH:
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        page = int(request.param("page") or 1)
        per_page = int(request.param("per_page") or 10)
        with self._lock:
            faults = self.list_faults.get(page)
            if faults:
                return faults.pop(0)
            after = request.param("modified_after")
            matching = [
                order
                for order in self.orders.values()
                if after is None or order["date_modified_gmt"] > after
            ]
            matching.sort(key=lambda order: (order["date_modified_gmt"], order["id"]))
            chunk = [copy.deepcopy(o) for o in matching[(page - 1) * per_page : page * per_page]]
            self.served_orders.extend(copy.deepcopy(chunk))
        total_pages = max(math.ceil(len(matching) / per_page), 1)
        headers = {"X-WP-Total": str(len(matching)), "X-WP-TotalPages": str(total_pages)}
        return Reply(200, chunk, headers)

    def _order_id(self, request: Request) -> int:
        return int(request.path.removeprefix(f"{API}/orders/").split("/")[0])

    def _get_order(self, request: Request) -> Reply:
        if request.headers.get("authorization") != BASIC_AUTH:
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot view this.")
        with self._lock:
            order = self.orders.get(self._order_id(request))
            if order is None:
                return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            self.served_orders.append(copy.deepcopy(order))
            return Reply(200, copy.deepcopy(order))

    def _update_order(self, request: Request) -> Reply:
        with self._lock:
            order = self.orders.get(self._order_id(request))
            if order is None:
                return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            order.update(request.json)
            return Reply(200, copy.deepcopy(order))

    def _list_notes(self, request: Request) -> Reply:
        with self._lock:
            return Reply(200, copy.deepcopy(self.notes.get(self._order_id(request), [])))

    def _create_note(self, request: Request) -> Reply:
        body = request.json
        with self._lock:
            self._next_note += 1
            note = {
                "id": self._next_note,
                "author": "WooCommerce",
                "date_created_gmt": "2026-11-27T12:00:00",
                "note": body["note"],
                "customer_note": body["customer_note"],
            }
            # WooCommerce lists the newest note first.
            self.notes.setdefault(self._order_id(request), []).insert(0, note)
            return Reply(201, copy.deepcopy(note))

    def _batch_products(self, request: Request) -> Reply:
        with self._lock:
            return Reply(
                200,
                {"update": [self._set_stock(item, self.products) for item in _updates(request)]},
            )

    def _batch_variations(self, request: Request) -> Reply:
        parent = int(request.path.removeprefix(f"{API}/products/").split("/")[0])
        with self._lock:
            known = self.variations.get(parent, set())
            return Reply(
                200, {"update": [self._set_stock(item, known) for item in _updates(request)]}
            )

    def _set_stock(self, item: dict[str, Any], known: set[int]) -> dict[str, Any]:
        item_id = int(item["id"])
        if item_id not in known:
            return {
                "id": item_id,
                "error": {
                    "code": "woocommerce_rest_product_invalid_id",
                    "message": "Invalid ID.",
                    "data": {"status": 400},
                },
            }
        self.stock[item_id] = int(item["stock_quantity"])
        return {"id": item_id, "manage_stock": True, "stock_quantity": self.stock[item_id]}


def _updates(request: Request) -> list[dict[str, Any]]:
    body = request.json
    updates: list[dict[str, Any]] = body["update"]
    return updates
