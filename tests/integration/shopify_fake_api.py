"""A small stateful fake of the Shopify REST Admin API on 127.0.0.1, on ``tests.e2e.fake_http``.

It serves what the Shopify connector calls, under ``/admin/api/{version}``:

- ``GET /orders.json``: scripted pages of the orders it holds, joined by ``page_info`` cursors
  in ``Link`` headers (``rel="next"`` / ``rel="previous"``) as Shopify does. A first page needs
  the filters (``status``, ``updated_at_min``, ``limit``, ``order``); a later page is refused
  (400) when anything but ``page_info`` and ``limit`` comes with it, as Shopify refuses it.
  The pages are served as scripted: the fake does not filter by ``updated_at_min``.
- ``GET /orders/{id}.json``: ``{"order": {...}}``.
- ``GET /orders/{id}/fulfillments.json`` and ``GET /orders/{id}/fulfillment_orders.json``:
  the order's fulfillments (those the order came with, then the ones created here) and its
  fulfillment orders, whose ``fulfillable_quantity`` goes down as fulfillments are made.
  With ``omit_fulfillable_quantity`` set, their line items come without
  ``fulfillable_quantity``, as older API versions send them (the fake still checks by it).
- ``POST /fulfillments.json``: checked against the open fulfillment orders (422 otherwise),
  applied, and answered 201 with a fulfillment built on the recorded sample.
- ``GET`` / ``POST /orders/{id}/fulfillments/{id}/events.json``: a fulfillment's delivery
  events (``fulfillment_events``), 404 for a fulfillment the order does not have.
- ``POST /inventory_levels/set.json``: the ``available`` of an inventory item at a location.
- ``POST /graphql.json``: an order's ``risk`` (``risks``: recommendation and assessments, set
  by the test), and the two documents the connector sends for stock: the read of
  ``available`` (``nodes(ids:)`` → ``InventoryItem.inventoryLevel(locationId:)``, null for an
  item not stocked there) and ``inventorySetQuantities``, which sets only when every
  ``compareQuantity`` matches what the fake holds (otherwise ``COMPARE_QUANTITY_STALE`` and
  nothing is set). ``sell`` lowers a level as a shop order would; ``sell_before_next_set``
  does it just before the next mutation is looked at (a sale between read and set).

- Returns, through the same GraphQL endpoint, as the Admin GraphQL reference describes them:
  an order's ``returns`` (with each line's ``returnReasonNote``) and its
  ``returnableFulfillments`` (each fulfillment line item's units not held by a live return),
  ``return(id:)``, and ``returnCreate`` (checked against what is returnable, status OPEN),
  ``returnApproveRequest``, ``returnDeclineRequest``, ``returnCancel`` and ``returnClose``,
  each refusing with ``userErrors`` a return not in the status it acts on. Each fulfillment
  line item's id is ``fulfillment id * 1000 + its place``. ``request_return`` makes a
  REQUESTED return as a customer would, ``return_webhook`` the body of its ``returns/*``
  webhook (constructed from the documented fields: no capture exists here).

Every request without the right ``X-Shopify-Access-Token`` is answered 401.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.e2e.fake_http import FakeHttp, Reply, Request

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "shopify"
ORDER_SAMPLE = SAMPLES / "shopify_python_api_order.json"
FULFILLMENT_SAMPLE = SAMPLES / "shopify_python_api_fulfillment.json"

API_VERSION = "2025-01"
API = f"/admin/api/{API_VERSION}"
ORDERS_PATH = rf"{API}/orders\.json"
ORDER_PATH = rf"{API}/orders/(?P<order_id>\d+)\.json"
FULFILLMENTS_PATH = rf"{API}/orders/(?P<order_id>\d+)/fulfillments\.json"
FULFILLMENT_ORDERS_PATH = rf"{API}/orders/(?P<order_id>\d+)/fulfillment_orders\.json"
CREATE_FULFILLMENT_PATH = rf"{API}/fulfillments\.json"
FULFILLMENT_EVENTS_PATH = (
    rf"{API}/orders/(?P<order_id>\d+)/fulfillments/(?P<fulfillment_id>\d+)/events\.json"
)
INVENTORY_SET_PATH = rf"{API}/inventory_levels/set\.json"
GRAPHQL_PATH = rf"{API}/graphql\.json"
ITEM_GID = "gid://shopify/InventoryItem/"
LOCATION_GID = "gid://shopify/Location/"
FIRST_PAGE_FILTERS = frozenset({"status", "updated_at_min", "limit", "order"})
CHECK_FILTERS = frozenset({"status", "limit", "fields"})


def sample_order_document() -> dict[str, Any]:
    """shopify_python_api_order.json as recorded: ``{"order": {...}}``."""
    document: dict[str, Any] = json.loads(ORDER_SAMPLE.read_bytes())
    return document


def sample_order() -> dict[str, Any]:
    """The recorded order object, untouched (what an ``orders/*`` webhook body carries)."""
    order: dict[str, Any] = sample_order_document()["order"]
    return order


def sample_fulfillment() -> dict[str, Any]:
    """shopify_python_api_fulfillment.json's ``fulfillment`` object, untouched."""
    document: dict[str, Any] = json.loads(FULFILLMENT_SAMPLE.read_bytes())
    fulfillment: dict[str, Any] = document["fulfillment"]
    return fulfillment


@dataclass(frozen=True)
class Line:
    """A line of an order variant: Shopify line item id, SKU (None: a SKU-less variant),
    variant id and quantity."""

    line_id: int
    sku: str | None
    variant_id: int
    quantity: int


def order_variant(
    order_id: int, *, number: int, updated_at: str, lines: list[Line], customer: str
) -> dict[str, Any]:
    """The recorded order with another id, number, time, lines and customer name.

    Each line is the sample's first line item with the given id, SKU, variant and quantity;
    prices, totals, taxes and the address stay those of the sample (shipping to Louisville, KY).
    The sample's embedded (failed) fulfillment is dropped: a new order has none.
    """
    order: dict[str, Any] = copy.deepcopy(sample_order())
    template = order["line_items"][0]
    first, last = customer.split(maxsplit=1)
    items = []
    for line in lines:
        item = copy.deepcopy(template)
        item.update(
            id=line.line_id,
            sku=line.sku,
            variant_id=line.variant_id,
            quantity=line.quantity,
            variant_title=(line.sku or f"variant {line.variant_id}").lower(),
            properties=[],
        )
        items.append(item)
    subtotal = sum(float(item["price"]) * item["quantity"] for item in items)
    order.update(
        id=order_id,
        name=f"#{number}",
        number=number - 1000,
        order_number=number,
        created_at=updated_at,
        updated_at=updated_at,
        line_items=items,
        fulfillments=[],
        subtotal_price=f"{subtotal:.2f}",
        total_line_items_price=f"{subtotal:.2f}",
        total_price=f"{subtotal:.2f}",
        total_tax="0.00",
        tax_lines=[],
        discount_codes=[],
        email=f"{first.lower()}@example.com",
    )
    for address in (order["shipping_address"], order["billing_address"]):
        address.update(first_name=first, last_name=last, name=customer)
    order["customer"].update(first_name=first, last_name=last, email=order["email"])
    return order


def shopify_errors(message: str | list[str]) -> dict[str, Any]:
    """Shopify's REST error envelope."""
    return {"errors": message}


@dataclass(frozen=True)
class FulfillmentOrderSpec:
    """One fulfillment order of an order: its id, assigned location and order line item ids."""

    fulfillment_order_id: int
    location_id: int
    line_ids: tuple[int, ...]


def fo_line_id(line_item_id: int) -> int:
    """The fake's id of the fulfillment-order line item that holds an order line item."""
    return line_item_id * 10 + 1


class ShopifyFake:
    """The fake Shopify shop; ``http`` is the underlying :class:`FakeHttp` (requests, fail())."""

    def __init__(self, *, access_token: str, first_fulfillment_id: int) -> None:
        self.http = FakeHttp()
        self.access_token = access_token
        self.orders: dict[int, dict[str, Any]] = {}
        #: Order-list pages: order ids per page; page n > 0 is reached by ``cursor_for(n)``.
        self.pages: list[list[int]] = []
        self.fulfillments: dict[int, list[dict[str, Any]]] = {}
        self.fulfillment_orders: dict[int, list[dict[str, Any]]] = {}
        #: The ``orders`` array of every order-list page served, in order.
        self.served_pages: list[list[dict[str, Any]]] = []
        #: Every fulfillment answered to a POST /fulfillments.json, in order.
        self.created: list[dict[str, Any]] = []
        #: Fulfillment events (delivery status) by fulfillment id, oldest first.
        self.fulfillment_events: dict[int, list[dict[str, Any]]] = {}
        #: ``available`` by (inventory item id, location id).
        self.levels: dict[tuple[int, int], int] = {}
        #: Answer fulfillment orders as an older API version does: no fulfillable_quantity.
        self.omit_fulfillable_quantity = False
        #: ``Order.risk`` by order id (``{"recommendation", "assessments"}``); no entry: an
        #: order Shopify has not assessed (``risk`` answers NONE with no assessments).
        self.risks: dict[int, dict[str, Any]] = {}
        #: Returns by id: ``order_id``, ``name``, ``status``, ``lines`` (fulfillment line
        #: item id, line item id, quantity, reason, note).
        self.returns: dict[int, dict[str, Any]] = {}
        self._next_return_id = 945000954
        self._lock = threading.Lock()
        self._next_fulfillment_id = first_fulfillment_id
        self._after_page: dict[int, list[Reply]] = {}
        self._apply_then_fail: list[Reply] = []
        self._sales_before_set: list[tuple[int, int, int]] = []
        self.http.route("GET", ORDERS_PATH, self._list_orders)
        self.http.route("GET", ORDER_PATH, self._get_order)
        self.http.route("GET", FULFILLMENTS_PATH, self._list_fulfillments)
        self.http.route("GET", FULFILLMENT_ORDERS_PATH, self._list_fulfillment_orders)
        self.http.route("POST", CREATE_FULFILLMENT_PATH, self._create_fulfillment)
        self.http.route("GET", FULFILLMENT_EVENTS_PATH, self._list_fulfillment_events)
        self.http.route("POST", FULFILLMENT_EVENTS_PATH, self._create_fulfillment_event)
        self.http.route("POST", INVENTORY_SET_PATH, self._set_inventory_level)
        self.http.route("POST", GRAPHQL_PATH, self._graphql)

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

    @property
    def api_base_url(self) -> str:
        """What the connector's ``api_base_url`` is set to."""
        return f"{self.http.base_url}{API}"

    def add_order(
        self, order: dict[str, Any], fulfillment_orders: list[FulfillmentOrderSpec]
    ) -> None:
        """Hold (a copy of) ``order`` with its open fulfillment orders."""
        by_id = {item["id"]: item for item in order["line_items"]}
        with self._lock:
            self.orders[order["id"]] = copy.deepcopy(order)
            self.fulfillments[order["id"]] = copy.deepcopy(order.get("fulfillments") or [])
            self.fulfillment_orders[order["id"]] = [
                {
                    "id": spec.fulfillment_order_id,
                    "shop_id": 548380009,
                    "order_id": order["id"],
                    "assigned_location_id": spec.location_id,
                    "request_status": "unsubmitted",
                    "status": "open",
                    "supported_actions": ["create_fulfillment", "move"],
                    "line_items": [
                        {
                            "id": fo_line_id(line_id),
                            "shop_id": 548380009,
                            "fulfillment_order_id": spec.fulfillment_order_id,
                            "quantity": by_id[line_id]["quantity"],
                            "line_item_id": line_id,
                            "inventory_item_id": by_id[line_id]["variant_id"] + 1,
                            "fulfillable_quantity": by_id[line_id]["quantity"],
                            "variant_id": by_id[line_id]["variant_id"],
                        }
                        for line_id in spec.line_ids
                    ],
                }
                for spec in fulfillment_orders
            ]

    def fail_after_page(self, page: int, replies: list[Reply]) -> None:
        """Once page ``page`` (0-based) has been served, answer the next order-list calls
        with ``replies`` (through ``FakeHttp.fail``): a failure in the middle of a run."""
        with self._lock:
            self._after_page[page] = list(replies)

    def apply_then_fail_next_fulfillment(self, reply: Reply) -> None:
        """The next POST /fulfillments.json is applied, but answered ``reply`` (a 5xx after
        Shopify made the fulfillment, or a timeout's worth of uncertainty)."""
        with self._lock:
            self._apply_then_fail.append(reply)

    def sell(self, item: int, location: int, units: int) -> None:
        """A customer bought ``units`` in the shop: Shopify lowers ``available`` itself."""
        with self._lock:
            self.levels[(item, location)] -= units

    def sell_before_next_set(self, item: int, location: int, units: int) -> None:
        """``sell`` just before the next ``inventorySetQuantities`` is looked at."""
        with self._lock:
            self._sales_before_set.append((item, location, units))

    @staticmethod
    def cursor_for(page: int) -> str:
        """The opaque ``page_info`` that leads to page ``page`` (1-based after the first)."""
        return f"eyJsYXN0X2lkIjo{page}fQ-e2e"

    # --- handlers ----------------------------------------------------------------------------

    def _refused(self, request: Request) -> Reply | None:
        if request.headers.get("x-shopify-access-token") != self.access_token:
            return Reply(
                401,
                shopify_errors(
                    "[API] Invalid API key or access token (unrecognized login or wrong password)"
                ),
            )
        return None

    def _link(self, page: int) -> str:
        links = []
        url = f"{self.api_base_url}/orders.json"
        if page > 0:
            links.append(f'<{url}?limit=250&page_info={self.cursor_for(page - 1)}>; rel="previous"')
        if page + 1 < len(self.pages):
            links.append(f'<{url}?limit=250&page_info={self.cursor_for(page + 1)}>; rel="next"')
        return ", ".join(links)

    def _list_orders(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        page_info = request.param("page_info")
        if page_info is None and set(request.query) == CHECK_FILTERS:
            # A connection check: one order's id, as Shopify answers ``fields=id``.
            ids = [{"id": order["id"]} for order in list(self.orders.values())[:1]]
            return Reply(200, {"orders": ids})
        if page_info is None:
            if set(request.query) != FIRST_PAGE_FILTERS:
                return Reply(400, shopify_errors("first page needs the poll filters"))
            index = 0
        else:
            if set(request.query) - {"page_info", "limit"}:
                return Reply(
                    400, shopify_errors("page_info - Invalid value: only limit may go with it")
                )
            pages = {self.cursor_for(n): n for n in range(1, len(self.pages))}
            if page_info not in pages:
                return Reply(400, shopify_errors("page_info - Invalid value."))
            index = pages[page_info]
        with self._lock:
            orders = [copy.deepcopy(self.orders[i]) for i in self.pages[index]]
            failures = self._after_page.pop(index, [])
            self.served_pages.append(copy.deepcopy(orders))
        for reply in failures:
            self.http.fail("GET", ORDERS_PATH, reply)
        link = self._link(index)
        return Reply(200, {"orders": orders}, {"Link": link} if link else {})

    def _get_order(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        with self._lock:
            order = self.orders.get(self._order_id(ORDER_PATH, request))
            if order is None:
                return Reply(404, shopify_errors("Not Found"))
            return Reply(200, {"order": copy.deepcopy(order)})

    def _list_fulfillments(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        with self._lock:
            found = self.fulfillments.get(self._order_id(FULFILLMENTS_PATH, request))
            if found is None:
                return Reply(404, shopify_errors("Not Found"))
            return Reply(200, {"fulfillments": copy.deepcopy(found)})

    def _list_fulfillment_orders(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        with self._lock:
            found = self.fulfillment_orders.get(self._order_id(FULFILLMENT_ORDERS_PATH, request))
            if found is None:
                return Reply(404, shopify_errors("Not Found"))
            answer = copy.deepcopy(found)
            if self.omit_fulfillable_quantity:
                for fulfillment_order in answer:
                    for item in fulfillment_order["line_items"]:
                        del item["fulfillable_quantity"]
            return Reply(200, {"fulfillment_orders": answer})

    def _create_fulfillment(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = (request.json or {}).get("fulfillment") or {}
        with self._lock:
            checked = self._check_fulfillment(body)
            if isinstance(checked, Reply):
                return checked
            order_id, taken = checked
            for fo_line, quantity in taken:
                fo_line["fulfillable_quantity"] -= quantity
            for fulfillment_order in self.fulfillment_orders[order_id]:
                left = sum(i["fulfillable_quantity"] for i in fulfillment_order["line_items"])
                if left == 0:
                    fulfillment_order["status"] = "closed"
                elif any(fo_line in fulfillment_order["line_items"] for fo_line, _ in taken):
                    fulfillment_order["status"] = "in_progress"
            fulfillment = self._fulfillment(order_id, taken, body.get("tracking_info") or {})
            self.fulfillments[order_id].append(fulfillment)
            self.created.append(copy.deepcopy(fulfillment))
            if self._apply_then_fail:
                return self._apply_then_fail.pop(0)
        return Reply(201, {"fulfillment": fulfillment})

    def _check_fulfillment(
        self, body: dict[str, Any]
    ) -> Reply | tuple[int, list[tuple[dict[str, Any], int]]]:
        """The order and the (fulfillment-order line, quantity) pairs a body asks for."""
        groups = body.get("line_items_by_fulfillment_order") or []
        if not groups:
            return Reply(400, shopify_errors("line_items_by_fulfillment_order is missing"))
        owners = {
            fo["id"]: (order_id, fo)
            for order_id, fos in self.fulfillment_orders.items()
            for fo in fos
        }
        taken: list[tuple[dict[str, Any], int]] = []
        order_ids = set()
        for group in groups:
            owner = owners.get(group.get("fulfillment_order_id"))
            if owner is None:
                return Reply(404, shopify_errors("Not Found"))
            order_id, fo = owner
            order_ids.add(order_id)
            lines = _take(fo, group.get("fulfillment_order_line_items") or [])
            if isinstance(lines, Reply):
                return lines
            taken += lines
        if len(order_ids) != 1:
            return Reply(422, shopify_errors(["All fulfillment orders must be of one order."]))
        return order_ids.pop(), taken

    def _fulfillment(
        self, order_id: int, taken: list[tuple[dict[str, Any], int]], tracking: dict[str, Any]
    ) -> dict[str, Any]:
        """A fulfillment shaped like the recorded sample: the sample with this id, order,
        tracking and line items (the order's line items with the fulfilled quantities)."""
        fulfillment = sample_fulfillment()
        order_lines = {item["id"]: item for item in self.orders[order_id]["line_items"]}
        line_items = []
        for fo_line, quantity in taken:
            line_items.append({**order_lines[fo_line["line_item_id"]], "quantity": quantity})
        number, url = tracking.get("number"), tracking.get("url")
        fulfillment.update(
            id=self._next_fulfillment_id,
            order_id=order_id,
            tracking_company=tracking.get("company"),
            tracking_number=number,
            tracking_numbers=[number] if number else [],
            tracking_url=url,
            tracking_urls=[url] if url else [],
            line_items=copy.deepcopy(line_items),
        )
        self._next_fulfillment_id += 1
        return fulfillment

    def _fulfillment_of(self, request: Request) -> tuple[int, int] | None:
        """(order id, fulfillment id) of an events path, if the order has that fulfillment."""
        match = re.fullmatch(FULFILLMENT_EVENTS_PATH, request.path)
        assert match is not None  # the route matched this pattern
        order_id, fulfillment_id = int(match["order_id"]), int(match["fulfillment_id"])
        known = {f["id"] for f in self.fulfillments.get(order_id, ())}
        return (order_id, fulfillment_id) if fulfillment_id in known else None

    def _list_fulfillment_events(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        with self._lock:
            found = self._fulfillment_of(request)
            if found is None:
                return Reply(404, shopify_errors("Not Found"))
            events = self.fulfillment_events.get(found[1], [])
            return Reply(200, {"fulfillment_events": copy.deepcopy(events)})

    def _create_fulfillment_event(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = (request.json or {}).get("event") or {}
        with self._lock:
            found = self._fulfillment_of(request)
            if found is None:
                return Reply(404, shopify_errors("Not Found"))
            if not body.get("status"):
                return Reply(422, shopify_errors(["Status can't be blank"]))
            events = self.fulfillment_events.setdefault(found[1], [])
            event = {
                "id": 944956390 + sum(len(e) for e in self.fulfillment_events.values()),
                "order_id": found[0],
                "fulfillment_id": found[1],
                "status": body["status"],
                "happened_at": body.get("happened_at"),
                "message": body.get("message"),
            }
            events.append(event)
        return Reply(201, {"fulfillment_event": copy.deepcopy(event)})

    def _set_inventory_level(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = request.json or {}
        item, location, available = (
            body.get("inventory_item_id"),
            body.get("location_id"),
            body.get("available"),
        )
        if not all(isinstance(value, int) for value in (item, location, available)):
            return Reply(422, shopify_errors(["inventory_item_id, location_id and available"]))
        assert isinstance(item, int) and isinstance(location, int) and isinstance(available, int)
        with self._lock:
            self.levels[(item, location)] = available
        level = {
            "inventory_item_id": item,
            "location_id": location,
            "available": available,
            "updated_at": "2026-11-27T10:00:00-05:00",
            "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
        }
        return Reply(200, {"inventory_level": level})

    def _graphql(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = request.json or {}
        query, variables = str(body.get("query") or ""), body.get("variables") or {}
        returned = self._returns_graphql(query, variables)
        if returned is not None:
            data = returned
        elif "inventorySetQuantities(" in query:
            data = {"inventorySetQuantities": self._set_quantities(variables.get("input") or {})}
        elif "nodes(ids:" in query and "inventoryLevel(locationId:" in query:
            data = {"nodes": self._read_levels(variables)}
        elif "order(id:" in query and "risk" in query:
            data = {"order": self._order_risk(variables)}
        else:
            return Reply(200, {"errors": [{"message": "the fake does not know this query"}]})
        cost = {"requestedQueryCost": 10, "actualQueryCost": 10, "throttleStatus": THROTTLE}
        return Reply(200, {"data": data, "extensions": {"cost": cost}})

    def _order_risk(self, variables: dict[str, Any]) -> dict[str, Any] | None:
        """``Order.risk`` of a known order, null for an unknown one (as GraphQL answers)."""
        gid = str(variables.get("id") or "")
        order_id = _numeric(gid, "gid://shopify/Order/")
        with self._lock:
            if order_id not in self.orders:
                return None
            risk = self.risks.get(order_id, {"recommendation": "NONE", "assessments": []})
            return {"id": gid, "risk": copy.deepcopy(risk)}

    def _read_levels(self, variables: dict[str, Any]) -> list[dict[str, Any] | None]:
        location = _numeric(variables.get("locationId"), LOCATION_GID)
        nodes: list[dict[str, Any] | None] = []
        with self._lock:
            for gid in variables.get("ids") or []:
                item = _numeric(gid, ITEM_GID)
                available = self.levels.get((item, location))
                level = None
                if available is not None:
                    level = {"quantities": [{"name": "available", "quantity": available}]}
                nodes.append({"id": gid, "inventoryLevel": level})
        return nodes

    def _set_quantities(self, given: dict[str, Any]) -> dict[str, Any]:
        """Shopify's compare-and-set: all or nothing, each compared with what is held."""
        if given.get("name") != "available" or not given.get("reason"):
            return _user_errors(("INVALID_NAME", ["input", "name"], "name and reason"))
        wanted: list[tuple[tuple[int, int], int]] = []
        errors: list[tuple[str, list[str], str]] = []
        with self._lock:
            for item, location, units in self._sales_before_set:
                self.levels[(item, location)] -= units
            self._sales_before_set.clear()
            for n, entry in enumerate(given.get("quantities") or []):
                key = (
                    _numeric(entry.get("inventoryItemId"), ITEM_GID),
                    _numeric(entry.get("locationId"), LOCATION_GID),
                )
                field = ["input", "quantities", str(n)]
                if key not in self.levels:
                    errors.append(("ITEM_NOT_STOCKED_AT_LOCATION", field, "not stocked"))
                elif "compareQuantity" not in entry:
                    errors.append(("COMPARE_QUANTITY_REQUIRED", field, "compareQuantity"))
                elif entry["compareQuantity"] != self.levels[key]:
                    message = "The compareQuantity value does not match persisted value."
                    errors.append(("COMPARE_QUANTITY_STALE", [*field, "compareQuantity"], message))
                wanted.append((key, int(entry["quantity"])))
            if errors:
                return _user_errors(*errors)
            for key, quantity in wanted:
                self.levels[key] = quantity
        return {"userErrors": []}

    # --- returns ------------------------------------------------------------------------------

    def request_return(
        self, order_id: int, wanted: list[tuple[int, int]], reason: str = "DEFECTIVE"
    ) -> int:
        """A customer's return request of (line item id, quantity): a REQUESTED return."""
        with self._lock:
            lines = []
            for line_item, quantity in wanted:
                fli = next(
                    f for f, item, left in self._returnable(order_id) if item == line_item and left
                )
                lines.append([fli, line_item, quantity, reason, ""])
            return self._add_return(order_id, "REQUESTED", lines)

    def return_webhook(self, return_id: int) -> bytes:
        """The body of a ``returns/*`` webhook for a return (snake_case, REST-style ids)."""
        with self._lock:
            held = copy.deepcopy(self.returns[return_id])
        items = [
            {
                "id": return_id * 10 + n,
                "admin_graphql_api_id": f"gid://shopify/ReturnLineItem/{return_id * 10 + n}",
                "fulfillment_line_item": {
                    "id": fli,
                    "admin_graphql_api_id": f"gid://shopify/FulfillmentLineItem/{fli}",
                    "line_item": {
                        "id": line_item,
                        "admin_graphql_api_id": f"gid://shopify/LineItem/{line_item}",
                    },
                },
                "quantity": quantity,
                "return_reason": reason.lower(),
                "return_reason_note": note,
                "customer_note": None,
            }
            for n, (fli, line_item, quantity, reason, note) in enumerate(held["lines"])
        ]
        document = {
            "id": return_id,
            "admin_graphql_api_id": f"gid://shopify/Return/{return_id}",
            "name": held["name"],
            "status": held["status"].lower(),
            "order": {
                "id": held["order_id"],
                "admin_graphql_api_id": f"gid://shopify/Order/{held['order_id']}",
            },
            "total_return_line_items": len(items),
            "return_line_items": items,
        }
        return json.dumps(document).encode()

    def _add_return(self, order_id: int, status: str, lines: list[list[Any]]) -> int:
        return_id = self._next_return_id
        self._next_return_id += 1
        count = sum(1 for r in self.returns.values() if r["order_id"] == order_id)
        name = f"{self.orders[order_id]['name']}-R{count + 1}"
        self.returns[return_id] = {
            "order_id": order_id,
            "name": name,
            "status": status,
            "lines": lines,
        }
        return return_id

    def _returnable(self, order_id: int) -> list[tuple[int, int, int]]:
        """(fulfillment line item id, line item id, units not held by a live return)."""
        held: dict[int, int] = {}
        for ret in self.returns.values():
            if ret["order_id"] == order_id and ret["status"] in ("REQUESTED", "OPEN", "CLOSED"):
                for fli, _, quantity, _, _ in ret["lines"]:
                    held[fli] = held.get(fli, 0) + quantity
        out = []
        for fulfillment in self.fulfillments.get(order_id, ()):
            if fulfillment.get("status") in ("cancelled", "failure", "error"):
                continue
            for place, item in enumerate(fulfillment["line_items"]):
                fli = fulfillment["id"] * 1000 + place
                out.append((fli, item["id"], item["quantity"] - held.get(fli, 0)))
        return out

    def _return_node(self, return_id: int) -> dict[str, Any]:
        held = self.returns[return_id]
        return {
            "id": f"gid://shopify/Return/{return_id}",
            "name": held["name"],
            "status": held["status"],
        }

    def _returns_graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
        moves = {
            "returnApproveRequest(": ("REQUESTED", "OPEN"),
            "returnDeclineRequest(": ("REQUESTED", "DECLINED"),
            "returnCancel(": ("OPEN", "CANCELED"),
            "returnClose(": ("OPEN", "CLOSED"),
        }
        with self._lock:
            if "returnCreate(" in query:
                return {"returnCreate": self._create_return(variables.get("input") or {})}
            for call, (before, after) in moves.items():
                if call in query:
                    given = variables.get("input") or variables
                    name = call.rstrip("(")
                    return {name: self._move_return(str(given.get("id")), before, after)}
            if "returnableFulfillments(" in query:
                return self._order_returns(_numeric(variables.get("id"), "gid://shopify/Order/"))
            if "return(id:" in query:
                return_id = _numeric(variables.get("id"), "gid://shopify/Return/")
                found = self._return_node(return_id) if return_id in self.returns else None
                return {"return": found}
        return None

    def _order_returns(self, order_id: int) -> dict[str, Any]:
        if order_id not in self.orders:
            return {"order": None, "returnableFulfillments": {"nodes": []}}
        nodes = []
        for return_id, held in self.returns.items():
            if held["order_id"] == order_id:
                notes = [{"returnReasonNote": line[4]} for line in held["lines"]]
                nodes.append({**self._return_node(return_id), "returnLineItems": {"nodes": notes}})
        items = [
            {
                "quantity": left,
                "fulfillmentLineItem": {
                    "id": f"gid://shopify/FulfillmentLineItem/{fli}",
                    "lineItem": {"id": f"gid://shopify/LineItem/{line_item}"},
                },
            }
            for fli, line_item, left in self._returnable(order_id)
            if left > 0
        ]
        return {
            "order": {"id": f"gid://shopify/Order/{order_id}", "returns": {"nodes": nodes}},
            "returnableFulfillments": {
                "nodes": [{"returnableFulfillmentLineItems": {"nodes": items}}]
            },
        }

    def _create_return(self, given: dict[str, Any]) -> dict[str, Any]:
        order_id = _numeric(given.get("orderId"), "gid://shopify/Order/")
        left = {fli: (item, units) for fli, item, units in self._returnable(order_id)}
        lines = []
        for n, entry in enumerate(given.get("returnLineItems") or []):
            fli = _numeric(entry.get("fulfillmentLineItemId"), "gid://shopify/FulfillmentLineItem/")
            quantity = int(entry.get("quantity") or 0)
            if fli not in left or not 0 < quantity <= left[fli][1]:
                field = ["returnInput", "returnLineItems", str(n), "quantity"]
                return {"return": None, **_user_errors(("INVALID", field, "Quantity too high"))}
            if not entry.get("returnReason"):
                field = ["returnInput", "returnLineItems", str(n), "returnReason"]
                return {"return": None, **_user_errors(("BLANK", field, "can't be blank"))}
            lines.append(
                [fli, left[fli][0], quantity, entry["returnReason"], entry.get("returnReasonNote")]
            )
        return_id = self._add_return(order_id, "OPEN", lines)
        return {"return": self._return_node(return_id), "userErrors": []}

    def _move_return(self, gid: str, before: str, after: str) -> dict[str, Any]:
        return_id = _numeric(gid, "gid://shopify/Return/")
        held = self.returns.get(return_id)
        if held is None or held["status"] != before:
            message = f"Return is not {before.lower()}"
            return {"return": None, **_user_errors(("INVALID_STATE", ["id"], message))}
        held["status"] = after
        return {"return": self._return_node(return_id), "userErrors": []}

    @staticmethod
    def _order_id(pattern: str, request: Request) -> int:
        match = re.fullmatch(pattern, request.path)
        assert match is not None  # the route matched this pattern
        return int(match.group("order_id"))


#: What the fake's GraphQL answers say of the (never exhausted) query-cost bucket.
THROTTLE = {"maximumAvailable": 1000.0, "currentlyAvailable": 990.0, "restoreRate": 50.0}


def graphql_throttled() -> dict[str, Any]:
    """Shopify's answer (HTTP 200) to a query its cost bucket cannot take now; the points
    are back already, so the connector retries at once."""
    status = {**THROTTLE, "currentlyAvailable": 10.0}
    cost = {"requestedQueryCost": 10, "actualQueryCost": None, "throttleStatus": status}
    errors = [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
    return {"errors": errors, "extensions": {"cost": cost}}


def _numeric(gid: Any, prefix: str) -> int:
    text = str(gid)
    assert text.startswith(prefix) and text[len(prefix) :].isdigit(), f"not a {prefix}<id>: {gid}"
    return int(text[len(prefix) :])


def _user_errors(*errors: tuple[str, list[str], str]) -> dict[str, Any]:
    return {"userErrors": [{"code": c, "field": f, "message": m} for c, f, m in errors]}


def _take(
    fulfillment_order: dict[str, Any], wanted: list[dict[str, Any]]
) -> Reply | list[tuple[dict[str, Any], int]]:
    """The (fulfillment-order line, quantity) pairs asked of one fulfillment order, or the 422
    Shopify answers when it is not open or a line or quantity is not fulfillable."""
    if fulfillment_order["status"] not in ("open", "in_progress"):
        return Reply(422, shopify_errors(["Fulfillment order is not open."]))
    lines = {item["id"]: item for item in fulfillment_order["line_items"]}
    taken: list[tuple[dict[str, Any], int]] = []
    for item in wanted:
        fo_line = lines.get(item.get("id"))
        quantity = item.get("quantity")
        if fo_line is None or not isinstance(quantity, int) or quantity < 1:
            return Reply(422, shopify_errors(["Invalid fulfillment order line item."]))
        if quantity > fo_line["fulfillable_quantity"]:
            message = "Invalid fulfillment order line item quantity requested."
            return Reply(422, shopify_errors([message]))
        taken.append((fo_line, quantity))
    return taken
