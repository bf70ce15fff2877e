"""Sorting the queue among people: assign an exception to someone, snooze it until a time.

Neither changes what the exception is about: a snoozed exception is hidden from the open
queue until its time comes (its SLA keeps running, so it may come back past due), and an
assignment is a name. Both are audited, and both apply to open or retried exceptions only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from omniroute.core.access.audit import record
from omniroute.core.exceptions.opening import ExceptionStatus
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import OrderException
from omniroute.core.platform.ports import Store

MAX_ASSIGNEE = 200
MAX_SNOOZE = timedelta(days=30)
WORKABLE = (ExceptionStatus.OPEN, ExceptionStatus.RETRIED)


class Deps(Store, Protocol):
    """What sorting the queue uses."""


def _workable(session: Session, exception_id: int) -> OrderException:
    exc = session.get(OrderException, exception_id, with_for_update=True)
    if exc is None:
        raise NotFound(f"exception {exception_id} does not exist")
    if exc.status not in WORKABLE:
        raise Conflict(f"exception {exception_id} is {exc.status} already", code="closed")
    return exc


def assign(deps: Deps, exception_id: int, assignee: str | None, *, actor: str) -> OrderException:
    """Give the exception to ``assignee`` (a user name or a team), or take it back (None)."""
    name = assignee.strip() if assignee is not None else None
    if name == "":
        name = None
    if name is not None and len(name) > MAX_ASSIGNEE:
        raise Invalid(f"an assignee is at most {MAX_ASSIGNEE} characters", code="bad_assignee")
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        exc = _workable(session, exception_id)
        before = exc.assignee
        if before == name:
            return exc
        exc.assignee = name
        exc.assigned_at = as_naive_utc(now) if name is not None else None
        record(
            session,
            actor,
            "exception.assign" if name is not None else "exception.unassign",
            "exception",
            exc.id,
            {"reason": exc.reason},
            before={"assignee": before},
            after={"assignee": name},
        )
        return exc


def snooze(deps: Deps, exception_id: int, until: datetime | None, *, actor: str) -> OrderException:
    """Hide the exception from the open queue until ``until`` (None: show it again now); a
    time without a zone is UTC."""
    now = as_naive_utc(deps.clock.now())
    wake_at = as_naive_utc(until)
    if wake_at is not None:
        assert now is not None  # noqa: S101 - a clock always tells the time
        if wake_at <= now:
            raise Invalid("a snooze ends in the future", code="bad_snooze")
        if wake_at - now > MAX_SNOOZE:
            raise Invalid(
                f"an exception is snoozed for at most {MAX_SNOOZE.days} days", code="bad_snooze"
            )
    with unit_of_work(deps.sessions) as session:
        exc = _workable(session, exception_id)
        before = exc.snoozed_until
        exc.snoozed_until = wake_at
        record(
            session,
            actor,
            "exception.snooze" if wake_at is not None else "exception.wake",
            "exception",
            exc.id,
            {"reason": exc.reason},
            before={"snoozed_until": before.isoformat() if before else None},
            after={"snoozed_until": exc.snoozed_until.isoformat() if exc.snoozed_until else None},
        )
        return exc
