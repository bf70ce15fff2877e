"""ORM models: the database is the source of truth for every unit of work.

Times are naive UTC everywhere (``core.platform.clock.utcnow``) so SQLite and PostgreSQL
compare alike.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.telemetry.correlation import new_id as new_correlation_id

JSONType = JSON().with_variant(JSONB(), "postgresql")
# BIGINT ids on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType}


class Connector(Base):
    __tablename__ = "connector"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Which of its orders may go to a warehouse (core/intake/release_policy); None: defaults.
    release_policy: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class EdiControlNumber(Base):
    """The last control number issued to an EDI partner in one scope (``interchange``,
    ``group``); taken with one UPDATE ... RETURNING, never reused (core/edi/numbers.py)."""

    __tablename__ = "edi_control_number"
    __table_args__ = (
        CheckConstraint("last_value >= 0", name="ck_edi_control_number_non_negative"),
    )
    connector_id: Mapped[int] = mapped_column(
        ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)


class ConnectorCursor(Base):
    """Where a connector's order poll stands; a run interrupted mid-way resumes at its token."""

    __tablename__ = "connector_cursor"
    connector_id: Mapped[int] = mapped_column(
        ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True
    )
    # Highest channel updated_at seen by a finished run; the next run asks from it minus the
    # overlap window.
    updated_after: Mapped[datetime | None] = mapped_column(DateTime)
    # Set while a run is in progress: what it asked from, the page to read next, and the
    # highest updated_at it has stored so far.
    run_after: Mapped[datetime | None] = mapped_column(DateTime)
    page_token: Mapped[str | None] = mapped_column(Text)
    run_high_water: Mapped[datetime | None] = mapped_column(DateTime)
    run_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_run_orders: Mapped[int] = mapped_column(Integer, default=0)


