"""Book a carrier for each fulfilment order its warehouse accepted, through the outbox.

When: right after the WMS accepts the release (``fulfilment.release`` writes the
``carrier.booking`` row in the transaction that marks the fulfilment order released, when
any enabled carrier connector serves its warehouse). Booking after acceptance, not with the
release, means a warehouse that refuses an order (and a re-route elsewhere) never leaves a
label bought for the wrong warehouse. The booking is shown with the order
(``GET /api/v1/orders/{id}``: ``carrier_bookings``, label reference and tracking number) for
the warehouse to print; it is not pushed to the WMS (the REST WMS contract has no call for
it yet), and a shipment the WMS confirms without a tracking number takes the booked one
(``booked_tracking``).

Delivering the row: quotes from every carrier the warehouse may use (outside any
transaction), the choice (``routing.carrier_choice``, under the rule's ``carrier`` policy,
traced), the booking with the chosen carrier under the key ``<row key>:<connector id>``
(the same on every attempt), then in one transaction the ``carrier_booking`` row, the
order's ``promised_deliver_by`` (the latest of its bookings) and the row marked sent.

Failures: a carrier that cannot quote for now (``TransientError``) and leaves no fit quote,
or a booking that fails for now, sends the row back with backoff; when it has had its
attempts, or nothing qualifies, or the carrier refuses the booking, the row is a dead letter
and a ``carrier_booking_failed`` exception names the carrier's reason and holds the choice's
trace. The order is not touched: it stays released at its warehouse, and ops redrive the row
once the cause is fixed (or book by hand).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.connectors.base import ConnectorError, PermanentError, TransientError
from omniroute.connectors.carriers import Booking, BookingRequest, Quote
from omniroute.connectors.tracking import normalise_tracking_number
from omniroute.core.carriers.job import (
    CARRIER_KINDS,
    BookingJob,
    Carrier,
    Deps,
    carrier_rows,
    read_job,
)
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.outbox import messages as outbox
from omniroute.core.outbox.messages import CARRIER_BOOKING
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.metrics import OUTBOX_DELIVERIES
from omniroute.core.platform.models import (
    CarrierBooking,
    FulfilmentOrder,
    OutboxMessage,
    SalesOrder,
    Shipment,
)
from omniroute.core.platform.telemetry.logs import bind
from omniroute.routing.carrier_choice.choose import Candidate, Choice, Offer, choose
from omniroute.routing.carrier_choice.fx import ExchangeRates

log = logging.getLogger("omniroute.carriers")

KEY_PREFIX: Final = "carrier.booking:fo:"

__all__ = ["CARRIER_KINDS", "Deps", "booked_tracking", "deliver_booking", "queue_booking"]


def queue_booking(session: Session, fulfilment_order_id: int, warehouse_code: str) -> int | None:
    """Write the ``carrier.booking`` row of a fulfilment order its warehouse accepted, when
    a carrier serves that warehouse and none was written before; its id, to nudge."""
    key = f"{KEY_PREFIX}{fulfilment_order_id}"
    if not carrier_rows(session, warehouse_code):
        return None
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)):
        return None
    return outbox.add(
        session,
        kind=CARRIER_BOOKING,
        connector_id=None,
        idempotency_key=key,
        payload={"fulfilment_order_id": fulfilment_order_id},
        fulfilment_order_id=fulfilment_order_id,
    )


def deliver_booking(deps: Deps, outbox_id: int, *, now: datetime) -> str:
    """Deliver a claimed ``carrier.booking`` row: sent, retry, dead (or skipped if booked)."""
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, outbox_id)
        fo = session.get_one(FulfilmentOrder, int(msg.payload["fulfilment_order_id"]))
        bind(correlation_id=msg.correlation_id, order_id=fo.order_id)
        if _booking_of(session, fo.id) is not None or _needs_no_label(session, fo):
            outbox.mark_sent(session, outbox_id, now=now)
            return "skipped"
        try:
            kept = msg.payload.get("choice")
            job = read_job(deps, session, outbox_id, msg.idempotency_key, fo, earlier_choice=kept)
        except PermanentError as exc:
            _dead(session, msg, exc, fo.order_id, None)
            return "dead"
    choice = _earlier_choice(job) or _shop(job, deps.settings.fx)
    chosen = choice.chosen
    if chosen is None:
        transient = any(o.get("transient") for o in choice.trace["carriers_without_quote"])
        cause: ConnectorError = (
            TransientError(choice.reason, reason="carrier_unavailable")
            if transient
            else PermanentError(choice.reason, reason="no_carrier_quote")
        )
        return _failed(deps, job, cause, choice)
    carrier = next(c for c in job.carriers if c.name == chosen.connector)
    request = BookingRequest(
        job.rates,
        chosen.quote.service,
        f"{job.idempotency_key}:{carrier.connector_id}",
        job.ship_to,
    )
    try:
        booking = carrier.adapter.book(request, chosen.quote)
    except ConnectorError as error:
        return _failed(deps, job, error, choice, booking_sent=True)
    with unit_of_work(deps.sessions) as session:
        _record(session, job, carrier, booking, choice)
        outbox.mark_sent(session, outbox_id, now=deps.clock.now())
    OUTBOX_DELIVERIES.labels(CARRIER_BOOKING, "sent").inc()
    return "sent"


def booked_tracking(session: Session, fulfilment_order_id: int) -> tuple[str, str] | None:
    """The carrier and tracking number booked for a fulfilment order, if it was booked."""
    booking = _booking_of(session, fulfilment_order_id)
    return None if booking is None else (booking.carrier, booking.tracking_number)


def _needs_no_label(session: Session, fo: FulfilmentOrder) -> bool:
    """Cancelled or refused; or shipped in full already, every parcel with the warehouse's
    own tracking number (a label bought now would never be used)."""
    if fo.status in ("cancelled", "rejected"):
        return True
    if fo.status != "shipped":
        return False
    untracked = select(Shipment.id).where(
        Shipment.fulfilment_order_id == fo.id, Shipment.tracking_number.is_(None)
    )
    return session.scalar(untracked.limit(1)) is None


def _shop(job: BookingJob, rates: ExchangeRates) -> Choice:
    """Quotes from every carrier of the warehouse, and the choice among them."""
    offers = [_offer(carrier, job) for carrier in job.carriers]
    choice = choose(offers, job.demand, job.policy, job.calendar, rates)
    for failure, offer in zip(
        choice.trace["carriers_without_quote"],
        (o for o in offers if o.error is not None or not o.quotes),
        strict=True,
    ):
        failure["transient"] = offer.transient
    choice.trace["unweighed_skus"] = list(job.unweighed_skus)
    return choice


def _earlier_choice(job: BookingJob) -> Choice | None:
    """The choice a booking attempt that may have reached the carrier was sent with: the
    retry books the same service with the same carrier and key, never another carrier
    (which would buy a second label if the first attempt went through after all)."""
    kept = job.earlier_choice
    if not kept or not any(c.name == kept["chosen"]["connector"] for c in job.carriers):
        return None
    chosen = kept["chosen"]
    quote = Quote(
        carrier=chosen["carrier"],
        service=chosen["service"],
        service_level=chosen["service_level"],
        transit_days=int(chosen["transit_days"]),
        amount=Decimal(chosen["amount"]),
        currency=chosen["currency"],
        zone=chosen.get("zone"),
    )
    candidate = Candidate(chosen["connector"], quote, date.fromisoformat(chosen["delivers_on"]))
    return Choice(candidate, (candidate,), dict(kept))


def _offer(carrier: Carrier, job: BookingJob) -> Offer:
    try:
        return Offer(carrier.name, tuple(carrier.adapter.quote(job.rates)))
    except TransientError as exc:
        return Offer(carrier.name, error=f"{exc.reason}: {exc}", transient=True)
    except ConnectorError as exc:
        return Offer(carrier.name, error=f"{exc.reason}: {exc}")


def _booking_of(session: Session, fulfilment_order_id: int) -> CarrierBooking | None:
    return session.scalars(
        select(CarrierBooking).where(CarrierBooking.fulfilment_order_id == fulfilment_order_id)
    ).first()


def _record(
    session: Session, job: BookingJob, carrier: Carrier, booking: Booking, choice: Choice
) -> None:
    chosen = choice.chosen
    assert chosen is not None  # noqa: S101 - only a choice with a winner is booked
    order = session.scalars(
        select(SalesOrder).where(SalesOrder.id == job.order_id).with_for_update()
    ).one()
    if _booking_of(session, job.fulfilment_order_id) is not None:
        return  # recorded by an earlier delivery whose row was not marked sent
    session.add(
        CarrierBooking(
            fulfilment_order_id=job.fulfilment_order_id,
            order_id=job.order_id,
            warehouse_id=job.warehouse_id,
            connector_id=carrier.connector_id,
            carrier=booking.carrier,
            service=booking.service,
            service_level=chosen.quote.service_level,
            tracking_number=booking.tracking_number,
            label_ref=booking.label_ref,
            amount=str(booking.amount),
            currency=booking.currency,
            transit_days=chosen.quote.transit_days,
            deliver_by=chosen.delivers_on,
            choice=choice.trace,
            booked_at=now_of(session),
        )
    )
    if order.promised_deliver_by is None or chosen.delivers_on > order.promised_deliver_by:
        order.promised_deliver_by = chosen.delivers_on
    # A shipment the warehouse confirmed before the booking, without a tracking number.
    for shipment in session.scalars(
        select(Shipment).where(
            Shipment.fulfilment_order_id == job.fulfilment_order_id,
            Shipment.tracking_number.is_(None),
        )
    ):
        shipment.carrier = shipment.carrier or booking.carrier
        shipment.tracking_number = booking.tracking_number
        shipment.tracking_key = normalise_tracking_number(booking.tracking_number)[:200]


def _failed(
    deps: Deps,
    job: BookingJob,
    exc: ConnectorError,
    choice: Choice,
    *,
    booking_sent: bool = False,
) -> str:
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(OutboxMessage, job.outbox_id)
        if booking_sent:  # it may have been booked: a retry sends the very same booking
            msg.payload = {**msg.payload, "choice": choice.trace}
        if isinstance(exc, TransientError):
            delay = outbox.retry_with_backoff(msg, exc, deps.settings, now=deps.clock.now())
            if delay is not None:
                OUTBOX_DELIVERIES.labels(CARRIER_BOOKING, "retry").inc()
                log.info("outbox %s: booking failed for now, retry in %.1fs", msg.id, delay)
                return "retry"
        _dead(session, msg, exc, job.order_id, choice)
    return "dead"


def _dead(
    session: Session,
    msg: OutboxMessage,
    exc: ConnectorError,
    order_id: int,
    choice: Choice | None,
) -> None:
    outbox.mark_dead(msg, exc)
    detail: dict[str, Any] = {
        "message": f"no carrier booked for fulfilment order {msg.payload['fulfilment_order_id']}:"
        f" {exc}",
        "carrier_reason": exc.reason,
        "fulfilment_order_id": msg.payload["fulfilment_order_id"],
    }
    if choice is not None:
        detail["choice"] = choice.trace
    open_exception(
        session,
        Reason.CARRIER_BOOKING_FAILED,
        order_id=order_id,
        outbox_message_id=msg.id,
        detail=detail,
    )
    OUTBOX_DELIVERIES.labels(CARRIER_BOOKING, "dead").inc()
