"""Routing rules in the console: versions and their states, a draft edited with the
validator's messages, a simulation on a stored or pasted order, publish now or later,
withdraw, roll back, and the diff against the active version. Every action goes through
:mod:`core.order_routing.rule_sets` (validated, audited), as the API's does."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from omniroute.api.console.auth import not_found, require
from omniroute.api.console.pages import history, render
from omniroute.api.deps import CtxDep
from omniroute.api.problems import status_of
from omniroute.api.schemas import MAX_ID
from omniroute.core.access.permissions import Permission
from omniroute.core.access.sessions import SignedIn
from omniroute.core.bootstrap import Context
from omniroute.core.order_routing import rule_sets
from omniroute.core.order_routing.backtest import backtest
from omniroute.core.order_routing.simulate import simulate
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.errors import DomainError, Invalid, NotFound

router = APIRouter(prefix="/console/rules", include_in_schema=False)

P = Permission
ReadRules = Annotated[SignedIn, Depends(require(P.RULES_READ))]
WriteRules = Annotated[SignedIn, Depends(require(P.RULES_WRITE))]
PublishRules = Annotated[SignedIn, Depends(require(P.RULES_PUBLISH))]
SimulateRules = Annotated[SignedIn, Depends(require(P.RULES_SIMULATE))]
RuleSetId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_DOCUMENT = 200_000  # characters of a rule set's JSON typed into the page
Document = Annotated[str, Form(max_length=MAX_DOCUMENT)]
Notes = Annotated[str, Form(max_length=2000)]

STARTER: dict[str, Any] = {
    "name": "my-rules",
    "timezone": "UTC",
    "default": {"ranking": ["distance", "priority", "stock"]},
    "rules": [],
}
DONE = {
    "drafted": "Draft saved. Check it, simulate it, then publish it.",
    "saved": "Draft saved.",
    "published": "Published: it routes orders from now on.",
    "scheduled": "Published and scheduled: it takes over at its effective time.",
    "withdrawn": "Withdrawn: it routes nothing from now on.",
    "activated": "Rolled back: a copy of that version routes orders from now on.",
}


def _parse(text: str) -> dict[str, Any]:
    """The typed document, or an Invalid naming where the JSON breaks."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(f"the document is not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(doc, dict):
        raise Invalid("the document must be a JSON object (a rule set)")
    return doc


def _when(text: str) -> datetime | None:
    """A ``datetime-local`` value, read as UTC (naive, as the services take it); empty: now."""
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise Invalid(f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM, UTC)") from exc
    return as_naive_utc(moment)


def _listing(ctx: Context) -> tuple[list[rule_sets.Version], dict[str, Any]]:
    versions = rule_sets.list_rule_sets(ctx)
    active = next((v for v in versions if v.state.value == "active"), None)
    return versions[::-1], STARTER if active is None else active.row.document


@router.get("", response_class=HTMLResponse)
def rules_page(request: Request, ctx: CtxDep, user: ReadRules) -> HTMLResponse:
    versions, starter = _listing(ctx)
    return render(
        request,
        "rules.html",
        {"versions": versions, "document": json.dumps(starter, indent=2)},
        user=user,
    )


@router.post("")
async def create_draft(
    *, request: Request, ctx: CtxDep, user: WriteRules, document: Document, notes: Notes = ""
) -> Response:
    try:
        doc = _parse(document)
        row = await run_in_threadpool(
            lambda: rule_sets.create_draft(ctx, doc, notes=notes or None, actor=user.actor)
        )
    except DomainError as exc:
        versions, _ = await run_in_threadpool(_listing, ctx)
        context = {"versions": versions, "document": document, "error": str(exc)}
        return render(request, "rules.html", context, status=422, user=user)
    return RedirectResponse(f"/console/rules/{row.id}?done=drafted", status_code=303)


