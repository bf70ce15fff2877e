"""Connector protocols, capability flags and the two errors every connector raises.

A connector kind is a class registered under the ``omniroute.connectors`` entry-point group.
It declares ``kind`` (the registry key), ``capabilities``, ``config_model`` and
``secrets_model`` (pydantic models; the API validates against them and publishes their JSON
Schemas), and implements the small protocols below that match its capabilities.

Example, a channel that only receives webhooks::

    class MyShop:
        kind = "myshop"
        capabilities = frozenset({Capability.ORDER_WEBHOOKS})
        config_model = MyShopConfig
        secrets_model = MyShopSecrets

        def __init__(self, config: MyShopConfig, secrets: MyShopSecrets) -> None: ...
        def verify_webhook(self, headers, body) -> None: ...       # raise SignatureError
        def dedupe_key(self, headers, body) -> str: ...
        def parse_webhook(self, headers, body) -> WebhookEvent: ...
        # optional (WebhookMetadata): which headers are stored with the body, and the topic
        def kept_headers(self, headers) -> dict[str, str]: ...
        def webhook_topic(self, headers) -> str | None: ...
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel


class Capability(enum.StrEnum):
    ORDER_WEBHOOKS = "order_webhooks"
    ORDER_POLLING = "order_polling"
    ORDER_FETCH = "order_fetch"
    FULFILMENT_RELEASE = "fulfilment_release"
    FULFILMENT_PUSH = "fulfilment_push"
    STOCK_PUSH = "stock_push"
    CANCEL_PUSH = "cancel_push"
    FULFILMENT_CANCEL = "fulfilment_cancel"
    RISK_ASSESSMENT = "risk_assessment"
    # A carrier's tracking webhooks (connectors.tracking.TrackingSource).
    TRACKING_WEBHOOKS = "tracking_webhooks"
    # A carrier asked for its parcels' tracking on a schedule (connectors.tracking.TrackingPoller).
    TRACKING_POLL = "tracking_poll"
    # A channel told of its shipments' tracking status (connectors.tracking.TrackingSink).
    TRACKING_PUSH = "tracking_push"
    # A WMS told of a return on its way to it (``ReturnExpecter``).
    RETURN_NOTICE = "return_notice"
    # A channel told of a return's status (``ReturnSink``).
    RETURN_PUSH = "return_push"
    # A channel whose webhooks say a customer asked for a return, or the channel approved,
    # declined or cancelled one (``ReturnEvents``).
    RETURN_WEBHOOKS = "return_webhooks"
    # A carrier or TMS that quotes rates for parcels (connectors.carriers.CarrierRating).
    CARRIER_RATES = "carrier_rates"
    # A carrier or TMS that books a shipment: label and tracking number (CarrierBooking).
    CARRIER_BOOKING = "carrier_booking"
    # An ERP that takes sales orders and invoices (connectors.erp.ErpPoster).
    ERP_POSTING = "erp_posting"
    # An ERP whose stock on hand per warehouse and SKU is read in (connectors.erp).
    ERP_STOCK_SNAPSHOT = "erp_stock_snapshot"
    # An ERP whose item master (SKUs, names, weights, barcodes) is read in.
    ERP_ITEM_MASTER = "erp_item_master"
    # An ERP that takes purchase requests (connectors.erp.PurchaseRequestSink).
    PURCHASE_REQUESTS = "purchase_requests"


class ConnectorError(Exception):
    """Base of the errors a connector raises; ``reason`` is a machine-readable code."""

    reason = "connector_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TransientError(ConnectorError):
    """Retry later with backoff; ``retry_after`` (seconds) is the remote's hint, if it gave one.

    ``not_applied``: the remote said it did nothing with the request (Shopify's GraphQL
    THROTTLED runs no part of the call), so even a write may be repeated at once.
    """

    reason = "transient"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        reason: str | None = None,
        not_applied: bool = False,
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after
        self.not_applied = not_applied


class PermanentError(ConnectorError):
    """Retrying will not help: dead-letter the work and open an exception."""

    reason = "permanent"


class SignatureError(ConnectorError):
    """The webhook's signature is missing or does not match the raw body."""

    reason = "bad_signature"


