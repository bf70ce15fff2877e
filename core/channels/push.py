"""Outbox delivery of what channels are told: shipments with tracking, delivery status
(``channel.tracking``), available stock, cancels and returns (``channel.return``).

Like the WMS release, the call happens outside any transaction with the row's idempotency
key; transient failures retry with backoff, permanent ones dead-letter with an exception that
ops can redrive. What is sent is read when it is sent: a redriven stock push sends today's
available quantity, never the stale one of the day it failed. With it go the figure last
pushed and the units of the channel's own orders taken in since, so a channel that offers
compare-and-set can tell the sales it made that omniroute has not seen yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from omniroute.connectors.base import (
    CancelNotice,
    Capability,
    ConnectorError,
    FulfilmentNotice,
    FulfilmentSink,
    OrderCanceller,
    PermanentError,
    PushReceipt,
    ReturnLine,
    ReturnNotice,
    ReturnSink,
    ShippedLine,
    StockSink,
    StockUpdate,
    TransientError,
)
from omniroute.connectors.edi import EdiPartner
from omniroute.connectors.edi_delivery import from_payload
from omniroute.connectors.tracking import TrackingNotice, TrackingSink, TrackingStatus
from omniroute.core.channels import health as connector_health
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.order_state.holdings import overshipped
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import (
    CHANNEL_CANCEL,
    CHANNEL_FULFILMENT,
    CHANNEL_RETURN,
    CHANNEL_STOCK,
    CHANNEL_TRACKING,
    EDI_DOCUMENT,
)
from omniroute.core.platform.clock import as_aware
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.metrics import OUTBOX_DELIVERIES
from omniroute.core.platform.models import (
    ChannelListing,
    Connector,
    FulfilmentLine,
    OrderLine,
    OutboxMessage,
    ReturnAuthorisation,
    SalesOrder,
    Shipment,
    TrackingEvent,
)
from omniroute.core.platform.ports import HasConnectors, HasSettings, Store
from omniroute.core.stock.levels import channel_available

log = logging.getLogger("omniroute.channel_push")

Call = Callable[[], Any]


class Deps(Store, HasSettings, HasConnectors, Protocol):
    """What delivering to a channel uses."""


@dataclass(frozen=True)
class Prepared:
    call: Call
    # (listing id, channel ref, quantity) of a stock push, recorded as pushed once the channel
    # took it (or what the channel says it now holds instead: ``PushReceipt.applied``).
    levels: tuple[tuple[int, str, int], ...] = ()
    # When those quantities were read; recorded as the listings' ``pushed_at``.
    read_at: datetime | None = None


def deliver_claimed(deps: Deps, outbox_id: int, *, now: datetime) -> str:
    """Deliver a channel outbox row this worker has claimed."""
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, outbox_id)
        kind, connector_id = msg.kind, msg.connector_id
        try:
            prepared = _prepare(deps, session, msg)
        except PermanentError as exc:
            _dead(deps, session, msg, exc, now)
            return "dead"
    try:
        receipt = prepared.call()
    except TransientError as exc:
        return _retry(deps, outbox_id, exc, now)
    except ConnectorError as exc:
        with unit_of_work(deps.sessions) as session:
            _dead(deps, session, session.get_one(OutboxMessage, outbox_id), exc, now)
        return "dead"
    with unit_of_work(deps.sessions) as session:
        outbox.mark_sent(session, outbox_id, now=deps.clock.now())
        applied = receipt.applied if isinstance(receipt, PushReceipt) else None
        _record_pushed(
            session, prepared.levels, prepared.read_at or deps.clock.now(), applied or {}
        )
        if kind == CHANNEL_RETURN and isinstance(receipt, PushReceipt):
            _bind_return(session, outbox_id, receipt.external_ref)
        if connector_id is not None:
            connector_health.record_success(session, connector_id, now=deps.clock.now())
    OUTBOX_DELIVERIES.labels(kind, "sent").inc()
    return "sent"


def _record_pushed(
    session: Session,
    levels: tuple[tuple[int, str, int], ...],
    read_at: datetime,
    applied: Mapping[str, int],
) -> None:
    """Remember what the channel holds now: the next compare-and-set expects it, less the
    channel's own sales taken in since (a figure held back for unseen sales is not taken
    for a drift that never corrects)."""
    for listing_id, channel_ref, quantity in levels:
        listing = session.get(ChannelListing, listing_id)
        if listing is not None:
            listing.pushed_available = applied.get(channel_ref, quantity)
            listing.pushed_at = read_at


def _prepare(deps: Deps, session: Session, msg: OutboxMessage) -> Prepared:
    connector = session.get(Connector, msg.connector_id) if msg.connector_id else None
    if connector is None or not connector.enabled:
        raise PermanentError("the channel connector is missing or disabled", reason="no_channel")
    sink = deps.connectors.for_row(connector)
    if msg.kind == CHANNEL_FULFILMENT:
        if not isinstance(sink, FulfilmentSink):
            raise PermanentError(f"{connector.kind} cannot take shipments", reason="no_channel")
        notice = _notice(session, msg)
        return Prepared(lambda: sink.push_fulfilment(notice))
    if msg.kind == CHANNEL_STOCK:
        if not isinstance(sink, StockSink):
            raise PermanentError(f"{connector.kind} cannot take stock", reason="no_channel")
        read_at = deps.clock.now()
        levels = _stock_levels(session, connector, msg.payload.get("listing_ids", []))
        updates = [update for _, update in levels]
        key = msg.idempotency_key
        return Prepared(
            lambda: sink.push_stock(updates, idempotency_key=key) if updates else None,
            tuple((lid, update.channel_ref, update.available) for lid, update in levels),
            read_at,
        )
    return _prepare_message(session, connector, sink, msg)


def _prepare_message(
    session: Session, connector: Connector, sink: Any, msg: OutboxMessage
) -> Prepared:
    """A cancel, a tracking status or an EDI document: the call that sends it."""
    if msg.kind == CHANNEL_CANCEL:
        if not isinstance(sink, OrderCanceller):
            raise PermanentError(f"{connector.kind} cannot take cancellations", reason="no_channel")
        order = session.get_one(SalesOrder, msg.payload["order_id"])
        cancel = CancelNotice(
            order.external_id, str(msg.payload.get("reason") or ""), msg.idempotency_key
        )
        return Prepared(lambda: sink.cancel_order(cancel))
    if msg.kind == CHANNEL_TRACKING:
        if not isinstance(sink, TrackingSink):
            raise PermanentError(f"{connector.kind} cannot take tracking", reason="no_channel")
        tracking = _tracking_notice(session, msg)
        return Prepared(lambda: sink.push_tracking(tracking))
    if msg.kind == CHANNEL_RETURN:
        if not isinstance(sink, ReturnSink):
            raise PermanentError(f"{connector.kind} cannot take returns", reason="no_channel")
        notice = _return_notice(session, msg)
        return Prepared(lambda: sink.push_return(notice))
    if msg.kind == EDI_DOCUMENT:
        if not isinstance(sink, EdiPartner):
            raise PermanentError(f"{connector.kind} is not an EDI partner", reason="no_channel")
        document = from_payload(msg.payload)  # rendered when the row was written
        key = msg.idempotency_key
        return Prepared(lambda: sink.send_document(document, idempotency_key=key))
    raise PermanentError(f"unknown channel outbox kind {msg.kind!r}", reason="no_channel")


def _bind_return(session: Session, outbox_id: int, external_ref: str | None) -> None:
    """Keep the channel's id of a return the push created there, for the pushes after it."""
    if not external_ref:
        return
    msg = session.get_one(OutboxMessage, outbox_id)
    session.execute(
        update(ReturnAuthorisation)
        .where(
            ReturnAuthorisation.id == int(msg.payload["return_id"]),
            ReturnAuthorisation.external_id.is_(None),
        )
        .values(external_id=external_ref[:100])
    )