def _page(
    request: Request,
    ctx: Context,
    user: SignedIn,
    rule_set_id: int,
    *,
    done: str | None = None,
    error: str | None = None,
    problems: list[dict[str, Any]] | None = None,
    text: str | None = None,
    simulation: dict[str, Any] | None = None,
    backtested: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        version = rule_sets.get_rule_set(ctx, rule_set_id)
    except NotFound:
        raise not_found("rule set", rule_set_id) from None
    row = version.row
    doc: Any = row.document
    if text is not None:
        try:
            doc = _parse(text)
        except Invalid:
            doc = None
    check = rule_sets.validate_document(ctx, doc) if doc is not None else None
    try:
        diff = rule_sets.diff_versions(ctx, rule_set_id, against=None)
    except DomainError:
        diff = None  # nothing active to compare with
    context = {
        "v": version,
        "row": row,
        "state": version.state.value,
        "text": text if text is not None else json.dumps(row.document, indent=2),
        "check": check,
        "diff": diff,
        "done": DONE.get(done or ""),
        "error": error,
        "problems": problems or [],
        "simulation": simulation,
        "backtest": backtested,
        "history": history(ctx, user, "routing_rule_set", rule_set_id),
    }
    return render(request, "rule.html", context, status=status, user=user)


@router.get("/{rule_set_id}", response_class=HTMLResponse)
def rule_page(
    request: Request,
    ctx: CtxDep,
    user: ReadRules,
    rule_set_id: RuleSetId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _page(request, ctx, user, rule_set_id, done=done)


async def _act(
    request: Request,
    ctx: Context,
    user: SignedIn,
    rule_set_id: int,
    action: Callable[[], str],
    *,
    text: str | None = None,
) -> Response:
    """Run a service call; its answer names the page to go to next (``done``). A refusal
    is shown on the version's page with the service's message and the problems it named."""
    try:
        done = await run_in_threadpool(action)
    except DomainError as exc:
        status = status_of(exc)
        problems = list(exc.details.get("errors") or [])
        message = str(exc)
        return await run_in_threadpool(
            lambda: _page(
                request,
                ctx,
                user,
                rule_set_id,
                error=message,
                problems=problems,
                text=text,
                status=status,
            )
        )
    target = rule_set_id if not done.isdigit() else int(done)
    word = "activated" if done.isdigit() else done
    return RedirectResponse(f"/console/rules/{target}?done={word}", status_code=303)


@router.post("/{rule_set_id}")
async def save_draft(
    *,
    request: Request,
    ctx: CtxDep,
    user: WriteRules,
    rule_set_id: RuleSetId,
    document: Document,
    notes: Notes = "",
) -> Response:
    def act() -> str:
        rule_sets.update_draft(
            ctx, rule_set_id, _parse(document), notes=notes or None, actor=user.actor
        )
        return "saved"

    return await _act(request, ctx, user, rule_set_id, act, text=document)


@router.post("/{rule_set_id}/publish")
async def publish(
    *,
    request: Request,
    ctx: CtxDep,
    user: PublishRules,
    rule_set_id: RuleSetId,
    effective_from: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    def act() -> str:
        at = _when(effective_from)
        version = rule_sets.publish(ctx, rule_set_id, effective_from=at, actor=user.actor)
        if version.row.id != rule_set_id:  # a rollback, or a scheduled copy
            return str(version.row.id)
        return "scheduled" if version.state.value == "scheduled" else "published"

    return await _act(request, ctx, user, rule_set_id, act)


@router.post("/{rule_set_id}/withdraw")
async def withdraw(
    *,
    request: Request,
    ctx: CtxDep,
    user: PublishRules,
    rule_set_id: RuleSetId,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    def act() -> str:
        rule_sets.withdraw(ctx, rule_set_id, reason=reason or None, actor=user.actor)
        return "withdrawn"

    return await _act(request, ctx, user, rule_set_id, act)


@router.post("/{rule_set_id}/activate")
async def activate(
    *, request: Request, ctx: CtxDep, user: PublishRules, rule_set_id: RuleSetId
) -> Response:
    def act() -> str:
        return str(rule_sets.activate(ctx, rule_set_id, actor=user.actor).row.id)

    return await _act(request, ctx, user, rule_set_id, act)


@router.post("/{rule_set_id}/simulate", response_class=HTMLResponse)
async def simulate_order(
    *,
    request: Request,
    ctx: CtxDep,
    user: SimulateRules,
    rule_set_id: RuleSetId,
    order_id: Annotated[str, Form(max_length=20)] = "",
    order: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "",
    document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "",
) -> HTMLResponse:
    """What this version (or the draft as typed on the page) would decide for a stored
    order or a pasted canonical one, against current stock. Changes nothing."""

    def run() -> HTMLResponse:
        try:
            stored = int(order_id) if order_id.strip() else None
            pasted = _parse(order) if order.strip() and stored is None else None
            if stored is None and pasted is None:
                raise Invalid("give an order id, or paste a canonical order with connector_id")
            typed = _parse(document) if document.strip() else None
            result = simulate(
                ctx,
                order_id=stored,
                order=pasted,
                rule_set_id=None if typed is not None else rule_set_id,
                document=typed,
                connector_ids=user.connector_ids,
            )
        except (DomainError, ValueError) as exc:
            problems = list(exc.details.get("errors") or []) if isinstance(exc, DomainError) else []
            return _page(
                request,
                ctx,
                user,
                rule_set_id,
                error=f"Simulation refused: {exc}",
                problems=problems,
                text=document or None,
                status=422,
            )
        return _page(request, ctx, user, rule_set_id, simulation=result, text=document or None)

    return await run_in_threadpool(run)


BACKTEST_SHOWN = 20  # changed orders listed on the page (the CLI and the API give them all)


@router.post("/{rule_set_id}/backtest", response_class=HTMLResponse)
async def backtest_version(
    *,
    request: Request,
    ctx: CtxDep,
    user: SimulateRules,
    rule_set_id: RuleSetId,
    last: Annotated[int, Form(ge=1, le=2000)] = 200,
    document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "",
) -> HTMLResponse:
    """Replay this version (or the draft as typed) over the most recent routed orders and
    show what would change: the summary before and after, and the first changed orders."""

    def run() -> HTMLResponse:
        try:
            doc = _parse(document) if document.strip() else None
            if doc is None:
                doc = rule_sets.get_rule_set(ctx, rule_set_id).row.document
            report = backtest(ctx, doc, last=last, detail_limit=BACKTEST_SHOWN)
        except DomainError as exc:
            problems = list(exc.details.get("errors") or [])
            return _page(
                request,
                ctx,
                user,
                rule_set_id,
                error=f"Backtest refused: {exc}",
                problems=problems,
                text=document or None,
                status=422,
            )
        return _page(request, ctx, user, rule_set_id, backtested=report, text=document or None)

    return await run_in_threadpool(run)
