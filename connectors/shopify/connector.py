"""The Shopify connector kind: order webhooks and polling in, fulfillments and stock out.

Everything beyond webhooks calls the REST Admin API with ``X-Shopify-Access-Token``:

- polling: ``GET /orders.json?status=any&updated_at_min=..&limit=250&order=updated_at asc``,
  then the ``page_info`` cursor of the ``Link: <...>; rel="next"`` header;
- fetch: ``GET /orders/{id}.json``;
- fulfilment: ``GET /orders/{id}/fulfillments.json`` and ``.../fulfillment_orders.json``, then
  ``POST /fulfillments.json`` per assigned location;
- stock (``channel_ref`` = inventory item id), by compare-and-set through GraphQL: one query
  reads ``available`` at the location for the batch, one ``inventorySetQuantities`` mutation
  sets each figure less the units Shopify sold that omniroute has not taken in yet, compared
  against what was read (see ``connectors.shopify.inventory``); with
  ``inventory_compare_and_set`` off, ``POST /inventory_levels/set.json`` per update instead.

Shopify takes no idempotency key on these writes. A fulfilment is made safe to repeat by
reading first: quantities that a live fulfillment with the same tracking number already carries
are not sent again. The ``POST`` is sent once per call (a retry after a timeout could fulfil
twice); its failure goes back to the caller, whose retry reads Shopify's state again. Without a
tracking number, a shipment whose lines are all in closed fulfillment orders counts as already
reported; any other shortfall is a ``PermanentError`` for ops to look at, never a guess.
A stock set is an absolute value and the GraphQL one is compared with what was read, so
repeating either is harmless; a compare that fails because a sale moved the figure is read
again and retried, three rounds at most, then handed back as a ``TransientError``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from omniroute.connectors.base import (
    CancelNotice,
    Capability,
    ChannelOrder,
    ChannelReturn,
    ConnectorRuntime,
    FulfilmentNotice,
    OrderPage,
    PayloadError,
    PermanentError,
    PushReceipt,
    ReturnNotice,
    RiskVerdict,
    StockUpdate,
    TransientError,
    WebhookEvent,
    enabled_capabilities,
    read_records,
)
from omniroute.connectors.http import (
    UrlGuard,
    build_client,
    check_base_url,
    parse_retry_after,
    raise_for_status,
    send_with_retry,
)
from omniroute.connectors.ratelimit import TokenBucket
from omniroute.connectors.shopify import (
    graphql,
    inventory,
    mapping,
    returns,
    risk,
    tracking,
    webhooks,
)
from omniroute.connectors.shopify.client import MAX_PAGE_SIZE, ShopifyAdminClient
from omniroute.connectors.tracking import TrackingNotice

__all__ = ["ShopifyConfig", "ShopifyConnector", "ShopifySecrets"]

ACCESS_TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 - a header name, not a secret
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
#: Pause after a 429 that came without Retry-After (Shopify normally sends one).
DEFAULT_THROTTLE_PAUSE = 1.0
#: Read-and-set rounds per batch before a figure that keeps moving is left for a later try.
CAS_ROUNDS = 3
_DENIED_HINT = (
    "grant the Shopify app read_inventory and write_inventory, or set inventory_compare_and_set "
    "to false in the connector's config to set stock without reading it first"
)

_RISK_DENIED_HINT = (
    "grant the Shopify app read_orders (API version 2024-04 or later), or set "
    "fetch_risk_assessment to false in the connector's config"
)

_T = TypeVar("_T")
_DOMAIN_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
_VERSION_PATTERN = re.compile(r"\d{4}-\d{2}|unstable")
_CALL_LIMIT_PATTERN = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_HINTS = {
    401: "check the access_token secret (Admin API access token of the Shopify app)",
    403: "grant the Shopify app the access scope this call needs "
    "(read_orders, write_merchant_managed_fulfillment_orders, read_inventory, write_inventory)",
    404: "check the id and the shop's Admin API base URL",
}


class ShopifyConfig(BaseModel):
    """Where the shop is and how to treat it; only needed for calls to the Admin API."""

    model_config = ConfigDict(extra="forbid")

    shop_domain: str | None = Field(
        default=None, description="The shop's myshopify.com domain, e.g. example.myshopify.com"
    )
    api_base_url: str | None = Field(
        default=None,
        description="Admin API root; default https://{shop_domain}/admin/api/{api_version}",
    )
    api_version: str = Field(
        default="2024-07",
        description="Admin API version; also picks the compare field of the stock mutation",
    )
    location_id: int | None = Field(
        default=None, gt=0, description="Shopify location that stock levels are set at"
    )
    inventory_compare_and_set: bool = Field(
        default=True,
        description="Read Shopify's available first and set stock by compare-and-set "
        "(GraphQL, needs read_inventory), so sales omniroute has not taken in yet are not "
        "overwritten; off: set it blindly through REST inventory_levels/set",
    )
    fetch_risk_assessment: bool = Field(
        default=False,
        description="Read Shopify's fraud risk of each order before it is routed (GraphQL "
        "Order.risk, API 2024-04 or later, scope read_orders; one call per order version, paced "
        "by the shop's bucket) so the release policy's hold_risk_levels can hold it; subscribe "
        "orders/risk_assessment_changed so a pending assessment is read again when it ends",
    )
    notify_customer: bool = Field(
        default=False, description="Let Shopify e-mail the customer when a fulfillment is made"
    )
    rate_limit_per_second: float = Field(
        default=2.0, gt=0, le=100, description="REST leak rate: 2/s standard, 20/s Shopify Plus"
    )
    rate_limit_burst: int = Field(
        default=40, ge=1, le=4000, description="REST bucket size: 40 standard, 400 Shopify Plus"
    )
    call_limit_headroom: int = Field(
        default=4,
        ge=0,
        description=f"Slow down once {CALL_LIMIT_HEADER} shows fewer free slots than this",
    )

    @field_validator("shop_domain")
    @classmethod
    def _check_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _DOMAIN_PATTERN.fullmatch(value):
            raise ValueError("shop_domain must be a bare host name such as example.myshopify.com")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_base_url(value, "api_base_url").rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _VERSION_PATTERN.fullmatch(value):
            raise ValueError("api_version must look like 2024-07 (or be 'unstable')")
        return value

    def admin_base_url(self) -> str:
        """The Admin API root all REST paths hang from; ``PermanentError`` if unknown."""
        if self.api_base_url:
            return self.api_base_url
        if self.shop_domain:
            return f"https://{self.shop_domain}/admin/api/{self.api_version}"
        raise PermanentError(
            "the Shopify connector has neither api_base_url nor shop_domain in its config; "
            "set one of them to call the Admin API",
            reason="not_configured",
        )


class ShopifySecrets(BaseModel):
    """The app's webhook signing secret and, for Admin API calls, its access token."""

    model_config = ConfigDict(extra="forbid")

    webhook_secret: SecretStr = Field(min_length=1)
    access_token: SecretStr | None = None


