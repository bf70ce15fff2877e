"""A small fake of Amazon's Selling Partner API and Login with Amazon, on ``FakeHttp``.

It speaks what ``connectors.amazon`` uses: the LWA refresh-token grant, Orders v0
``getOrders`` (LastUpdatedAfter + MaxResultsPerPage, or NextToken), ``getOrder``,
``getOrderItems`` (paged by NextToken), ``getOrderAddress``, ``confirmShipment``, Listings
Items ``patchListingsItem`` and the Tokens API's ``createRestrictedDataToken``. Like Amazon it
refuses a LastUpdatedAfter less than two minutes old, a missing MarketplaceIds, an unknown
NextToken and a wrong ``x-amz-access-token``; it lists orders without the name and street of
their ShippingAddress (what SP-API shows a token without access to PII), and serves
``getOrderAddress`` only to the Restricted Data Token it issued for that operation. With
``quotas`` it enforces a usage plan per operation (token buckets) and answers 429
QuotaExceeded with Retry-After when a bucket is empty, as SP-API does.

Used by tests/integration/test_amazon_channel_e2e.py and bench/amazon_catch_up.py::

    api = FakeAmazon()
    with api.server:
        api.put_order(order, [items_page_document, ...])
        ...  # point api_base_url and token_url at api.server.base_url
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.e2e.fake_http import FakeHttp, Reply, Request

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "amazon"
TOKEN_PATH = "/auth/o2/token"
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
ORDERS_PATH = "/orders/v0/orders"
ORDER_RE = r"/orders/v0/orders/(?P<id>[^/]+)"
ITEMS_RE = r"/orders/v0/orders/(?P<id>[^/]+)/orderItems"
ADDRESS_RE = r"/orders/v0/orders/(?P<id>[^/]+)/address"
#: The restricted resource whose RDT opens getOrderAddress for any order (the generic path).
ADDRESS_RESOURCE = {"method": "GET", "path": "/orders/v0/orders/{orderId}/address"}
#: What getOrders and getOrder show of a ShippingAddress to a token without access to PII.
LISTED_ADDRESS_FIELDS = ("City", "StateOrRegion", "PostalCode", "CountryCode")
CONFIRM_RE = r"/orders/v0/orders/(?P<id>[^/]+)/shipmentConfirmation"
LISTING_RE = r"/listings/2021-08-01/items/(?P<seller>[^/]+)/(?P<sku>[^/]+)"
RATE_HEADER = "x-amzn-RateLimit-Limit"
#: getOrders refuses a LastUpdatedAfter later than this before the request.
RECENT_WINDOW = timedelta(minutes=2)

#: A getOrders listing: (LastUpdatedAfter, offset, page size, marketplace ids).
Listing = tuple[datetime, int, int, tuple[str, ...]]


def load_sample(name: str) -> dict[str, Any]:
    """A recorded sample, exactly as stored in tests/fixtures/third_party/amazon/."""
    document: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return document


def orders_sample() -> dict[str, Any]:
    return load_sample("getOrders.200.example.json")


def items_sample() -> dict[str, Any]:
    return load_sample("getOrderItems.200.example.json")


def address_sample(order_id: str) -> dict[str, Any]:
    """The getOrderAddress answer built from the documentation, for ``order_id``."""
    document = load_sample("getOrderAddress.200.built.json")
    document["payload"]["AmazonOrderId"] = order_id
    return document


def as_listed(order: dict[str, Any]) -> dict[str, Any]:
    """``order`` as getOrders lists it without a Restricted Data Token."""
    listed = copy.deepcopy(order)
    address = listed.get("ShippingAddress")
    if isinstance(address, dict):
        listed["ShippingAddress"] = {k: v for k, v in address.items() if k in LISTED_ADDRESS_FIELDS}
    return listed


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def errors(code: str, message: str, details: str = "") -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "details": details}]}


class Quota:
    """One operation's usage plan on the server side: ``rate``/s refilling ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self) -> float | None:
        """None if a request may go now, else the seconds until the next token."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self.rate


class FakeAmazon:
    """Orders, items, shipments and listings of one seller, served over real HTTP."""

    def __init__(
        self,
        *,
        access_token: str = "Atza|e2e-access-1",  # noqa: S107 - the fake's own token
        expires_in: int = 3600,
        restricted_token: str = "Atz.sprdt|e2e-rdt-1",  # noqa: S107 - the fake's own token
        restricted_expires_in: int = 3600,
        quotas: Mapping[str, tuple[float, int]] | None = None,
        clock: Any = None,
    ) -> None:
        self.server = FakeHttp()
        self.access_token = access_token
        self.expires_in = expires_in
        self.restricted_token = restricted_token
        self.restricted_expires_in = restricted_expires_in
        self._now = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.item_pages: dict[str, list[dict[str, Any]]] = {}
        #: getOrderAddress answers (whole documents, or a Reply to fail with) by order id;
        #: an order without one gets the built sample's address.
        self.addresses: dict[str, dict[str, Any] | Reply] = {}
        self.rdt_requests: list[Any] = []  # createRestrictedDataToken bodies, in order
        self.first_pages: list[dict[str, Any]] = []  # canned getOrders first pages, served once
        self.next_page_failures: list[Reply] = []  # served instead of NextToken pages, once each
        self.revoked_refresh_tokens: set[str] = set()  # LWA answers invalid_grant to these
        self._revoke_at_page: tuple[int, str] | None = None
        self._pages_issued = 0
        self.confirmed: list[tuple[str, Any]] = []
        self.listings: dict[str, Any] = {}
        self._order_tokens: dict[str, Listing] = {}
        self._issued = 0
        self._quotas = {op: Quota(rate, burst) for op, (rate, burst) in (quotas or {}).items()}
        self.throttled: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        #: (monotonic time, operation, NextToken) of every SP-API request, in arrival order.
        self.arrivals: list[tuple[float, str, str | None]] = []
        self.submissions = 0
        srv = self.server
        srv.route("POST", TOKEN_PATH, self._token)
        srv.route("POST", RDT_PATH, self._guarded("create_restricted_data_token", self._rdt))
        srv.route("GET", ORDERS_PATH, self._guarded("get_orders", self._get_orders))
        srv.route("GET", ITEMS_RE, self._guarded("get_order_items", self._get_items))
        srv.route(
            "GET",
            ADDRESS_RE,
            self._guarded("get_order_address", self._get_address, restricted=True),
        )
        srv.route("POST", CONFIRM_RE, self._guarded("confirm_shipment", self._confirm))
        srv.route("PATCH", LISTING_RE, self._guarded("patch_listings_item", self._patch_listing))
        srv.route("GET", ORDER_RE, self._guarded("get_order", self._get_order))

    # --- the seller's data --------------------------------------------------------------------

    def put_order(
        self,
        order: dict[str, Any],
        item_pages: list[dict[str, Any]],
        address: dict[str, Any] | Reply | None = None,
    ) -> None:
        """Add or replace an order; ``item_pages`` are whole getOrderItems answers, in order
        (each page's payload.NextToken leads to the next one); ``address`` the whole
        getOrderAddress answer, or the Reply it fails with (default: the built sample's)."""
        with self._lock:
            self.orders[order["AmazonOrderId"]] = copy.deepcopy(order)
            self.item_pages[order["AmazonOrderId"]] = copy.deepcopy(item_pages)
            if address is not None:
                self.addresses[order["AmazonOrderId"]] = copy.deepcopy(address)

    @property
    def tokens_issued(self) -> int:
        """Access tokens the LWA endpoint has handed out."""
        return self._issued

    def fail_next_page(self, reply: Reply) -> None:
        """Answer the next getOrders NextToken request with ``reply`` (failure injection)."""
        with self._lock:
            self.next_page_failures.append(reply)

    def revoke_mid_poll(self, refresh_token: str, *, after_pages: int) -> None:
        """The seller revokes the app while a poll reads its orders: after ``after_pages``
        NextToken pages were served, ``refresh_token`` is revoked, the access token in use
        stops working (a new one is issued only for another refresh token), and the page that
        was asked for is answered as SP-API answers a revoked token."""
        with self._lock:
            self._revoke_at_page = (after_pages, refresh_token)

    def serve_first(self, document: dict[str, Any]) -> None:
        """Answer the next first-page getOrders with ``document`` as it is; its NextToken (if
        any) then continues with this fake's own listing from the start."""
        with self._lock:
            self.first_pages.append(copy.deepcopy(document))

    # --- handlers -----------------------------------------------------------------------------

    def _guarded(self, operation: str, handler: Any, *, restricted: bool = False) -> Any:
        """``handler`` behind the quota and the token check (the RDT for a restricted one)."""

        def serve(request: Request) -> Reply:
            with self._lock:
                self.calls[operation] = self.calls.get(operation, 0) + 1
                self.arrivals.append((time.monotonic(), operation, request.param("NextToken")))
                quota = self._quotas.get(operation)
                wait = quota.take() if quota is not None else None
                if wait is not None:
                    self.throttled[operation] = self.throttled.get(operation, 0) + 1
                    return Reply(
                        429,
                        errors(
                            "QuotaExceeded", "You exceeded your quota for the requested resource."
                        ),
                        {"Retry-After": f"{wait:.3f}", RATE_HEADER: str(quota.rate)},  # type: ignore[union-attr]
                    )
            wanted = self.restricted_token if restricted else self.access_token
            if request.headers.get("x-amz-access-token") != wanted:
                return Reply(
                    403,
                    errors(
                        "Unauthorized",
                        "Access to requested resource is denied.",
                        "The access token you provided is revoked, malformed or invalid.",
                    ),
                )
            reply: Reply = handler(request)
            if quota is not None:
                reply = Reply(
                    reply.status, reply.body, {**reply.headers, RATE_HEADER: str(quota.rate)}
                )
            return reply

        return serve

    def _token(self, request: Request) -> Reply:
        refresh = parse_qs(request.raw.decode()).get("refresh_token", [""])[0]
        if refresh in self.revoked_refresh_tokens:
            return Reply(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "The request has an invalid grant parameter : "
                    "refresh_token",
                },
            )
        self._issued += 1
        return Reply(
            200,
            {
                "access_token": self.access_token,
                "refresh_token": "Atzr|not-rotated",
                "token_type": "bearer",
                "expires_in": self.expires_in,
            },
        )

    def _rdt(self, request: Request) -> Reply:
        body = request.json
        with self._lock:
            self.rdt_requests.append(body)
        resources = body.get("restrictedResources") if isinstance(body, dict) else None
        if not isinstance(resources, list) or not resources or len(resources) > 50:
            return Reply(400, errors("InvalidInput", "restrictedResources is required."))
        if ADDRESS_RESOURCE not in resources:
            # The only restricted operation this fake serves; any other would need its own RDT.
            return Reply(400, errors("InvalidInput", "Unsupported restricted resource."))
        return Reply(
            200,
            {
                "restrictedDataToken": self.restricted_token,
                "expiresIn": self.restricted_expires_in,
            },
        )

    def _get_orders(self, request: Request) -> Reply:
        with self._lock:
            query = self._orders_query(request)
            if isinstance(query, Reply):
                return query
            after, offset, size, wanted = query
            matching = sorted(
                (
                    o
                    for o in self.orders.values()
                    if parse_iso(o["LastUpdateDate"]) > after and o.get("MarketplaceId") in wanted
                ),
                key=lambda o: (parse_iso(o["LastUpdateDate"]), o["AmazonOrderId"]),
            )
            chunk = matching[offset : offset + size]
            payload: dict[str, Any] = {
                "Orders": [as_listed(o) for o in chunk],
                "LastUpdatedBefore": iso(self._now() - RECENT_WINDOW),
            }
            if offset + size < len(matching):
                self._pages_issued += 1
                next_token = f"orders-page-{self._pages_issued}"
                self._order_tokens[next_token] = (after, offset + size, size, wanted)
                payload["NextToken"] = next_token
        return Reply(200, {"payload": payload})

    def _orders_query(self, request: Request) -> Reply | Listing:
        """The listing a getOrders request asks for, or the reply that refuses or pre-empts it."""
        marketplaces = request.param("MarketplaceIds")
        if not marketplaces:
            return Reply(400, errors("InvalidInput", "MarketplaceIds is required."))
        token = request.param("NextToken")
        if token is not None:
            return self._continuation(token)
        after_text = request.param("LastUpdatedAfter")
        if not after_text:
            return Reply(
                400, errors("InvalidInput", "Either CreatedAfter or LastUpdatedAfter is required.")
            )
        after = parse_iso(after_text)
        if after > self._now() - RECENT_WINDOW:
            return Reply(
                400,
                errors("InvalidInput", "LastUpdatedAfter must be at least two minutes before now."),
            )
        size = int(request.param("MaxResultsPerPage") or 100)
        wanted = tuple(marketplaces.split(","))
        if self.first_pages:
            canned = self.first_pages.pop(0)
            canned_token = canned["payload"].get("NextToken")
            if canned_token:
                self._order_tokens[canned_token] = (after, 0, size, wanted)
            return Reply(200, canned)
        return after, 0, size, wanted

    def _continuation(self, token: str) -> Reply | Listing:
        if token not in self._order_tokens:
            return Reply(400, errors("InvalidInput", "Invalid NextToken."))
        if self.next_page_failures:
            return self.next_page_failures.pop(0)
        if self._revoke_at_page is not None:
            left, refresh_token = self._revoke_at_page
            if left <= 0:
                self._revoke_at_page = None
                self.revoked_refresh_tokens.add(refresh_token)
                self.access_token = f"{self.access_token}-after-revocation"
                return Reply(
                    403,
                    errors(
                        "Unauthorized",
                        "Access to requested resource is denied.",
                        "The access token you provided is revoked, malformed or invalid.",
                    ),
                )
            self._revoke_at_page = (left - 1, refresh_token)
        return self._order_tokens[token]

    def _order_id(self, request: Request, pattern: str) -> str:
        match = re.fullmatch(pattern, request.path)
        assert match is not None  # routed by this pattern
        return unquote(match.group("id"))

    def _get_order(self, request: Request) -> Reply:
        order_id = self._order_id(request, ORDER_RE)
        with self._lock:
            order = self.orders.get(order_id)
        if order is None:
            return Reply(404, errors("NotFound", f"Order {order_id} not found."))
        return Reply(200, {"payload": as_listed(order)})

    def _get_address(self, request: Request) -> Reply:
        order_id = self._order_id(request, ADDRESS_RE)
        with self._lock:
            known = order_id in self.orders
            answer = copy.deepcopy(self.addresses.get(order_id))
        if not known:
            return Reply(404, errors("NotFound", f"Order {order_id} not found."))
        if isinstance(answer, Reply):
            return answer
        return Reply(200, answer or address_sample(order_id))

    def _get_items(self, request: Request) -> Reply:
        order_id = self._order_id(request, ITEMS_RE)
        with self._lock:
            pages = self.item_pages.get(order_id)
        if pages is None:
            return Reply(404, errors("NotFound", f"Order {order_id} not found."))
        token = request.param("NextToken")
        if token is None:
            return Reply(200, pages[0])
        for page, following in itertools.pairwise(pages):
            if page["payload"].get("NextToken") == token:
                return Reply(200, following)
        return Reply(400, errors("InvalidInput", "Invalid NextToken."))

    def _confirm(self, request: Request) -> Reply:
        order_id = self._order_id(request, CONFIRM_RE)
        with self._lock:
            if order_id not in self.orders:
                return Reply(404, errors("NotFound", f"Order {order_id} not found."))
            self.confirmed.append((order_id, request.json))
        return Reply(204)

    def _patch_listing(self, request: Request) -> Reply:
        match = re.fullmatch(LISTING_RE, request.path)
        assert match is not None  # routed by this pattern
        sku = unquote(match.group("sku"))
        with self._lock:
            self.submissions += 1
            self.listings[sku] = request.json
            submission = f"sub-{self.submissions}"
        return Reply(
            200, {"sku": sku, "status": "ACCEPTED", "submissionId": submission, "issues": []}
        )
