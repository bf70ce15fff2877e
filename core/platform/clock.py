"""Time: the clock services are given, and naive UTC, the one representation stored.

Business code never reads the wall clock itself: a service gets ``now`` from the clock it
was built with (``deps.clock.now()``), and a helper that has only the session asks the
session's own (``now_of(session)``: ``make_session_factory`` puts the clock in every
session's ``info``). Tests and backtests pass another clock, or ``now``; the one place that
reads the wall clock is ``SystemClock`` (and the tables' insert-time defaults, ``utcnow``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from omniroute.core.platform.errors import Invalid

SESSION_CLOCK = "omniroute.clock"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, naive UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return utcnow()


def utcnow() -> datetime:
    """The wall clock as naive UTC: for SystemClock and the tables' insert-time defaults."""
    return datetime.now(UTC).replace(tzinfo=None)


def now_of(session: Session) -> datetime:
    """The current time by the clock of the session's factory (see ``make_session_factory``)."""
    try:
        clock: Clock = session.info[SESSION_CLOCK]
    except KeyError:
        raise RuntimeError("this session was not made by make_session_factory: no clock") from None
    return clock.now()


def as_aware(value: datetime | None) -> datetime | None:
    """A stored naive-UTC time as an aware one, for output."""
    return None if value is None else value.replace(tzinfo=UTC)


def as_naive_utc(value: datetime | None) -> datetime | None:
    """An incoming time as the stored naive UTC (a naive input is taken to be UTC already).
    A time that UTC cannot hold (year 1 with a positive offset, year 9999 with a negative
    one) is refused as ``Invalid``, not an overflow deep in a service."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise Invalid(
            f"{value.isoformat()} is outside the times that can be kept (years 1 to 9999 in UTC)",
            code="time_out_of_range",
        ) from None
