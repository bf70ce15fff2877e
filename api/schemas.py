"""Request and response bodies of the REST API."""

from __future__ import annotations

import types
from datetime import UTC, date, datetime
from typing import Annotated, Any, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from omniroute.core.channels.release_policy import ReleasePolicy
from omniroute.mapping.engine import MAX_LINE_QUANTITY

#: The largest id: ids are BIGINT, and a larger number would fail in the database driver.
MAX_ID = 2**63 - 1
#: A row id in a path, a query or a body: 1 .. 2^63-1, else 422.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
#: A page cursor: the last id of the previous page, 0 for the first.
AfterId = Annotated[int, Field(ge=0, le=MAX_ID)]
#: The most units one stock figure (on hand, safety) or one adjustment may hold: the stock
#: columns are 32-bit integers, so this leaves room for adjustments on top.
MAX_STOCK_UNITS = 1_000_000_000
StockUnits = Annotated[int, Field(ge=0, le=MAX_STOCK_UNITS)]
#: Units on one line of a shipment, as on one order line (the canonical schema's bound).
LineQuantity = Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]
#: Counts ops set on a warehouse or a listing (capacity, buffers).
SmallCount = Annotated[int, Field(ge=0, le=1_000_000)]


#: The longest string any request body field may hold unless the field says less.
MAX_BODY_STRING = 10_000


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _json_type_fits(annotation: Any, value: Any) -> bool:
    """False when ``value`` is a JSON type that pydantic's lax mode would coerce wrongly for
    ``annotation``: ``true``/``false`` or a string where a number goes, a number or a string
    where a boolean goes. Anything else is left to the field's own validation."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return value is None or any(_json_type_fits(a, value) for a in members)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation in (int, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    items: list[tuple[Any, Any]] = []
    if origin is list and isinstance(value, list):
        items = [(get_args(annotation)[0], v) for v in value]
    elif origin is dict and isinstance(value, dict):
        items = [(get_args(annotation)[1], v) for v in value.values()]
    return all(_json_type_fits(a, v) for a, v in items)


TYPE_NAMES: dict[Any, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    type(None): "null",
    list: "a list",
    dict: "an object",
}


def _type_name(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    return TYPE_NAMES.get(origin or annotation, getattr(annotation, "__name__", "another type"))


class Body(BaseModel):
    """A JSON request body: unknown fields refused, every string bounded, and no coercion
    between JSON types (``false`` or ``"1"`` is not an integer, ``0`` is not a boolean).

    Pydantic's strict mode would also refuse the ISO strings of dates and the values of
    enums, which FastAPI hands over as plain strings; this checks only the JSON types."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_BODY_STRING)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_json_types(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None:
            return value
        annotation = cls.model_fields[info.field_name].annotation
        if not _json_type_fits(annotation, value):
            expected = _type_name(annotation)
            raise ValueError(f"must be {expected}, not {type(value).__name__} {value!r}"[:200])
        return value


