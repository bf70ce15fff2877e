"""Console sessions: signing in (throttled), the signed-in user of a request, signing out.

The cookie carries a random id; the table keeps only its SHA-256, so a copy of the database
opens no session. Each session has its own CSRF token, which every form posts back.
Too many failed sign-ins for one username (or from one address) within the window make
further attempts wait, whatever the password, until the oldest failure leaves the window.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select

from omniroute.core.access import audit
from omniroute.core.access.users import password_matches
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Unauthorized
from omniroute.core.platform.models import ConsoleLoginFailure, ConsoleSession, ConsoleUser
from omniroute.core.platform.ports import HasClock, HasSessions, HasSettings
from omniroute.core.platform.security import Role, hash_token

# last_seen_at is written at most this often per session.
LAST_SEEN_GRANULARITY = timedelta(minutes=1)
# From one address, this many times the per-username limit (an office behind one NAT).
PER_ADDRESS_FACTOR = 4


class Deps(HasSessions, HasClock, HasSettings, Protocol):
    pass


class LoginRefused(Unauthorized):
    """Wrong username or password, or a disabled user: the same answer for each."""


class LoginThrottled(Unauthorized):
    """Too many failures lately; ``retry_at`` says when to try again."""

    def __init__(self, retry_at: datetime) -> None:
        super().__init__(
            f"too many failed sign-ins; try again after {retry_at:%H:%M:%S} UTC",
            code="throttled",
        )
        self.retry_at = retry_at


@dataclass(frozen=True)
class SignedIn:
    """The user behind a console request."""

    session_id: int
    user_id: int
    username: str
    role: Role
    csrf_token: str
    connector_ids: frozenset[int] | None = None
    warehouse_ids: frozenset[int] | None = None

    @property
    def actor(self) -> str:
        return f"user:{self.username}"


def _throttled_until(
    session: object, deps: Deps, username: str, client_ip: str | None
) -> datetime | None:
    settings = deps.settings
    window = timedelta(seconds=settings.console_login_window)
    since = deps.clock.now() - window
    limits = [(ConsoleLoginFailure.username == username, settings.console_login_max_failures)]
    if client_ip is not None:
        limits.append(
            (
                ConsoleLoginFailure.client_ip == client_ip,
                settings.console_login_max_failures * PER_ADDRESS_FACTOR,
            )
        )
    latest: datetime | None = None
    for condition, limit in limits:
        recent = (
            select(ConsoleLoginFailure.created_at)
            .where(condition, ConsoleLoginFailure.created_at > since)
            .order_by(ConsoleLoginFailure.created_at.desc())
            .limit(limit)
        )
        times = list(session.scalars(recent))  # type: ignore[attr-defined]
        if len(times) >= limit:
            # Free again once the oldest of the last ``limit`` failures leaves the window.
            until = times[-1] + window
            latest = until if latest is None or until > latest else latest
    return latest


def log_in(
    deps: Deps, username: str, password: str, *, client_ip: str | None
) -> tuple[str, SignedIn]:
    """A new session for the user: the cookie value (seen only here) and who signed in."""
    now = deps.clock.now()
    window = timedelta(seconds=deps.settings.console_login_window)
    with unit_of_work(deps.sessions) as session:
        # Housekeeping as we go: this username's failures that no longer count.
        session.execute(
            delete(ConsoleLoginFailure).where(
                ConsoleLoginFailure.username == username,
                ConsoleLoginFailure.created_at <= now - window,
            )
        )
        until = _throttled_until(session, deps, username, client_ip)
        if until is not None:
            raise LoginThrottled(until)
        user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == username)).first()
        ok = password_matches(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            session.add(
                ConsoleLoginFailure(username=username[:100], client_ip=client_ip, created_at=now)
            )
            failed = True
        else:
            failed = False
            cookie = secrets.token_urlsafe(32)
            row = ConsoleSession(
                token_hash=hash_token(cookie),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                client_ip=client_ip,
                created_at=now,
                expires_at=now + timedelta(hours=deps.settings.console_session_hours),
                last_seen_at=now,
            )
            session.add(row)
            session.execute(
                delete(ConsoleSession).where(
                    ConsoleSession.user_id == user.id, ConsoleSession.expires_at <= now
                )
            )
            user.last_login_at = now
            session.flush()
            with audit.origin(audit.Origin(token_id=None, client_ip=client_ip)):
                audit.record(
                    session, f"user:{user.username}", "user.login", "console_user", user.id
                )
            signed_in = _signed_in(row, user)
    # Committed before refusing, so the failure counts.
    if failed:
        raise LoginRefused("wrong username or password", code="login_refused")
    return cookie, signed_in


def _signed_in(row: ConsoleSession, user: ConsoleUser) -> SignedIn:
    return SignedIn(
        session_id=row.id,
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        csrf_token=row.csrf_token,
        connector_ids=None if user.connector_ids is None else frozenset(user.connector_ids),
        warehouse_ids=None if user.warehouse_ids is None else frozenset(user.warehouse_ids),
    )


def current(deps: Deps, cookie: str) -> SignedIn | None:
    """The session the cookie names, if it is live and its user enabled; else None."""
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        found = session.execute(
            select(ConsoleSession, ConsoleUser)
            .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
            .where(ConsoleSession.token_hash == hash_token(cookie))
        ).first()
        if found is None:
            return None
        row, user = found
        if row.expires_at <= now or user.disabled:
            session.delete(row)
            return None
        if row.last_seen_at <= now - LAST_SEEN_GRANULARITY:
            row.last_seen_at = now
        return _signed_in(row, user)


def log_out(deps: Deps, cookie: str, *, client_ip: str | None) -> None:
    """End the cookie's session (nothing happens if it has none)."""
    with unit_of_work(deps.sessions) as session:
        row = session.scalars(
            select(ConsoleSession).where(ConsoleSession.token_hash == hash_token(cookie))
        ).first()
        if row is None:
            return
        user = session.get_one(ConsoleUser, row.user_id)
        session.delete(row)
        with audit.origin(audit.Origin(token_id=None, client_ip=client_ip)):
            audit.record(session, f"user:{user.username}", "user.logout", "console_user", user.id)