class ConnectorHealth(Base):
    """How a connector's calls to its remote system are going (kept apart from ``connector``
    so that recording health never looks like a configuration change)."""

    __tablename__ = "connector_health"
    connector_id: Mapped[int] = mapped_column(
        ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True
    )
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    rate_limit_wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class WorkItem:
    """The columns every claimable unit of work has (see core/platform/claims.py)."""

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    nudged_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class InboundMessage(WorkItem, Base):
    """The inbox: a raw inbound payload, committed before the sender gets its 2xx."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("connector_id", "dedupe_key", name="uq_inbound_message_dedupe"),
        Index("ix_inbound_message_due", "status", "next_attempt_at"),
        Index("ix_inbound_message_connector", "connector_id", "id"),  # the console's inbox
    )
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id"))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str | None] = mapped_column(String(100))
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("sales_order.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Follows the order through logs and the outbox to the warehouse (migration 0015).
    correlation_id: Mapped[str | None] = mapped_column(String(128), default=new_correlation_id)


class Warehouse(Base):
    __tablename__ = "warehouse"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    country: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    wms_connector_id: Mapped[int | None] = mapped_column(ForeignKey("connector.id"))
    # What routing needs to know: capabilities (cold-chain, hazmat...), the channels it
    # serves (connector kinds or names; empty = all), capacity, cut-off, location and rates.
    tags: Mapped[list[Any]] = mapped_column(default=list)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    daily_order_capacity: Mapped[int | None] = mapped_column(Integer)
    cutoff_local_time: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    rate_table: Mapped[list[Any]] = mapped_column(default=list)
    # Days it does not ship ({"closed_weekdays": [5, 6], "holidays": ["2026-12-25"]}, local;
    # {} = open every day) and units of every SKU held back per connector kind or name.
    calendar: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel_buffers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Sku(Base):
    """The catalogue of internal SKUs an order line may resolve to."""

    __tablename__ = "sku"
    code: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    requires: Mapped[list[Any]] = mapped_column(default=list)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SkuAlias(Base):
    """A channel's SKU (or ``variant:<id>``) that means an internal SKU."""

    __tablename__ = "sku_alias"
    __table_args__ = (UniqueConstraint("connector_id", "alias", name="uq_sku_alias_key"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id"))
    alias: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(ForeignKey("sku.code"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StockLevel(Base):
    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "sku", name="uq_stock_level_key"),
        CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
        CheckConstraint("reserved >= 0", name="reserved_non_negative"),
        CheckConstraint("safety >= 0", name="safety_non_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_stock_level_sku", "sku"),  # the stock snapshot reads by SKU
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    sku: Mapped[str] = mapped_column(ForeignKey("sku.code"))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    safety: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class StockLedger(Base):
    """Append-only: every change to on hand, reserved or safety, with its cause."""

    __tablename__ = "stock_ledger"
    __table_args__ = (Index("ix_stock_ledger_key", "warehouse_id", "sku", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    sku: Mapped[str] = mapped_column(String(128))
    delta_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    delta_reserved: Mapped[int] = mapped_column(Integer, default=0)
    delta_safety: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Consolidation(Base):
    """Orders of one customer to one address held together, to leave as one fulfilment
    order per warehouse; at most one open group per merge key (a partial unique index)."""

    __tablename__ = "consolidation"
    __table_args__ = (
        Index("ix_consolidation_merge_key", "merge_key"),
        Index(
            "uq_consolidation_open_key",
            "merge_key",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_consolidation_due", "status", "hold_until"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    merge_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|routed|dissolved
    hold_until: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


class SalesOrder(Base):
    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("connector_id", "external_id", name="uq_sales_order_external"),
        # Open orders over all time, closed ones over a window: the dashboard (migration 0015).
        Index("ix_sales_order_status_window", "status", "updated_at", "channel"),
        Index("ix_sales_order_status_id", "status", "id"),
        Index("ix_sales_order_consolidation", "consolidation_id"),
        Index("ix_sales_order_connector_created", "connector_id", "created_at"),
        Index("ix_sales_order_created", "created_at", "id"),
        Index("ix_sales_order_number", "external_number"),  # the console's search
        Index("ix_sales_order_hold_until", "hold_until"),  # cut-off holds the sweeper ends
        Index("ix_sales_order_deliver_by", "promised_deliver_by"),  # late-risk sweeper turn
        # Customer search; text_pattern_ops on PostgreSQL for LIKE 'prefix%' (migration 0019).
        Index("ix_sales_order_customer_email", text("lower(customer_email)"), "id"),
        Index("ix_sales_order_customer_name", text("lower(customer_name)"), "id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    external_number: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default="received")
    external_updated_at: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[str | None] = mapped_column(String(32))
    ship_to: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    # The customer's name, else the ship-to name: searched by prefix (migration 0015).
    customer_name: Mapped[str | None] = mapped_column(String(200))
    service_level: Mapped[str] = mapped_column(String(20), default="standard")
    canonical: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The buyer's note, gift message and attributes, read with every release (migration 0010).
    note: Mapped[str | None] = mapped_column(Text)
    gift_message: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[list[Any] | None] = mapped_column(JSONType)
    nudged_at: Mapped[datetime | None] = mapped_column(DateTime)
    consolidation_id: Mapped[int | None] = mapped_column(ForeignKey("consolidation.id"))
    # Set while the release policy holds the order (status on_hold): why, in a code and words.
    hold_code: Mapped[str | None] = mapped_column(String(40))
    hold_reason: Mapped[str | None] = mapped_column(String(500))
    # Hold codes a person released this order from; later versions are not held for them.
    holds_waived: Mapped[list[Any] | None] = mapped_column(JSONType)
    # A person's fixes of what the channel sent (migration 0026), each beside the channel's
    # value (core/orders/fixes/apply.py).
    fixes: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # What the latest plan promised: the local date its warehouses ship by and the service
    # level it was routed as (routing.Promise); and, while held after a missed cut-off
    # (hold code cutoff_missed), when the sweeper routes it again (migration 0015).
    promised_ship_by: Mapped[date | None] = mapped_column(Date)
    promised_service_level: Mapped[str | None] = mapped_column(String(20))
    # The latest delivery date its carrier bookings promise (migration 0020), and when its
    # late_risk exception was opened (once per order; core/carriers/late_risk).
    promised_deliver_by: Mapped[date | None] = mapped_column(Date)
    late_risk_at: Mapped[datetime | None] = mapped_column(DateTime)
    hold_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.line_no", cascade="all, delete-orphan"
    )


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no", name="uq_order_line_no"),
        Index("ix_order_line_sku", "sku", "order_id"),  # orders having a SKU
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    external_line_id: Mapped[str | None] = mapped_column(String(128))
    channel_sku: Mapped[str | None] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[str | None] = mapped_column(String(32))
    # What the buyer chose ([{name, value}], canonical lines[].properties) and the line's
    # gift message: read with every release of the line (migration 0010).
    properties: Mapped[list[Any] | None] = mapped_column(JSONType)
    gift_message: Mapped[str | None] = mapped_column(Text)

    order: Mapped[SalesOrder] = relationship(back_populates="lines")


class OrderEvent(Base):
    """The order's timeline: one row per state transition or notable step."""

    __tablename__ = "order_event"
    __table_args__ = (Index("ix_order_event_order", "order_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RoutingRuleSet(Base):
    """A version of the routing rules: drafts are editable, published versions immutable.
    Its lifecycle state (scheduled, active, superseded, withdrawn) is derived at a moment,
    never stored (core/order_routing/lifecycle)."""

    __tablename__ = "routing_rule_set"
    __table_args__ = (Index("ix_routing_rule_set_active", "status", "effective_from"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    effective_from: Mapped[datetime | None] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    published_by: Mapped[str | None] = mapped_column(String(200))
    copied_from: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    # A withdrawn version routes nothing from withdrawn_at on (core/order_routing/lifecycle).
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(200))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)


class RoutingDecision(Base):
    __tablename__ = "routing_decision"
    __table_args__ = (Index("ix_routing_decision_order", "order_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    policy: Mapped[str] = mapped_column(String(64))
    rule_set_id: Mapped[int | None] = mapped_column(ForeignKey("routing_rule_set.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    plan: Mapped[list[Any]] = mapped_column(default=list)
    trace: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Available units the router was given: {"<warehouse id>": {"<sku>": units}}, order SKUs.
    stock_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FulfilmentOrder(Base):
    __tablename__ = "fulfilment_order"
    __table_args__ = (
        Index("ix_fulfilment_order_order", "order_id"),
        Index("ix_fulfilment_order_warehouse_day", "warehouse_id", "created_at"),
        Index("ix_fulfilment_order_consolidation", "consolidation_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    decision_id: Mapped[int] = mapped_column(ForeignKey("routing_decision.id"))
    # Set when the lines come from several orders of one consolidation group.
    consolidation_id: Mapped[int | None] = mapped_column(ForeignKey("consolidation.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    external_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(DateTime)

    lines: Mapped[list[FulfilmentLine]] = relationship(
        back_populates="fulfilment_order", order_by="FulfilmentLine.id"
    )


class CarrierBooking(Base):
    """A fulfilment order booked with a carrier: the choice among the quotes (its trace),
    the label and tracking number, the freight cost (a decimal string) and the delivery
    date promised (core/carriers/booking, migration 0020)."""

    __tablename__ = "carrier_booking"
    __table_args__ = (
        UniqueConstraint("fulfilment_order_id", name="uq_carrier_booking_fulfilment_order"),
        Index("ix_carrier_booking_booked_at", "booked_at"),
        Index("ix_carrier_booking_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    fulfilment_order_id: Mapped[int] = mapped_column(ForeignKey("fulfilment_order.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id"))
    carrier: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(64))
    service_level: Mapped[str] = mapped_column(String(20))
    tracking_number: Mapped[str] = mapped_column(String(200))
    label_ref: Mapped[str | None] = mapped_column(String(1000))
    amount: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    transit_days: Mapped[int] = mapped_column(Integer)
    deliver_by: Mapped[date] = mapped_column(Date)
    choice: Mapped[dict[str, Any]] = mapped_column(default=dict)
    booked_at: Mapped[datetime] = mapped_column(DateTime)


class FulfilmentLine(Base):
    __tablename__ = "fulfilment_line"
    # Fulfilment orders are found through their lines (core.order_state.holdings).
    __table_args__ = (
        Index("ix_fulfilment_line_order_line", "order_line_id"),
        Index("ix_fulfilment_line_fulfilment_order", "fulfilment_order_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    fulfilment_order_id: Mapped[int] = mapped_column(ForeignKey("fulfilment_order.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id"))
    sku: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(Integer)
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Units the warehouse confirmed it will not ship (core/fulfilment/wms_cancel.py).
    cancelled_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    fulfilment_order: Mapped[FulfilmentOrder] = relationship(back_populates="lines")


class Cancellation(Base):
    """A cancel of (some of) a fulfilment order's units that a warehouse holds: what was
    asked (``lines``), by whom, and what the warehouse answered (core/orders/after_release.py
    asks, core/fulfilment/wms_cancel.py records the outcome)."""

    __tablename__ = "cancellation"
    __table_args__ = (
        Index("ix_cancellation_order", "order_id", "status"),
        Index("ix_cancellation_fulfilment_order", "fulfilment_order_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    fulfilment_order_id: Mapped[int] = mapped_column(ForeignKey("fulfilment_order.id"))
    source: Mapped[str] = mapped_column(String(20))  # channel | ops
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(200))
    notify_channel: Mapped[bool] = mapped_column(Boolean, default=False)
    # requested, then cancelled | too_late | unknown_order | failed
    status: Mapped[str] = mapped_column(String(20), default="requested")
    # [{"fulfilment_line_id", "order_line_id", "sku", "quantity"}]: the units asked for.
    lines: Mapped[list[Any]] = mapped_column(default=list)
    units_cancelled: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime)


class Shipment(Base):
    """What a warehouse confirmed as shipped for a fulfilment order: lines, carrier, tracking."""

    __tablename__ = "shipment"
    __table_args__ = (
        UniqueConstraint("fulfilment_order_id", "external_ref", name="uq_shipment_external"),
        Index("ix_shipment_order", "order_id"),
        Index("ix_shipment_tracking_key", "tracking_key"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    fulfilment_order_id: Mapped[int] = mapped_column(ForeignKey("fulfilment_order.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    external_ref: Mapped[str] = mapped_column(String(200))
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(200))
    tracking_url: Mapped[str | None] = mapped_column(String(1000))
    lines: Mapped[list[Any]] = mapped_column(default=list)
    shipped_at: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Carrier tracking (core/tracking, migration 0011): the tracking number as matched
    # (connectors.tracking.normalise_tracking_number), the canonical status and when the
    # event that set it happened, when it was delivered, and the newest event's time.
    tracking_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default="unknown")
    status_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime)


class ReturnAuthorisation(Base):
    """A return (RMA) of shipped units of one order, to one warehouse (core/returns).

    ``status``: requested, authorised, in_transit, partially_received, received, closed,
    cancelled (``core.returns.rules``)."""

    __tablename__ = "return_authorisation"
    __table_args__ = (
        Index("ix_return_authorisation_order", "order_id"),
        Index("ix_return_authorisation_status", "status", "id"),
        UniqueConstraint("connector_id", "external_id", name="uq_return_authorisation_external"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    rma_number: Mapped[str] = mapped_column(String(40), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    status: Mapped[str] = mapped_column(String(20), default="requested")
    source: Mapped[str] = mapped_column(String(20), default="ops")  # ops | channel
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    # The channel's own id of the return (migration 0026), unique per connector.
    external_id: Mapped[str | None] = mapped_column(String(100))
    # The return parcel, once it is on its way back.
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    carrier: Mapped[str | None] = mapped_column(String(50))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    lines: Mapped[list[ReturnLine]] = relationship(
        back_populates="rma", order_by="ReturnLine.id", cascade="all, delete-orphan"
    )


class ReturnLine(Base):
    """Units of one order line expected back, and what the warehouse did with those that
    came: put back on the shelf (``restocked_quantity``) or written off."""

    __tablename__ = "return_line"
    __table_args__ = (
        Index("ix_return_line_return", "return_id"),
        Index("ix_return_line_order_line", "order_line_id"),
        CheckConstraint(
            "restocked_quantity + written_off_quantity <= quantity", name="received_at_most"
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("return_authorisation.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id"))
    sku: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(Integer)
    restocked_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    written_off_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    rma: Mapped[ReturnAuthorisation] = relationship(back_populates="lines")


class ReturnReceipt(Base):
    """A warehouse's confirmation of what came back for a return; unique per return and the
    warehouse's own reference, so a repeated confirmation is a no-op. ``lines``:
    ``[{"return_line_id", "sku", "quantity", "disposition"}]``; written-off units are
    recorded here (and on the line), restocked ones also in the stock ledger."""

    __tablename__ = "return_receipt"
    __table_args__ = (
        UniqueConstraint("return_id", "external_ref", name="uq_return_receipt_external"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("return_authorisation.id"))
    external_ref: Mapped[str] = mapped_column(String(200))
    lines: Mapped[list[Any]] = mapped_column(default=list)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TrackingEvent(Base):
    """One carrier checkpoint of a parcel, canonical status and raw code; kept even while no
    shipment has its tracking number (``shipment_id`` None, ``unmatched_reason`` says why),
    and applied when one does."""

    __tablename__ = "tracking_event"
    __table_args__ = (
        UniqueConstraint("event_key", name="uq_tracking_event_key"),
        Index("ix_tracking_event_shipment", "shipment_id", "occurred_at"),
        Index("ix_tracking_event_number", "tracking_number"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(255))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipment.id"))
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id"))
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    carrier: Mapped[str] = mapped_column(String(100))
    tracking_number: Mapped[str] = mapped_column(String(200))  # normalised
    status: Mapped[str] = mapped_column(String(32))
    raw_status: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    message: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))
    unmatched_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ChannelListing(Base):
    """A SKU a channel sells, under the channel's own id for it, and the units held back."""

    __tablename__ = "channel_listing"
    __table_args__ = (
        UniqueConstraint("connector_id", "sku", name="uq_channel_listing_sku"),
        CheckConstraint("buffer >= 0", name="buffer_non_negative"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(ForeignKey("sku.code"))
    channel_ref: Mapped[str] = mapped_column(String(200))
    buffer: Mapped[int] = mapped_column(Integer, default=0)
    pushed_available: Mapped[int | None] = mapped_column(Integer)
    pushed_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SyncCursor(Base):
    """How far a background job has read an append-only table (e.g. the stock ledger)."""

    __tablename__ = "sync_cursor"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class OutboxMessage(WorkItem, Base):
    """A side effect on another system, written with the change that causes it."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_outbox_message_fulfilment_order", "fulfilment_order_id"),
    )
    kind: Mapped[str] = mapped_column(String(40))
    connector_id: Mapped[int | None] = mapped_column(ForeignKey("connector.id"))
    fulfilment_order_id: Mapped[int | None] = mapped_column(ForeignKey("fulfilment_order.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The correlation id of the work that wrote it, sent with it (migration 0015).
    correlation_id: Mapped[str | None] = mapped_column(String(128))


class ErpPosting(Base):
    """A document posted to an ERP (core/erp, migration 0021): a sales order, an invoice of a
    shipment or a purchase request, its outbox row, and the ERP's own number for it once it
    answered, so that the two sides can be reconciled."""

    __tablename__ = "erp_posting"
    __table_args__ = (
        Index("ix_erp_posting_order", "order_id", "kind"),
        Index("ix_erp_posting_shipment", "shipment_id"),
        Index("ix_erp_posting_reference", "connector_id", "erp_reference"),
        Index("ix_erp_posting_document", "document_reference"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id"))
    kind: Mapped[str] = mapped_column(String(40))
    outbox_message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id"), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("sales_order.id"))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipment.id"))
    document_reference: Mapped[str] = mapped_column(String(200))
    erp_reference: Mapped[str | None] = mapped_column(String(200))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ErpFeed(Base):
    """When an ERP's stock snapshot or item master is read next, and how the last read went
    (a sweeper turn, core/erp/inbound)."""

    __tablename__ = "erp_feed"
    connector_id: Mapped[int] = mapped_column(
        ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True
    )
    feed: Mapped[str] = mapped_column(String(20), primary_key=True)
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class OrderException(Base):
    """A problem a person must look at, with a machine-readable reason: one row per subject
    and reason, counted again each time it recurs (see core/exceptions/opening.py)."""

    __tablename__ = "order_exception"
    __table_args__ = (
        Index("ix_order_exception_status", "status", "id"),
        Index("ix_order_exception_status_reason", "status", "reason", "id"),
        Index("ix_order_exception_order", "order_id", "status"),
        Index("ix_order_exception_subject", "subject", "reason"),
        Index("ix_order_exception_assignee", "status", "assignee", "id"),
        Index("ix_order_exception_inbound", "inbound_message_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="open")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("sales_order.id"))
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))
    # What the problem is about, as one key ("order:12", "outbox:7", "inbound:3", or
    # "payload:<connector>:<sha256 of the body>" for a bad payload); None: no subject.
    subject: Mapped[str | None] = mapped_column(String(100))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    last_retried_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Who closed it by hand (resolved or dismissed from the console) and their note.
    closed_by: Mapped[str | None] = mapped_column(String(200))
    close_note: Mapped[str | None] = mapped_column(Text)
    # Who is working it, since when; hidden from the queue until this time (SLA still runs).
    assignee: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime)


class ApiToken(Base):
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    owner: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    # NULL: every connector (warehouse); a list: only those ids.
    connector_ids: Mapped[list[Any] | None] = mapped_column(JSONType)
    warehouse_ids: Mapped[list[Any] | None] = mapped_column(JSONType)


class ConsoleUser(Base):
    """A person who signs in to the console: a role and optional scopes, as a token has."""

    __tablename__ = "console_user"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    connector_ids: Mapped[list[Any] | None] = mapped_column(JSONType)
    warehouse_ids: Mapped[list[Any] | None] = mapped_column(JSONType)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)


class ConsoleSession(Base):
    """A signed-in browser: the cookie holds a random id, the table only its SHA-256."""

    __tablename__ = "console_session"
    __table_args__ = (Index("ix_console_session_user", "user_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_user.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ConsoleLoginFailure(Base):
    """A failed sign-in, counted per username and per address to throttle guessing."""

    __tablename__ = "console_login_failure"
    __table_args__ = (
        Index("ix_console_login_failure_user", "username", "created_at"),
        Index("ix_console_login_failure_ip", "client_ip", "created_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"
    # GET /api/v1/audit filters by these, newest pages by id.
    __table_args__ = (
        Index("ix_audit_log_entity", "entity", "entity_id", "id"),
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_created", "created_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    token_id: Mapped[int | None] = mapped_column(Id)
    client_ip: Mapped[str | None] = mapped_column(String(45))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class StockThreshold(Base):
    """Replenishment settings of a SKU at a warehouse (core/replenishment, migration 0024):
    min/max in units and/or days of cover, lead time, review period, pack size and MOQ; the
    daily rate of the last forecast, for alerts on days of cover."""

    __tablename__ = "stock_threshold"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "sku", name="uq_stock_threshold_key"),
        Index("ix_stock_threshold_sku", "sku"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    sku: Mapped[str] = mapped_column(ForeignKey("sku.code"))
    min_units: Mapped[int | None] = mapped_column(Integer)
    max_units: Mapped[int | None] = mapped_column(Integer)
    min_days: Mapped[float | None] = mapped_column(Float)
    max_days: Mapped[float | None] = mapped_column(Float)
    lead_time_days: Mapped[int] = mapped_column(Integer, default=0)
    review_period_days: Mapped[int] = mapped_column(Integer, default=0)
    pack_size: Mapped[int] = mapped_column(Integer, default=1)
    moq: Mapped[int] = mapped_column(Integer, default=0)
    forecast_daily: Mapped[float | None] = mapped_column(Float)
    forecast_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class StockAlert(Base):
    """A SKU at a warehouse whose available units crossed a threshold: open while it stays
    across, cleared when it is back; at most one open per (warehouse, SKU, kind)."""

    __tablename__ = "stock_alert"
    __table_args__ = (
        Index(
            "uq_stock_alert_open",
            "warehouse_id",
            "sku",
            "kind",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_stock_alert_status", "status", "id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    sku: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(20))  # below_min | above_max
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | cleared
    available: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(DateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime)
    cleared_available: Mapped[int | None] = mapped_column(Integer)


class ReplenishmentSuggestion(Base):
    """One line of a replenishment run: buy (``purchase``) or move (``transfer``) units of a
    SKU to a warehouse. ``proposed`` until a newer run supersedes it or someone acts on it
    (``sent`` to an ERP as a purchase request, ``dismissed``)."""

    __tablename__ = "replenishment_suggestion"
    __table_args__ = (
        Index("ix_replenishment_suggestion_status", "status", "id"),
        Index("ix_replenishment_suggestion_run", "run_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    sku: Mapped[str] = mapped_column(String(128))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    from_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    need: Mapped[int] = mapped_column(Integer)
    available: Mapped[int] = mapped_column(Integer)
    min_units: Mapped[int] = mapped_column(Integer)
    max_units: Mapped[int] = mapped_column(Integer)
    forecast_daily: Mapped[float] = mapped_column(Float)
    horizon_demand: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    created_at: Mapped[datetime] = mapped_column(DateTime)
