"""Acting on every exception a filter matches (retry, assign, resolve, dismiss), and the
dead letters behind them."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep, require
from omniroute.api.routers.orders.exceptions import StatusFilter
from omniroute.api.schemas import MAX_ID, Body, Id, UtcDateTime
from omniroute.core.access.permissions import Permission, allows
from omniroute.core.access.pii import mask_pii
from omniroute.core.access.tokens import Principal
from omniroute.core.exceptions import bulk, dead_letters
from omniroute.core.exceptions.board import UNASSIGNED, QueueFilter
from omniroute.core.exceptions.opening import Reason

router = APIRouter(prefix="/api/v1", tags=["exceptions"])

ReadExceptions = Annotated[Principal, Depends(require(Permission.EXCEPTIONS_READ))]
RetryAll = Annotated[Principal, Depends(require(Permission.EXCEPTIONS_RETRY))]
TriageAll = Annotated[Principal, Depends(require(Permission.EXCEPTIONS_TRIAGE))]


class BulkFilterIn(Body):
    """Which exceptions: the console queue's filters. A token limited to connectors acts
    only on theirs."""

    status: StatusFilter = StatusFilter.OPEN
    reason: Reason | None = None
    connector_id: Id | None = None
    warehouse_id: Id | None = Field(
        default=None, description="only those about this warehouse's fulfilment orders"
    )
    older_than_hours: int | None = Field(default=None, ge=0, le=24 * 366)
    late_only: bool = Field(default=False, description="only those past their SLA")
    assignee: str | None = Field(
        default=None, max_length=200, description=f"a name, or {UNASSIGNED!r} for nobody's"
    )
    include_snoozed: bool = False
    dead_letters_only: bool = Field(
        default=False, description="only those whose outbox row is a dead letter now"
    )
    outbox_kind: str | None = Field(
        default=None, max_length=40, description="with dead_letters_only: only this kind"
    )

    def queue_filter(self) -> QueueFilter:
        return QueueFilter(
            status=None if self.status == StatusFilter.ALL else self.status.value,
            reason=self.reason,
            connector_id=self.connector_id,
            older_than=None
            if self.older_than_hours is None
            else timedelta(hours=self.older_than_hours),
            late_only=self.late_only,
            assignee=self.assignee,
            include_snoozed=self.include_snoozed,
            dead_letters_only=self.dead_letters_only,
            outbox_kind=self.outbox_kind,
            warehouse_id=self.warehouse_id,
        )


class BulkIn(Body):
    filter: BulkFilterIn = Field(default_factory=BulkFilterIn)
    expected: int | None = Field(
        default=None,
        ge=0,
        le=bulk.MAX_BULK,
        description="the count you were shown; 409 count_changed if the filter now matches "
        "another, before anything is done",
    )


class BulkAssignIn(BulkIn):
    assignee: str | None = Field(
        max_length=200, description="a user name or team; null takes them back"
    )


class BulkCloseIn(BulkIn):
    note: str = Field(min_length=1, max_length=2000, description="why they are closed")


class RefusalOut(BaseModel):
    exception_id: int
    code: str
    message: str


class BulkOut(BaseModel):
    action: str
    matched: int = Field(description=f"how many the filter matched (at most {bulk.MAX_BULK})")
    done: int
    refused: int
    refusals: list[RefusalOut] = Field(description="the first 50 refusals")
    more: bool = Field(description="more matched than one call takes: call again for the rest")


async def _apply(
    ctx: Any,
    who: Principal,
    body: BulkIn,
    action: bulk.BulkAction,
    *,
    assignee: str | None = None,
    note: str = "",
) -> BulkOut:
    result = await run_in_threadpool(
        lambda: bulk.apply(
            ctx,
            body.filter.queue_filter(),
            action,
            actor=who.actor,
            connector_ids=who.connector_ids,
            assignee=assignee,
            note=note,
            expected=body.expected,
        )
    )
    return BulkOut.model_validate(result.as_dict())


@router.post("/exceptions/bulk/retry", response_model=BulkOut)
async def retry_all(body: BulkIn, ctx: CtxDep, who: RetryAll) -> BulkOut:
    """Retry every exception the filter matches (a dead letter's retry redrives it)."""
    return await _apply(ctx, who, body, bulk.BulkAction.RETRY)


@router.post("/exceptions/bulk/assign", response_model=BulkOut)
async def assign_all(body: BulkAssignIn, ctx: CtxDep, who: TriageAll) -> BulkOut:
    """Give every exception the filter matches to someone (null: to nobody)."""
    return await _apply(ctx, who, body, bulk.BulkAction.ASSIGN, assignee=body.assignee)


@router.post("/exceptions/bulk/resolve", response_model=BulkOut)
async def resolve_all(body: BulkCloseIn, ctx: CtxDep, who: RetryAll) -> BulkOut:
    """Close every exception the filter matches as resolved, with one note."""
    return await _apply(ctx, who, body, bulk.BulkAction.RESOLVE, note=body.note)


@router.post("/exceptions/bulk/dismiss", response_model=BulkOut)
async def dismiss_all(body: BulkCloseIn, ctx: CtxDep, who: RetryAll) -> BulkOut:
    """Close every exception the filter matches as dismissed, with one note."""
    return await _apply(ctx, who, body, bulk.BulkAction.DISMISS, note=body.note)


class DeadLetterOut(BaseModel):
    id: int
    kind: str
    connector_id: int | None
    connector: str | None
    fulfilment_order_id: int | None
    attempts: int
    last_error: str | None
    created_at: UtcDateTime
    payload: dict[str, Any] = Field(
        description="what was to be sent (personal data masked without pii:read)"
    )
    exception_id: int | None = Field(description="retry it to redrive this row")
    exception_status: str | None


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def list_dead_letters(
    *,
    ctx: CtxDep,
    who: ReadExceptions,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=dead_letters.MAX_PAGE)] = 50,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[DeadLetterOut]:
    """Outbox rows that failed for good, oldest first, with the exception each opened."""
    rows = dead_letters.list_dead_letters(
        ctx, kind=kind, connector_ids=who.connector_ids, after_id=after_id, limit=limit
    )
    unmasked = allows(who.role, Permission.PII_READ)
    return [
        DeadLetterOut.model_validate(r if unmasked else {**r, "payload": mask_pii(r["payload"])})
        for r in rows
    ]