class PayloadError(ConnectorError):
    """The payload cannot be parsed into the channel's order shape."""

    reason = "invalid_payload"


#: The inbox topic of an order that a poller read; its body is the JSON of the channel order.
POLLED_TOPIC = "poll"
#: The inbox topic of an order uploaded through the import endpoint (same body convention).
IMPORTED_TOPIC = "import"


@dataclass(frozen=True)
class WebhookEvent:
    """What a channel webhook means once parsed.

    - ``order`` set: the channel's order object, as ``map_order`` takes it.
    - ``order`` None, ``external_id`` set: a hint; the worker fetches the order with
      ``fetch_order`` (channels whose webhooks carry only an id, such as Square).
    - both None: nothing to do (a test delivery or a topic omniroute does not use); the inbox
      row is marked ignored, with no exception.
    """

    topic: str
    order: Mapping[str, Any] | None
    external_id: str | None = None


@dataclass(frozen=True)
class ChannelOrder:
    """One version of an order as a poller or a fetch read it from the channel."""

    external_id: str
    updated_at: datetime  # timezone-aware; the channel's last-modified time of this version
    payload: Mapping[str, Any]  # what ``map_order`` takes; JSON-serialisable


@dataclass(frozen=True)
class RejectedRecord:
    """A record of a poll page that the connector could not read as an order.

    The core keeps it as a failed inbox row of its own with an ``invalid_payload`` exception,
    and takes the rest of the page in: one bad record must not stop a channel's polling.
    """

    raw: Any  # the record as the channel sent it (a decoded JSON value), stored as JSON
    reason: str  # what is wrong with it, for ops
    external_id: str | None = None  # the channel's id for it, when the record names one


@dataclass(frozen=True)
class OrderPage:
    """One page of a poll; ``next_page_token`` None means the run has read everything.

    ``rejected`` holds the records of the page that could not be read (``read_records``).
    """

    orders: tuple[ChannelOrder, ...]
    next_page_token: str | None = None
    rejected: tuple[RejectedRecord, ...] = ()


def read_records(
    records: Sequence[Any], read: Callable[[Any], ChannelOrder], *, id_key: str = "id"
) -> tuple[tuple[ChannelOrder, ...], tuple[RejectedRecord, ...]]:
    """Each record of a page read with ``read``: the orders, and the records on which it
    raised ``PayloadError`` (with the record's ``id_key`` value as their id, if it has one)."""
    orders: list[ChannelOrder] = []
    rejected: list[RejectedRecord] = []
    for record in records:
        try:
            orders.append(read(record))
        except PayloadError as exc:
            rejected.append(RejectedRecord(record, str(exc), _record_id(record, id_key)))
    return tuple(orders), tuple(rejected)