def _return_notice(session: Session, msg: OutboxMessage) -> ReturnNotice:
    """The return's step as it was when the row was written (a later step has its own row)."""
    order = session.get_one(SalesOrder, msg.payload["order_id"])
    p = msg.payload
    return ReturnNotice(
        external_order_id=order.external_id,
        rma_number=str(p["rma_number"]),
        status=str(p["status"]),
        lines=tuple(
            ReturnLine(
                int(i["order_line_id"]),
                str(i["sku"]),
                int(i["quantity"]),
                i.get("external_line_id"),
            )
            for i in p.get("lines", [])
        ),
        reason=str(p.get("reason") or ""),
        idempotency_key=msg.idempotency_key,
        order_returned=bool(p.get("order_returned")),
        return_complete=bool(p.get("return_complete")),
        # Read now: an earlier push may have created the return in the channel since.
        external_return_id=session.scalar(
            select(ReturnAuthorisation.external_id).where(
                ReturnAuthorisation.id == int(p["return_id"])
            )
        ),
    )


def _tracking_notice(session: Session, msg: OutboxMessage) -> TrackingNotice:
    """The status the row was written for (a later one has its own row), with the carrier's
    message and place of the event that set it."""
    shipment = session.get_one(Shipment, msg.payload["shipment_id"])
    order = session.get_one(SalesOrder, msg.payload["order_id"])
    at = datetime.fromisoformat(msg.payload["status_at"])
    event = session.scalars(
        select(TrackingEvent)
        .where(
            TrackingEvent.shipment_id == shipment.id,
            TrackingEvent.status == msg.payload["status"],
            TrackingEvent.occurred_at == at,
        )
        .limit(1)
    ).first()
    occurred_at = as_aware(at)
    assert occurred_at is not None  # noqa: S101 - parsed from the payload
    return TrackingNotice(
        external_order_id=order.external_id,
        shipment_ref=str(shipment.id),
        status=TrackingStatus(msg.payload["status"]),
        occurred_at=occurred_at,
        idempotency_key=msg.idempotency_key,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        message=None if event is None else event.message,
        location=None if event is None else event.location,
    )


