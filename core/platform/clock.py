"""Naive-UTC time, the one representation stored in the database."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def as_aware(value: datetime | None) -> datetime | None:
    """A stored naive-UTC time as an aware one, for output."""
    return None if value is None else value.replace(tzinfo=UTC)


def as_naive_utc(value: datetime | None) -> datetime | None:
    """An incoming time as the stored naive UTC (a naive input is taken to be UTC already)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