def _record_id(record: Any, id_key: str) -> str | None:
    value = record.get(id_key) if isinstance(record, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


@dataclass(frozen=True)
class ReleaseLine:
    line_id: int
    sku: str
    quantity: int
    # Set on a consolidated fulfilment order, whose lines come from several orders.
    order_id: int | None = None
    order_reference: str | None = None
    # What the buyer chose for the line ({"name", "value"} each) and its gift message.
    properties: tuple[Mapping[str, str], ...] = ()
    gift_message: str | None = None


@dataclass(frozen=True)
class ReleaseOrder:
    """One order of a consolidated fulfilment order: what its packing needs."""

    order_id: int
    order_reference: str
    note: str | None = None
    gift_message: str | None = None
    attributes: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class ReleaseRequest:
    """A fulfilment order as handed to a warehouse system."""

    fulfilment_order_id: int
    order_id: int
    order_reference: str
    warehouse_code: str
    ship_to: Mapping[str, Any]
    lines: tuple[ReleaseLine, ...]
    idempotency_key: str
    service_level: str = "standard"
    extra: Mapping[str, Any] = field(default_factory=dict)
    # The order's buyer note, gift message and attributes ({"name", "value"} each).
    note: str | None = None
    gift_message: str | None = None
    attributes: tuple[Mapping[str, str], ...] = ()
    # A consolidated fulfilment order: the same of every order with lines on it.
    orders: tuple[ReleaseOrder, ...] = ()
    # The id that follows the order through omniroute's logs; an HTTP adapter sends it as
    # the X-Correlation-ID header, so the warehouse's logs can be matched with ours.
    correlation_id: str | None = None


@dataclass(frozen=True)
class ReleaseReceipt:
    external_ref: str | None
    status_code: int
    attempts: int


@runtime_checkable
class OrderSource(Protocol):
    """A channel that delivers orders by webhook."""

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None: ...

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str: ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """The channel's order object as a canonical order (mapping/schemas/order.v1.json)."""
        ...


#: Words that mark a header name as a credential: such headers are not stored by default.
SECRET_HEADER_WORDS = (
    "hmac",
    "signature",
    "authorization",
    "token",
    "cookie",
    "api-key",
    "apikey",
    "secret",
    "password",
)
#: At most this many headers are stored with a webhook body...
MAX_KEPT_HEADERS = 32
#: ...each value cut to this many characters; a longer name is not stored at all.
MAX_KEPT_HEADER_CHARS = 1024
MAX_KEPT_HEADER_NAME = 128


@runtime_checkable
class WebhookMetadata(Protocol):
    """Optional for an ``OrderSource``: what of a delivery is stored, and under which topic.

    Intake stores the raw body with ``kept_headers(headers)`` and the topic in the inbox row;
    ``parse_webhook`` later sees only the stored headers, so keep every header it reads (never
    the signature: the body was verified before it was stored). A connector that declares
    neither method keeps every header except secret-looking ones, and no topic. At most
    ``MAX_KEPT_HEADERS`` headers are stored whatever a connector keeps. Example::

        class MyShop:
            def kept_headers(self, headers):
                return keep_headers(headers, ("x-myshop-", "content-type", "user-agent"))

            def webhook_topic(self, headers):
                return header_value(headers, "X-MyShop-Event")
    """

    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]: ...

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None: ...


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value looked up case-insensitively in any mapping (dict, starlette Headers)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def is_secret_header(name: str) -> bool:
    """Whether a header name looks like it carries a credential (``SECRET_HEADER_WORDS``)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_HEADER_WORDS)


def keep_headers(headers: Mapping[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """The headers whose lower-cased name starts with one of ``prefixes`` (lower case; a full
    name is its own prefix), less secret-looking ones; names lower-cased."""
    kept = {}
    for name, value in headers.items():
        key = name.lower()
        if key.startswith(prefixes) and not is_secret_header(key):
            kept[key] = value
    return kept


def default_kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What is stored for a connector that does not say: every header but secret-looking ones."""
    return {name.lower(): value for name, value in headers.items() if not is_secret_header(name)}


