"""Business days for transit times: a warehouse's closed weekdays and holidays, or Monday to
Friday when it has no calendar (carriers quote transit in business days)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

WEEKEND: frozenset[int] = frozenset({5, 6})


@dataclass(frozen=True)
class BusinessDays:
    closed_weekdays: frozenset[int] = WEEKEND  # Monday = 0
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def of(cls, closed_weekdays: Iterable[int], holidays: Iterable[date]) -> BusinessDays:
        """A warehouse's calendar; one that closes no weekday and has no holiday is no
        calendar at all, and gets Monday to Friday."""
        closed, days = frozenset(closed_weekdays), frozenset(holidays)
        if not closed and not days:
            return cls()
        return cls(closed, days)

    def is_open(self, day: date) -> bool:
        return day.weekday() not in self.closed_weekdays and day not in self.holidays

    def add(self, start: date, days: int) -> date:
        """The business day ``days`` business days after ``start`` (``start`` itself for 0,
        or the next open day when it is closed)."""
        if len(self.closed_weekdays) >= 7:
            raise ValueError("a calendar closed every weekday has no business days")
        day = start
        while not self.is_open(day):
            day += timedelta(days=1)
        left = days
        while left > 0:
            day += timedelta(days=1)
            if self.is_open(day):
                left -= 1
        return day
