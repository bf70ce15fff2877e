"""Signing in and out of the console."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from omniroute.api.console.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    client_ip,
    same_token,
    signed_in,
)
from omniroute.api.console.pages import render
from omniroute.api.deps import CtxDep
from omniroute.core.access import sessions as console_sessions
from omniroute.core.access.sessions import LoginRefused, LoginThrottled, SignedIn

router = APIRouter(prefix="/console", include_in_schema=False)

HOME = "/console/"


def safe_next(target: str | None) -> str:
    """Only a console path of this site (never another host, ``//x`` or a scheme)."""
    if target and target.startswith("/console/") and "//" not in target and "\\" not in target:
        return target
    return HOME


def _login_page(
    request: Request, *, next_url: str, message: str | None = None, status: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    page = render(
        request,
        "login.html",
        {"csrf": token, "next": next_url, "message": message},
        status=status,
    )
    # Double submit: the form's token must match this cookie (no session exists yet).
    page.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.ctx.settings.console_cookie_secure,
        path="/console/login",
    )
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
async def login(
    *,
    request: Request,
    ctx: CtxDep,
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    target = safe_next(next)
    if not same_token(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return _login_page(
            request, next_url=target, message="The form expired; try again.", status=403
        )
    try:
        cookie, _ = await run_in_threadpool(
            console_sessions.log_in, ctx, username, password, client_ip=client_ip(request)
        )
    except LoginThrottled as exc:
        return _login_page(request, next_url=target, message=str(exc), status=429)
    except LoginRefused as exc:
        return _login_page(request, next_url=target, message=str(exc), status=401)
    done = RedirectResponse(target, status_code=303)
    done.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(ctx.settings.console_session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.console_cookie_secure,
        path="/console",
    )
    done.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return done


@router.post("/logout")
async def logout(
    request: Request,
    ctx: CtxDep,
    _: Annotated[SignedIn, Depends(signed_in)],
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    await run_in_threadpool(console_sessions.log_out, ctx, cookie, client_ip=client_ip(request))
    done = RedirectResponse("/console/login", status_code=303)
    done.delete_cookie(SESSION_COOKIE, path="/console")
    return done
