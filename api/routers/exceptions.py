from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from omniroute.api.deps import CtxDep, Staff
from omniroute.api.schemas import ExceptionOut, RetryOut
from omniroute.core.exceptions import queue as svc

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"])


@router.get("", response_model=list[ExceptionOut])
def list_exceptions(
    *,
    ctx: CtxDep,
    _: Staff,
    status: str | None = "open",
    reason: str | None = None,
    order_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_id: int = 0,
) -> list[ExceptionOut]:
    rows = svc.list_exceptions(
        ctx, status=status or None, reason=reason, order_id=order_id, limit=limit, after_id=after_id
    )
    return [ExceptionOut.model_validate(r) for r in rows]


@router.get("/{exception_id}", response_model=ExceptionOut)
def get_exception(exception_id: int, ctx: CtxDep, _: Staff) -> ExceptionOut:
    return ExceptionOut.model_validate(svc.get_exception(ctx, exception_id))


@router.post("/{exception_id}/retry", response_model=RetryOut, status_code=202)
def retry_exception(exception_id: int, ctx: CtxDep, who: Staff) -> RetryOut:
    """Replay the work behind the exception once its cause is fixed."""
    result = svc.retry_exception(ctx, exception_id, actor=who.actor)
    return RetryOut(exception_id=result.exception_id, task=result.task.value, row_id=result.row_id)