def _utc(value: datetime) -> str:
    """Stored times are naive UTC; say so on the wire."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


UtcDateTime = Annotated[datetime, PlainSerializer(_utc, return_type=str)]


# Street lines are named as on orders (the canonical order's ship_to); a warehouse's address
# written before with line1/line2 is read and accepted under those names too.
STREET_ALIASES = (("line1", "address1"), ("line2", "address2"))


def _street_names(value: Any) -> Any:
    """``line1``/``line2`` as ``address1``/``address2``; both names with different values
    is an error naming them."""
    if not isinstance(value, dict) or not any(old in value for old, _ in STREET_ALIASES):
        return value
    value = dict(value)
    for old, new in STREET_ALIASES:
        if old in value:
            given = value.pop(old)
            if new in value and value[new] != given:
                raise ValueError(f"give {new} or {old} (the same field), not both")
            value[new] = given
    return value


class Address(Body):
    """A warehouse's address: ``address1``/``address2`` as on orders (``line1``/``line2`` are
    accepted as the same fields)."""

    model_config = ConfigDict(extra="forbid")
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")

    _streets = model_validator(mode="before")(_street_names)

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class RateBandIn(Body):
    model_config = ConfigDict(extra="forbid")
    max_km: float = Field(gt=0)
    base: float = Field(ge=0)
    per_kg: float = Field(ge=0)


class WarehouseCalendar(Body):
    """Local days a warehouse does not ship; empty = open every day."""

    model_config = ConfigDict(extra="forbid")
    closed_weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=list, description="weekdays it never ships: Monday=0 ... Sunday=6"
    )
    holidays: list[Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]] = Field(
        default_factory=list, max_length=1000, description="dates it does not ship, YYYY-MM-DD"
    )

    @field_validator("closed_weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if len(set(value)) == 7:
            raise ValueError("closed every weekday: it would never ship (disable it instead)")
        return sorted(set(value))

    @field_validator("holidays")
    @classmethod
    def _dates(cls, value: list[str]) -> list[str]:
        for day in value:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"{day!r} is not a date (YYYY-MM-DD)") from None
        return sorted(set(value))


ChannelBuffers = dict[
    Annotated[str, Field(min_length=1, max_length=200)],
    Annotated[int, Field(ge=0, le=1_000_000)],
]
BUFFERS_HELP = (
    "units of every SKU held back from a channel, by connector kind or name "
    "(the name's entry wins over the kind's)"
)


def _check_timezone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
    return value


class WarehouseIn(Body):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    address: Address
    priority: int = Field(default=100, ge=0, le=1_000_000, description="lower is preferred")
    enabled: bool = True
    wms_connector_id: Id | None = None
    tags: list[str] = Field(default_factory=list, description="capabilities: cold-chain, hazmat...")
    channels: list[str] = Field(
        default_factory=list, description="connector kinds or names served; empty = all"
    )
    daily_order_capacity: SmallCount | None = None
    cutoff_local_time: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = Field(default="UTC", max_length=64)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    rate_table: list[RateBandIn] = Field(default_factory=list)
    calendar: WarehouseCalendar = Field(default_factory=WarehouseCalendar)
    channel_buffers: ChannelBuffers = Field(default_factory=dict, description=BUFFERS_HELP)

    _tz = field_validator("timezone")(_check_timezone)


class WarehousePatch(Body):
    """Fields left out are kept. ``null`` clears the fields that may be empty (the WMS,
    capacity, cut-off, location, and ``calendar`` / ``channel_buffers`` back to none); for
    any other field it is a 422."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: Address | None = None
    priority: int | None = Field(default=None, ge=0, le=1_000_000)
    enabled: bool | None = None
    wms_connector_id: Id | None = None
    tags: list[str] | None = None
    channels: list[str] | None = None
    daily_order_capacity: SmallCount | None = None
    cutoff_local_time: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str | None = Field(default=None, max_length=64)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    rate_table: list[RateBandIn] | None = None
    calendar: WarehouseCalendar | None = Field(default=None, description="replaces the calendar")
    channel_buffers: ChannelBuffers | None = Field(default=None, description=BUFFERS_HELP)

    _tz = field_validator("timezone")(_check_timezone)

    # Runs only for fields the body gives (defaults are not validated): an explicit null.
    @field_validator(
        "name",
        "address",
        "priority",
        "enabled",
        "tags",
        "channels",
        "timezone",
        "rate_table",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null: leave the field out to keep it")
        return value


class WarehouseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    address: dict[str, Any]
    country: str
    postal_code: str
    priority: int
    enabled: bool
    wms_connector_id: int | None
    tags: list[str]
    channels: list[str]
    daily_order_capacity: int | None
    cutoff_local_time: str | None
    timezone: str
    latitude: float | None
    longitude: float | None
    rate_table: list[dict[str, float]]
    calendar: WarehouseCalendar
    channel_buffers: dict[str, int]

    # Older versions let PATCH store null in these; read it as empty rather than fail.
    @field_validator("tags", "channels", "rate_table", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("address", "calendar", "channel_buffers", mode="before")
    @classmethod
    def _null_dict(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("address")
    @classmethod
    def _streets(cls, value: dict[str, Any]) -> dict[str, Any]:
        return dict(_street_names(value))


class StockSet(Body):
    model_config = ConfigDict(extra="forbid")
    warehouse_id: Id
    sku: str = Field(min_length=1, max_length=128)
    on_hand: StockUnits | None = None
    safety: StockUnits | None = None
    reason: str = Field(default="set", max_length=40)


class StockAdjust(Body):
    model_config = ConfigDict(extra="forbid")
    warehouse_id: Id
    sku: str = Field(min_length=1, max_length=128)
    delta: int = Field(ge=-MAX_STOCK_UNITS, le=MAX_STOCK_UNITS)
    reason: str = Field(min_length=1, max_length=40)


class StockOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    warehouse_id: int
    sku: str
    on_hand: int
    reserved: int
    safety: int
    available: int


class LedgerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    warehouse_id: int
    sku: str
    delta_on_hand: int
    delta_reserved: int
    delta_safety: int
    reason: str
    reference: str | None
    actor: str | None
    created_at: UtcDateTime


class SkuIn(Body):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=300)
    tags: list[str] = Field(default_factory=list, description="categories rules can match")
    requires: list[str] = Field(
        default_factory=list, description="warehouse tags needed to ship it (cold-chain...)"
    )
    weight_kg: float | None = Field(default=None, ge=0)


class SkuOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str | None
    tags: list[str]
    requires: list[str]
    weight_kg: float | None


class AliasIn(Body):
    model_config = ConfigDict(extra="forbid")
    connector_id: Id
    alias: str = Field(
        min_length=1,
        max_length=200,
        description="the channel's SKU, or variant:<id> (or the bare id) for SKU-less lines; "
        "an unknown_sku exception names the exact alias to add",
    )
    sku: str = Field(min_length=1, max_length=128)


class AliasOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    connector_id: int
    alias: str
    sku: str
    retried_exceptions: list[int] = Field(
        default_factory=list,
        description="unknown_sku exceptions of orders waiting for this alias, retried on create",
    )


class ConnectorIn(Body):
    model_config = ConfigDict(extra="forbid")
    kind: str
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Any] = Field(default_factory=dict, description="write-only")
    enabled: bool = True
    release_policy: ReleasePolicy | None = Field(
        default=None, description="Which of its orders may go to a warehouse; unset: defaults"
    )


class ConnectorPatch(Body):
    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any] | None = None
    secrets: dict[str, Any] | None = Field(default=None, description="write-only; merged")
    enabled: bool | None = None
    release_policy: ReleasePolicy | None = Field(
        default=None, description="Replaces the release policy; null puts the defaults back"
    )


