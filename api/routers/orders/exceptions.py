from __future__ import annotations

import enum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from omniroute.api.deps import CtxDep, exception_in_scope, require
from omniroute.api.schemas import MAX_ID, AssignIn, CloseIn, ExceptionOut, RetryOut, SnoozeIn
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.exceptions import queue as svc
from omniroute.core.exceptions import triage
from omniroute.core.exceptions.opening import ExceptionStatus, Reason

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"])

ListExceptions = Annotated[Principal, Depends(require(Permission.EXCEPTIONS_READ))]
ReadException = Annotated[Principal, Depends(exception_in_scope(Permission.EXCEPTIONS_READ))]
RetryException = Annotated[Principal, Depends(exception_in_scope(Permission.EXCEPTIONS_RETRY))]
TriageException = Annotated[Principal, Depends(exception_in_scope(Permission.EXCEPTIONS_TRIAGE))]

ExceptionId = Annotated[int, Path(ge=1, le=MAX_ID)]


class StatusFilter(enum.StrEnum):
    """An exception status, or ``all``."""

    OPEN = "open"
    RETRIED = "retried"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"
    ALL = "all"


@router.get("", response_model=list[ExceptionOut])
def list_exceptions(
    *,
    ctx: CtxDep,
    who: ListExceptions,
    status: Annotated[
        StatusFilter, Query(description="open (the default), retried, resolved, dismissed, or all")
    ] = StatusFilter.OPEN,
    reason: Reason | None = None,
    order_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    assignee: Annotated[
        str | None, Query(max_length=200, description="only those assigned to this name")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_id: Annotated[
        int, Query(ge=0, le=MAX_ID, description="the last id of the previous page")
    ] = 0,
) -> list[ExceptionOut]:
    """Exceptions by id; each counts its occurrences, first and last seen, and retries."""
    rows = svc.list_exceptions(
        ctx,
        status=None if status == StatusFilter.ALL else status.value,
        reason=reason,
        order_id=order_id,
        assignee=assignee,
        limit=limit,
        after_id=after_id,
        connector_ids=who.connector_ids,
    )
    return [ExceptionOut.model_validate(r) for r in rows]


@router.get("/{exception_id}", response_model=ExceptionOut)
def get_exception(exception_id: ExceptionId, ctx: CtxDep, _: ReadException) -> ExceptionOut:
    return ExceptionOut.model_validate(svc.get_exception(ctx, exception_id))


@router.post("/{exception_id}/retry", response_model=RetryOut, status_code=202)
def retry_exception(exception_id: ExceptionId, ctx: CtxDep, who: RetryException) -> RetryOut:
    """Replay the work behind the exception once its cause is fixed. It is marked retried;
    if the problem comes back, the same exception opens again (occurrences + 1)."""
    result = svc.retry_exception(ctx, exception_id, actor=who.actor)
    return RetryOut(exception_id=result.exception_id, task=result.task.value, row_id=result.row_id)


@router.post("/{exception_id}/resolve", response_model=ExceptionOut)
def resolve_exception(
    exception_id: ExceptionId, body: CloseIn, ctx: CtxDep, who: RetryException
) -> ExceptionOut:
    """Close an open or retried exception whose cause was dealt with, with a note."""
    row = svc.close_exception(
        ctx, exception_id, outcome=ExceptionStatus.RESOLVED, note=body.note, actor=who.actor
    )
    return ExceptionOut.model_validate(row)


@router.post("/{exception_id}/dismiss", response_model=ExceptionOut)
def dismiss_exception(
    exception_id: ExceptionId, body: CloseIn, ctx: CtxDep, who: RetryException
) -> ExceptionOut:
    """Close an open or retried exception that needs nothing done, with a note."""
    row = svc.close_exception(
        ctx, exception_id, outcome=ExceptionStatus.DISMISSED, note=body.note, actor=who.actor
    )
    return ExceptionOut.model_validate(row)


@router.post("/{exception_id}/assign", response_model=ExceptionOut)
def assign_exception(
    exception_id: ExceptionId, body: AssignIn, ctx: CtxDep, who: TriageException
) -> ExceptionOut:
    """Give an open or retried exception to someone (or take it back with null)."""
    return ExceptionOut.model_validate(
        triage.assign(ctx, exception_id, body.assignee, actor=who.actor)
    )


@router.post("/{exception_id}/snooze", response_model=ExceptionOut)
def snooze_exception(
    exception_id: ExceptionId, body: SnoozeIn, ctx: CtxDep, who: TriageException
) -> ExceptionOut:
    """Hide an open or retried exception from the console's queue until a time (its SLA
    keeps running); null shows it again now."""
    return ExceptionOut.model_validate(
        triage.snooze(ctx, exception_id, body.until, actor=who.actor)
    )