class ShopifyConnector:
    """One Shopify shop: ``orders/*`` webhooks, order polling and fetch, fulfillments, stock.

    Instances are long-lived and thread-safe; the HTTP client is built on first API use, so the
    webhook path never pays for it.
    """

    kind: ClassVar[str] = "shopify"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ORDER_WEBHOOKS,
            Capability.ORDER_POLLING,
            Capability.ORDER_FETCH,
            Capability.FULFILMENT_PUSH,
            Capability.STOCK_PUSH,
            Capability.CANCEL_PUSH,
            Capability.RISK_ASSESSMENT,
            Capability.TRACKING_PUSH,
            Capability.RETURN_PUSH,
            Capability.RETURN_WEBHOOKS,
        }
    )
    config_model: ClassVar[type[BaseModel]] = ShopifyConfig
    secrets_model: ClassVar[type[BaseModel]] = ShopifySecrets

    def __init__(
        self,
        config: ShopifyConfig | Mapping[str, Any],
        secrets: ShopifySecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = ShopifyConfig.model_validate(config)
        self.secrets = ShopifySecrets.model_validate(secrets)
        self.runtime = runtime
        self._transport = transport
        self._bucket = TokenBucket(
            self.config.rate_limit_per_second,
            self.config.rate_limit_burst,
            clock=clock,
            sleep=sleep,
        )
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._api: ShopifyAdminClient | None = None
        self._guard = UrlGuard(allow_private=runtime.allow_private_urls)
        self.enabled_capabilities = self._configured_capabilities()

    def _configured_capabilities(self) -> frozenset[Capability]:
        """Webhooks always; Admin API work only with a token and a shop; stock with a location."""
        token = self.secrets.access_token
        has_api = bool(token and token.get_secret_value()) and bool(
            self.config.api_base_url or self.config.shop_domain
        )
        enabled = {Capability.ORDER_WEBHOOKS, Capability.RETURN_WEBHOOKS}
        if has_api:
            enabled |= {
                Capability.ORDER_POLLING,
                Capability.ORDER_FETCH,
                Capability.FULFILMENT_PUSH,
                Capability.CANCEL_PUSH,
                Capability.TRACKING_PUSH,
                Capability.RETURN_PUSH,
            }
            if self.config.location_id is not None:
                enabled.add(Capability.STOCK_PUSH)
            if self.config.fetch_risk_assessment:
                enabled.add(Capability.RISK_ASSESSMENT)
        return frozenset(enabled)

    # --- webhooks (unchanged hot path) --------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        secret = self.secrets.webhook_secret.get_secret_value().encode("utf-8")
        webhooks.verify(secret, body, webhooks.header(headers, webhooks.HMAC_HEADER))

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return webhooks.dedupe_key(headers, body)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return webhooks.parse(headers, body)

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return webhooks.kept_headers(headers)

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None:
        return webhooks.topic(headers)

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        return mapping.to_canonical(order)

    def return_event(
        self, topic: str | None, headers: Mapping[str, str], body: bytes
    ) -> ChannelReturn | None:
        """A ``returns/*`` delivery's return (``connectors.shopify.returns``)."""
        return webhooks.return_event(topic, headers, body)

    # --- Admin API ----------------------------------------------------------------------------

    @property
    def rate_limits(self) -> Mapping[str, TokenBucket]:
        """The shop's REST Admin API leaky bucket (one per shop and app); it paces GraphQL too."""
        return {"admin_api": self._bucket}

    def pull_orders(
        self, updated_after: datetime, page_token: str | None, *, now: datetime
    ) -> OrderPage:
        """One page of orders changed at or after ``updated_after``, oldest change first; an
        entry without an id or a valid ``updated_at`` is handed back in ``rejected``."""
        if page_token is None:
            params = mapping.first_page_params(updated_after, MAX_PAGE_SIZE)
        else:
            params = mapping.next_page_params(page_token, MAX_PAGE_SIZE)
        response, _ = self._send(lambda api: api.list_orders(params))
        entries = _json_object(response, "order list").get("orders")
        if not isinstance(entries, list):
            raise PayloadError("Shopify's order list has no 'orders' array")
        orders, rejected = read_records(entries, mapping.channel_order)
        return OrderPage(orders, mapping.next_page_info(response.links), rejected)

    def read_polled(self, record: Any) -> ChannelOrder:
        """One order-list entry as ``pull_orders`` reads it (``PayloadError`` if it cannot)."""
        return mapping.channel_order(record)

    def check_connection(self) -> str:
        """One order-list read of one order's id: the token and API version work."""
        if Capability.ORDER_POLLING not in enabled_capabilities(self):
            return "webhooks only (no Admin API token): nothing to call"
        self._send(
            lambda api: api.list_orders({"limit": 1, "status": "any", "fields": "id"}), attempts=1
        )
        return "Shopify's Admin API answered: orders can be read"

    def fetch_order(self, external_id: str) -> ChannelOrder:
        """The current version of one order (``GET /orders/{id}.json``)."""
        order_id = mapping.shopify_id(external_id, "order id")
        response, _ = self._send(lambda api: api.get_order(order_id))
        body = _json_object(response, "order")
        return mapping.channel_order(webhooks.extract_order(body))

    def assess_risk(self, external_id: str) -> RiskVerdict:
        """Shopify's fraud risk verdict on one order (``connectors.shopify.risk``)."""
        order_id = mapping.shopify_id(external_id, "order id")
        data, _ = self._graphql(risk.request_body(order_id), denied_hint=_RISK_DENIED_HINT)
        return risk.verdict(data, order_id)

    def cancel_order(self, notice: CancelNotice) -> PushReceipt:
        """Cancel the order in Shopify, unless it already is (cancelled is final there)."""
        order_id = mapping.shopify_id(notice.external_order_id, "order id")
        response, attempts = self._send(lambda api: api.get_order(order_id))
        order = webhooks.extract_order(_json_object(response, "order"))
        if order.get("cancelled_at"):
            return PushReceipt(external_ref=None, attempts=attempts)
        body = {"reason": "other", "email": self.config.notify_customer}
        _, more = self._send(lambda api: api.cancel_order(order_id, body), attempts=1)
        return PushReceipt(external_ref=None, attempts=attempts + more)

    def push_fulfilment(self, notice: FulfilmentNotice) -> PushReceipt:
        """Create the fulfillment(s) of one shipment, skipping what Shopify already has."""
        order_id = mapping.shopify_id(notice.external_order_id, "order id")
        wanted, existing, fulfillments, attempts = self._unreported(order_id, notice)
        if not wanted:
            return PushReceipt(external_ref=existing, attempts=attempts)
        response, made = self._send(lambda api: api.list_fulfillment_orders(order_id))
        attempts += made
        fulfillment_orders = _json_list(response, "fulfillment_orders")
        fulfilled: Mapping[int, int] = {}
        if _shaped(lambda: mapping.lacks_fulfillable_quantity(fulfillment_orders)):
            if fulfillments is None:
                fulfillments, made = self._fulfillments(order_id)
                attempts += made
            fulfilled = _shaped(lambda: mapping.fulfilled_quantities(fulfillments or ()))
        allocations, short = _shaped(
            lambda: mapping.allocate(fulfillment_orders, wanted, fulfilled)
        )
        if short:
            if _shipped_before(notice, fulfillment_orders, wanted, short):
                return PushReceipt(external_ref=None, attempts=attempts)
            raise _shortfall(notice, short, wanted)
        refs: list[str] = []
        for body in mapping.fulfillment_bodies(
            allocations, notice, notify_customer=self.config.notify_customer
        ):
            created, made = self._create_fulfillment(body)
            attempts += made
            refs.append(created)
        return PushReceipt(external_ref=",".join(refs), attempts=attempts)

    def push_return(self, notice: ReturnNotice) -> PushReceipt:
        """The RMA's step on the Shopify return (``connectors.shopify.returns``)."""

        def call(body: Mapping[str, Any], write: bool) -> tuple[dict[str, Any], int]:
            return self._graphql(body, write=write, denied_hint=returns.DENIED_HINT)

        return returns.push_return(call, notice, notify_customer=self.config.notify_customer)

    def push_tracking(self, notice: TrackingNotice) -> PushReceipt:
        """A fulfillment event with the shipment's new status (``connectors.shopify.tracking``)."""
        return tracking.push_tracking(lambda call, write: self._send(call, write=write), notice)

    def push_stock(self, updates: Sequence[StockUpdate], *, idempotency_key: str) -> PushReceipt:
        """Set ``available`` of each inventory item at the configured location."""
        location_id = self.config.location_id
        if location_id is None:
            raise PermanentError(
                "set location_id in the Shopify connector's config: the Shopify location "
                "whose stock omniroute sets",
                reason="not_configured",
            )
        if self.config.inventory_compare_and_set:
            targets = [inventory.Target.of(update) for update in updates]  # all checked first
            attempts, applied = 0, {}
            for chunk in inventory.chunks(targets):
                made, values = self._compare_and_set(chunk, location_id, idempotency_key)
                attempts += made
                applied.update({str(item): value for item, value in values.items()})
            return PushReceipt(external_ref=None, attempts=attempts, applied=applied)
        bodies = [mapping.inventory_set_body(update, location_id) for update in updates]
        attempts = 0
        for body in bodies:
            _, made = self._send(_set_inventory_level(body), write=True)
            attempts += made
        return PushReceipt(external_ref=None, attempts=attempts)

    def close(self) -> None:
        """Close pooled connections; a later call opens a new client."""
        with self._lock:
            http, self._http, self._api = self._http, None, None
        if http is not None:
            http.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _compare_and_set(
        self, targets: Sequence[inventory.Target], location_id: int, idempotency_key: str
    ) -> tuple[int, Mapping[int, int]]:
        """Read, then set by compare-and-set, until nothing moved in between; the requests made
        and the figure Shopify now holds per inventory item."""
        attempts = 0
        for _ in range(CAS_ROUNDS):
            data, made = self._graphql(inventory.read_body(targets, location_id))
            attempts += made
            current = inventory.read_available(data, targets, location_id)
            request = inventory.set_request(
                targets,
                current,
                location_id=location_id,
                api_version=self.config.api_version,
                idempotency_key=idempotency_key,
            )
            if request.body is None:  # Shopify already shows every figure
                return attempts, request.values
            # Compare-and-set (keyed from API 2026-01): a repeat cannot apply twice, so the
            # mutation is retried in the call like a read.
            data, made = self._graphql(request.body)
            attempts += made
            if not inventory.is_stale(data):
                return attempts, request.values
        skus = ", ".join(target.sku for target in targets)
        raise TransientError(
            f"Shopify's available of {skus} changed between read and set {CAS_ROUNDS} times "
            "(sales in progress); the push is left for a later try",
            reason="compare_stale",
        )

    def _graphql(
        self, body: Mapping[str, Any], *, write: bool = False, denied_hint: str = _DENIED_HINT
    ) -> tuple[dict[str, Any], int]:
        """``data`` of one GraphQL call, paced by the shop's bucket; throttles are retried."""

        def check(response: httpx.Response) -> None:
            _check_response(response)
            try:
                graphql.check(graphql.envelope(response), denied_hint=denied_hint)
            except TransientError as exc:
                pause = exc.retry_after
                self._bucket.hold_off(DEFAULT_THROTTLE_PAUSE if pause is None else pause)
                raise

        response, made = self._send(lambda api: api.graphql(body), check=check, write=write)
        return graphql.check(graphql.envelope(response), denied_hint=denied_hint), made

    def _unreported(
        self, order_id: int, notice: FulfilmentNotice
    ) -> tuple[dict[int, int], str | None, list[Mapping[str, Any]] | None, int]:
        """Quantities still to report, the fulfillment already carrying them, the order's
        fulfillments (None: not read, as a shipment without tracking needs none), requests."""
        wanted = mapping.requested_quantities(notice)
        tracking_number = notice.tracking_number
        if not tracking_number:
            return wanted, None, None, 0
        fulfillments, attempts = self._fulfillments(order_id)
        done, existing = _shaped(lambda: mapping.already_reported(fulfillments, tracking_number))
        return mapping.subtract(wanted, done), existing, fulfillments, attempts

    def _fulfillments(self, order_id: int) -> tuple[list[Mapping[str, Any]], int]:
        response, attempts = self._send(lambda api: api.list_fulfillments(order_id))
        return _json_list(response, "fulfillments"), attempts

    def _create_fulfillment(self, body: Mapping[str, Any]) -> tuple[str, int]:
        # No idempotency key here: a repeat after a timeout or 5xx could fulfil twice, so the
        # POST is sent once and a failure goes back to the caller, whose retry reads again.
        response, made = self._send(lambda api: api.create_fulfillment(body), attempts=1)
        fulfillment = _json_object(response, "fulfillment").get("fulfillment")
        if not isinstance(fulfillment, dict) or fulfillment.get("id") is None:
            raise PermanentError(
                "Shopify answered the fulfillment without its id", reason="unexpected_response"
            )
        return str(fulfillment["id"]), made

    def _send(
        self,
        call: Callable[[ShopifyAdminClient], httpx.Response],
        *,
        attempts: int | None = None,
        check: Callable[[httpx.Response], None] | None = None,
        write: bool = False,
    ) -> tuple[httpx.Response, int]:
        """One call paced by the shop's bucket. A ``write`` (an outbox delivery) reaches
        Shopify at most once here: the outbox row's attempts are its retries."""
        self._check_target()
        api = self._client()

        def paced() -> httpx.Response:
            self._bucket.acquire()
            response = call(api)
            self._observe(response)
            return response

        return send_with_retry(
            paced,
            attempts=attempts or self.runtime.retry_attempts,
            max_wait=self.runtime.retry_max_wait,
            check=check or _check_response,
            repeat_sent=not write,
        )

    def _observe(self, response: httpx.Response) -> None:
        """Pace by what Shopify says: hold off on 429, slow down when its bucket is nearly full."""
        if response.status_code == 429:
            pause = parse_retry_after(response.headers.get("Retry-After"))
            self._bucket.hold_off(DEFAULT_THROTTLE_PAUSE if pause is None else pause)
            return
        usage = _call_limit(response.headers.get(CALL_LIMIT_HEADER))
        if usage is None:
            return
        used, size = usage
        over = used - (size - self.config.call_limit_headroom)
        if over > 0:
            self._bucket.hold_off(over / self.config.rate_limit_per_second)

    def _check_target(self) -> None:
        base = self.config.admin_base_url()
        if self.secrets.access_token is None or not self.secrets.access_token.get_secret_value():
            raise PermanentError(
                "set the access_token secret of the Shopify connector (the app's Admin API "
                "access token) to call the Admin API",
                reason="not_configured",
            )
        self._guard.check(base)

    def _client(self) -> ShopifyAdminClient:
        with self._lock:
            if self._api is None:
                token = self.secrets.access_token
                headers = {ACCESS_TOKEN_HEADER: token.get_secret_value()} if token else {}
                headers["Accept"] = "application/json"
                self._http = build_client(
                    timeout=self.runtime.http_timeout,
                    base_url=self.config.admin_base_url(),
                    headers=headers,
                    transport=self._transport,
                )
                self._api = ShopifyAdminClient(self._http)
            return self._api


def _check_response(response: httpx.Response) -> None:
    """``raise_for_status`` with a hint on what to fix for the usual permanent answers."""
    try:
        raise_for_status(response)
    except PermanentError as exc:
        hint = _HINTS.get(response.status_code)
        if hint is None:
            raise
        raise PermanentError(f"{exc}; {hint}", reason=exc.reason) from None


def _call_limit(value: str | None) -> tuple[int, int] | None:
    """``(used, size)`` from ``X-Shopify-Shop-Api-Call-Limit: 32/40``; None if absent/odd."""
    if value is None:
        return None
    match = _CALL_LIMIT_PATTERN.fullmatch(value)
    if match is None or int(match.group(2)) == 0:
        return None
    return int(match.group(1)), int(match.group(2))


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise PayloadError(f"Shopify's {what} response is not JSON") from None
    if not isinstance(body, dict):
        raise PayloadError(f"Shopify's {what} response is not a JSON object")
    return body


def _json_list(response: httpx.Response, key: str) -> list[Mapping[str, Any]]:
    entries = _json_object(response, key).get(key)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PayloadError(f"Shopify's response has no '{key}' array of objects")
    return entries


def _shaped(compute: Callable[[], _T]) -> _T:
    """Run ``compute`` over a Shopify response; a missing or odd field is a payload error."""
    try:
        return compute()
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"Shopify's response has an unexpected shape: {exc!r}") from None


def _shipped_before(
    notice: FulfilmentNotice,
    fulfillment_orders: Sequence[Mapping[str, Any]],
    wanted: Mapping[int, int],
    short: Mapping[int, int],
) -> bool:
    """Without a tracking number, all lines sitting in closed fulfillment orders means done."""
    if notice.tracking_number or short != wanted:
        return False
    return _shaped(lambda: mapping.only_in_closed(fulfillment_orders, short))


def _set_inventory_level(body: Mapping[str, Any]) -> Callable[[ShopifyAdminClient], httpx.Response]:
    return lambda api: api.set_inventory_level(body)


def _shortfall(
    notice: FulfilmentNotice, short: Mapping[int, int], wanted: Mapping[int, int]
) -> PermanentError:
    lines = ", ".join(
        f"line item {line} ({qty} of {wanted[line]} not fulfillable)" for line, qty in short.items()
    )
    return PermanentError(
        f"Shopify order {notice.external_order_id} cannot take shipment {notice.shipment_ref}: "
        f"{lines}. The items may already be fulfilled in Shopify, or the order is cancelled or "
        "on hold; check the order in the Shopify admin, then resolve or redrive this shipment",
        reason="not_fulfillable",
    )
