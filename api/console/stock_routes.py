"""Warehouses and stock in the console: on hand, reserved, safety and available per warehouse
and SKU (keyset pages, filter by warehouse and SKU), low stock highlighted (nothing sellable
above safety, or below a replenishment threshold's min), an adjustment with a reason through
:mod:`core.stock.inventory` (ledger row, audited; a refusal shown), and the ledger of a SKU
at a warehouse, newest first."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from omniroute.api.console.auth import ConsoleError, require
from omniroute.api.console.pages import render
from omniroute.api.deps import CtxDep
from omniroute.api.schemas import MAX_ID
from omniroute.core.access.permissions import Permission
from omniroute.core.access.sessions import SignedIn
from omniroute.core.bootstrap import Context
from omniroute.core.platform.errors import DomainError
from omniroute.core.replenishment import thresholds
from omniroute.core.stock import inventory
from omniroute.core.stock import warehouses as catalog

router = APIRouter(prefix="/console/stock", include_in_schema=False)

P = Permission
ReadStock = Annotated[SignedIn, Depends(require(P.STOCK_READ))]
WriteStock = Annotated[SignedIn, Depends(require(P.STOCK_WRITE))]
# Strings: a form sends an empty field for "any".
WarehouseParam = Annotated[str, Query(alias="warehouse_id", pattern=r"^\d{0,18}$")]
SkuParam = Annotated[str, Query(max_length=128)]
PAGE = 50
LEDGER_PAGE = 50
MAX_DELTA = 1_000_000_000
DONE = {"adjusted": "Stock adjusted; the ledger row is at the top."}


def _warehouse_id(user: SignedIn, text: str) -> int | None:
    """The warehouse asked for, within the user's warehouses (404 outside them); a user
    limited to some warehouses and asking for none sees the first of them."""
    allowed = user.warehouse_ids
    if not text:
        return min(allowed) if allowed else None
    ident = int(text)
    if allowed is not None and ident not in allowed:
        raise ConsoleError(404, "Not found", f"There is no warehouse {ident}.")
    return ident


def _rows(ctx: Context, warehouse_id: int | None, sku: str, after: int) -> list[dict[str, Any]]:
    levels = inventory.list_stock(
        ctx, warehouse_id=warehouse_id, sku=sku or None, limit=PAGE + 1, after_id=after
    )
    mins = thresholds.min_units_of(ctx, {lv.sku for lv in levels[:PAGE]})
    rows = []
    for lv in levels:
        free = lv.on_hand - lv.reserved
        minimum = mins.get((lv.warehouse_id, lv.sku))
        rows.append(
            {
                "id": lv.id,
                "warehouse_id": lv.warehouse_id,
                "sku": lv.sku,
                "on_hand": lv.on_hand,
                "reserved": lv.reserved,
                "safety": lv.safety,
                "available": max(0, free - lv.safety),
                "min_units": minimum,
                "low": free <= lv.safety or (minimum is not None and free < minimum),
                "updated_at": lv.updated_at,
            }
        )
    return rows


def _warehouses(ctx: Context, user: SignedIn) -> dict[int, str]:
    allowed = user.warehouse_ids
    return {
        w.id: f"{w.code} · {w.name}"
        for w in catalog.list_warehouses(ctx)
        if allowed is None or w.id in allowed
    }


@router.get("", response_class=HTMLResponse)
def stock_page(
    *,
    request: Request,
    ctx: CtxDep,
    user: ReadStock,
    warehouse: WarehouseParam = "",
    sku: SkuParam = "",
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> HTMLResponse:
    warehouse_id = _warehouse_id(user, warehouse)
    sku = sku.strip()
    rows = _rows(ctx, warehouse_id, sku, after)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    here = {"warehouse_id": str(warehouse_id or ""), "sku": sku}
    return render(
        request,
        "stock.html",
        {
            "rows": rows,
            "warehouses": _warehouses(ctx, user),
            "warehouse_id": warehouse_id,
            "sku": sku,
            "query": urlencode({k: v for k, v in here.items() if v}),
            "next_after": rows[-1]["id"] if more and rows else None,
            "first_page": after == 0,
        },
        user=user,
    )


def _ledger_page(
    request: Request,
    ctx: Context,
    user: SignedIn,
    warehouse_id: int,
    sku: str,
    *,
    before: int = 0,
    done: str = "",
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    names = _warehouses(ctx, user)
    if warehouse_id not in names:
        raise ConsoleError(404, "Not found", f"There is no warehouse {warehouse_id}.")
    levels = inventory.list_stock(ctx, warehouse_id=warehouse_id, sku=sku, limit=1)
    entries = inventory.ledger_newest_first(
        ctx, warehouse_id, sku, before_id=before, limit=LEDGER_PAGE + 1
    )
    more = len(entries) > LEDGER_PAGE
    entries = entries[:LEDGER_PAGE]
    level = levels[0] if levels else None
    mins = thresholds.min_units_of(ctx, [sku])
    return render(
        request,
        "stock_ledger.html",
        {
            "warehouse_id": warehouse_id,
            "warehouse": names[warehouse_id],
            "sku": sku,
            "level": level,
            "available": max(0, level.on_hand - level.reserved - level.safety) if level else 0,
            "min_units": mins.get((warehouse_id, sku)),
            "entries": entries,
            "query": urlencode({"warehouse_id": warehouse_id, "sku": sku}),
            "next_before": entries[-1].id if more and entries else None,
            "first_page": before == 0,
            "done": DONE.get(done),
            "error": error,
            "form": form or {},
        },
        status=status,
        user=user,
    )


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(
    *,
    request: Request,
    ctx: CtxDep,
    user: ReadStock,
    warehouse: Annotated[int, Query(alias="warehouse_id", ge=1, le=MAX_ID)],
    sku: Annotated[str, Query(min_length=1, max_length=128)],
    before: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    warehouse_id = _warehouse_id(user, str(warehouse))
    assert warehouse_id is not None  # noqa: S101 - asked for by number
    return _ledger_page(request, ctx, user, warehouse_id, sku, before=before, done=done)


@router.post("/adjust")
async def adjust(
    *,
    request: Request,
    ctx: CtxDep,
    user: WriteStock,
    warehouse: Annotated[int, Form(alias="warehouse_id", ge=1, le=MAX_ID)],
    sku: Annotated[str, Form(min_length=1, max_length=128)],
    delta: Annotated[str, Form(max_length=12)],
    reason: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    warehouse_id = _warehouse_id(user, str(warehouse))
    assert warehouse_id is not None  # noqa: S101 - asked for by number
    form = {"delta": delta, "reason": reason}
    problem = _adjustment_problem(delta, reason)
    try:
        if problem:
            raise DomainError(problem)
        await run_in_threadpool(
            lambda: inventory.adjust_stock(
                ctx, warehouse_id, sku, delta=int(delta), actor=user.actor, reason=reason.strip()
            )
        )
    except DomainError as exc:
        failed = exc
        return await run_in_threadpool(
            lambda: _ledger_page(
                request,
                ctx,
                user,
                warehouse_id,
                sku,
                error=str(failed),
                form=form,
                status=422 if problem else 409,
            )
        )
    query = urlencode({"warehouse_id": warehouse_id, "sku": sku, "done": "adjusted"})
    return RedirectResponse(f"/console/stock/ledger?{query}", status_code=303)


def _adjustment_problem(delta: str, reason: str) -> str | None:
    """What is wrong with the typed adjustment, said as the page shows it; None if nothing."""
    try:
        value = int(delta.strip())
    except ValueError:
        return "The change is a whole number of units, such as 12 or -3."
    if value == 0:
        return "A change of 0 units changes nothing."
    if abs(value) > MAX_DELTA:
        return f"A change is at most {MAX_DELTA:,} units."
    if not reason.strip():
        return "Say why (a count, damage, a receipt...): the ledger keeps the reason."
    return None
