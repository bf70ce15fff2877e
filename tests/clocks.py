"""The clock tests set by hand: time is an argument, so a test moves ``at`` and every
service given this clock reads it (naive UTC, as every clock of omniroute answers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class MovableClock:
    at: datetime

    def now(self) -> datetime:
        return self.at
