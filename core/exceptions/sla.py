"""How long each kind of exception may wait for a person (pure).

An exception is due its code's time after it was first seen; an open one past that is late.
Hand-offs that hold stock or a customer waiting on a warehouse are the shortest.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from omniroute.core.exceptions.opening import Reason

_H = timedelta(hours=1)

SLA: dict[Reason, timedelta] = {
    Reason.WMS_UNREACHABLE: 1 * _H,
    Reason.NO_WMS: 1 * _H,
    Reason.WMS_REJECTED: 2 * _H,
    Reason.CUTOFF_MISSED: 2 * _H,  # an express order waiting: ship it, downgrade or tell
    Reason.CARRIER_BOOKING_FAILED: 2 * _H,  # released, but nothing to ship it with
    Reason.LATE_RISK: 2 * _H,  # tell the customer before they notice
    Reason.CANCEL_FAILED: 2 * _H,
    Reason.CHANGE_AFTER_RELEASE: 2 * _H,
    Reason.PROCESSING_ERROR: 2 * _H,
    Reason.UNKNOWN_SKU: 4 * _H,
    Reason.BAD_ADDRESS: 4 * _H,
    Reason.BAD_QUANTITY: 4 * _H,
    Reason.REROUTE_EXHAUSTED: 4 * _H,
    Reason.CHANNEL_PUSH_FAILED: 4 * _H,
    Reason.ERP_POSTING_FAILED: 8 * _H,  # money, not a parcel: a day's close can wait
    Reason.CANCEL_TOO_LATE: 4 * _H,
    Reason.CANCEL_UNKNOWN_ORDER: 4 * _H,
    Reason.RETURN_NOTICE_FAILED: 4 * _H,
    Reason.INVALID_PAYLOAD: 8 * _H,
    Reason.REJECTED_BY_RULE: 8 * _H,
    Reason.HELD_FOR_REVIEW: 8 * _H,
    Reason.NO_STOCK: 24 * _H,
    Reason.STOCK_DISCREPANCY: 24 * _H,
    Reason.RETURN_REQUIRED: 24 * _H,
}
# A reason stored before its code had an SLA (or written by a newer version).
DEFAULT_SLA = 8 * _H


def sla_of(reason: str) -> timedelta:
    try:
        return SLA[Reason(reason)]
    except ValueError:
        return DEFAULT_SLA


def due_at(reason: str, first_seen_at: datetime) -> datetime:
    return first_seen_at + sla_of(reason)


def is_late(reason: str, first_seen_at: datetime, status: str, now: datetime) -> bool:
    return status == "open" and due_at(reason, first_seen_at) <= now
