"""The dashboard, the orders list and an order's page, and the audit trail (ops)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from omniroute.api.console.auth import ConsoleError, not_found, order_in_scope, require
from omniroute.api.console.charts import Bar, bar_chart
from omniroute.api.console.pages import history, render, shown
from omniroute.api.deps import CtxDep
from omniroute.api.schemas import MAX_ID
from omniroute.core.access import audit
from omniroute.core.access.permissions import Permission, allows
from omniroute.core.access.sessions import SignedIn
from omniroute.core.bootstrap import Context
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.orders import dashboard, views
from omniroute.core.orders.fixes.replay import FIXABLE
from omniroute.core.orders.search import OrderFilter
from omniroute.core.platform.errors import NotFound
from omniroute.core.returns import views as return_views

router = APIRouter(prefix="/console", include_in_schema=False)

P = Permission
ReadOrders = Annotated[SignedIn, Depends(require(P.ORDERS_READ))]
ReadOrder = Annotated[SignedIn, Depends(order_in_scope(P.ORDERS_READ))]
ReadAudit = Annotated[SignedIn, Depends(require(P.AUDIT_READ))]
PAGE = 50


@router.get("/", response_class=HTMLResponse)
def dashboard_page(request: Request, ctx: CtxDep, user: ReadOrders) -> HTMLResponse:
    figures = dashboard.figures(ctx, now=ctx.clock.now(), connector_ids=user.connector_ids)
    if not allows(user.role, P.EXCEPTIONS_READ):
        figures["exceptions"] = None
    drawn = dashboard.charts(ctx, now=ctx.clock.now(), connector_ids=user.connector_ids)
    if figures["exceptions"] is None:
        drawn["exception_ages"] = None
    return render(request, "dashboard.html", {"f": figures, "c": drawn, "svg": _svg(drawn)})


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def _svg(c: dict[str, Any]) -> dict[str, Markup]:
    """The dashboard's charts; each one's figures are in the page as text too."""
    hours = c["per_hour"]
    drawn = {
        "per_hour": bar_chart(
            "chart-per-hour",
            "Orders per hour, last 24 hours (UTC)",
            "; ".join(f"{h['hour']:%H}:00 {h['count']}" for h in hours),
            [
                Bar(f"{h['hour']:%H}", h["count"], f"{h['count']} orders at {h['hour']:%H}:00 UTC")
                for h in hours
            ],
            label_every=3,
        )
    }
    rates = c["rates"]
    shown = [("Fill", rates["fill"]), ("Split", rates["split"]), ("Backorder", rates["backorder"])]
    drawn["rates"] = bar_chart(
        "chart-rates",
        f"Fill, split and backorder rate, last {c['rate_window_days']} days",
        "; ".join(f"{name} rate {_percent(v)}" for name, v in shown),
        [Bar(name, round((v or 0) * 100, 1), f"{name} rate {_percent(v)}") for name, v in shown],
    )
    cycle = c["cycle"]
    drawn["cycle"] = bar_chart(
        "chart-cycle",
        f"Order cycle time, created to shipped, last {c['rate_window_days']} days (hours)",
        f"p50 {_hours(cycle['p50'])}; p90 {_hours(cycle['p90'])}; {cycle['count']} orders",
        [
            Bar("p50", round(cycle["p50"] or 0, 1), f"p50 {_hours(cycle['p50'])}"),
            Bar("p90", round(cycle["p90"] or 0, 1), f"p90 {_hours(cycle['p90'])}"),
        ],
    )
    ages = c["exception_ages"]
    if ages is not None:
        bars = []
        for a in ages:
            bars.append(Bar(a["label"], a["count"], f"{a['count']} open, {a['label']} old"))
        late = sum(a["late"] for a in ages)
        bars.append(Bar("past due", late, f"{late} past due", warn=True))
        drawn["exception_ages"] = bar_chart(
            "chart-exception-ages",
            "Open exceptions by age, and past due",
            "; ".join(b.text for b in bars),
            bars,
        )
    return drawn


@router.get("/orders", response_class=HTMLResponse)
def orders_page(
    *,
    request: Request,
    ctx: CtxDep,
    user: ReadOrders,
    number: Annotated[str, Query(max_length=128)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    customer: Annotated[str, Query(max_length=200)] = "",
    sku: Annotated[str, Query(max_length=128)] = "",
    created_from: Annotated[date | None, Query()] = None,
    created_to: Annotated[date | None, Query()] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Newest first; the dates are whole days (UTC), ``created_to`` included."""
    where = OrderFilter(
        status=status or None,
        number=number or None,
        customer=customer or None,
        sku=sku or None,
        created_from=_day_start(created_from),
        created_to=_day_start(created_to + timedelta(days=1) if created_to else None),
    )
    rows = views.search_orders(
        ctx, where=where, before_id=before, limit=PAGE + 1, connector_ids=user.connector_ids
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    filters = {
        "number": number,
        "status": status,
        "customer": customer,
        "sku": sku,
        "created_from": created_from.isoformat() if created_from else "",
        "created_to": created_to.isoformat() if created_to else "",
    }
    return render(
        request,
        "orders.html",
        {
            "rows": shown(user, rows),
            **filters,
            "query": urlencode({k: v for k, v in filters.items() if v}),
            "statuses": [s.value for s in OrderStatus],
            "next_before": rows[-1]["id"] if more and rows else None,
            "first_page": before is None,
        },
    )


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0), tzinfo=UTC)


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(
    *,
    request: Request,
    ctx: CtxDep,
    user: ReadOrder,
    order_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return order_view(request, ctx, user, order_id, done=DONE.get(done or ""))


DONE = {"changed": "Saved; the order is checked and routed again."}


def order_view(
    request: Request,
    ctx: Context,
    user: SignedIn,
    order_id: int,
    *,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """An order's page, with the outcome of an action on it (``done``) or its refusal."""
    try:
        order = views.order_detail(ctx, order_id)
    except NotFound:
        raise not_found("order", order_id) from None
    return render(
        request,
        "order.html",
        {
            "o": shown(user, order),
            "masked": not allows(user.role, P.PII_READ),
            "history": history(ctx, user, "order", order_id),
            # Its returns, for those who may read them (None: the section is not shown).
            "returns": return_views.returns_of_order(ctx, order_id)
            if allows(user.role, P.RETURNS_READ)
            else None,
            "fixable": fixable(user, order),
            "done": done,
            "error": error,
        },
        status=status,
    )


def fixable(user: SignedIn, order: dict[str, Any] | None) -> bool:
    """Whether the page offers the address and quantity forms: the user may edit orders and
    no warehouse has this one (the service checks again when it is posted)."""
    return (
        order is not None
        and allows(user.role, P.ORDERS_EDIT)
        and order["status"] in FIXABLE
        and not order.get("fulfilment_orders")
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    *,
    request: Request,
    ctx: CtxDep,
    _: ReadAudit,
    actor: Annotated[str, Query(max_length=200)] = "",
    entity: Annotated[str, Query(max_length=40)] = "",  # "" from the form: any
    entity_id: Annotated[str, Query(max_length=64)] = "",
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> HTMLResponse:
    if entity and entity not in {e.value for e in audit.Entity}:
        raise ConsoleError(400, "Unknown entity", f"There is no audited entity {entity!r}.")
    where = audit.AuditFilter(
        actor=actor or None,
        entity=audit.Entity(entity) if entity else None,
        entity_id=entity_id or None,
    )
    rows = audit.list_entries(ctx, where, after_id=after, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "actor": actor,
            "entity": entity,
            "entity_id": entity_id,
            "entities": [e.value for e in audit.Entity],
            "next_after": rows[-1]["id"] if more and rows else None,
        },
    )
