"""Who is signed in to the console, what their role lets them open, and the CSRF check.

Every page depends on ``require(permission)`` (the permission table the API uses; the route
test reads ``.permission`` as it does for the API) or on a ``*_in_scope`` variant that also
answers 404 outside the user's connectors. A POST passes only with the session's CSRF token,
in the form's ``csrf_token`` field or an ``X-CSRF-Token`` header (htmx).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep
from omniroute.core.access import audit, scope
from omniroute.core.access import sessions as console_sessions
from omniroute.core.access.permissions import Permission, allows
from omniroute.core.access.sessions import SignedIn

SESSION_COOKIE = "omniroute_session"
LOGIN_CSRF_COOKIE = "omniroute_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class ConsoleError(Exception):
    """Answered with the console's error page (``pages.install`` renders it)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class NotSignedIn(ConsoleError):
    """A page is redirected to the sign-in form; a POST is refused."""

    def __init__(self) -> None:
        super().__init__(401, "Sign in", "Sign in to use the console.")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def posted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()  # Starlette keeps it for the route's own fields
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def same_token(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def signed_in(request: Request, ctx: CtxDep) -> SignedIn:
    cookie = request.cookies.get(SESSION_COOKIE)
    user = await run_in_threadpool(console_sessions.current, ctx, cookie) if cookie else None
    if user is None:
        raise NotSignedIn()
    audit.set_origin(audit.Origin(token_id=None, client_ip=client_ip(request)))
    request.state.user = user
    if request.method not in ("GET", "HEAD") and not same_token(
        await posted_csrf(request), user.csrf_token
    ):
        raise ConsoleError(
            403, "Form expired", "The form was not sent with this session's CSRF token."
        )
    return user


SignedInDep = Callable[..., Awaitable[SignedIn]]
_CHECKS: dict[Permission, SignedInDep] = {}


def require(permission: Permission) -> SignedInDep:
    """Signed in, with a role that has ``permission`` (else the 403 page)."""
    if permission in _CHECKS:
        return _CHECKS[permission]

    async def check(
        user: SignedIn = Depends(signed_in),  # noqa: B008 - Annotated would name a local
    ) -> SignedIn:
        if not allows(user.role, permission):
            raise ConsoleError(
                403,
                "Not allowed",
                f"Your role ({user.role}) does not have {permission}; ask an admin.",
            )
        return user

    check.permission = permission  # type: ignore[attr-defined]  # read by deps.permission_of
    _CHECKS[permission] = check
    return check


def not_found(what: str, ident: int) -> ConsoleError:
    return ConsoleError(404, "Not found", f"There is no {what} {ident}.")


def order_in_scope(permission: Permission) -> SignedInDep:
    checked = require(permission)

    async def check(
        order_id: int,
        ctx: CtxDep,
        user: SignedIn = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> SignedIn:
        if user.connector_ids is not None and not await run_in_threadpool(
            scope.order_visible, ctx, order_id, user.connector_ids
        ):
            raise not_found("order", order_id)
        return user

    check.scoped_by = "order_id"  # type: ignore[attr-defined]  # read by deps.scoped_by
    return check


def exception_in_scope(permission: Permission) -> SignedInDep:
    checked = require(permission)

    async def check(
        exception_id: int,
        ctx: CtxDep,
        user: SignedIn = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> SignedIn:
        if user.connector_ids is not None and not await run_in_threadpool(
            scope.exception_visible, ctx, exception_id, user.connector_ids
        ):
            raise not_found("exception", exception_id)
        return user

    check.scoped_by = "exception_id"  # type: ignore[attr-defined]  # read by deps.scoped_by
    return check


def connector_in_scope(permission: Permission) -> SignedInDep:
    checked = require(permission)

    async def check(
        connector_id: int,
        user: SignedIn = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> SignedIn:
        if user.connector_ids is not None and connector_id not in user.connector_ids:
            raise not_found("connector", connector_id)
        return user

    check.scoped_by = "connector_id"  # type: ignore[attr-defined]  # read by deps.scoped_by
    return check
