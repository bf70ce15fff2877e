"""Typed dependencies: the application context and the caller's role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from omniroute.api.throttling import authenticate_throttled
from omniroute.core.access.tokens import Principal
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role

bearer = HTTPBearer(auto_error=False)


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def public_url(request: Request, path: str) -> str:
    """The URL of ``path`` as clients reach omniroute: OMNIROUTE_PUBLIC_URL when set, else the
    address the server is bound to. Never the Host header, which the caller chooses."""
    ctx: Context = request.app.state.ctx
    base = ctx.settings.public_url
    if base is None:
        # A Unix socket has no address: the default bind address stands in.
        host, port = request.scope.get("server") or ("127.0.0.1", 8000)
        host = f"[{host}]" if ":" in host else host
        scheme = request.url.scheme
        default = {"http": 80, "https": 443}.get(scheme)
        base = f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"
    root: str = request.scope.get("root_path", "")
    return base + root + path


def require(*roles: Role) -> Callable[..., object]:
    """A dependency that admits only tokens with one of ``roles`` (admin always passes)."""
    allowed = {Role.ADMIN, *roles}

    async def check(
        ctx: CtxDep,
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        client_ip = request.client.host if request.client else "unknown"
        outcome = await run_in_threadpool(
            authenticate_throttled,
            ctx,
            request.app.state.auth_throttle,
            client_ip,
            creds.credentials,
        )
        if outcome.retry_after:
            raise HTTPException(
                429,
                "too many failed authentications from this address or with this token; "
                f"try again in {outcome.retry_after} s",
                headers={"Retry-After": str(outcome.retry_after)},
            )
        principal = outcome.principal
        if principal is None:
            raise HTTPException(
                401, "the token is not valid", headers={"WWW-Authenticate": "Bearer"}
            )
        if principal.role not in allowed:
            raise HTTPException(403, f"role {principal.role} may not do this")
        return principal

    return check


ALL_ROLES = (Role.OPS, Role.SUPPORT, Role.INTEGRATION)
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Staff = Annotated[Principal, Depends(require(Role.OPS, Role.SUPPORT))]
Ops = Annotated[Principal, Depends(require(Role.OPS))]
Admin = Annotated[Principal, Depends(require())]
