"""The exception queue and an exception's page, with its actions (each a CSRF-checked POST
through the queue's and the catalogue's services)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from omniroute.api.console.auth import ConsoleError, exception_in_scope, not_found, require
from omniroute.api.console.order_routes import fixable
from omniroute.api.console.pages import history, render, shown
from omniroute.api.deps import CtxDep
from omniroute.api.problems import status_of
from omniroute.api.schemas import MAX_ID
from omniroute.core.access.permissions import Permission, allows
from omniroute.core.access.sessions import SignedIn
from omniroute.core.bootstrap import Context
from omniroute.core.exceptions import board, bulk, triage
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.exceptions.opening import ExceptionStatus, Reason
from omniroute.core.orders.overrides import OVERRIDABLE
from omniroute.core.orders.views import order_detail
from omniroute.core.platform.errors import DomainError, Invalid, NotFound
from omniroute.core.stock import warehouses

router = APIRouter(prefix="/console/exceptions", include_in_schema=False)

P = Permission
ReadQueue = Annotated[SignedIn, Depends(require(P.EXCEPTIONS_READ))]
ReadOne = Annotated[SignedIn, Depends(exception_in_scope(P.EXCEPTIONS_READ))]
WorkOne = Annotated[SignedIn, Depends(exception_in_scope(P.EXCEPTIONS_RETRY))]
TriageOne = Annotated[SignedIn, Depends(exception_in_scope(P.EXCEPTIONS_TRIAGE))]
MapSku = Annotated[SignedIn, Depends(exception_in_scope(P.SKUS_MAP))]
ExceptionId = Annotated[int, Path(ge=1, le=MAX_ID)]
Note = Annotated[str, Form(max_length=exception_queue.MAX_NOTE)]

PAGE = 50
STATUSES = ("open", "retried", "resolved", "dismissed", "all")
DONE = {
    "retried": "Retried: the work behind it was replayed. It opens again if the problem is "
    "still there.",
    "resolved": "Resolved, with your note.",
    "dismissed": "Dismissed, with your note.",
    "mapped": "SKU mapped; every order waiting for it was retried.",
    "assigned": "Assignment saved.",
    "snoozed": "Snoozed: it is hidden from the open queue until then (its SLA keeps running).",
    "woken": "It shows in the queue again.",
    "address": "Shipping address saved; the order is checked and routed again.",
    "quantity": "Quantity saved; the order is checked and routed again.",
    "forced": "Routed to the warehouse you chose.",
    "cancelled": "Order cancelled.",
}
NOT_CANCELLABLE = ("cancelled", "shipped", "delivered", "partially_returned", "returned")


def _order_actions(
    user: SignedIn, record: dict[str, Any], order: dict[str, Any] | None, ctx: Context
) -> dict[str, Any]:
    """Which of the order's forms the exception's page offers (each service checks again)."""
    live = order is not None and record["status"] in (
        ExceptionStatus.OPEN,
        ExceptionStatus.RETRIED,
    )
    status = order["status"] if order is not None else None
    forceable = live and allows(user.role, P.ORDERS_ROUTE) and status in OVERRIDABLE
    return {
        "fixable": live and fixable(user, order),
        "address_fixable": live and record["reason"] == Reason.BAD_ADDRESS and fixable(user, order),
        "forceable": forceable,
        "warehouses": [w.code for w in warehouses.list_warehouses(ctx)] if forceable else [],
        "cancellable": live
        and allows(user.role, P.ORDERS_CANCEL)
        and status not in NOT_CANCELLABLE,
    }


StatusParam = Annotated[str, Query(pattern="^(open|retried|resolved|dismissed|all)$")]
ReasonParam = Annotated[str, Query(max_length=40)]
# Strings: a form sends an empty field for "any".
ConnectorParam = Annotated[str, Query(alias="connector_id", pattern=r"^\d{0,18}$")]
AgeParam = Annotated[str, Query(alias="older_than_hours", pattern=r"^\d{0,4}$")]
AssigneeParam = Annotated[str, Query(max_length=200)]
KindParam = Annotated[str, Query(max_length=40)]
WarehouseParam = Annotated[str, Query(alias="warehouse_id", pattern=r"^\d{0,18}$")]


@dataclass(frozen=True)
class Filter:
    """The queue's filter as the page's fields carry it (the same in links and bulk forms)."""

    status: str = "open"
    reason: str = ""
    connector: str = ""
    older_than: str = ""
    late: bool = False
    assignee: str = ""
    snoozed: bool = False
    dead_letters: bool = False
    kind: str = ""
    warehouse: str = ""

    def where(self, user: SignedIn) -> board.QueueFilter:
        if self.reason and self.reason not in {r.value for r in Reason}:
            raise ConsoleError(400, "Unknown code", f"There is no exception code {self.reason!r}.")
        return board.QueueFilter(
            status=None if self.status == "all" else self.status,
            reason=self.reason or None,
            connector_id=int(self.connector) if self.connector else None,
            older_than=timedelta(hours=int(self.older_than)) if self.older_than else None,
            late_only=self.late,
            assignee=(user.username if self.assignee == "me" else self.assignee) or None,
            include_snoozed=self.snoozed,
            dead_letters_only=self.dead_letters,
            outbox_kind=self.kind or None,
            warehouse_id=int(self.warehouse) if self.warehouse else None,
        )

    def params(self) -> dict[str, str]:
        return {
            "status": self.status,
            "reason": self.reason,
            "connector_id": self.connector,
            "older_than_hours": self.older_than,
            "late": "1" if self.late else "",
            "assignee": self.assignee,
            "snoozed": "1" if self.snoozed else "",
            "dead_letters": "1" if self.dead_letters else "",
            "kind": self.kind,
            "warehouse_id": self.warehouse,
        }

    def query(self, **more: str) -> str:
        """The filter as a query string, empty fields left out (an empty ``late=`` is not a
        boolean)."""
        return urlencode({k: v for k, v in {**self.params(), **more}.items() if v})


def queue_filter(
    *,
    status: StatusParam = "open",
    reason: ReasonParam = "",
    connector: ConnectorParam = "",
    older_than: AgeParam = "",
    late: bool = False,
    assignee: AssigneeParam = "",
    snoozed: bool = False,
    dead_letters: bool = False,
    kind: KindParam = "",
    warehouse: WarehouseParam = "",
) -> Filter:
    return Filter(
        status,
        reason,
        connector,
        older_than,
        late,
        assignee,
        snoozed,
        dead_letters,
        kind,
        warehouse,
    )


@router.get("", response_class=HTMLResponse)
def queue_page(
    *,
    request: Request,
    ctx: CtxDep,
    user: ReadQueue,
    chosen: Annotated[Filter, Depends(queue_filter)],
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    bulk_done: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    where = chosen.where(user)
    now = ctx.clock.now()
    scope = user.connector_ids
    rows = board.list_queue(
        ctx, where, now=now, after_id=after, limit=PAGE + 1, connector_ids=scope
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    may_act = allows(user.role, P.EXCEPTIONS_RETRY) or allows(user.role, P.EXCEPTIONS_TRIAGE)
    matched = len(bulk.matching_ids(ctx, where, now=now, connector_ids=scope)) if may_act else 0
    return render(
        request,
        "exceptions.html",
        {
            "rows": shown(user, rows),
            "counts": board.counts_by_reason(ctx, where, now=now, connector_ids=scope),
            "connectors": board.connector_choices(ctx, scope),
            "warehouses": board.warehouse_choices(ctx, user.warehouse_ids),
            "reasons": [r.value for r in Reason],
            "statuses": STATUSES,
            "params": chosen.params(),
            "query": chosen.query(),
            "next_after": rows[-1]["id"] if more and rows else None,
            "first_page": after == 0,
            "matched": min(matched, bulk.MAX_BULK),
            "more_than": matched > bulk.MAX_BULK,
            "bulk_done": bulk_done,
        },
    )


async def _bulk(
    ctx: Context,
    user: SignedIn,
    chosen: Filter,
    action: bulk.BulkAction,
    *,
    expected: int,
    assignee: str | None = None,
    note: str = "",
) -> Response:
    """Act on every exception the filter matches; back to the same queue with the outcome."""
    where = chosen.where(user)
    try:
        result = await run_in_threadpool(
            lambda: bulk.apply(
                ctx,
                where,
                action,
                actor=user.actor,
                connector_ids=user.connector_ids,
                assignee=assignee,
                note=note,
                expected=expected,
            )
        )
        words = f"{action.value}: {result.done} of {result.matched} done"
        if result.refused:
            first = result.refusals[0]
            words += f", {result.refused} refused (e.g. {first['exception_id']}: {first['code']})"
        if result.more:
            words += "; more match: run it again for the rest"
    except DomainError as exc:
        words = f"{action.value} not done: {exc}"
    query = chosen.query(bulk_done=words[:200])
    back = "/console/dead-letters" if chosen.dead_letters else "/console/exceptions"
    return RedirectResponse(f"{back}?{query}", status_code=303)


BulkFilter = Annotated[Filter, Depends(queue_filter)]
Expected = Annotated[int, Form(ge=0, le=bulk.MAX_BULK)]
RetryAll = Annotated[SignedIn, Depends(require(P.EXCEPTIONS_RETRY))]
TriageAll = Annotated[SignedIn, Depends(require(P.EXCEPTIONS_TRIAGE))]


@router.post("/bulk/retry")
async def bulk_retry(
    *, ctx: CtxDep, user: RetryAll, chosen: BulkFilter, expected: Expected
) -> Response:
    return await _bulk(ctx, user, chosen, bulk.BulkAction.RETRY, expected=expected)


@router.post("/bulk/assign")
async def bulk_assign(
    *,
    ctx: CtxDep,
    user: TriageAll,
    chosen: BulkFilter,
    expected: Expected,
    to: Annotated[str, Form(max_length=triage.MAX_ASSIGNEE)] = "",
) -> Response:
    name = user.username if to.strip() == "me" else to
    return await _bulk(
        ctx, user, chosen, bulk.BulkAction.ASSIGN, expected=expected, assignee=name or None
    )


@router.post("/bulk/resolve")
async def bulk_resolve(
    *, ctx: CtxDep, user: RetryAll, chosen: BulkFilter, expected: Expected, note: Note = ""
) -> Response:
    return await _bulk(ctx, user, chosen, bulk.BulkAction.RESOLVE, expected=expected, note=note)


@router.post("/bulk/dismiss")
async def bulk_dismiss(
    *, ctx: CtxDep, user: RetryAll, chosen: BulkFilter, expected: Expected, note: Note = ""
) -> Response:
    return await _bulk(ctx, user, chosen, bulk.BulkAction.DISMISS, expected=expected, note=note)


def exception_view(
    request: Request,
    ctx: Context,
    user: SignedIn,
    exception_id: int,
    *,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        record = board.exception_record(
            ctx, exception_id, now=ctx.clock.now(), connector_ids=user.connector_ids
        )
    except NotFound:
        raise not_found("exception", exception_id) from None
    order = order_detail(ctx, record["order_id"]) if record["order_id"] else None
    problems: list[dict[str, Any]] = list(record["detail"].get("problems") or [])
    aliases = [p["alias"] for p in problems if p.get("reason") == "unknown_sku" and p.get("alias")]
    return render(
        request,
        "exception.html",
        {
            "x": shown(user, record),
            "order": shown(user, order),
            "problems": shown(user, problems),
            "aliases": aliases if record["status"] == ExceptionStatus.OPEN else [],
            "done": DONE.get(done or ""),
            "error": error,
            "masked": not allows(user.role, P.PII_READ),
            "history": history(ctx, user, "exception", exception_id),
            **_order_actions(user, record, order, ctx),
        },
        status=status,
    )


@router.get("/{exception_id}", response_class=HTMLResponse)
def exception_page(
    request: Request,
    ctx: CtxDep,
    user: ReadOne,
    exception_id: ExceptionId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return exception_view(request, ctx, user, exception_id, done=done)


def _after(exception_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/exceptions/{exception_id}?done={done}", status_code=303)


async def _act(
    request: Request,
    ctx: Context,
    user: SignedIn,
    exception_id: int,
    *,
    done: str,
    action: Callable[[], object],
) -> Response:
    """Run a service call; a refusal is shown on the exception's page with its message."""
    try:
        await run_in_threadpool(action)
    except DomainError as exc:
        message = str(exc)
        status = status_of(exc)
        return await run_in_threadpool(
            lambda: exception_view(request, ctx, user, exception_id, error=message, status=status)
        )
    return _after(exception_id, done)


