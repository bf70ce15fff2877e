"""API tokens: shown once when created, stored only as a hash."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import ApiToken
from omniroute.core.platform.ports import HasSessions
from omniroute.core.platform.security import Role, hash_token, new_token


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}:{self.name}"


def create_token(deps: HasSessions, *, role: Role, name: str) -> str:
    token = new_token()
    with unit_of_work(deps.sessions) as session:
        session.add(ApiToken(name=name, role=role.value, token_hash=hash_token(token)))
    return token


def authenticate(deps: HasSessions, token: str) -> Principal | None:
    # The lookup is by SHA-256 of the token, so no timing difference reveals a prefix.
    with unit_of_work(deps.sessions) as session:
        row = session.scalars(
            select(ApiToken).where(
                ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            return None
        return Principal(token_id=row.id, name=row.name, role=Role(row.role))
