"""One action over every exception a filter matches, not only the page shown: retry,
assign, resolve or dismiss with a note, and redrive the dead letters among them.

The matching ids are read once, oldest first (at most ``MAX_BULK``; the answer says when
more matched), and each is handed to the same service a single action uses, in its own
transaction: each is audited on its own, one refusal (closed meanwhile, nothing to retry)
is reported and does not stop the rest, and a retried exception is nudged as one is.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from omniroute.core.exceptions import queue, triage
from omniroute.core.exceptions.board import QueueFilter, conditions
from omniroute.core.exceptions.opening import ExceptionStatus
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, DomainError, Invalid
from omniroute.core.platform.models import OrderException
from omniroute.core.platform.ports import HasDispatcher, Store

MAX_BULK = 5000
MAX_REFUSALS_SHOWN = 50


class Deps(Store, HasDispatcher, Protocol):
    """What the single actions use."""


class BulkAction(enum.StrEnum):
    RETRY = "retry"
    ASSIGN = "assign"
    RESOLVE = "resolve"
    DISMISS = "dismiss"


@dataclass
class BulkResult:
    """How many matched, how many the action was applied to, and the refusals (the first
    ``MAX_REFUSALS_SHOWN``, each with the exception's id, a code and the message)."""

    action: str
    matched: int
    done: int = 0
    refused: int = 0
    refusals: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # more than MAX_BULK matched: run it again for the rest

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "matched": self.matched,
            "done": self.done,
            "refused": self.refused,
            "refusals": self.refusals,
            "more": self.more,
        }


def matching_ids(
    deps: Store,
    where: QueueFilter,
    *,
    now: datetime,
    connector_ids: Collection[int] | None = None,
    limit: int = MAX_BULK,
) -> list[int]:
    """The ids the filter matches now, oldest first, at most ``limit`` + 1 (to tell more)."""
    q = (
        select(OrderException.id)
        .where(*conditions(where, now, connector_ids))
        .order_by(OrderException.id)
        .limit(limit + 1)
    )
    with unit_of_work(deps.sessions) as session:
        return list(session.scalars(q))


def apply(
    deps: Deps,
    where: QueueFilter,
    action: BulkAction,
    *,
    actor: str,
    connector_ids: Collection[int] | None = None,
    assignee: str | None = None,
    note: str = "",
    expected: int | None = None,
) -> BulkResult:
    """``action`` on every exception ``where`` matches (in a scoped caller's connectors).
    With ``expected`` (the count the caller was shown), a filter that now matches another
    number is refused before anything is done."""
    one = _single(deps, action, actor=actor, assignee=assignee, note=note)
    ids = matching_ids(deps, where, now=deps.clock.now(), connector_ids=connector_ids)
    if expected is not None and expected != min(len(ids), MAX_BULK):
        raise Conflict(
            f"the filter matches {min(len(ids), MAX_BULK)} exceptions now, not {expected}; "
            "look again before acting on all of them",
            code="count_changed",
            matched=min(len(ids), MAX_BULK),
        )
    result = BulkResult(action.value, matched=min(len(ids), MAX_BULK), more=len(ids) > MAX_BULK)
    for exception_id in ids[:MAX_BULK]:
        try:
            one(exception_id)
        except DomainError as refused:
            result.refused += 1
            if len(result.refusals) < MAX_REFUSALS_SHOWN:
                result.refusals.append(
                    {"exception_id": exception_id, "code": refused.code, "message": str(refused)}
                )
        else:
            result.done += 1
    return result


def _single(
    deps: Deps, action: BulkAction, *, actor: str, assignee: str | None, note: str
) -> Callable[[int], object]:
    """The single action, checked before anything is touched."""
    if action is BulkAction.RETRY:
        return lambda exception_id: queue.retry_exception(deps, exception_id, actor=actor)
    if action is BulkAction.ASSIGN:
        if assignee is not None and len(assignee.strip()) > triage.MAX_ASSIGNEE:
            raise Invalid(f"an assignee is at most {triage.MAX_ASSIGNEE} characters")
        return lambda exception_id: triage.assign(deps, exception_id, assignee, actor=actor)
    if not note.strip():
        raise Invalid("a note is required to close exceptions", code="note_required")
    outcome = (
        ExceptionStatus.RESOLVED if action is BulkAction.RESOLVE else ExceptionStatus.DISMISSED
    )
    return lambda exception_id: queue.close_exception(
        deps, exception_id, outcome=outcome, note=note, actor=actor
    )
