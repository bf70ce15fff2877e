"""The Amazon SP-API connector kind: Orders v0 polling in, shipments and stock out.

Auth is Login with Amazon only: a refresh-token grant gives an access token (about an hour),
sent as ``x-amz-access-token``. SP-API stopped requiring AWS SigV4 signing on 2023-10-02.

Orders still ``Pending`` (payment not authorised: no address, no prices) are skipped by the
poller and cost no ``getOrderItems`` call; leaving Pending changes their ``LastUpdateDate``, so
the next poll reads them. Each operation is paced by its own token bucket sized to Amazon's
published usage plan and adjusted to the ``x-amzn-RateLimit-Limit`` the API reports.

getOrders lists no name or street without a Restricted Data Token, so each order the seller
ships (MFN) also costs a ``getOrderAddress`` call. That operation is restricted: it takes an
RDT from the Tokens API instead of the LWA token, which the app gets only with the
Direct-to-Consumer Shipping (Restricted) role. One RDT for the generic path
``/orders/v0/orders/{orderId}/address`` serves every order's address and is cached for its
lifetime (an hour) like the LWA token.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from omniroute.connectors.amazon import mapping
from omniroute.connectors.amazon.auth import AccessTokenCache
from omniroute.connectors.amazon.client import LwaClient, SpApiClient
from omniroute.connectors.amazon.mapping import aware, iso_utc
from omniroute.connectors.amazon.responses import (
    RefusedToken,
    accepted_submission,
    as_object,
    check_lwa_response,
    check_sp_response,
    next_token,
    order_address_of,
    parse_time,
    payload_of,
    restricted_token_of,
    token_of,
)
from omniroute.connectors.base import (
    Capability,
    ChannelOrder,
    ConnectorRuntime,
    FulfilmentNotice,
    OrderPage,
    PayloadError,
    PermanentError,
    PushReceipt,
    StockUpdate,
    read_records,
)
from omniroute.connectors.http import UrlGuard, build_client, check_base_url, send_with_retry
from omniroute.connectors.ratelimit import TokenBucket

__all__ = [
    "AmazonConfig",
    "AmazonConnector",
    "AmazonRateLimits",
    "AmazonSecrets",
    "OperationRate",
]

#: getOrders refuses a LastUpdatedAfter closer to the request time than this.
RECENT_WINDOW = timedelta(minutes=2)
#: Upper bound on getOrderItems pages for one order (an order has at most a few hundred items).
MAX_ITEM_PAGES = 50
#: The restricted resource one RDT is asked for: the generic path covers any order's address.
#: getOrderAddress takes no ``dataElements`` (only getOrder, getOrders, getOrderItems do).
ADDRESS_RESOURCE: Mapping[str, str] = MappingProxyType(
    {"method": "GET", "path": "/orders/v0/orders/{orderId}/address"}
)
#: getOrderAddress refusals that concern one order: it is kept, with the reason, unrouted.
#: Any other refusal (a role, a token) would fail every order alike: the poll fails instead.
ONE_ORDER_REFUSALS = frozenset({"http_400", "http_404"})
ADDRESS_ROLE_HINT = (
    "reading shipping addresses needs the Direct-to-Consumer Shipping (Restricted) role on "
    "the app and the seller's authorisation for it; nothing of this page was stored, the next "
    "poll after that is fixed reads its orders again"
)


class OperationRate(BaseModel):
    """A usage plan: ``rate`` requests per second refilling a bucket of ``burst``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)