@router.post("/{exception_id}/retry")
async def retry(
    *, request: Request, ctx: CtxDep, user: WorkOne, exception_id: ExceptionId
) -> Response:
    return await _act(
        request,
        ctx,
        user,
        exception_id,
        done="retried",
        action=lambda: exception_queue.retry_exception(ctx, exception_id, actor=user.actor),
    )


@router.post("/{exception_id}/resolve")
async def resolve(
    *, request: Request, ctx: CtxDep, user: WorkOne, exception_id: ExceptionId, note: Note = ""
) -> Response:
    return await _act(
        request,
        ctx,
        user,
        exception_id,
        done="resolved",
        action=lambda: exception_queue.close_exception(
            ctx, exception_id, outcome=ExceptionStatus.RESOLVED, note=note, actor=user.actor
        ),
    )


@router.post("/{exception_id}/dismiss")
async def dismiss(
    *, request: Request, ctx: CtxDep, user: WorkOne, exception_id: ExceptionId, note: Note = ""
) -> Response:
    return await _act(
        request,
        ctx,
        user,
        exception_id,
        done="dismissed",
        action=lambda: exception_queue.close_exception(
            ctx, exception_id, outcome=ExceptionStatus.DISMISSED, note=note, actor=user.actor
        ),
    )


@router.post("/{exception_id}/map-sku")
async def map_sku(
    *,
    request: Request,
    ctx: CtxDep,
    user: MapSku,
    exception_id: ExceptionId,
    alias: Annotated[str, Form(max_length=255)] = "",
    sku: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Map the alias this exception names (and only that) to a catalogue SKU; the catalogue's
    service retries every order of the channel waiting for it."""

    def act() -> None:
        record = board.exception_record(
            ctx, exception_id, now=ctx.clock.now(), connector_ids=user.connector_ids
        )
        problems = record["detail"].get("problems") or []
        named = {p.get("alias") for p in problems if p.get("reason") == "unknown_sku"}
        if record["status"] != ExceptionStatus.OPEN or record["reason"] != "unknown_sku":
            raise Invalid(f"exception {exception_id} is not an open unknown_sku exception")
        if not alias or alias not in named:
            raise Invalid(f"exception {exception_id} does not name the alias {alias!r}")
        if not sku.strip():
            raise Invalid("choose the catalogue SKU to map it to")
        if record["connector_id"] is None:
            raise Invalid(f"exception {exception_id} belongs to no channel")
        warehouses.map_alias(ctx, record["connector_id"], alias, sku.strip(), actor=user.actor)

    return await _act(request, ctx, user, exception_id, done="mapped", action=act)


@router.post("/{exception_id}/assign")
async def assign(
    *,
    request: Request,
    ctx: CtxDep,
    user: TriageOne,
    exception_id: ExceptionId,
    assignee: Annotated[str, Form(max_length=triage.MAX_ASSIGNEE)] = "",
) -> Response:
    """Assign to a name ("me" is the signed-in user); an empty name takes it back."""
    name = user.username if assignee.strip() == "me" else assignee
    return await _act(
        request,
        ctx,
        user,
        exception_id,
        done="assigned",
        action=lambda: triage.assign(ctx, exception_id, name or None, actor=user.actor),
    )


@router.post("/{exception_id}/snooze")
async def snooze(
    *,
    request: Request,
    ctx: CtxDep,
    user: TriageOne,
    exception_id: ExceptionId,
    hours: Annotated[int, Form(ge=0, le=720)] = 0,
) -> Response:
    """Snooze for ``hours`` (0: wake it now)."""
    until = ctx.clock.now() + timedelta(hours=hours) if hours else None
    return await _act(
        request,
        ctx,
        user,
        exception_id,
        done="snoozed" if until else "woken",
        action=lambda: triage.snooze(ctx, exception_id, until, actor=user.actor),
    )
