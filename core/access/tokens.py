"""API tokens: shown once when created, stored only as a hash; listed, revoked, expiring."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update

from omniroute.core.access import audit
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Invalid, NotFound, Unauthorized
from omniroute.core.platform.models import ApiToken, Connector, Warehouse
from omniroute.core.platform.ports import HasClock, HasSessions
from omniroute.core.platform.security import Role, hash_token, new_token

# last_used_at is written at most this often per token: one UPDATE a minute, not a request.
LAST_USED_GRANULARITY = timedelta(minutes=1)
MAX_SCOPE_IDS = 1000


class Deps(HasSessions, HasClock, Protocol):
    pass


class TokenRefused(Unauthorized):
    """A bearer token that is unknown, revoked or expired (401, ``WWW-Authenticate``)."""


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: Role
    # None: not limited; a set: only these ids.
    connector_ids: frozenset[int] | None = None
    warehouse_ids: frozenset[int] | None = None

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}:{self.name}"


@dataclass(frozen=True)
class NewToken:
    name: str
    role: Role
    owner: str | None = None
    expires_at: datetime | None = None
    connector_ids: Collection[int] | None = None
    warehouse_ids: Collection[int] | None = None


def create_token(
    deps: Deps,
    *,
    role: Role,
    name: str,
    owner: str | None = None,
    expires_at: datetime | None = None,
    connector_ids: Collection[int] | None = None,
    warehouse_ids: Collection[int] | None = None,
    created_by: str | None = None,
) -> str:
    """Create a token and return its value (the only time it is seen)."""
    return issue_token(
        deps,
        NewToken(name, role, owner, expires_at, connector_ids, warehouse_ids),
        created_by=created_by,
    )[1]


def issue_token(
    deps: Deps, spec: NewToken, *, created_by: str | None
) -> tuple[dict[str, Any], str]:
    """Create a token: it as listed, and its value. Scope ids must name existing connectors
    and warehouses; an expiry must be in the future."""
    expires_at = as_naive_utc(spec.expires_at)
    if expires_at is not None and expires_at <= deps.clock.now():
        raise Invalid("expires_at is not in the future", code="invalid_expiry")
    token = new_token()
    with unit_of_work(deps.sessions) as session:
        connectors = checked_scope_ids(session, "connector_ids", spec.connector_ids)
        warehouses = checked_scope_ids(session, "warehouse_ids", spec.warehouse_ids)
        row = ApiToken(
            name=spec.name,
            role=spec.role.value,
            token_hash=hash_token(token),
            owner=spec.owner,
            created_by=created_by,
            expires_at=expires_at,
            connector_ids=connectors,
            warehouse_ids=warehouses,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            created_by or "system",
            "token.create",
            "api_token",
            row.id,
            {"name": spec.name, "role": spec.role.value},
            after=token_view(row),
        )
        return token_view(row), token


def checked_scope_ids(session: Any, field: str, ids: Collection[int] | None) -> list[int] | None:
    """A scope's ids (``connector_ids`` or ``warehouse_ids``), sorted, each one existing."""
    model: type[Connector] | type[Warehouse] = Connector if field == "connector_ids" else Warehouse
    if ids is None:
        return None
    wanted = sorted(set(ids))
    if not wanted:
        raise Invalid(f"{field} is empty: leave it out for no limit", code="invalid_scope")
    if len(wanted) > MAX_SCOPE_IDS:
        raise Invalid(f"{field}: at most {MAX_SCOPE_IDS} ids", code="invalid_scope")
    found = set(session.scalars(select(model.id).where(model.id.in_(wanted))))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise Invalid(f"{field}: no such id {missing}", code="invalid_scope", missing=missing)
    return wanted


def token_view(row: ApiToken) -> dict[str, Any]:
    """A token as listed: everything but its hash."""
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "owner": row.owner,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
        "connector_ids": row.connector_ids,
        "warehouse_ids": row.warehouse_ids,
    }


def list_tokens(
    deps: HasSessions, *, include_revoked: bool = False, limit: int = 100, after_id: int = 0
) -> list[dict[str, Any]]:
    with unit_of_work(deps.sessions) as session:
        q = select(ApiToken).where(ApiToken.id > after_id)
        if not include_revoked:
            q = q.where(ApiToken.revoked_at.is_(None))
        return [token_view(r) for r in session.scalars(q.order_by(ApiToken.id).limit(limit))]


def revoke_token(deps: Deps, token_id: int, *, actor: str) -> dict[str, Any]:
    """Revoke a token from now on; revoking it again changes nothing."""
    with unit_of_work(deps.sessions) as session:
        row = session.get(ApiToken, token_id, with_for_update=True)
        if row is None:
            raise NotFound(f"token {token_id} does not exist")
        if row.revoked_at is None:
            before = token_view(row)
            row.revoked_at = deps.clock.now()
            audit.record(
                session,
                actor,
                "token.revoke",
                "api_token",
                token_id,
                {"name": row.name},
                before=before,
                after=token_view(row),
            )
        return token_view(row)


def authenticate(deps: Deps, token: str) -> Principal:
    """The token's principal; ``TokenRefused`` (with a code) if unknown, revoked or expired."""
    # The lookup is by SHA-256 of the token, so no timing difference reveals a prefix.
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_hash == hash_token(token))
        ).first()
        if row is None:
            raise TokenRefused("the token is not valid", code="invalid_token")
        if row.revoked_at is not None:
            raise TokenRefused(f"token {row.id} was revoked", code="token_revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise TokenRefused(f"token {row.id} has expired", code="token_expired")
        if row.last_used_at is None or row.last_used_at <= now - LAST_USED_GRANULARITY:
            # Conditional, so concurrent requests write it once; no lock is held for it.
            session.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == row.id,
                    or_(
                        ApiToken.last_used_at.is_(None),
                        ApiToken.last_used_at <= now - LAST_USED_GRANULARITY,
                    ),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
        return Principal(
            token_id=row.id,
            name=row.name,
            role=Role(row.role),
            connector_ids=None if row.connector_ids is None else frozenset(row.connector_ids),
            warehouse_ids=None if row.warehouse_ids is None else frozenset(row.warehouse_ids),
        )
