"""Changing an order from its exception's page or its own page, each a CSRF-checked form
through the orders' services: fix the shipping address or a line's quantity
(core/orders/fixes: checked, audited, the order processed again), force a warehouse
(core/orders/overrides) and cancel (core/orders/cancellation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
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
from omniroute.core.bootstrap import Context
from omniroute.core.exceptions import board
from omniroute.core.orders import cancellation, overrides
from omniroute.core.orders.fixes import address as address_fix
from omniroute.core.orders.fixes import quantity as quantity_fix
from omniroute.core.platform.errors import DomainError, Invalid, NotFound

router = APIRouter(prefix="/console", include_in_schema=False)

P = Permission
EditOrder = Annotated[SignedIn, Depends(order_in_scope(P.ORDERS_EDIT))]
EditFromException = Annotated[SignedIn, Depends(exception_in_scope(P.ORDERS_EDIT))]
RouteFromException = Annotated[SignedIn, Depends(exception_in_scope(P.ORDERS_ROUTE))]
CancelFromException = Annotated[SignedIn, Depends(exception_in_scope(P.ORDERS_CANCEL))]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID)]
ExceptionId = Annotated[int, Path(ge=1, le=MAX_ID)]
LineId = Annotated[int, Form(ge=1, le=MAX_ID)]
Quantity = Annotated[int, Form(ge=0, le=quantity_fix.MAX_QUANTITY)]
Note = Annotated[str, Form(max_length=500)]


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


def _order_of(ctx: Context, user: SignedIn, exception_id: int) -> int:
    record = board.exception_record(
        ctx, exception_id, now=ctx.clock.now(), connector_ids=user.connector_ids
    )
    if record["order_id"] is None:
        raise Invalid(f"exception {exception_id} has no order")
    return int(record["order_id"])


async def _on_order(
    request: Request, ctx: Context, user: SignedIn, order_id: int, action: Callable[[], object]
) -> Response:
    try:
        await run_in_threadpool(action)
    except DomainError as exc:
        message, status = str(exc), _status(exc)
        return await run_in_threadpool(
            lambda: order_view(request, ctx, user, order_id, error=message, status=status)
        )
    return RedirectResponse(f"/console/orders/{order_id}?done=changed", status_code=303)


async def _on_exception(
    request: Request,
    ctx: Context,
    user: SignedIn,
    exception_id: int,
    *,
    done: str,
    action: Callable[[int], object],
) -> Response:
    """Run ``action`` on the exception's order; a refusal is shown on the exception's page."""
    try:
        await run_in_threadpool(lambda: action(_order_of(ctx, user, exception_id)))
    except DomainError as exc:
        message, status = str(exc), _status(exc)
        return await run_in_threadpool(
            lambda: exception_view(request, ctx, user, exception_id, error=message, status=status)
        )
    return RedirectResponse(f"/console/exceptions/{exception_id}?done={done}", status_code=303)


@router.post("/orders/{order_id}/address")
async def fix_order_address(
    *, request: Request, ctx: CtxDep, user: EditOrder, order_id: OrderId
) -> Response:
    form = await request.form()
    return await _on_order(
        request,
        ctx,
        user,
        order_id,
        lambda: address_fix.fix_address(
            ctx, order_id, changes_in(form, user), actor=user.actor, note=_note(form)
        ),
    )


@router.post("/orders/{order_id}/quantity")
async def change_order_quantity(
    *,
    request: Request,
    ctx: CtxDep,
    user: EditOrder,
    order_id: OrderId,
    line_id: LineId,
    quantity: Quantity,
    note: Note = "",
) -> Response:
    return await _on_order(
        request,
        ctx,
        user,
        order_id,
        lambda: quantity_fix.change_quantity(
            ctx,
            order_id,
            line_id,
            quantity,
            actor=user.actor,
            beyond_channel=allows(user.role, P.ORDERS_ROUTE),
            note=note,
        ),
    )


@router.post("/exceptions/{exception_id}/address")
async def fix_exception_address(
    *, request: Request, ctx: CtxDep, user: EditFromException, exception_id: ExceptionId
) -> Response:
    """Fix the address of the exception's order; the order is processed again, which
    resolves the exception when the address now passes."""
    form = await request.form()
    return await _on_exception(
        request,
        ctx,
        user,
        exception_id,
        done="address",
        action=lambda order_id: address_fix.fix_address(
            ctx, order_id, changes_in(form, user), actor=user.actor, note=_note(form)
        ),
    )


@router.post("/exceptions/{exception_id}/quantity")
async def change_exception_quantity(
    *,
    request: Request,
    ctx: CtxDep,
    user: EditFromException,
    exception_id: ExceptionId,
    line_id: LineId,
    quantity: Quantity,
    note: Note = "",
) -> Response:
    return await _on_exception(
        request,
        ctx,
        user,
        exception_id,
        done="quantity",
        action=lambda order_id: quantity_fix.change_quantity(
            ctx,
            order_id,
            line_id,
            quantity,
            actor=user.actor,
            beyond_channel=allows(user.role, P.ORDERS_ROUTE),
            note=note,
        ),
    )


@router.post("/exceptions/{exception_id}/force-warehouse")
async def force_warehouse(
    *,
    request: Request,
    ctx: CtxDep,
    user: RouteFromException,
    exception_id: ExceptionId,
    warehouse_code: Annotated[str, Form(min_length=1, max_length=64)],
) -> Response:
    """Route the whole order to one warehouse (ops): exactly that is reserved, or nothing."""
    return await _on_exception(
        request,
        ctx,
        user,
        exception_id,
        done="forced",
        action=lambda order_id: overrides.override_route(
            ctx, order_id, actor=user.actor, warehouse_code=warehouse_code
        ),
    )


@router.post("/exceptions/{exception_id}/cancel")
async def cancel(
    *,
    request: Request,
    ctx: CtxDep,
    user: CancelFromException,
    exception_id: ExceptionId,
    reason: Annotated[str, Form(min_length=1, max_length=500)],
    notify_channel: Annotated[bool, Form()] = False,
) -> Response:
    """Cancel the exception's order (ops), the channel told when the box is ticked."""
    return await _on_exception(
        request,
        ctx,
        user,
        exception_id,
        done="cancelled",
        action=lambda order_id: cancellation.cancel_order(
            ctx, order_id, reason=reason, actor=user.actor, notify_channel=notify_channel
        ),
    )
