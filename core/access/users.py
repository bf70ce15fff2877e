"""Console users: a username, an argon2 password hash, a role and optional scopes.

Passwords are hashed with argon2id (argon2-cffi's defaults); the plaintext is never stored
or logged. Disabling a user or changing their password ends their sessions.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from omniroute.core.access import audit
from omniroute.core.access.tokens import Deps, checked_scope_ids
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import ConsoleSession, ConsoleUser
from omniroute.core.platform.ports import HasSessions
from omniroute.core.platform.security import Role

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both answers take as long.
_DUMMY_HASH = _hasher.hash("omniroute: no such user")


@dataclass(frozen=True)
class NewUser:
    username: str
    role: Role
    connector_ids: Collection[int] | None = None
    warehouse_ids: Collection[int] | None = None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"the password is shorter than {MIN_PASSWORD} characters", code="weak")
    if len(password) > MAX_PASSWORD:
        raise Invalid(f"the password is longer than {MAX_PASSWORD} characters", code="too_long")


def create_user(deps: Deps, spec: NewUser, password: str, *, actor: str) -> dict[str, Any]:
    if not USERNAME.match(spec.username):
        raise Invalid(
            "a username is 1-100 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit",
            code="invalid_username",
        )
    check_password(password)
    try:
        with unit_of_work(deps.sessions) as session:
            row = ConsoleUser(
                username=spec.username,
                password_hash=_hasher.hash(password),
                role=spec.role.value,
                connector_ids=checked_scope_ids(session, "connector_ids", spec.connector_ids),
                warehouse_ids=checked_scope_ids(session, "warehouse_ids", spec.warehouse_ids),
                disabled=False,
            )
            session.add(row)
            session.flush()
            audit.record(
                session,
                actor,
                "user.create",
                "console_user",
                row.id,
                {"username": row.username, "role": row.role},
                after=user_view(row),
            )
            return user_view(row)
    except IntegrityError:
        raise Conflict(f"user {spec.username!r} exists already", code="duplicate") from None


def user_view(row: ConsoleUser) -> dict[str, Any]:
    """A user as listed: everything but the password hash."""
    return {
        "id": row.id,
        "username": row.username,
        "role": row.role,
        "connector_ids": row.connector_ids,
        "warehouse_ids": row.warehouse_ids,
        "disabled": row.disabled,
        "created_at": row.created_at,
        "last_login_at": row.last_login_at,
    }


def list_users(deps: HasSessions, *, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    with unit_of_work(deps.sessions) as session:
        q = select(ConsoleUser).where(ConsoleUser.id > after_id).order_by(ConsoleUser.id)
        return [user_view(r) for r in session.scalars(q.limit(limit))]


def _locked(session: Any, username: str) -> ConsoleUser:
    row = session.scalars(
        select(ConsoleUser).where(ConsoleUser.username == username).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    assert isinstance(row, ConsoleUser)  # noqa: S101 - narrows the scalar for mypy
    return row


def disable_user(deps: Deps, username: str, *, actor: str) -> dict[str, Any]:
    """Refuse the user's sign-ins from now on and end their sessions."""
    with unit_of_work(deps.sessions) as session:
        row = _locked(session, username)
        if not row.disabled:
            row.disabled = True
            session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
            audit.record(
                session,
                actor,
                "user.disable",
                "console_user",
                row.id,
                {"username": username},
                before={"disabled": False},
                after={"disabled": True},
            )
        return user_view(row)


def set_password(deps: Deps, username: str, password: str, *, actor: str) -> dict[str, Any]:
    """A new password; the user's sessions end (they sign in again with it)."""
    check_password(password)
    with unit_of_work(deps.sessions) as session:
        row = _locked(session, username)
        row.password_hash = _hasher.hash(password)
        session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
        audit.record(session, actor, "user.set_password", "console_user", row.id, {})
        return user_view(row)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed; with no hash (no such user) the same work is
    done against a dummy, and the answer is no."""
    try:
        ok = _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok) and stored_hash is not None
