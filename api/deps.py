"""Typed dependencies: the application context, the caller and the permission a route needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from omniroute.api.schemas import Id
from omniroute.api.throttling import authenticate_throttled
from omniroute.core.access import audit, scope
from omniroute.core.access.permissions import Permission, allows
from omniroute.core.access.tokens import Principal
from omniroute.core.bootstrap import Context
from omniroute.core.returns import views as return_views

bearer = HTTPBearer(auto_error=False)


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

PermissionCheck = Callable[..., Awaitable[Principal]]
_CHECKS: dict[Permission, PermissionCheck] = {}


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


def require(permission: Permission | str) -> PermissionCheck:
    """A dependency that admits only tokens whose role has ``permission``.

    One function per permission (FastAPI then authenticates once per request even when
    two dependencies need the same one); ``permission_of`` reads it back for the route test.
    """
    wanted = Permission(permission)
    if wanted in _CHECKS:
        return _CHECKS[wanted]

    async def check(ctx: CtxDep, creds: Credentials, request: Request) -> Principal:
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
        assert principal is not None  # noqa: S101 - not locked out, so authenticated
        # Set here, in the request's own context, so the route's audit rows carry it.
        client = request.client.host if request.client else None
        audit.set_origin(audit.Origin(token_id=principal.token_id, client_ip=client))
        if not allows(principal.role, wanted):
            raise HTTPException(403, f"role {principal.role} lacks {wanted}")
        return principal

    check.permission = wanted  # type: ignore[attr-defined]  # read by permission_of
    _CHECKS[wanted] = check
    return check


def permission_of(dependency: object) -> Permission | None:
    found = getattr(dependency, "permission", None)
    return found if isinstance(found, Permission) else None


def scoped_by(dependency: object) -> str | None:
    """The path (or query) parameter a scope dependency checks, as the route test reads it."""
    found = getattr(dependency, "scoped_by", None)
    return found if isinstance(found, str) else None


def _not_found(what: str, ident: int) -> HTTPException:
    return HTTPException(404, f"{what} {ident} does not exist")


def connector_in_scope(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """``require(permission)``, and the route's ``connector_id`` (in its path or query) one of
    the token's connectors (404 otherwise)."""
    checked = require(permission)

    async def check(
        request: Request,
        who: Principal = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> Principal:
        # Read, not declared: the route declares and validates connector_id itself (a value
        # that is not a number is its 422).
        raw = request.path_params.get("connector_id", request.query_params.get("connector_id"))
        if who.connector_ids is None or raw is None or not str(raw).isdigit():
            return who
        if int(raw) not in who.connector_ids:
            raise _not_found("connector", int(raw))
        return who

    check.scoped_by = "connector_id"  # type: ignore[attr-defined]  # read by scoped_by
    return check


def warehouse_in_scope(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """``require(permission)``, and the path's ``warehouse_id`` one of the token's warehouses
    (404 otherwise)."""
    checked = require(permission)

    async def check(
        warehouse_id: Id,
        who: Principal = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> Principal:
        if who.warehouse_ids is not None and warehouse_id not in who.warehouse_ids:
            raise _not_found("warehouse", warehouse_id)
        return who

    check.scoped_by = "warehouse_id"  # type: ignore[attr-defined]  # read by scoped_by
    return check


def consolidation_in_scope(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """``require(permission)``, and every order of the path's ``group_id`` within the token's
    connectors."""
    checked = require(permission)

    async def check(
        group_id: Id,
        ctx: CtxDep,
        who: Principal = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> Principal:
        if who.connector_ids is not None and not await run_in_threadpool(
            scope.consolidation_visible, ctx, group_id, who.connector_ids
        ):
            raise _not_found("consolidation group", group_id)
        return who

    check.scoped_by = "group_id"  # type: ignore[attr-defined]  # read by scoped_by
    return check


def order_in_scope(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """``require(permission)``, and the path's ``order_id`` within the token's connectors
    (404 otherwise, as if it did not exist)."""
    checked = require(permission)

    async def check(
        order_id: Id,
        ctx: CtxDep,
        who: Principal = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> Principal:
        if who.connector_ids is not None and not await run_in_threadpool(
            scope.order_visible, ctx, order_id, who.connector_ids
        ):
            raise _not_found("order", order_id)
        return who

    check.scoped_by = "order_id"  # type: ignore[attr-defined]  # read by scoped_by
    return check


def exception_in_scope(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """``require(permission)``, and the path's ``exception_id`` within the token's connectors."""
    checked = require(permission)

    async def check(
        exception_id: Id,
        ctx: CtxDep,
        who: Principal = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> Principal:
        if who.connector_ids is not None and not await run_in_threadpool(
            scope.exception_visible, ctx, exception_id, who.connector_ids
        ):
            raise _not_found("exception", exception_id)
        return who

    check.scoped_by = "exception_id"  # type: ignore[attr-defined]  # read by scoped_by
    return check


def fulfilment_order_in_scope(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """``require(permission)``, and the path's ``fulfilment_order_id`` within the token's
    warehouses and connectors."""
    checked = require(permission)

    async def check(
        fulfilment_order_id: Id,
        ctx: CtxDep,
        who: Principal = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> Principal:
        if (who.connector_ids is not None or who.warehouse_ids is not None) and not (
            await run_in_threadpool(
                scope.fulfilment_order_visible,
                ctx,
                fulfilment_order_id,
                connector_ids=who.connector_ids,
                warehouse_ids=who.warehouse_ids,
            )
        ):
            raise _not_found("fulfilment order", fulfilment_order_id)
        return who

    check.scoped_by = "fulfilment_order_id"  # type: ignore[attr-defined]  # read by scoped_by
    return check


def shipment_in_scope(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """``require(permission)``, and the path's ``shipment_id`` within the token's warehouses
    and connectors (404 otherwise)."""
    checked = require(permission)

    async def check(
        shipment_id: Id,
        ctx: CtxDep,
        who: Principal = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> Principal:
        if (who.connector_ids is not None or who.warehouse_ids is not None) and not (
            await run_in_threadpool(
                scope.shipment_visible,
                ctx,
                shipment_id,
                connector_ids=who.connector_ids,
                warehouse_ids=who.warehouse_ids,
            )
        ):
            raise _not_found("shipment", shipment_id)
        return who

    check.scoped_by = "shipment_id"  # type: ignore[attr-defined]  # read by scoped_by
    return check


def return_in_scope(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """``require(permission)``, and the path's ``return_id`` within the token's connectors
    and warehouses (404 otherwise, as if it did not exist)."""
    checked = require(permission)

    async def check(
        return_id: Id,
        ctx: CtxDep,
        who: Principal = Depends(checked),  # noqa: B008 - Annotated would name a local
    ) -> Principal:
        if (who.connector_ids is not None or who.warehouse_ids is not None) and not (
            await run_in_threadpool(
                return_views.return_visible,
                ctx,
                return_id,
                return_views.Scope(who.connector_ids, who.warehouse_ids),
            )
        ):
            raise _not_found("return", return_id)
        return who

    check.scoped_by = "return_id"  # type: ignore[attr-defined]  # read by scoped_by
    return check
