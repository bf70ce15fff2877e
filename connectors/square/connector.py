"""The Square (POS) connector kind: order webhooks and polling in, fulfilments and stock out.

Webhooks carry only an order id, so the worker fetches the order (RetrieveOrder); SearchOrders
by ``updated_at`` is the reconciliation poll. Fulfilments update the order's SHIPMENT
fulfillment (UpdateOrder, with the order ``version`` and an idempotency key); stock goes out
as PHYSICAL_COUNT inventory changes (BatchChangeInventory).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

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
    TransientError,
    WebhookEvent,
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
from omniroute.connectors.square import webhooks
from omniroute.connectors.square.client import SquareClient
from omniroute.connectors.square.mapping import extract_order, to_canonical

__all__ = ["SquareConfig", "SquareConnector", "SquareSecrets"]

DEFAULT_BASE_URL = "https://connect.squareup.com"
DEFAULT_SQUARE_VERSION = "2025-10-16"
#: Pause after a 429 that came without Retry-After (Square does not publish its limits).
DEFAULT_HOLD_OFF_SECONDS = 1.0
#: BatchChangeInventory takes at most 100 changes per request.
MAX_CHANGES_PER_BATCH = 100
#: Idempotency key length limits: UpdateOrder 192, BatchChangeInventory 128.
ORDER_KEY_LIMIT = 192
INVENTORY_KEY_LIMIT = 128
OCCURRED_AT_MEMO_SIZE = 512

_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,192}")
_VERSION_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOSED_FULFILMENT_STATES = frozenset({"CANCELED", "FAILED"})


class SquareConfig(BaseModel):
    """Where the Square API is, which locations to read, and how fast to call it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="https://connect.squareup.com (sandbox: https://connect.squareupsandbox.com)",
    )
    square_version: str = Field(
        default=DEFAULT_SQUARE_VERSION, description="Square-Version header (YYYY-MM-DD)"
    )
    notification_url: str | None = Field(
        default=None,
        description="The exact notification URL of the Square webhook subscription (signed)",
    )
    location_ids: tuple[str, ...] = Field(
        min_length=1, max_length=10, description="Square locations whose orders are polled"
    )
    inventory_location_id: str | None = Field(
        default=None, description="Location whose counts push_stock sets (default: the first)"
    )
    order_states: tuple[str, ...] = Field(
        default=("OPEN", "COMPLETED", "CANCELED"), min_length=1, description="States polled"
    )
    location_warehouses: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Square location id -> omniroute warehouse code: where an in-store sale's stock "
            "leaves from"
        ),
    )
    page_size: int = Field(default=100, ge=1, le=1000)
    requests_per_second: float = Field(default=10.0, gt=0, le=1000)
    burst: int = Field(default=20, ge=1, le=1000)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("api_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_base_url(value, "api_base_url").rstrip("/")

    @field_validator("square_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _VERSION_PATTERN.fullmatch(value):
            raise ValueError("square_version must look like 2025-10-16")
        return value

    @field_validator("location_ids", "order_states")
    @classmethod
    def _check_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not _ID_PATTERN.fullmatch(item) for item in value):
            raise ValueError("must be Square ids (letters, digits, '-' and '_')")
        return value

    @property
    def stock_location_id(self) -> str:
        """The location that push_stock counts at."""
        return self.inventory_location_id or self.location_ids[0]


class SquareSecrets(BaseModel):
    """The access token (OAuth or personal) and the webhook subscription's signature key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    access_token: SecretStr = Field(min_length=1)
    webhook_signature_key: SecretStr | None = None


class SquareConnector:
    """One Square seller account: webhooks, fetch, poll, fulfilment and stock push.

    Instances are long-lived and thread-safe; the HTTP client is created on first use.
    """

    kind: ClassVar[str] = "square"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ORDER_WEBHOOKS,
            Capability.ORDER_FETCH,
            Capability.ORDER_POLLING,
            Capability.FULFILMENT_PUSH,
            Capability.STOCK_PUSH,
        }
    )
    config_model: ClassVar[type[BaseModel]] = SquareConfig
    secrets_model: ClassVar[type[BaseModel]] = SquareSecrets

    def __init__(
        self,
        config: SquareConfig | Mapping[str, Any],
        secrets: SquareSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = SquareConfig.model_validate(config)
        self._secrets = SquareSecrets.model_validate(secrets)
        self._runtime = runtime
        self._transport = transport
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._bucket = TokenBucket(self.config.requests_per_second, self.config.burst, sleep=sleep)
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._api: SquareClient | None = None
        self._guard = UrlGuard(allow_private=runtime.allow_private_urls)
        self._occurred_at: OrderedDict[str, str] = OrderedDict()

    # --- rate limits ---------------------------------------------------------------------

    @property
    def rate_limits(self) -> Mapping[str, TokenBucket]:
        """One bucket for the whole seller account (Square publishes no per-endpoint rates)."""
        return {"api": self._bucket}

    # --- webhooks --------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        key = self._secrets.webhook_signature_key
        webhooks.verify(
            b"" if key is None else key.get_secret_value().encode("utf-8"),
            self.config.notification_url or "",
            body,
            webhooks.header(headers, webhooks.SIGNATURE_HEADER),
        )

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return webhooks.dedupe_key(body)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return webhooks.parse(body)

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return webhooks.kept_headers(headers)

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None:
        return None  # Square names the event only in the body's "type"

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        return to_canonical(order)

    # --- orders in -------------------------------------------------------------------------

    def warehouse_code_for(self, location: str) -> str | None:
        """The warehouse an in-store sale at this Square location takes stock from."""
        return self.config.location_warehouses.get(location)

    def fetch_order(self, external_id: str) -> ChannelOrder:
        """RetrieveOrder; the payload is the bare Order object ``map_order`` takes."""
        order, _ = self._retrieve(external_id)
        return _channel_order(order)

    def pull_orders(
        self, updated_after: datetime, page_token: str | None, *, now: datetime
    ) -> OrderPage:
        """SearchOrders updated at or after ``updated_after``, oldest first, one page; an order
        without an id or a valid ``updated_at`` is handed back in ``rejected``."""
        body = build_search_body(self.config, updated_after, page_token)
        response, _ = self._send(lambda api: api.search_orders(body))
        document = _json_object(response, "SearchOrders")
        orders = document.get("orders") or []
        if not isinstance(orders, list):
            raise PayloadError("SearchOrders answered with 'orders' that is not a list")
        cursor = document.get("cursor")
        next_token = cursor if isinstance(cursor, str) and cursor else None
        read, rejected = read_records(orders, _channel_order)
        return OrderPage(read, next_token, rejected)

    def read_polled(self, record: Any) -> ChannelOrder:
        """One SearchOrders record as ``pull_orders`` reads it (``PayloadError`` if it cannot)."""
        return _channel_order(record)

    # --- fulfilment out --------------------------------------------------------------------

    def push_fulfilment(self, notice: FulfilmentNotice) -> PushReceipt:
        """Mark the order's SHIPMENT fulfillment shipped (with tracking) via UpdateOrder.

        The order is read first for its ``version``; a version conflict re-reads it once.
        A fulfillment already in the wanted state with the same tracking is not sent again.
        """
        order, attempts = self._retrieve(notice.external_order_id)
        for retry in (False, True):
            fulfilment = shipment_fulfilment(order)
            body = build_fulfilment_update(order, fulfilment, notice)
            if body is None:
                return PushReceipt(external_ref=str(fulfilment["uid"]), attempts=attempts)
            try:
                _, made = self._send(_update_order(notice.external_order_id, body), write=True)
            except PermanentError as exc:
                if exc.reason != "version_mismatch":
                    raise
                if retry:
                    raise TransientError(
                        "Square order kept changing while it was updated; retry later",
                        reason="version_mismatch",
                    ) from exc
                order, made = self._retrieve(notice.external_order_id)
                attempts += made
                continue
            return PushReceipt(external_ref=str(fulfilment["uid"]), attempts=attempts + made)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- stock out -------------------------------------------------------------------------

    def push_stock(self, updates: Sequence[StockUpdate], *, idempotency_key: str) -> PushReceipt:
        """Set each variation's IN_STOCK count at the configured location (PHYSICAL_COUNT)."""
        if not updates:
            return PushReceipt(external_ref=None, attempts=0)
        occurred_at = self._occurred_at_for(idempotency_key)
        attempts = 0
        for index, chunk in enumerate(_chunks(updates, MAX_CHANGES_PER_BATCH)):
            body = build_inventory_body(
                chunk,
                location_id=self.config.stock_location_id,
                occurred_at=occurred_at,
                idempotency_key=_bounded_key(
                    f"{idempotency_key}:{index}:{occurred_at}", INVENTORY_KEY_LIMIT
                ),
            )
            _, made = self._send(_change_inventory(body), write=True)
            attempts += made
        return PushReceipt(external_ref=None, attempts=attempts)

    def _occurred_at_for(self, idempotency_key: str) -> str:
        # The same key within this process resends the same body, so Square dedupes it; after
        # a restart a new timestamp makes a new count of the same absolute quantity (harmless).
        with self._lock:
            stamp = self._occurred_at.get(idempotency_key)
            if stamp is None:
                stamp = rfc3339(self._clock())
                self._occurred_at[idempotency_key] = stamp
                while len(self._occurred_at) > OCCURRED_AT_MEMO_SIZE:
                    self._occurred_at.popitem(last=False)
            return stamp

    # --- plumbing --------------------------------------------------------------------------

    def close(self) -> None:
        """Close pooled connections; a later call opens a new client."""
        with self._lock:
            http, self._http, self._api = self._http, None, None
        if http is not None:
            http.close()

    def _retrieve(self, order_id: str) -> tuple[dict[str, Any], int]:
        if not _ID_PATTERN.fullmatch(order_id):
            raise PermanentError(f"{order_id!r} is not a Square order id", reason="bad_order_id")
        response, attempts = self._send(lambda api: api.retrieve_order(order_id))
        order = extract_order(_json_object(response, "RetrieveOrder"))
        if not isinstance(order.get("id"), str):
            raise PayloadError("RetrieveOrder answered without an order id")
        return dict(order), attempts

    def _send(
        self, call: Callable[[SquareClient], httpx.Response], *, write: bool = False
    ) -> tuple[httpx.Response, int]:
        """One call paced by the bucket. A ``write`` (an outbox delivery) reaches Square at
        most once here: the outbox row's attempts are its retries."""
        self._check_target()
        api = self._client()

        def paced() -> httpx.Response:
            self._bucket.acquire()
            return call(api)

        return send_with_retry(
            paced,
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            sleep=self._sleep,
            check=self._check_response,
            repeat_sent=not write,
        )

    def _check_response(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            hint = parse_retry_after(response.headers.get("Retry-After"))
            self._bucket.hold_off(DEFAULT_HOLD_OFF_SECONDS if hint is None else hint)
        try:
            raise_for_status(response)
        except PermanentError as exc:
            raise _explain(response, exc) from None

    def _check_target(self) -> None:
        self._guard.check(self.config.api_base_url)

    def _client(self) -> SquareClient:
        with self._lock:
            if self._api is None:
                token = self._secrets.access_token.get_secret_value()
                self._http = build_client(
                    timeout=min(self.config.timeout_seconds, self._runtime.http_timeout),
                    base_url=self.config.api_base_url,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Square-Version": self.config.square_version,
                        "Accept": "application/json",
                    },
                    transport=self._transport,
                )
                self._api = SquareClient(self._http)
            return self._api


# --- request bodies (pure) -------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """UTC RFC 3339 with milliseconds and ``Z``: ``2020-05-18T16:30:49.614Z``."""
    if moment.tzinfo is None:
        raise ValueError("datetimes sent to Square must be timezone-aware")
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def build_search_body(
    config: SquareConfig, updated_after: datetime, page_token: str | None
) -> dict[str, Any]:
    """SearchOrders request: updated_at filter sorted by UPDATED_AT ascending (Square requires
    the sort field to match the date filter). No ``end_at``: Square then fixes it at the first
    page's request time, so every page of a run repeats the identical query."""
    body: dict[str, Any] = {
        "location_ids": list(config.location_ids),
        "query": {
            "filter": {
                "date_time_filter": {"updated_at": {"start_at": rfc3339(updated_after)}},
                "state_filter": {"states": list(config.order_states)},
            },
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
        },
        "limit": config.page_size,
        "return_entries": False,
    }
    if page_token:
        body["cursor"] = page_token
    return body


def shipment_fulfilment(order: Mapping[str, Any]) -> Mapping[str, Any]:
    """The order's first SHIPMENT fulfillment that is not cancelled or failed."""
    for fulfilment in order.get("fulfillments") or []:
        if (
            isinstance(fulfilment, Mapping)
            and fulfilment.get("type") == "SHIPMENT"
            and fulfilment.get("state") not in _CLOSED_FULFILMENT_STATES
            and isinstance(fulfilment.get("uid"), str)
        ):
            return fulfilment
    raise PermanentError(
        f"Square order {order.get('id')} has no open SHIPMENT fulfillment to mark shipped; "
        "add one in Square (or close the order there) and redrive",
        reason="no_shipment_fulfillment",
    )


def build_fulfilment_update(
    order: Mapping[str, Any], fulfilment: Mapping[str, Any], notice: FulfilmentNotice
) -> dict[str, Any] | None:
    """UpdateOrder body for ``notice``, or None when Square already shows it."""
    details = {
        key: value
        for key, value in (
            ("carrier", notice.carrier),
            ("tracking_number", notice.tracking_number),
            ("tracking_url", notice.tracking_url),
        )
        if value
    }
    state = "COMPLETED" if notice.order_complete else fulfilment.get("state")
    current = fulfilment.get("shipment_details") or {}
    if fulfilment.get("state") == state and all(current.get(k) == v for k, v in details.items()):
        return None
    details["shipped_at"] = rfc3339(notice.shipped_at)
    version = order.get("version")
    change: dict[str, Any] = {"uid": fulfilment["uid"], "shipment_details": details}
    if state != fulfilment.get("state"):
        change["state"] = state
    return {
        "idempotency_key": _bounded_key(f"{notice.idempotency_key}:v{version}", ORDER_KEY_LIMIT),
        "order": {
            "location_id": order.get("location_id"),
            "version": version,
            "fulfillments": [change],
        },
    }


def build_inventory_body(
    updates: Sequence[StockUpdate], *, location_id: str, occurred_at: str, idempotency_key: str
) -> dict[str, Any]:
    """BatchChangeInventory body: one IN_STOCK PHYSICAL_COUNT per update (negative → 0)."""
    changes = []
    for update in updates:
        if not update.channel_ref:
            raise PermanentError(
                f"SKU {update.sku} has no Square catalog object id (item variation id); "
                "set its channel reference",
                reason="missing_channel_ref",
            )
        changes.append(
            {
                "type": "PHYSICAL_COUNT",
                "physical_count": {
                    "catalog_object_id": update.channel_ref,
                    "state": "IN_STOCK",
                    "location_id": location_id,
                    "quantity": str(max(update.available, 0)),
                    "occurred_at": occurred_at,
                },
            }
        )
    return {
        "idempotency_key": idempotency_key,
        "changes": changes,
        "ignore_unchanged_counts": True,
    }


# --- helpers ---------------------------------------------------------------------------------


def _channel_order(order: Any) -> ChannelOrder:
    if not isinstance(order, Mapping) or not isinstance(order.get("id"), str):
        raise PayloadError("Square answered with an order that has no id")
    stamp = order.get("updated_at") or order.get("created_at")
    try:
        updated_at = datetime.fromisoformat(str(stamp))
    except ValueError:
        raise PayloadError(f"Square order {order['id']} has no valid updated_at") from None
    if updated_at.tzinfo is None:
        raise PayloadError(f"Square order {order['id']} updated_at has no UTC offset")
    return ChannelOrder(external_id=order["id"], updated_at=updated_at, payload=dict(order))


def _json_object(response: httpx.Response, operation: str) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        raise PayloadError(f"{operation} answered with a body that is not JSON") from None
    if not isinstance(document, dict):
        raise PayloadError(f"{operation} answered with JSON that is not an object")
    return document


def _square_errors(response: httpx.Response) -> list[Mapping[str, Any]]:
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return []
    return [e for e in errors if isinstance(e, Mapping)] if isinstance(errors, list) else []


_HINTS: Mapping[int, str] = {
    401: "Square rejected the access token: renew it in the connector's secrets",
    403: "the access token lacks a permission (ORDERS_READ, ORDERS_WRITE, INVENTORY_WRITE): "
    "re-authorise the app with it",
    404: "Square does not know this order or object: check the id and the account",
}


def _explain(response: httpx.Response, error: PermanentError) -> PermanentError:
    """A PermanentError naming Square's error codes and what to do about them."""
    errors = _square_errors(response)
    codes = [str(e.get("code")) for e in errors if e.get("code")]
    if "VERSION_MISMATCH" in codes:
        return PermanentError("Square order version changed meanwhile", reason="version_mismatch")
    detail = "; ".join(
        f"{e.get('code')}: {e.get('detail') or ''}".strip()
        + (f" ({e['field']})" if e.get("field") else "")
        for e in errors
    )
    hint = _HINTS.get(response.status_code, "Square refused the request; fix it and redrive")
    return PermanentError(
        f"{hint} [HTTP {response.status_code}] {detail}".strip(), reason=error.reason
    )


def _update_order(order_id: str, body: dict[str, Any]) -> Callable[[SquareClient], httpx.Response]:
    return lambda api: api.update_order(order_id, body)


def _change_inventory(body: dict[str, Any]) -> Callable[[SquareClient], httpx.Response]:
    return lambda api: api.batch_change_inventory(body)


def _bounded_key(key: str, limit: int) -> str:
    if len(key) <= limit:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _chunks(items: Sequence[StockUpdate], size: int) -> Iterator[Sequence[StockUpdate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
