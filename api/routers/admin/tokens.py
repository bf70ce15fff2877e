"""API tokens: create (the value is shown once), list (never the value), revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from omniroute.api.deps import CtxDep, require
from omniroute.api.schemas import AfterId, Body, Id, UtcDateTime
from omniroute.core.access import tokens as svc
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.platform.security import Role

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

AdminTokens = Annotated[Principal, Depends(require(Permission.TOKENS_ADMIN))]
ScopeIds = Annotated[list[Id], Field(min_length=1, max_length=svc.MAX_SCOPE_IDS)]


class TokenIn(Body):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str = Field(min_length=1, max_length=200)
    owner: str | None = Field(
        default=None, min_length=1, max_length=200, description="the person or system answerable"
    )
    expires_at: datetime | None = Field(
        default=None, description="after this the token is refused (401 token_expired)"
    )
    connector_ids: ScopeIds | None = Field(
        default=None,
        description="only these channels' orders, exceptions and fulfilment orders; "
        "others answer 404 (omit: all)",
    )
    warehouse_ids: ScopeIds | None = Field(
        default=None,
        description="ship and reject only these warehouses' fulfilment orders (omit: all)",
    )


class TokenOut(BaseModel):
    """A token as listed: never its value."""

    id: int
    name: str
    role: Role
    owner: str | None
    created_by: str | None
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    last_used_at: UtcDateTime | None = Field(description="to the minute")
    revoked_at: UtcDateTime | None
    connector_ids: list[int] | None
    warehouse_ids: list[int] | None


class NewTokenOut(TokenOut):
    token: str = Field(description="the token's value: shown in this response only")


@router.post("", response_model=NewTokenOut, status_code=201)
def create_token(body: TokenIn, ctx: CtxDep, who: AdminTokens) -> NewTokenOut:
    """Create a token; its value is shown only in this response."""
    row, value = svc.issue_token(
        ctx,
        svc.NewToken(
            name=body.name,
            role=body.role,
            owner=body.owner,
            expires_at=body.expires_at,
            connector_ids=body.connector_ids,
            warehouse_ids=body.warehouse_ids,
        ),
        created_by=who.actor,
    )
    return NewTokenOut(token=value, **row)


@router.get("", response_model=list[TokenOut])
def list_tokens(
    ctx: CtxDep,
    _: AdminTokens,
    include_revoked: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after_id: AfterId = 0,
) -> list[TokenOut]:
    """Tokens by id, without their values; revoked ones only with ``include_revoked``."""
    rows = svc.list_tokens(ctx, include_revoked=include_revoked, limit=limit, after_id=after_id)
    return [TokenOut(**r) for r in rows]


@router.post("/{token_id}/revoke", response_model=TokenOut)
def revoke_token(token_id: Id, ctx: CtxDep, who: AdminTokens) -> TokenOut:
    """Refuse the token from now on (401 token_revoked); revoking again changes nothing."""
    return TokenOut(**svc.revoke_token(ctx, token_id, actor=who.actor))