def kept_webhook_headers(source: object, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers to store with a delivery's body: the connector's ``kept_headers``, else
    ``default_kept_headers``; capped in count and size either way."""
    declared = getattr(source, "kept_headers", None)
    kept: Mapping[str, str] = (
        declared(headers) if callable(declared) else default_kept_headers(headers)
    )
    capped: dict[str, str] = {}
    for name, value in kept.items():
        if len(capped) >= MAX_KEPT_HEADERS:
            break
        if len(name) <= MAX_KEPT_HEADER_NAME:
            capped[name.lower()] = str(value)[:MAX_KEPT_HEADER_CHARS]
    return capped


def webhook_topic_of(source: object, headers: Mapping[str, str]) -> str | None:
    """The delivery's topic as the connector names it (``webhook_topic``); None if it does not."""
    declared = getattr(source, "webhook_topic", None)
    topic = declared(headers) if callable(declared) else None
    return topic if isinstance(topic, str) and topic else None


class ListingRefs(Protocol):
    """Optional for a channel whose listings are keyed by the variant its order lines name:
    the ``channel_ref``(s) a listing of that line's variant has, so a line with no SKU (or a
    SKU not in the catalogue) is matched through the channel's listings. Example (a channel
    whose listings are keyed by the variant id itself)::

        def listing_refs(self, line):
            return (line["variant_id"],) if line.get("variant_id") else ()
    """

    def listing_refs(self, line: Mapping[str, Any]) -> Sequence[str]: ...


def listing_refs_of(source: object, line: Mapping[str, Any]) -> tuple[str, ...]:
    """The listing refs the connector names for a canonical line; none if it does not say."""
    declared = getattr(source, "listing_refs", None)
    return tuple(str(ref) for ref in declared(line)) if callable(declared) else ()


@runtime_checkable
class PingAware(Protocol):
    """A channel that sends unsigned set-up pings (WooCommerce) that must get a 200."""

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool: ...


@runtime_checkable
class OrderPoller(Protocol):
    """A channel whose orders can be listed by last-modified time (the reconciliation path).

    The core keeps the cursor: it asks for orders modified after ``updated_after`` (already
    moved back by the overlap window), then follows ``next_page_token`` until it is None.
    A run interrupted mid-way resumes from the last stored token. A page that cannot be read
    at all raises; a single record that cannot be read goes into ``OrderPage.rejected``
    (``read_records`` does both halves), so the rest of the page still comes in. Example::

        def pull_orders(self, updated_after, page_token, *, now):
            body = self.client.list_orders(updated_after, page_token)
            orders, rejected = read_records(body["orders"], self.read_polled)
            return OrderPage(orders, body.get("next"), rejected)
    """

    def pull_orders(
        self, updated_after: datetime, page_token: str | None, *, now: datetime
    ) -> OrderPage: ...


@runtime_checkable
class PolledRecordReader(Protocol):
    """Optional for an ``OrderPoller``: read one polled record as ``pull_orders`` reads it.

    Processing a polled inbox row calls it on the stored record before mapping it, so a
    record the poll rejected (``OrderPage.rejected``), once replayed, is refused again for the
    same reason while its data is still bad, instead of slipping through a laxer mapping.
    Raise ``PayloadError``.
    """

    def read_polled(self, record: Any) -> ChannelOrder: ...


@runtime_checkable
class StoreLocations(Protocol):
    """A channel with its own stock locations (POS stores) mapped to omniroute warehouses."""

    def warehouse_code_for(self, location: str) -> str | None: ...


@runtime_checkable
class OrderFetcher(Protocol):
    """A channel that can return one order by its id (used for id-only webhook hints)."""

    def fetch_order(self, external_id: str) -> ChannelOrder: ...


#: A channel's fraud risk verdict on an order, as the canonical order's ``risk_level`` holds
#: it: ``pending`` while the channel is still assessing, None when it gives no verdict.
RiskVerdict = Literal["low", "medium", "high", "pending"] | None


@runtime_checkable
class RiskAssessor(Protocol):
    """A channel that rates an order's fraud risk through its API, apart from the order
    itself (Shopify's risk assessments). Called outside any transaction, once per version
    of an order that may still be routed, when the instance has ``RISK_ASSESSMENT`` enabled.
    """

    def assess_risk(self, external_id: str) -> RiskVerdict: ...


@dataclass(frozen=True)
class ShippedLine:
    sku: str  # omniroute's SKU
    quantity: int
    external_line_id: str | None = None  # the channel's line id, from the canonical order
    channel_sku: str | None = None


@dataclass(frozen=True)
class FulfilmentNotice:
    """A shipment to report to the channel the order came from."""

    external_order_id: str
    shipment_ref: str  # omniroute's shipment id; stable across retries
    lines: tuple[ShippedLine, ...]
    shipped_at: datetime
    idempotency_key: str
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    order_complete: bool = False  # every line of the order has now shipped


@dataclass(frozen=True)
class StockUpdate:
    """Available-to-sell of one SKU for one channel.

    ``previous`` and ``channel_units_since`` let a channel that decrements its own stock on
    each sale (and offers compare-and-set) tell its sales that omniroute has not taken in yet
    from ours: since the last push the channel should have dropped from ``previous`` by about
    ``channel_units_since``; anything it dropped beyond that is orders still on their way.
    A connector that simply overwrites the figure ignores both.
    """

    sku: str  # omniroute's SKU
    channel_ref: str  # the channel's id for it (variant, inventory item, listing SKU...)
    available: int
    #: What omniroute last pushed for this listing (None: never, or the listing changed).
    previous: int | None = None
    #: Units of this channel's own orders for the SKU taken in since that push (not cancelled).
    channel_units_since: int = 0


@dataclass(frozen=True)
class PushReceipt:
    external_ref: str | None
    attempts: int
    #: Stock pushes: the figure the channel now holds per ``channel_ref``, where it is not the
    #: one asked for (a compare-and-set that held back sales omniroute has not seen yet).
    applied: Mapping[str, int] | None = None


@runtime_checkable
class FulfilmentSink(Protocol):
    """A channel that takes shipments and tracking back."""

    def push_fulfilment(self, notice: FulfilmentNotice) -> PushReceipt: ...


@runtime_checkable
class StockSink(Protocol):
    """A channel that takes available-to-sell quantities."""

    def push_stock(
        self, updates: Sequence[StockUpdate], *, idempotency_key: str
    ) -> PushReceipt: ...


@dataclass(frozen=True)
class CancelNotice:
    """Ops cancelled an order in omniroute before it was released: tell its channel."""

    external_order_id: str
    reason: str
    idempotency_key: str


@runtime_checkable
class OrderCanceller(Protocol):
    """A channel that can be told an order is cancelled (safe to repeat: cancelled is final)."""

    def cancel_order(self, notice: CancelNotice) -> PushReceipt: ...


@runtime_checkable
class WarehouseAdapter(Protocol):
    """A WMS that accepts fulfilment orders."""

    def release(self, request: ReleaseRequest) -> ReleaseReceipt: ...


class CancelOutcome(enum.StrEnum):
    """What a warehouse answered to a cancel."""

    CANCELLED = "cancelled"  # the units will not ship (``CancelReceipt.lines`` says which)
    TOO_LATE = "too_late"  # already picked, packed or shipped: nothing was cancelled
    UNKNOWN_ORDER = "unknown_order"  # the warehouse holds no such fulfilment order


@dataclass(frozen=True)
class CancelLine:
    line_id: int  # omniroute's order line id, as the release named it
    sku: str
    quantity: int  # units of the line to cancel


@dataclass(frozen=True)
class CancelRequest:
    """Cancel some or all of a fulfilment order a warehouse accepted (``lines``: what to
    cancel; ``entire``: every unit it still has open)."""

    fulfilment_order_id: int
    order_id: int
    order_reference: str
    warehouse_code: str
    external_ref: str | None  # the warehouse's own id for it, from the release's answer
    lines: tuple[CancelLine, ...]
    entire: bool
    reason: str
    idempotency_key: str
    correlation_id: str | None = None  # sent as X-Correlation-ID, as a release's is


@dataclass(frozen=True)
class CancelReceipt:
    outcome: CancelOutcome
    status_code: int
    attempts: int
    #: CANCELLED: units cancelled per ``line_id`` when the warehouse says (fewer than asked:
    #: the rest was too late); None means every unit asked for.
    lines: Mapping[int, int] | None = None
    detail: str | None = None  # the warehouse's word for it ("picked", "shipped", ...)


@runtime_checkable
class WarehouseCanceller(Protocol):
    """A WMS that can cancel (part of) a fulfilment order it accepted. Repeating a request
    with the same ``idempotency_key`` must give the same answer. Example::

        def cancel(self, request):
            answer = self.client.cancel(request.fulfilment_order_id, request.lines)
            if answer["status"] == "picked":
                return CancelReceipt(CancelOutcome.TOO_LATE, 409, 1, detail="picked")
            return CancelReceipt(CancelOutcome.CANCELLED, 200, 1)
    """

    def cancel(self, request: CancelRequest) -> CancelReceipt: ...


@dataclass(frozen=True)
class ReturnLine:
    line_id: int  # omniroute's order line id
    sku: str
    quantity: int
    external_line_id: str | None = None  # the channel's id for the line


@dataclass(frozen=True)
class ReturnRequest:
    """A return authorisation (RMA) a warehouse should expect: an advance notice of what
    comes back, so it can match the parcel and confirm its receipt."""

    return_id: int
    rma_number: str
    order_id: int
    order_reference: str
    warehouse_code: str
    lines: tuple[ReturnLine, ...]
    reason: str
    idempotency_key: str
    note: str | None = None
    cancelled: bool = False  # the RMA was cancelled: the warehouse should stop expecting it
    correlation_id: str | None = None


@runtime_checkable
class ReturnExpecter(Protocol):
    """A WMS that takes advance notices of returns. Repeating a request with the same
    ``idempotency_key`` must give the same answer."""

    def expect_return(self, request: ReturnRequest) -> ReleaseReceipt: ...


@dataclass(frozen=True)
class ReturnNotice:
    """A return's status for the order's channel: ``authorised``, ``received`` (units back,
    ``lines`` say which), ``cancelled`` or ``closed``; ``order_returned``: every shipped unit
    is back; ``return_complete``: every unit this return expects is back.
    ``external_return_id``: the channel's own id of the return, where it has one (the channel
    asked for it, or an earlier push created it there)."""

    external_order_id: str
    rma_number: str
    status: str
    lines: tuple[ReturnLine, ...]
    reason: str
    idempotency_key: str
    order_returned: bool = False
    return_complete: bool = False
    external_return_id: str | None = None


@runtime_checkable
class ReturnSink(Protocol):
    """A channel that can be told of a return (safe to repeat under the same key).

    ``PushReceipt.external_ref`` of an ``authorised`` push that created the return in the
    channel is the channel's id of it; the core keeps it on the RMA for later pushes."""

    def push_return(self, notice: ReturnNotice) -> PushReceipt: ...


@dataclass(frozen=True)
class ChannelReturnLine:
    external_line_id: str  # the channel's id of the order line (as ``order_line.external_line_id``)
    quantity: int
    reason: str  # one of omniroute's reason codes (core.returns.rules.ReasonCode values)
    note: str | None = None


@dataclass(frozen=True)
class ChannelReturn:
    """A return as the channel's webhook tells it.

    ``status``: ``requested`` (a customer asked), ``authorised`` (the channel approved or
    opened it), ``declined``, ``cancelled`` or ``closed``. ``lines`` may be empty for a
    status change that names only the return."""

    external_return_id: str
    external_order_id: str | None
    status: str
    lines: tuple[ChannelReturnLine, ...] = ()
    name: str | None = None  # the channel's own label of it (Shopify: "#1001-R1")
    rma_number: str | None = None  # omniroute's RMA, when omniroute created it in the channel


@runtime_checkable
class ReturnEvents(Protocol):
    """A channel whose webhooks carry returns. ``return_event`` reads a stored delivery: the
    return it tells of, or None for a delivery that is not about a return (``PayloadError``
    for one that is, but cannot be read)."""

    def return_event(
        self, topic: str | None, headers: Mapping[str, str], body: bytes
    ) -> ChannelReturn | None: ...


@dataclass(frozen=True)
class ConnectorRuntime:
    """Process-wide knobs every connector instance gets from settings."""

    allow_private_urls: bool = False
    http_timeout: float = 10.0
    retry_attempts: int = 3
    retry_max_wait: float = 5.0


@runtime_checkable
class ConnectionCheck(Protocol):
    """A connector that can prove its configuration and secrets work with one cheap read
    call (the console's and the API's "test connection"). Raise ``ConnectorError`` (its
    reason and message are shown) when the call fails; answer what answered."""

    def check_connection(self) -> str: ...


def enabled_capabilities(instance: Any) -> frozenset[Capability]:
    """What this instance can do with the config it has.

    A kind may narrow its class-level ``capabilities`` per instance by setting an
    ``enabled_capabilities`` attribute: a Shopify connector without an Admin API token takes
    webhooks but is never polled and is not sent shipments or stock.
    """
    narrowed = getattr(instance, "enabled_capabilities", None)
    return frozenset(narrowed if narrowed is not None else instance.capabilities)


class ConnectorKind(Protocol):
    """The class-level contract of a registered connector kind."""

    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    config_model: ClassVar[type[BaseModel]]
    secrets_model: ClassVar[type[BaseModel]]

    def __init__(self, config: Any, secrets: Any, *, runtime: ConnectorRuntime) -> None: ...