def _notice(session: Session, msg: OutboxMessage) -> FulfilmentNotice:
    shipment = session.get_one(Shipment, msg.payload["shipment_id"])
    # A consolidated shipment is told to each order's channel with only that order's lines.
    order = session.get_one(SalesOrder, msg.payload.get("order_id", shipment.order_id))
    only = msg.payload.get("fulfilment_line_ids")
    items = [i for i in shipment.lines if only is None or i["fulfilment_line_id"] in only]
    line_ids = [int(item["fulfilment_line_id"]) for item in items]
    order_lines = {
        fl_id: ol
        for fl_id, ol in session.execute(
            select(FulfilmentLine.id, OrderLine)
            .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
            .where(FulfilmentLine.id.in_(line_ids))
        )
    }
    broken = overshipped(session, sorted({ol.id for ol in order_lines.values()}))
    if broken:  # never tell a channel of more than was ordered and not cancelled
        raise PermanentError(
            f"shipped more than ordered less cancelled on order line(s) {broken}",
            reason="invariant_broken",
        )
    lines = tuple(
        ShippedLine(
            sku=item["sku"],
            quantity=int(item["quantity"]),
            external_line_id=order_lines[int(item["fulfilment_line_id"])].external_line_id,
            channel_sku=order_lines[int(item["fulfilment_line_id"])].channel_sku,
        )
        for item in items
    )
    shipped_at = as_aware(shipment.shipped_at)
    assert shipped_at is not None  # noqa: S101 - the column is NOT NULL
    return FulfilmentNotice(
        external_order_id=order.external_id,
        shipment_ref=str(shipment.id),
        lines=lines,
        shipped_at=shipped_at,
        idempotency_key=msg.idempotency_key,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        tracking_url=shipment.tracking_url,
        order_complete=bool(msg.payload.get("order_complete")),
    )


def _stock_levels(
    session: Session, connector: Connector, listing_ids: list[int]
) -> list[tuple[int, StockUpdate]]:
    listings = list(
        session.scalars(
            select(ChannelListing)
            .where(ChannelListing.id.in_(listing_ids), ChannelListing.connector_id == connector.id)
            .order_by(ChannelListing.sku)
        )
    )
    available = channel_available(session, connector, [listing.sku for listing in listings])
    since = _channel_units_since(session, [listing.id for listing in listings])
    return [
        (
            listing.id,
            StockUpdate(
                listing.sku,
                listing.channel_ref,
                max(available.get(listing.sku, 0) - listing.buffer, 0),
                previous=listing.pushed_available,
                channel_units_since=since.get(listing.id, 0),
            ),
        )
        for listing in listings
    ]


