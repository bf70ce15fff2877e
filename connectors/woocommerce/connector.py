"""The WooCommerce connector kind: order webhooks and REST polling in; tracking and stock out.

Outbound calls use the REST API v3 with the store's consumer key and secret over HTTP Basic
(https only), paced by one token bucket: WooCommerce publishes no rate limit, so the default
(5 requests/s, burst 10) is a conservative guess that ops can change per store.

WooCommerce takes no idempotency key, so:

- ``push_fulfilment`` writes a ``Shipment reference: <ref>`` line into its tracking note and
  first looks for a note carrying that reference; a retry finds it and does not add another.
  Marking the order completed is a ``PUT`` of an absolute status, safe to repeat.
- ``push_stock`` sets absolute quantities (``stock_quantity``), so a repeat changes nothing.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from omniroute.connectors.base import (
    CancelNotice,
    Capability,
    ChannelOrder,
    ConnectorRuntime,
    FulfilmentNotice,
    OrderPage,
    PermanentError,
    PushReceipt,
    ReturnNotice,
    SignatureError,
    StockUpdate,
    TransientError,
    WebhookEvent,
    enabled_capabilities,
    read_records,
)
from omniroute.connectors.http import (
    UnsafeUrlError,
    UrlGuard,
    build_client,
    check_base_url,
    parse_retry_after,
    raise_for_status,
    send_with_retry,
)
from omniroute.connectors.ratelimit import TokenBucket
from omniroute.connectors.woocommerce import webhooks
from omniroute.connectors.woocommerce.client import DEFAULT_API_PATH, WooCommerceClient
from omniroute.connectors.woocommerce.mapping import (
    StockTarget,
    extract_order,
    format_gmt,
    marker_ref,
    note_return_refs,
    note_shipment_refs,
    parse_channel_ref,
    parse_gmt,
    return_note,
    return_ref,
    to_canonical,
    tracking_note,
)

__all__ = ["WooCommerceConfig", "WooCommerceConnector", "WooCommerceSecrets"]

#: WooCommerce's default cap on the items of one batch request.
BATCH_LIMIT = 100
#: Order statuses after which an order must not be reopened as completed.
CLOSED_STATUSES = frozenset({"cancelled", "refunded", "failed", "trash"})
RATE_LIMIT_NAME = "rest_api"

_PATH_PATTERN = re.compile(r"/(?!/)[^\s?#]*")
_ORDER_ID = re.compile(r"[1-9]\d*")


class WooCommerceConfig(BaseModel):
    """Where the store is and how hard to call it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(description="https root of the WordPress site, e.g. https://shop.example")
    api_path: str = Field(
        default=DEFAULT_API_PATH, description="Path of the REST API v3 under base_url"
    )
    per_page: int = Field(default=100, ge=1, le=100, description="Orders per poll page")
    requests_per_second: float = Field(default=5.0, gt=0, le=100)
    burst: int = Field(default=10, ge=1, le=1000)
    complete_orders: bool = Field(
        default=True, description="Set status 'completed' once every line has shipped"
    )
    notify_customer: bool = Field(
        default=True, description="Add the tracking note as a customer note (e-mailed)"
    )
    refund_status_on_return: bool = Field(
        default=False,
        description="Set status 'refunded' once every shipped unit came back (WooCommerce "
        "then records a full refund in its reports; no money moves)",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_base_url(value, "base_url").rstrip("/")

    @field_validator("api_path")
    @classmethod
    def _check_api_path(cls, value: str) -> str:
        if not _PATH_PATTERN.fullmatch(value):
            raise ValueError("api_path must be a path starting with a single '/'")
        return value


class WooCommerceSecrets(BaseModel):
    """REST API consumer key and secret, and the webhook secret (needed for webhooks only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer_key: SecretStr = Field(min_length=1)
    consumer_secret: SecretStr = Field(min_length=1)
    webhook_secret: SecretStr | None = None


_EPOCH = "1970-01-01T00:00:00"


class WooCommerceConnector:
    """One WooCommerce store: webhooks, polling, fetch, tracking notes and stock quantities."""

    kind: ClassVar[str] = "woocommerce"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ORDER_WEBHOOKS,
            Capability.ORDER_POLLING,
            Capability.ORDER_FETCH,
            Capability.FULFILMENT_PUSH,
            Capability.STOCK_PUSH,
            Capability.CANCEL_PUSH,
            Capability.RETURN_PUSH,
        }
    )
    config_model: ClassVar[type[BaseModel]] = WooCommerceConfig
    secrets_model: ClassVar[type[BaseModel]] = WooCommerceSecrets

    def __init__(
        self,
        config: WooCommerceConfig | Mapping[str, Any],
        secrets: WooCommerceSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = WooCommerceConfig.model_validate(config)
        self._secrets = WooCommerceSecrets.model_validate(secrets)
        self._runtime = runtime
        self._transport = transport
        self._sleep = sleep
        self._bucket = TokenBucket(
            self.config.requests_per_second, self.config.burst, clock=clock, sleep=sleep
        )
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._api: WooCommerceClient | None = None
        self._guard = UrlGuard(allow_private=runtime.allow_private_urls)

    @property
    def rate_limits(self) -> Mapping[str, TokenBucket]:
        """The one bucket every REST call takes a token from."""
        return {RATE_LIMIT_NAME: self._bucket}

    # --- webhooks -----------------------------------------------------------------------------

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        return webhooks.is_ping(headers, body)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        secret = self._secrets.webhook_secret
        if secret is None:
            raise SignatureError("no webhook secret is configured for this WooCommerce connector")
        value = webhooks.header(headers, webhooks.SIGNATURE_HEADER)
        webhooks.verify(secret.get_secret_value().encode("utf-8"), body, value)

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return webhooks.dedupe_key(headers, body)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return webhooks.parse(headers, body)

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return webhooks.kept_headers(headers)

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None:
        return webhooks.topic(headers)

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        return to_canonical(order)

    # --- orders in ----------------------------------------------------------------------------

    def pull_orders(
        self, updated_after: datetime, page_token: str | None, *, now: datetime
    ) -> OrderPage:
        """One page of orders modified after ``updated_after``; the token is the next page. An
        entry that is not an order with a valid ``date_modified_gmt`` goes into ``rejected``."""
        page = _page_number(page_token)
        per_page = self.config.per_page
        after = format_gmt(updated_after)
        response, _ = self._call(
            lambda api: api.list_orders(modified_after=after, page=page, per_page=per_page)
        )
        body = _json(response, "GET /orders")
        if not isinstance(body, list):
            raise PermanentError("WooCommerce GET /orders did not return a JSON list of orders")
        orders, rejected = read_records(body, _channel_order)
        total_pages = response.headers.get("X-WP-TotalPages")
        return OrderPage(orders, _next_page(page, len(body), per_page, total_pages), rejected)

    def read_polled(self, record: Any) -> ChannelOrder:
        """One listed order as ``pull_orders`` reads it (``PayloadError`` if it cannot)."""
        return _channel_order(record)

    def check_connection(self) -> str:
        """One page of one order: the REST keys and the store's address work."""
        if Capability.ORDER_POLLING not in enabled_capabilities(self):
            return "webhooks only (no REST API keys): nothing to call"
        self._call(lambda api: api.list_orders(modified_after=_EPOCH, page=1, per_page=1))
        return "WooCommerce's REST API answered: orders can be read"

    def fetch_order(self, external_id: str) -> ChannelOrder:
        """The current version of one order (``GET /orders/{id}``)."""
        order_id = _order_id(external_id)
        try:
            response, _ = self._call(lambda api: api.get_order(order_id))
        except PermanentError as exc:
            if exc.reason != "http_404":
                raise
            raise PermanentError(
                f"WooCommerce has no order {order_id}: it was deleted permanently or the id is "
                "wrong; cancel or resolve the order in omniroute by hand",
                reason="http_404",
            ) from exc
        return _channel_order(_json(response, "GET /orders/{id}"))

    # --- out ----------------------------------------------------------------------------------

    def push_fulfilment(self, notice: FulfilmentNotice) -> PushReceipt:
        """Add the tracking note (once per shipment) and complete the order when all shipped."""
        order_id = _order_id(notice.external_order_id)
        note_id, attempts = self._ensure_tracking_note(order_id, notice)
        if notice.order_complete and self.config.complete_orders:
            attempts += self._complete_order(order_id)
        return PushReceipt(external_ref=f"note:{note_id}", attempts=attempts)

    def push_stock(self, updates: Sequence[StockUpdate], *, idempotency_key: str) -> PushReceipt:
        """Set ``stock_quantity`` (and ``manage_stock``) through the batch endpoints.

        Quantities are absolute, so a retry under the same ``idempotency_key`` is harmless;
        WooCommerce has no header to send it in.
        """
        products, variations = _group_stock(updates)
        attempts = 0
        for chunk in _chunks(sorted(products.items()), BATCH_LIMIT):
            attempts += self._push_products(chunk)
        for parent_id, quantities in sorted(variations.items()):
            for chunk in _chunks(sorted(quantities.items()), BATCH_LIMIT):
                attempts += self._push_variations(parent_id, chunk)
        return PushReceipt(external_ref=None, attempts=attempts)

    def cancel_order(self, notice: CancelNotice) -> PushReceipt:
        """Set the order's status to cancelled (an absolute value: safe to repeat)."""
        order_id = _order_id(notice.external_order_id)
        response, attempts = self._call(lambda api: api.get_order(order_id))
        order = _json(response, "GET /orders/{id}")
        status = order.get("status") if isinstance(order, dict) else None
        if status in ("cancelled", "trash"):
            return PushReceipt(external_ref=None, attempts=attempts)
        if status in ("completed", "refunded"):
            raise PermanentError(
                f"WooCommerce order {order_id} is {status}; omniroute cancelled it, so refund "
                "or reopen it in WooCommerce by hand",
                reason="order_closed",
            )
        _, more = self._call(
            lambda api: api.update_order(order_id, {"status": "cancelled"}), write=True
        )
        return PushReceipt(external_ref=None, attempts=attempts + more)

    def push_return(self, notice: ReturnNotice) -> PushReceipt:
        """An order note per return step (once: found again by its reference; a customer
        note when ``notify_customer``), and
        status ``refunded`` when every unit is back and ``refund_status_on_return`` is set."""
        order_id = _order_id(notice.external_order_id)
        response, attempts = self._call(lambda api: api.list_order_notes(order_id))
        notes = _json(response, "GET /orders/{id}/notes")
        if not isinstance(notes, list):
            raise PermanentError("WooCommerce GET /orders/{id}/notes did not return a JSON list")
        wanted = return_ref(notice)
        if not any(
            isinstance(n, dict) and wanted in note_return_refs(n.get("note")) for n in notes
        ):
            text, notify = return_note(notice), self.config.notify_customer
            _, more = self._call(
                lambda api: api.create_order_note(order_id, text, customer_note=notify), write=True
            )
            attempts += more
        if notice.order_returned and self.config.refund_status_on_return:
            _, more = self._call(
                lambda api: api.update_order(order_id, {"status": "refunded"}), write=True
            )
            attempts += more
        return PushReceipt(external_ref=None, attempts=attempts)

    def close(self) -> None:
        """Close pooled connections; the next call opens a new client."""
        with self._lock:
            http, self._http, self._api = self._http, None, None
        if http is not None:
            http.close()

    # --- fulfilment helpers -------------------------------------------------------------------

    def _ensure_tracking_note(self, order_id: int, notice: FulfilmentNotice) -> tuple[str, int]:
        response, attempts = self._call(lambda api: api.list_order_notes(order_id))
        existing = _note_with_ref(_json(response, "GET /orders/{id}/notes"), notice.shipment_ref)
        if existing is not None:
            return existing, attempts
        text = tracking_note(notice)
        notify = self.config.notify_customer
        response, more = self._call(
            lambda api: api.create_order_note(order_id, text, customer_note=notify), write=True
        )
        created = _json(response, "POST /orders/{id}/notes")
        note_id = created.get("id") if isinstance(created, dict) else None
        return str(note_id) if note_id is not None else "?", attempts + more

    def _complete_order(self, order_id: int) -> int:
        response, attempts = self._call(lambda api: api.get_order(order_id))
        order = _json(response, "GET /orders/{id}")
        status = order.get("status") if isinstance(order, dict) else None
        if status == "completed":
            return attempts
        if status in CLOSED_STATUSES:
            raise PermanentError(
                f"WooCommerce order {order_id} is {status}; the tracking note is there but the "
                "order was not marked completed: check why a closed order shipped",
                reason="order_closed",
            )
        _, more = self._call(
            lambda api: api.update_order(order_id, {"status": "completed"}), write=True
        )
        return attempts + more

    # --- stock helpers ------------------------------------------------------------------------

    def _push_products(self, items: Sequence[tuple[int, int]]) -> int:
        payload = [_stock_item(product_id, quantity) for product_id, quantity in items]
        response, attempts = self._call(lambda api: api.batch_update_products(payload), write=True)
        _check_batch(_json(response, "POST /products/batch"), "product")
        return attempts

    def _push_variations(self, parent_id: int, items: Sequence[tuple[int, int]]) -> int:
        payload = [_stock_item(variation_id, quantity) for variation_id, quantity in items]
        response, attempts = self._call(
            lambda api: api.batch_update_variations(parent_id, payload), write=True
        )
        _check_batch(_json(response, "POST /products/{id}/variations/batch"), "variation")
        return attempts

    # --- transport ----------------------------------------------------------------------------

    def _call(
        self, call: Callable[[WooCommerceClient], httpx.Response], *, write: bool = False
    ) -> tuple[httpx.Response, int]:
        """Send one request through the bucket; the response and attempts made. A read is
        retried here; a ``write`` (an outbox delivery) reaches the store at most once, its
        outbox row's attempts being its retries."""
        self._check_target()
        api = self._client()

        def attempt() -> httpx.Response:
            self._bucket.acquire()
            return call(api)

        return send_with_retry(
            attempt,
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            sleep=self._sleep,
            check=self._check_response,
            repeat_sent=not write,
        )

    def _check_response(self, response: httpx.Response) -> None:
        code = response.status_code
        if code == 429:
            hint = parse_retry_after(response.headers.get("Retry-After"))
            if hint is not None:
                self._bucket.hold_off(hint)
        if code in (401, 403):
            raise PermanentError(
                f"WooCommerce refused the consumer key (HTTP {code}): check the key and secret "
                "and that the key has read/write permission",
                reason=f"http_{code}",
            )
        raise_for_status(response)

    def _check_target(self) -> None:
        self._guard.check(self.config.base_url)
        if not self._guard.allow_private and not self.config.base_url.lower().startswith(
            "https://"
        ):
            raise UnsafeUrlError(
                "WooCommerce takes consumer keys over HTTP Basic only on https; "
                "change base_url to https"
            )

    def _client(self) -> WooCommerceClient:
        with self._lock:
            if self._api is None:
                self._http = build_client(
                    timeout=self._runtime.http_timeout,
                    base_url=self.config.base_url,
                    headers={"Authorization": self._basic_auth(), "Accept": "application/json"},
                    transport=self._transport,
                )
                self._api = WooCommerceClient(self._http, api_path=self.config.api_path)
            return self._api

    def _basic_auth(self) -> str:
        key = self._secrets.consumer_key.get_secret_value()
        secret = self._secrets.consumer_secret.get_secret_value()
        token = base64.b64encode(f"{key}:{secret}".encode()).decode("ascii")
        return f"Basic {token}"


# --- pure helpers -----------------------------------------------------------------------------


def _page_number(page_token: str | None) -> int:
    if page_token is None:
        return 1
    if not page_token.isdigit() or int(page_token) < 1:
        raise PermanentError(f"invalid WooCommerce page token {page_token[:20]!r}")
    return int(page_token)


def _next_page(page: int, count: int, per_page: int, total_pages: str | None) -> str | None:
    """The next page number, or None when this page was short or the last one."""
    if count < per_page:
        return None
    last = total_pages.strip() if total_pages is not None else ""
    if last.isdigit() and page >= int(last):
        return None
    return str(page + 1)


def _order_id(external_id: str) -> int:
    text = external_id.strip()
    if not _ORDER_ID.fullmatch(text):
        raise PermanentError(f"WooCommerce order ids are positive integers, got {text[:30]!r}")
    return int(text)


def _channel_order(item: Any) -> ChannelOrder:
    order = extract_order(item)
    stamp = order.get("date_modified_gmt") or order.get("date_created_gmt")
    updated_at = parse_gmt(stamp, field="date_modified_gmt")
    return ChannelOrder(external_id=str(order["id"]), updated_at=updated_at, payload=order)


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        raise PermanentError(
            f"WooCommerce answered {what} with something other than JSON: check that base_url "
            "is the WordPress site and that its REST API is reachable"
        ) from None


def _note_with_ref(notes: Any, shipment_ref: str) -> str | None:
    """The id of the order note that already records this shipment, if any."""
    if not isinstance(notes, list):
        raise PermanentError("WooCommerce GET /orders/{id}/notes did not return a JSON list")
    wanted = marker_ref(shipment_ref)
    for note in notes:
        if isinstance(note, dict) and wanted in note_shipment_refs(note.get("note")):
            return str(note.get("id"))
    return None


def _group_stock(
    updates: Sequence[StockUpdate],
) -> tuple[dict[int, int], dict[int, dict[int, int]]]:
    """Quantities by product id, and by parent then variation id (a later update wins)."""
    products: dict[int, int] = {}
    variations: dict[int, dict[int, int]] = {}
    for update in updates:
        try:
            target: StockTarget = parse_channel_ref(update.channel_ref)
        except ValueError as exc:
            raise PermanentError(f"{exc} (sku {update.sku!r})", reason="bad_channel_ref") from None
        quantity = max(update.available, 0)
        if target.parent_id is None:
            products[target.product_id] = quantity
        else:
            variations.setdefault(target.parent_id, {})[target.product_id] = quantity
    return products, variations


def _chunks(items: Sequence[tuple[int, int]], size: int) -> Iterator[Sequence[tuple[int, int]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stock_item(item_id: int, quantity: int) -> dict[str, Any]:
    return {"id": item_id, "manage_stock": True, "stock_quantity": quantity}


def _check_batch(body: Any, noun: str) -> None:
    """Raise if any item of a batch answer carries an ``error`` object."""
    items = body.get("update") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise PermanentError(f"WooCommerce {noun} batch answer has no 'update' list")
    errors = [item for item in items if isinstance(item, dict) and item.get("error")]
    if not errors:
        return
    described = "; ".join(_describe_error(noun, item) for item in errors[:5])
    if any(_error_status(item) >= 500 for item in errors):
        raise TransientError(f"WooCommerce could not update stock: {described}")
    raise PermanentError(
        f"WooCommerce refused stock updates: {described}; check the SKUs' channel_ref",
        reason="batch_item_error",
    )


def _error_status(item: Mapping[str, Any]) -> int:
    error = item.get("error")
    data = error.get("data") if isinstance(error, dict) else None
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else 400


def _describe_error(noun: str, item: Mapping[str, Any]) -> str:
    error = item.get("error")
    if not isinstance(error, dict):
        return f"{noun} {item.get('id')}: error"
    return f"{noun} {item.get('id')}: {error.get('code')} ({str(error.get('message'))[:80]})"