class AmazonRateLimits(BaseModel):
    """Default usage plans from the SP-API models (Orders v0, Listings Items 2021-08-01,
    Tokens 2021-03-01)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    get_orders: OperationRate = OperationRate(rate=0.0167, burst=20)
    get_order: OperationRate = OperationRate(rate=0.5, burst=30)
    get_order_items: OperationRate = OperationRate(rate=0.5, burst=30)
    get_order_address: OperationRate = OperationRate(rate=0.5, burst=30)
    confirm_shipment: OperationRate = OperationRate(rate=2.0, burst=10)
    patch_listings_item: OperationRate = OperationRate(rate=5.0, burst=10)
    create_restricted_data_token: OperationRate = OperationRate(rate=1.0, burst=10)


def _check_url(value: str) -> str:
    return check_base_url(value, "the URL").rstrip("/")


class AmazonConfig(BaseModel):
    """Which Amazon region and marketplaces, and how stock and shipments are sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    marketplace_ids: tuple[str, ...] = Field(
        min_length=1, max_length=50, description="Marketplace ids to poll, e.g. ATVPDKIKX0DER"
    )
    seller_id: str | None = Field(
        default=None, description="Merchant token (seller id); needed to push stock"
    )
    api_base_url: str = Field(
        default="https://sellingpartnerapi-na.amazon.com",
        description="SP-API regional endpoint (-na, -eu or -fe)",
    )
    token_url: str = Field(default="https://api.amazon.com/auth/o2/token")
    page_size: int = Field(default=100, ge=1, le=100, description="getOrders MaxResultsPerPage")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    listing_product_type: str = Field(
        default="PRODUCT", min_length=1, description="productType sent with listing patches"
    )
    fulfillment_channel_code: str = Field(default="DEFAULT", min_length=1)
    stock_patch_op: Literal["merge", "replace"] = Field(
        default="merge",
        description="merge keeps handling time and restock date; replace overwrites them",
    )
    carrier_codes: dict[str, str] = Field(
        default_factory=dict,
        description="omniroute carrier name → Amazon carrierCode; others are sent as 'Others'",
    )
    rate_limits: AmazonRateLimits = AmazonRateLimits()

    @field_validator("api_base_url", "token_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("marketplace_ids")
    @classmethod
    def _marketplaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(item.strip() for item in value)
        if not all(cleaned):
            raise ValueError("marketplace ids must not be blank")
        return cleaned


class AmazonSecrets(BaseModel):
    """The app's LWA credentials and the seller's refresh token (from authorising the app)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lwa_client_id: SecretStr = Field(min_length=1)
    lwa_client_secret: SecretStr = Field(min_length=1)
    refresh_token: SecretStr = Field(min_length=1)


class AmazonConnector:
    """Polls one seller's SP-API orders and sends shipments and stock back.

    Instances are long-lived and thread-safe: HTTP clients are created on first use, the
    access token is cached until shortly before it expires, and buckets are shared.
    """

    kind: ClassVar[str] = "amazon_sp"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ORDER_POLLING,
            Capability.ORDER_FETCH,
            Capability.FULFILMENT_PUSH,
            Capability.STOCK_PUSH,
        }
    )
    config_model: ClassVar[type[BaseModel]] = AmazonConfig
    secrets_model: ClassVar[type[BaseModel]] = AmazonSecrets

    def __init__(
        self,
        config: AmazonConfig | Mapping[str, Any],
        secrets: AmazonSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = AmazonConfig.model_validate(config)
        self._secrets = AmazonSecrets.model_validate(secrets)
        self._runtime = runtime
        self._transport = transport
        self._sleep = sleep
        self._lock = threading.Lock()
        self._http: list[httpx.Client] = []
        self._api: SpApiClient | None = None
        self._lwa: LwaClient | None = None
        self._guard = UrlGuard(allow_private=runtime.allow_private_urls, clock=clock)
        self._clock = clock
        self._tokens = AccessTokenCache(self._fetch_access_token, clock=clock)
        self._address_tokens = AccessTokenCache(self._fetch_address_token, clock=clock)
        limits = self.config.rate_limits
        self._buckets: dict[str, TokenBucket] = {  # one per AmazonRateLimits field
            name: TokenBucket(plan.rate, plan.burst, clock=clock, sleep=sleep)
            for name, plan in limits
        }

    @property
    def rate_limits(self) -> Mapping[str, TokenBucket]:
        """One bucket per SP-API operation."""
        return dict(self._buckets)

    # --- orders in ----------------------------------------------------------------------------

    def pull_orders(
        self, updated_after: datetime, page_token: str | None, *, now: datetime
    ) -> OrderPage:
        """One getOrders page, each paid order with all its items; Pending ones are skipped.

        An order that cannot be read (no AmazonOrderId, a bad LastUpdateDate, items or an
        address Amazon refuses for it alone) is rejected on its own: kept raw by the core,
        while the rest of the page comes in. A transient failure still fails the page.
        """
        after = min(aware(updated_after), aware(now) - RECENT_WINDOW)
        response = self._call(
            "get_orders",
            lambda api, token: api.get_orders(
                token,
                marketplace_ids=self.config.marketplace_ids,
                last_updated_after=iso_utc(after),
                max_results=self.config.page_size,
                next_token=page_token,
            ),
        )[0]
        body = payload_of(response, "getOrders")
        orders = body.get("Orders")
        if not isinstance(orders, list):
            raise PayloadError("getOrders answered without a payload.Orders list")
        paid = [o for o in orders if not (isinstance(o, Mapping) and mapping.is_unpaid(o))]
        pulled, rejected = read_records(paid, self._with_items, id_key="AmazonOrderId")
        return OrderPage(pulled, next_token(body), rejected)

    def read_polled(self, record: Any) -> ChannelOrder:
        """A stored poll record as ``pull_orders`` stored it: an order with its items (and
        address). A raw getOrders record is one the poll rejected; it is read again only
        when a later poll lists a corrected version (reading it needs Amazon's API)."""
        if not (isinstance(record, Mapping) and isinstance(record.get("order"), Mapping)):
            raise PayloadError(
                "a getOrders record the poll could not read, kept as Amazon listed it; a "
                "corrected version comes in with a later poll"
            )
        order = record["order"]
        order_id = order.get("AmazonOrderId")
        if not isinstance(order_id, str) or not order_id:
            raise PayloadError("an SP-API order has no AmazonOrderId")
        updated = parse_time(order.get("LastUpdateDate"), f"order {order_id} LastUpdateDate")
        return ChannelOrder(external_id=order_id, updated_at=updated, payload=record)

    def fetch_order(self, external_id: str) -> ChannelOrder:
        """One order by its AmazonOrderId, with all its items."""
        response = self._call("get_order", lambda api, token: api.get_order(token, external_id))[0]
        return self._with_items(payload_of(response, "getOrder"))

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """What ``pull_orders``/``fetch_order`` stored, as a canonical order."""
        return mapping.to_canonical(order)

    def _with_items(self, order: Any) -> ChannelOrder:
        """The order with all its items and, if the seller ships it, its shipping address."""
        order = as_object(order)
        order_id = order.get("AmazonOrderId")
        if not isinstance(order_id, str) or not order_id:
            raise PayloadError("an SP-API order has no AmazonOrderId")
        updated = parse_time(order.get("LastUpdateDate"), f"order {order_id} LastUpdateDate")
        items = self._all_items(order_id)
        if not mapping.needs_address(order):
            payload = mapping.build_payload(order, items)
        else:
            try:
                address = self._shipping_address(order_id)
            except PayloadError as exc:  # this order's alone: kept, its mapping says why
                problem = {"reason": exc.reason, "message": str(exc)}
                payload = mapping.build_payload(order, items, address_error=problem)
            else:
                payload = mapping.build_payload(order, items, address=address)
        return ChannelOrder(external_id=order_id, updated_at=updated, payload=payload)

    def _shipping_address(self, order_id: str) -> dict[str, Any]:
        """getOrderAddress with the RDT; ``PayloadError`` when Amazon refuses this order alone.

        A transient failure propagates (the page is read again later), and so does a refusal
        that is not about this order: without the role every order would fail the same way.
        """
        try:
            response = self._call(
                "get_order_address",
                lambda api, token: api.get_order_address(token, order_id),
                tokens=self._address_tokens,
            )[0]
        except RefusedToken as exc:
            raise PermanentError(
                f"SP-API refused the Restricted Data Token for getOrderAddress twice ({exc}); "
                f"{ADDRESS_ROLE_HINT}",
                reason="rdt_refused",
            ) from exc
        except PermanentError as exc:
            if exc.reason in ONE_ORDER_REFUSALS:
                raise PayloadError(str(exc), reason=exc.reason) from exc
            if exc.reason == "http_403":
                raise PermanentError(f"{exc}; {ADDRESS_ROLE_HINT}", reason=exc.reason) from exc
            raise
        return order_address_of(response, order_id)

    def _all_items(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_ITEM_PAGES):
            body = self._item_page(order_id, token)
            page = body.get("OrderItems")
            if not isinstance(page, list):
                raise PayloadError(f"getOrderItems for {order_id} has no OrderItems list")
            items.extend(as_object(item) for item in page)
            token = next_token(body)
            if token is None:
                return items
        raise PayloadError(f"order {order_id} has more than {MAX_ITEM_PAGES} pages of items")

    def _item_page(self, order_id: str, page_token: str | None) -> dict[str, Any]:
        response = self._call(
            "get_order_items",
            lambda api, token: api.get_order_items(token, order_id, next_token=page_token),
        )[0]
        return payload_of(response, "getOrderItems")

    # --- shipments and stock out --------------------------------------------------------------

    def push_fulfilment(self, notice: FulfilmentNotice) -> PushReceipt:
        """confirmShipment for one package; the same shipment always gets the same package id."""
        marketplace = self._marketplace_of(notice.external_order_id)
        body = mapping.shipment_confirmation_body(notice, marketplace, self.config.carrier_codes)
        _, attempts = self._call(
            "confirm_shipment",
            lambda api, token: api.confirm_shipment(token, notice.external_order_id, body),
            write=True,
        )
        package = body["packageDetail"]["packageReferenceId"]
        return PushReceipt(external_ref=str(package), attempts=attempts)

    def push_stock(self, updates: Sequence[StockUpdate], *, idempotency_key: str) -> PushReceipt:
        """One listings patch per SKU setting an absolute quantity, so a replay is harmless.

        The Listings Items API takes no idempotency key; ``idempotency_key`` is not sent.
        """
        seller_id = self.config.seller_id
        if updates and not seller_id:
            raise PermanentError(
                "set seller_id (the merchant token) in the Amazon connector's config to push stock",
                reason="config_incomplete",
            )
        submissions: list[str] = []
        attempts = 0
        for update in updates:
            submission, made = self._set_quantity(str(seller_id), update)
            submissions.append(submission)
            attempts += made
        return PushReceipt(external_ref=",".join(submissions) or None, attempts=attempts)

    def _set_quantity(self, seller_id: str, update: StockUpdate) -> tuple[str, int]:
        body = mapping.listing_quantity_patch(
            update,
            product_type=self.config.listing_product_type,
            channel_code=self.config.fulfillment_channel_code,
            op=self.config.stock_patch_op,
        )
        response, made = self._call(
            "patch_listings_item",
            lambda api, token: api.patch_listings_item(
                token,
                seller_id=seller_id,
                sku=update.channel_ref,
                marketplace_ids=self.config.marketplace_ids,
                body=body,
            ),
            write=True,
        )
        return accepted_submission(response, update.channel_ref), made

    def _marketplace_of(self, order_id: str) -> str:
        if len(self.config.marketplace_ids) == 1:
            return self.config.marketplace_ids[0]
        response = self._call("get_order", lambda api, token: api.get_order(token, order_id))[0]
        marketplace = payload_of(response, "getOrder").get("MarketplaceId")
        if not isinstance(marketplace, str) or not marketplace:
            raise PayloadError(f"getOrder for {order_id} has no MarketplaceId")
        return marketplace

    # --- transport ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close pooled connections; a later call opens new clients."""
        with self._lock:
            clients, self._http, self._api, self._lwa = self._http, [], None, None
        for client in clients:
            client.close()

    def _call(
        self,
        operation: str,
        send: Callable[[SpApiClient, str], httpx.Response],
        *,
        tokens: AccessTokenCache | None = None,
        write: bool = False,
    ) -> tuple[httpx.Response, int]:
        """Send one operation paced by its bucket; refresh the token once if it was refused.

        ``tokens`` hands out the ``x-amz-access-token``: the LWA token unless given (an RDT).
        A ``write`` (an outbox delivery) reaches Amazon at most once per token here: the
        outbox row's attempts are its retries.
        """
        self._check_targets()
        api = self._clients()[0]
        bucket = self._buckets[operation]
        tokens = tokens or self._tokens
        made = 0

        def attempt(token: str) -> httpx.Response:
            nonlocal made
            bucket.acquire()
            made += 1
            return send(api, token)

        for last_round in (False, True):
            token = tokens.get()
            try:
                response, _ = send_with_retry(
                    functools.partial(attempt, token),
                    attempts=self._runtime.retry_attempts,
                    max_wait=self._runtime.retry_max_wait,
                    sleep=self._sleep,
                    check=lambda response: check_sp_response(response, bucket),
                    repeat_sent=not write,
                )
            except RefusedToken:
                tokens.invalidate(token)
                if last_round:
                    raise
                continue
            return response, made
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_access_token(self) -> tuple[str, float]:
        lwa = self._clients()[1]
        secrets = self._secrets
        response, _ = send_with_retry(
            lambda: lwa.refresh_access_token(
                refresh_token=secrets.refresh_token.get_secret_value(),
                client_id=secrets.lwa_client_id.get_secret_value(),
                client_secret=secrets.lwa_client_secret.get_secret_value(),
            ),
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            sleep=self._sleep,
            check=check_lwa_response,
        )
        return token_of(response)

    def _fetch_address_token(self) -> tuple[str, float]:
        """A Restricted Data Token for getOrderAddress on any order (the generic path)."""
        try:
            response = self._call(
                "create_restricted_data_token",
                lambda api, token: api.create_restricted_data_token(token, [ADDRESS_RESOURCE]),
            )[0]
        except RefusedToken as exc:
            # The LWA token, refused twice: raised as a plain PermanentError, so that the
            # getOrderAddress call waiting for this RDT does not take it for a refused RDT.
            raise PermanentError(str(exc), reason=exc.reason) from exc
        except PermanentError as exc:
            if not exc.reason.startswith("http_"):
                raise  # the refresh token or the client: its own message says what to do
            raise PermanentError(
                f"the Tokens API refused a Restricted Data Token for getOrderAddress "
                f"({exc.reason}: {exc}); {ADDRESS_ROLE_HINT}",
                reason="rdt_refused",
            ) from exc
        return restricted_token_of(response)

    def _check_targets(self) -> None:
        self._guard.check(self.config.api_base_url, self.config.token_url)

    def _clients(self) -> tuple[SpApiClient, LwaClient]:
        with self._lock:
            if self._api is None or self._lwa is None:
                api_http = build_client(
                    timeout=self.config.timeout_seconds,
                    base_url=self.config.api_base_url,
                    transport=self._transport,
                )
                lwa_http = build_client(
                    timeout=self.config.timeout_seconds, transport=self._transport
                )
                self._http = [api_http, lwa_http]
                self._api = SpApiClient(api_http)
                self._lwa = LwaClient(lwa_http, token_url=self.config.token_url)
            return self._api, self._lwa
