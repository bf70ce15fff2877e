"""The audit trail: who changed what, when, from which token and address."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from omniroute.api.deps import CtxDep, require
from omniroute.api.schemas import AfterId, Id, UtcDateTime
from omniroute.core.access import audit as svc
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.platform.clock import as_naive_utc

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

ReadAudit = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
FILTERS = frozenset(
    {"actor", "action", "entity", "entity_id", "token_id", "since", "until", "after_id", "limit"}
)


def known_filters_only(request: Request) -> None:
    """A misspelt filter would silently list everything: refuse it instead."""
    unknown = sorted(set(request.query_params) - FILTERS)
    if unknown:
        raise HTTPException(
            422, f"unknown filter {', '.join(unknown)}; filters: {', '.join(sorted(FILTERS))}"
        )


class AuditEntryOut(BaseModel):
    id: int
    created_at: UtcDateTime
    actor: str
    action: svc.Action
    entity: svc.Entity
    entity_id: str | None
    detail: dict[str, Any]
    token_id: int | None = Field(description="the API token the change was made with")
    client_ip: str | None
    before: dict[str, Any] | None = Field(description="where the service recorded it")
    after: dict[str, Any] | None


@router.get("", response_model=list[AuditEntryOut], dependencies=[Depends(known_filters_only)])
def list_audit(
    *,
    ctx: CtxDep,
    _: ReadAudit,
    actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    action: svc.Action | None = None,
    entity: svc.Entity | None = None,
    entity_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    token_id: Id | None = None,
    since: Annotated[datetime | None, Query(description="from this time on")] = None,
    until: Annotated[datetime | None, Query(description="before this time")] = None,
    after_id: AfterId = 0,
    limit: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = 100,
) -> list[AuditEntryOut]:
    """Entries oldest first; page with ``after_id`` = the last id of the previous page."""
    since, until = as_naive_utc(since), as_naive_utc(until)  # one may carry an offset
    if since is not None and until is not None and until <= since:
        raise HTTPException(422, "until must be after since")
    where = svc.AuditFilter(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        token_id=token_id,
        since=since,
        until=until,
    )
    rows = svc.list_entries(ctx, where, after_id=after_id, limit=limit)
    return [AuditEntryOut(**r) for r in rows]
