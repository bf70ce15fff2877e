"""Connectors in the console: the list with each one's health, a connector's page (config,
which secrets are set but never their values, the raw inbox), and its actions: create, edit
the config (validated by the kind's config model, errors per field), set secrets (write-only:
a blank field keeps the stored one), enable or disable, poll now. Every change goes through
:mod:`core.channels.connector_admin` (validated, audited), as the API's does; a failed inbox
message is replayed through its exception's retry (the queue's page and service)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from omniroute.api.console.auth import connector_in_scope, not_found, require
from omniroute.api.console.pages import history, render, shown
from omniroute.api.deps import CtxDep
from omniroute.api.schemas import MAX_ID
from omniroute.connectors.base import Capability
from omniroute.core.access.permissions import Permission
from omniroute.core.access.sessions import SignedIn
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin as svc
from omniroute.core.platform.errors import DomainError, Invalid, NotFound
from omniroute.core.platform.models import Connector

router = APIRouter(prefix="/console/connectors", include_in_schema=False)

P = Permission
ReadAll = Annotated[SignedIn, Depends(require(P.CONNECTORS_READ))]
Create = Annotated[SignedIn, Depends(require(P.CONNECTORS_WRITE))]
ReadOne = Annotated[SignedIn, Depends(connector_in_scope(P.CONNECTORS_READ))]
WriteOne = Annotated[SignedIn, Depends(connector_in_scope(P.CONNECTORS_WRITE))]
PollOne = Annotated[SignedIn, Depends(connector_in_scope(P.CONNECTORS_POLL))]
ConnectorId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_CONFIG = 100_000  # characters of a config's JSON typed into the page
Config = Annotated[str, Form(max_length=MAX_CONFIG)]
INBOX_PAGE = 20
SECRET_PREFIX = "secret__"  # noqa: S105 - a form field prefix, not a secret
DONE = {
    "created": "Connector created.",
    "saved": "Configuration saved.",
    "enabled": "Enabled: it receives and sends again.",
    "disabled": "Disabled: it neither polls nor sends until enabled.",
    "polled": "A poll is queued; it runs in the next few seconds.",
}


def _fields_of(model: type[BaseModel]) -> list[dict[str, Any]]:
    return [
        {"name": name, "required": f.is_required(), "help": f.description or ""}
        for name, f in model.model_fields.items()
    ]


def _problems(exc: DomainError) -> list[dict[str, str]]:
    """Each wrong field and what is wrong with it, as the service names them."""
    fields = exc.details.get("fields")
    if isinstance(fields, list):
        return [{"field": str(f["field"]), "message": str(f["message"])} for f in fields]
    field = exc.details.get("field")
    return [{"field": str(field), "message": str(exc)}] if field else []


def _parse_config(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"the config is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            code="invalid_config",
            field="config",
        ) from None
    if not isinstance(value, dict):
        raise Invalid("the config is a JSON object", code="invalid_config", field="config")
    return value


async def _secrets_posted(request: Request, prefix: str = SECRET_PREFIX) -> dict[str, str]:
    """The secret fields filled in; a blank one keeps what is stored."""
    form = await request.form()
    return {
        key.removeprefix(prefix): value
        for key, value in form.items()
        if key.startswith(prefix) and isinstance(value, str) and value
    }


def _listing(ctx: Context, user: SignedIn) -> list[dict[str, Any]]:
    scope = user.connector_ids
    return [
        {"row": c, "health": svc.connector_health_view(ctx, c.id)}
        for c in svc.list_connectors(ctx)
        if scope is None or c.id in scope
    ]


def _list_page(
    request: Request,
    ctx: Context,
    user: SignedIn,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    problems: list[dict[str, str]] | None = None,
    status: int = 200,
) -> HTMLResponse:
    kinds = {k: _fields_of(c.secrets_model) for k, c in sorted(ctx.registry.kinds.items())}
    context = {
        "connectors": _listing(ctx, user),
        "kinds": kinds,
        "form": form or {},
        "error": error,
        "problems": problems or [],
    }
    return render(request, "connectors.html", context, status=status, user=user)


@router.get("", response_class=HTMLResponse)
def connectors_page(request: Request, ctx: CtxDep, user: ReadAll) -> HTMLResponse:
    return _list_page(request, ctx, user)


@router.post("")
async def create_connector(
    *,
    request: Request,
    ctx: CtxDep,
    user: Create,
    kind: Annotated[str, Form(max_length=100)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    config: Config = "{}",
    enabled: Annotated[bool, Form()] = False,
) -> Response:
    # Only this kind's secret fields: the form carries every kind's, each named with its kind.
    secrets = await _secrets_posted(request, f"{SECRET_PREFIX}{kind}__")
    try:
        cfg = _parse_config(config)
        row = await run_in_threadpool(
            lambda: svc.create_connector(
                ctx,
                kind=kind,
                name=name,
                config=cfg,
                secrets=secrets,
                enabled=enabled,
                actor=user.actor,
            )
        )
    except DomainError as exc:
        failed = exc
        form = {"kind": kind, "name": name, "config": config, "enabled": enabled}
        return await run_in_threadpool(
            lambda: _list_page(
                request,
                ctx,
                user,
                form=form,
                error=str(failed),
                problems=_problems(failed),
                status=409 if failed.code in ("duplicate", "folder_shared") else 422,
            )
        )
    return RedirectResponse(f"/console/connectors/{row.id}?done=created", status_code=303)


def _page(
    request: Request,
    ctx: Context,
    user: SignedIn,
    connector_id: int,
    *,
    done: str = "",
    before: int = 0,
    config_text: str | None = None,
    error: str | None = None,
    problems: list[dict[str, str]] | None = None,
    tested: svc.ConnectionTest | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        row: Connector = svc.get_connector(ctx, connector_id)
    except NotFound:
        raise not_found("connector", connector_id) from None
    kind_cls = ctx.registry.kinds.get(row.kind)
    inbox = svc.inbox_messages(ctx, connector_id, before_id=before, limit=INBOX_PAGE + 1)
    more = len(inbox) > INBOX_PAGE
    inbox = inbox[:INBOX_PAGE]
    context = {
        "c": row,
        "known_kind": kind_cls is not None,
        "health": svc.connector_health_view(ctx, connector_id),
        "secrets_set": svc.secret_names(ctx, row),
        "secret_fields": _fields_of(kind_cls.secrets_model) if kind_cls else [],
        "config_fields": _fields_of(kind_cls.config_model) if kind_cls else [],
        "polls": ctx.connectors.can(row, Capability.ORDER_POLLING)
        or ctx.connectors.can(row, Capability.TRACKING_POLL),
        "tested": tested,
        "config_text": config_text
        if config_text is not None
        else json.dumps(row.config, indent=2, ensure_ascii=False),
        "inbox": shown(user, inbox),
        "next_before": inbox[-1]["id"] if more and inbox else None,
        "first_page": before == 0,
        "done": DONE.get(done),
        "error": error,
        "problems": problems or [],
        "history": history(ctx, user, "connector", connector_id),
    }
    return render(request, "connector.html", context, status=status, user=user)


@router.get("/{connector_id}", response_class=HTMLResponse)
def connector_page(
    *,
    request: Request,
    ctx: CtxDep,
    user: ReadOne,
    connector_id: ConnectorId,
    done: Annotated[str, Query(max_length=20)] = "",
    before: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> HTMLResponse:
    return _page(request, ctx, user, connector_id, done=done, before=before)


@router.post("/{connector_id}")
async def save_config(
    *,
    request: Request,
    ctx: CtxDep,
    user: WriteOne,
    connector_id: ConnectorId,
    config: Config,
) -> Response:
    secrets = await _secrets_posted(request)
    try:
        cfg = _parse_config(config)
        await run_in_threadpool(
            lambda: svc.update_connector(
                ctx, connector_id, config=cfg, secrets=secrets, enabled=None, actor=user.actor
            )
        )
    except NotFound:
        raise not_found("connector", connector_id) from None
    except DomainError as exc:
        failed = exc
        return await run_in_threadpool(
            lambda: _page(
                request,
                ctx,
                user,
                connector_id,
                config_text=config,
                error=str(failed),
                problems=_problems(failed),
                status=409 if failed.code == "folder_shared" else 422,
            )
        )
    return RedirectResponse(f"/console/connectors/{connector_id}?done=saved", status_code=303)


@router.post("/{connector_id}/enabled")
async def set_enabled(
    *,
    request: Request,
    ctx: CtxDep,
    user: WriteOne,
    connector_id: ConnectorId,
    enabled: Annotated[bool, Form()],
) -> Response:
    try:
        await run_in_threadpool(
            lambda: svc.update_connector(
                ctx, connector_id, config=None, secrets=None, enabled=enabled, actor=user.actor
            )
        )
    except NotFound:
        raise not_found("connector", connector_id) from None
    except DomainError as exc:
        failed = exc
        # The stored config no longer passes its kind's model: say so rather than fail.
        return await run_in_threadpool(
            lambda: _page(
                request,
                ctx,
                user,
                connector_id,
                error=str(failed),
                problems=_problems(failed),
                status=422,
            )
        )
    done = "enabled" if enabled else "disabled"
    return RedirectResponse(f"/console/connectors/{connector_id}?done={done}", status_code=303)


@router.post("/{connector_id}/poll")
async def poll_now(
    *, request: Request, ctx: CtxDep, user: PollOne, connector_id: ConnectorId
) -> Response:
    try:
        await run_in_threadpool(lambda: svc.request_poll(ctx, connector_id, actor=user.actor))
    except NotFound:
        raise not_found("connector", connector_id) from None
    except DomainError as exc:
        failed = exc
        return await run_in_threadpool(
            lambda: _page(request, ctx, user, connector_id, error=str(failed), status=409)
        )
    return RedirectResponse(f"/console/connectors/{connector_id}?done=polled", status_code=303)


@router.post("/{connector_id}/test", response_class=HTMLResponse)
async def test_connection(
    *, request: Request, ctx: CtxDep, user: PollOne, connector_id: ConnectorId
) -> HTMLResponse:
    """Make the connector's cheapest read call now and show what answered (changes nothing)."""
    try:
        tested = await run_in_threadpool(lambda: svc.test_connection(ctx, connector_id))
    except NotFound:
        raise not_found("connector", connector_id) from None
    return await run_in_threadpool(lambda: _page(request, ctx, user, connector_id, tested=tested))