def _channel_units_since(session: Session, listing_ids: list[int]) -> dict[int, int]:
    """Units per listing of its channel's own orders taken in after its last push.

    "Taken in" is ``SalesOrder.created_at``: the row is written, and its stock reserved, in
    the transaction that processes the inbound message, so an order counted here is already
    in the available figure. (``InboundMessage.received_at`` would count orders still waiting
    in the inbox, whose units the figure does not hold yet.) ``pushed_at`` is when the pushed
    figure was read, so an order taken in between that read and the channel's answer counts.
    Cancelled orders are left out. One query for the whole batch.
    """
    if not listing_ids:
        return {}
    rows = session.execute(
        select(ChannelListing.id, func.sum(OrderLine.quantity))
        .join(
            SalesOrder,
            and_(
                SalesOrder.connector_id == ChannelListing.connector_id,
                SalesOrder.created_at > ChannelListing.pushed_at,
                SalesOrder.status != OrderStatus.CANCELLED.value,
            ),
        )
        .join(
            OrderLine,
            and_(OrderLine.order_id == SalesOrder.id, OrderLine.sku == ChannelListing.sku),
        )
        .where(ChannelListing.id.in_(listing_ids), ChannelListing.pushed_at.is_not(None))
        .group_by(ChannelListing.id)
    )
    return {int(listing_id): int(units or 0) for listing_id, units in rows}


def _retry(deps: Deps, outbox_id: int, exc: TransientError, now: datetime) -> str:
    settings = deps.settings
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, outbox_id)
        if outbox.retry_with_backoff(msg, exc, settings, now=deps.clock.now()) is None:
            _dead(deps, session, msg, exc, now)
            return "dead"
        if msg.connector_id is not None:
            connector_health.record_failure(
                session,
                msg.connector_id,
                outbox.describe(exc),
                now=now,
                disable_after=settings.connector_disable_after_failures,
            )
    OUTBOX_DELIVERIES.labels(msg.kind, "retry").inc()
    return "retry"


def _dead(
    deps: Deps, session: Session, msg: OutboxMessage, exc: ConnectorError, now: datetime
) -> None:
    outbox.mark_dead(msg, exc)
    order_id = None
    if msg.kind == CHANNEL_FULFILMENT:
        shipment = session.get(Shipment, msg.payload.get("shipment_id"))
        order_id = shipment.order_id if shipment else None
    elif msg.kind in (CHANNEL_CANCEL, CHANNEL_TRACKING, CHANNEL_RETURN):
        order_id = msg.payload.get("order_id")
    open_exception(
        session,
        Reason.CHANNEL_PUSH_FAILED,
        outbox_message_id=msg.id,
        order_id=order_id,
        detail={
            "message": str(exc),
            "error": exc.reason,
            "attempts": msg.attempts,
            "kind": msg.kind,
            "connector_id": msg.connector_id,
        },
    )
    if msg.connector_id is not None:
        connector_health.record_failure(
            session,
            msg.connector_id,
            outbox.describe(exc),
            now=now,
            disable_after=deps.settings.connector_disable_after_failures,
        )
    OUTBOX_DELIVERIES.labels(msg.kind, "dead").inc()
    log.warning("outbox %s (%s) dead-lettered: %s", msg.id, msg.kind, exc)


def queue_cancel_push(
    deps: HasConnectors, session: Session, order: SalesOrder, reason: str
) -> int | None:
    """Write the push telling the order's channel it was cancelled (one key per order), if
    the channel is enabled and takes cancels; the outbox id, or None."""
    connector = session.get(Connector, order.connector_id)
    if connector is None or not connector.enabled:
        return None
    if not deps.connectors.can(connector, Capability.CANCEL_PUSH):
        return None
    return outbox.add(
        session,
        kind=CHANNEL_CANCEL,
        connector_id=connector.id,
        idempotency_key=f"cancel-{order.id}",
        payload={"order_id": order.id, "reason": reason},
    )
