"""Fixing an order's shipping address from its exception's page or its own page: a
CSRF-checked form through core/orders/address_fix (checked as intake checks it, audited,
the order processed again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from omniroute.api.console.auth import exception_in_scope, order_in_scope
from omniroute.api.console.exception_routes import exception_view
from omniroute.api.console.order_routes import order_view
from omniroute.api.deps import CtxDep
from omniroute.api.schemas import MAX_ID
from omniroute.core.access.permissions import Permission, allows
from omniroute.core.access.sessions import SignedIn
from omniroute.core.exceptions import board
from omniroute.core.orders.fixes import address as address_fix
from omniroute.core.platform.errors import DomainError, Invalid, NotFound

router = APIRouter(prefix="/console", include_in_schema=False)

P = Permission
EditOrder = Annotated[SignedIn, Depends(order_in_scope(P.ORDERS_EDIT))]
EditFromException = Annotated[SignedIn, Depends(exception_in_scope(P.ORDERS_EDIT))]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID)]
ExceptionId = Annotated[int, Path(ge=1, le=MAX_ID)]


def changes_in(form: FormData, user: SignedIn) -> dict[str, str | None]:
    """The address fields posted. A user who sees personal data sees every field filled in,
    so an empty one clears it; one who does not sees those fields empty, so an empty one
    keeps what is stored."""
    sees_all = allows(user.role, P.PII_READ)
    changes: dict[str, str | None] = {}
    for field in address_fix.FIELDS:
        value = form.get(field)
        if not isinstance(value, str):
            continue
        if len(value) > address_fix.MAX_FIELD:
            raise Invalid(f"{field} is longer than {address_fix.MAX_FIELD} characters")
        if value.strip() or sees_all:
            changes[field] = value
    return changes


def _note(form: FormData) -> str:
    value = form.get("note")
    return value.strip()[:500] if isinstance(value, str) else ""


def _status(exc: DomainError) -> int:
    return 404 if isinstance(exc, NotFound) else 422 if isinstance(exc, Invalid) else 409


async def _run(action: Callable[[], object]) -> DomainError | None:
    try:
        await run_in_threadpool(action)
    except DomainError as exc:
        return exc
    return None


@router.post("/orders/{order_id}/address")
async def fix_order_address(
    *, request: Request, ctx: CtxDep, user: EditOrder, order_id: OrderId
) -> Response:
    form = await request.form()

    def act() -> None:
        changes = changes_in(form, user)
        address_fix.fix_address(ctx, order_id, changes, actor=user.actor, note=_note(form))

    refused = await _run(act)
    if refused is not None:
        return await run_in_threadpool(
            lambda: order_view(
                request, ctx, user, order_id, error=str(refused), status=_status(refused)
            )
        )
    return RedirectResponse(f"/console/orders/{order_id}?done=address", status_code=303)


@router.post("/exceptions/{exception_id}/address")
async def fix_exception_address(
    *, request: Request, ctx: CtxDep, user: EditFromException, exception_id: ExceptionId
) -> Response:
    """Fix the address of the exception's order; the order is processed again, which
    resolves the exception when the address now passes."""
    form = await request.form()

    def act() -> None:
        record = board.exception_record(
            ctx, exception_id, now=ctx.clock.now(), connector_ids=user.connector_ids
        )
        if record["order_id"] is None:
            raise Invalid(f"exception {exception_id} has no order")
        changes = changes_in(form, user)
        address_fix.fix_address(
            ctx, record["order_id"], changes, actor=user.actor, note=_note(form)
        )

    refused = await _run(act)
    if refused is not None:
        return await run_in_threadpool(
            lambda: exception_view(
                request, ctx, user, exception_id, error=str(refused), status=_status(refused)
            )
        )
    return RedirectResponse(f"/console/exceptions/{exception_id}?done=address", status_code=303)