class ConnectorOut(BaseModel):
    id: int
    kind: str
    name: str
    config: dict[str, Any]
    secrets_set: list[str]
    enabled: bool
    webhook_url: str | None
    release_policy: ReleasePolicy = Field(description="In force: the stored one or the defaults")


class ConnectorHealthOut(BaseModel):
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    rate_limit_wait_seconds: float
    disabled_at: datetime | None
    disabled_reason: str | None
    last_webhook_at: datetime | None
    poll_cursor: datetime | None = Field(
        description="Orders modified after this (minus the overlap window) are read next"
    )
    last_poll_at: datetime | None
    next_poll_at: datetime | None
    poll_in_progress: bool
    lag_seconds: float | None = Field(description="Seconds since the last finished poll")


class PollRequested(BaseModel):
    connector_id: int
    queued: bool


class BrokenKindOut(BaseModel):
    kind: str
    error: str


class ConnectorKindOut(BaseModel):
    kind: str
    capabilities: list[str]
    config_schema: dict[str, Any]
    secrets_schema: dict[str, Any]


class ExceptionOut(BaseModel):
    """One problem per subject and reason, counted again each time it recurs."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    reason: str
    status: str = Field(
        description="open, retried (its work replayed), resolved, or dismissed (by a person)"
    )
    detail: dict[str, Any] = Field(
        description="the latest occurrence's; inbound_message_ids lists the inbox rows a bad "
        "payload came in (the same body under other webhook ids), newest last"
    )
    order_id: int | None
    inbound_message_id: int | None = Field(description="the latest occurrence's inbox row")
    outbox_message_id: int | None
    occurrences: int = Field(description="times the problem was found: 1, plus each recurrence")
    first_seen_at: UtcDateTime
    last_seen_at: UtcDateTime
    retries: int = Field(description="times a person retried it")
    last_retried_at: UtcDateTime | None
    created_at: UtcDateTime
    resolved_at: UtcDateTime | None = Field(description="when it was resolved or last retried")
    closed_by: str | None = Field(default=None, description="who resolved or dismissed it")
    close_note: str | None = Field(default=None, description="why, in their words")
    assignee: str | None = Field(default=None, description="who is working it")
    assigned_at: UtcDateTime | None = None
    snoozed_until: UtcDateTime | None = Field(
        default=None, description="hidden from the console's open queue until then"
    )


class AssignIn(Body):
    assignee: str | None = Field(
        max_length=200, description="a user name or team; null takes the exception back"
    )


class SnoozeIn(Body):
    until: datetime | None = Field(
        description="when it shows in the queue again (at most 30 days ahead; a time "
        "without a zone is UTC); null wakes it now"
    )


class CloseIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="why it is closed")


class RetryOut(BaseModel):
    exception_id: int
    task: str
    row_id: int


class WebhookAck(BaseModel):
    status: str
    inbound_id: int | None
    duplicate: bool


class OrderSummaryOut(BaseModel):
    id: int
    connector_id: int
    channel: str
    external_id: str
    external_number: str | None
    status: str
    currency: str
    total: str | None
    service_level: str
    customer_email: str | None
    customer_name: str | None = Field(
        default=None, description="The customer's name, else the ship-to name"
    )
    created_at: UtcDateTime
    updated_at: UtcDateTime
    hold: HoldOut | None = Field(
        default=None,
        description="Why it is held (status on_hold): by the channel's release policy, or "
        "after a missed cut-off until the next shipping day (code cutoff_missed)",
    )
    promised_ship_by: date | None = Field(
        default=None,
        description="The local date by which its warehouses ship it, from the latest routing "
        "decision with a plan (their cut-offs and calendars); null before one",
    )
    promised_service_level: str | None = Field(
        default=None,
        description="The service level it was routed as: service_level, or lower after a "
        "downgrade for a missed cut-off",
    )
    promised_deliver_by: date | None = Field(
        default=None,
        description="The latest delivery date its carrier bookings promise (ship-by + the "
        "chosen service's transit business days); null before a booking",
    )


class HoldOut(BaseModel):
    code: str = Field(
        description="payment_pending, payment_voided, unrecognised_payment, test_order, risk, "
        "partially_fulfilled_by_channel; cutoff_missed (held until the next shipping day)"
    )
    reason: str | None
    waived: list[str] = Field(description="Hold codes a person released this order from")
    until: UtcDateTime | None = Field(
        default=None, description="cutoff_missed: when the sweeper routes it again"
    )


class NameValueOut(BaseModel):
    name: str
    value: str


class OrderLineOut(BaseModel):
    id: int
    line_no: int
    external_line_id: str | None
    channel_sku: str | None
    sku: str | None
    title: str | None
    quantity: int
    unit_price: str | None
    discount_total: str | None = None
    tax_total: str | None = None
    line_total: str | None = Field(
        default=None, description="the channel's own figure for the line (README: per channel)"
    )
    properties: list[NameValueOut] = Field(
        default_factory=list, description="what the buyer chose: a grind, an engraving"
    )
    gift_message: str | None = None


class TimelineEntryOut(BaseModel):
    at: UtcDateTime
    from_: str | None = Field(alias="from", serialization_alias="from")
    to: str
    note: str | None

    model_config = ConfigDict(populate_by_name=True)


class FulfilmentLineOut(BaseModel):
    order_line_id: int
    sku: str
    quantity: int
    shipped_quantity: int
    cancelled_quantity: int = Field(default=0, description="units the warehouse cancelled")


class ShipmentLineOut(BaseModel):
    sku: str
    quantity: int


class ShipmentOut(BaseModel):
    id: int
    fulfilment_order_id: int
    external_ref: str
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    shipped_at: UtcDateTime
    lines: list[ShipmentLineOut]
    status: str = Field(default="unknown", description="canonical tracking status")
    delivered_at: UtcDateTime | None = None


class FulfilmentOrderOut(BaseModel):
    id: int
    warehouse_id: int
    warehouse_code: str | None
    status: str
    external_ref: str | None
    released_at: UtcDateTime | None
    consolidation_id: int | None = Field(
        default=None, description="set when the lines come from several orders of this group"
    )
    lines: list[FulfilmentLineOut] = Field(description="this order's lines on it")


class CarrierBookingOut(BaseModel):
    fulfilment_order_id: int
    carrier: str
    service: str
    service_level: str
    tracking_number: str
    label_ref: str | None
    amount: str = Field(description="freight cost, a decimal string in currency")
    currency: str
    deliver_by: date
    booked_at: UtcDateTime
    choice: dict[str, Any] = Field(description="every quote and why each loser lost")


class RoutingDecisionOut(BaseModel):
    id: int
    policy: str
    outcome: str
    attempt: int
    at: UtcDateTime
    plan: list[dict[str, Any]]
    trace: dict[str, Any] = Field(description="every candidate warehouse and why it won or lost")


class OrderExceptionBrief(BaseModel):
    id: int
    reason: str
    status: str
    detail: dict[str, Any]
    occurrences: int = 1
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    retries: int = 0


class ConsolidationOrderOut(BaseModel):
    id: int
    external_id: str
    external_number: str | None
    status: str


class ConsolidationOut(BaseModel):
    """Orders of one customer to one address held to leave as one fulfilment order per
    warehouse; status open (waiting until hold_until), routed or dissolved."""

    id: int
    status: str
    hold_until: UtcDateTime
    created_at: UtcDateTime
    closed_at: UtcDateTime | None
    orders: list[ConsolidationOrderOut]


class CancellationLineOut(BaseModel):
    order_line_id: int
    sku: str
    quantity: int = Field(description="units asked to be cancelled")


class CancellationOut(BaseModel):
    """A cancel asked of a warehouse that holds (part of) the order, and its outcome."""

    id: int
    fulfilment_order_id: int
    source: str = Field(description="channel or ops")
    reason: str
    status: str = Field(
        description="requested (pending), cancelled, too_late, unknown_order or failed"
    )
    pending: bool
    lines: list[CancellationLineOut]
    units_cancelled: int
    detail: str | None = Field(description="the warehouse's word for it, or the failure")
    requested_at: UtcDateTime
    settled_at: UtcDateTime | None


class RoutingWarningOut(BaseModel):
    code: str = Field(
        description="ship_to_not_located, postal_code_unknown or warehouse_not_located"
    )
    message: str
    warehouses: list[str] | None = Field(default=None, description="the warehouses meant")


class OrderDetailOut(OrderSummaryOut):
    ship_to: dict[str, Any] | None
    routing_warnings: list[RoutingWarningOut] = Field(
        default_factory=list,
        description="what the latest routing decision could not place: distances unknown "
        "or rough (the trace's warnings)",
    )
    bill_to: dict[str, Any] | None = None
    note: str | None = Field(default=None, description="the buyer's note")
    gift_message: str | None = None
    financial_status: str | None = None
    subtotal: str | None = None
    discount_total: str | None = None
    shipping_total: str | None = None
    tax_total: str | None = None
    attributes: list[NameValueOut] = Field(
        default_factory=list, description="order-level custom fields from the channel"
    )
    lines: list[OrderLineOut]
    timeline: list[TimelineEntryOut]
    fulfilment_orders: list[FulfilmentOrderOut]
    shipments: list[ShipmentOut]
    carrier_bookings: list[CarrierBookingOut] = Field(
        default_factory=list, description="carriers booked for its fulfilment orders"
    )
    routing_decisions: list[RoutingDecisionOut]
    exceptions: list[OrderExceptionBrief]
    consolidation: ConsolidationOut | None = Field(
        default=None, description="the consolidation group the order waits or went out in"
    )
    cancellations: list[CancellationOut] = Field(
        default_factory=list, description="cancels asked of its warehouses, pending or answered"
    )


# Replenishment (core/replenishment): thresholds, alerts, suggestions.
ThresholdUnits = Annotated[int, Field(ge=0, le=MAX_STOCK_UNITS)]
ThresholdDays = Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)]
WholeDays = Annotated[int, Field(ge=0, le=3650)]


class ThresholdIn(Body):
    """Set (create or replace) the threshold of a SKU at a warehouse. Give a min and/or a
    max in units, in days of cover (units = days x the forecast daily rate), or both (the
    larger counts); a missing max means "up to the min"."""

    warehouse_id: Id
    sku: str = Field(min_length=1, max_length=128)
    min_units: ThresholdUnits | None = None
    max_units: ThresholdUnits | None = None
    min_days: ThresholdDays | None = None
    max_days: ThresholdDays | None = None
    lead_time_days: WholeDays = 0
    review_period_days: WholeDays = 0
    pack_size: Annotated[int, Field(ge=1, le=MAX_STOCK_UNITS)] = 1
    moq: ThresholdUnits = 0


class ThresholdOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    warehouse_id: int
    sku: str
    min_units: int | None
    max_units: int | None
    min_days: float | None
    max_days: float | None
    lead_time_days: int
    review_period_days: int
    pack_size: int
    moq: int
    forecast_daily: float | None
    forecast_at: UtcDateTime | None
    updated_at: UtcDateTime


class StockAlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    warehouse_id: int
    sku: str
    kind: str
    status: str
    available: int
    threshold: int
    raised_at: UtcDateTime
    cleared_at: UtcDateTime | None
    cleared_available: int | None


class SuggestionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    run_id: str
    kind: str
    sku: str
    warehouse_id: int
    from_warehouse_id: int | None
    quantity: int
    need: int
    available: int
    min_units: int
    max_units: int
    forecast_daily: float
    horizon_demand: float
    status: str
    created_at: UtcDateTime


class ReplenishmentRunOut(BaseModel):
    run_id: str
    series: int
    purchases: int
    transfers: int
