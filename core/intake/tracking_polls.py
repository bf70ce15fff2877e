"""Polling a carrier without webhooks for the tracking of the parcels booked with it.

A poll turn of a ``TRACKING_POLL`` connector (taken like an order poll: ``intake.polling``
nudges it when due and claims its cursor) asks the carrier for each of its booked parcels
still on their way (shipped in the last ``WINDOW``, not delivered or returned), oldest
first, at most ``MAX_PARCELS`` a turn. Each answer is stored raw as an inbox row keyed by
its content (an unchanged history adds nothing), with the number asked for in a header;
processing it is a tracking delivery like a webhook's (``tracking_messages``), so the
statuses are applied with the same rules: never backwards, terminal states stick.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from omniroute.connectors.tracking import TERMINAL, TRACKING_NUMBER_HEADER, TrackingPoller
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import CarrierBooking, InboundMessage, Shipment
from omniroute.core.platform.ports import Store
from omniroute.core.platform.sql import insert_ignoring_conflict

log = logging.getLogger("omniroute.polling")

TOPIC = "tracking.poll"
WINDOW = timedelta(days=60)
MAX_PARCELS = 500


@dataclass(frozen=True)
class TrackingPollResult:
    asked: int
    unknown: int
    stored: list[int]


def parcels_to_ask(deps: Store, connector_id: int, now: datetime) -> list[str]:
    """Tracking numbers booked with this carrier whose shipments are still on their way."""
    q = (
        select(Shipment.tracking_number)
        .join(
            CarrierBooking,
            (CarrierBooking.tracking_number == Shipment.tracking_number)
            & (CarrierBooking.fulfilment_order_id == Shipment.fulfilment_order_id),
        )
        .where(
            CarrierBooking.connector_id == connector_id,
            Shipment.status.notin_([s.value for s in TERMINAL]),
            Shipment.shipped_at >= now - WINDOW,
        )
        .order_by(Shipment.shipped_at, Shipment.id)
        .limit(MAX_PARCELS)
    )
    with unit_of_work(deps.sessions) as session:
        return list(dict.fromkeys(n for n in session.scalars(q) if n))


def poll_parcels(
    deps: Store, source: TrackingPoller, connector_id: int, now: datetime
) -> TrackingPollResult:
    """Ask the carrier for each parcel and keep each new answer; ``TransientError`` from the
    carrier ends the turn (the answers kept so far stay)."""
    stored: list[int] = []
    numbers = parcels_to_ask(deps, connector_id, now)
    unknown = 0
    for number in numbers:
        body = source.poll_tracking(number)
        if body is None:
            unknown += 1
            continue
        digest = hashlib.sha256(body).hexdigest()[:32]
        with unit_of_work(deps.sessions) as session:
            new_id = insert_ignoring_conflict(
                session,
                InboundMessage.__table__,  # type: ignore[arg-type]
                {
                    "connector_id": connector_id,
                    "dedupe_key": f"track:{number}:{digest}"[:255],
                    "topic": TOPIC,
                    "headers": {TRACKING_NUMBER_HEADER: number},
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "received_at": now,
                },
                ["connector_id", "dedupe_key"],
            )
        if new_id is not None:
            stored.append(new_id)
    if unknown:
        log.info(
            "connector %s: %s of %s parcels unknown to the carrier",
            connector_id,
            unknown,
            len(numbers),
        )
    return TrackingPollResult(len(numbers), unknown, stored)
