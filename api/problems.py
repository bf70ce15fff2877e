"""Errors as machine-readable problem bodies (RFC 9457 style) with a stable ``code``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from omniroute.core.access.tokens import TokenRefused
from omniroute.core.order_state.machine import InvalidTransition
from omniroute.core.platform.errors import Conflict, DomainError, Invalid, NotFound, Unauthorized

HTTP_CODES = {
    400: "malformed_body",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    429: "too_many_requests",
}
STATUS = {NotFound: 404, Conflict: 409, Invalid: 422, Unauthorized: 401}
CORRELATION_HEADER = "X-Correlation-ID"
# Request headers whose value, when sane, is reused as the correlation id (first wins).
INCOMING_IDS = (b"x-request-id", b"x-correlation-id")
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"status": status, "code": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def correlation_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID (or X-Correlation-ID) when it is sane, else a new id."""
    sent = dict(headers)
    for name in INCOMING_IDS:
        value = sent.get(name, b"").decode("latin-1")
        if SANE_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


def server_problem(cid: str, status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    """A 5xx problem: the correlation id in the body and in the X-Correlation-ID header."""
    response = problem(status, code, detail, correlation_id=cid, **extra)
    response.headers[CORRELATION_HEADER] = cid
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        response = problem(status, exc.code, str(exc), **exc.details)
        if isinstance(exc, TokenRefused):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(InvalidTransition)
    async def _transition(_: Request, exc: InvalidTransition) -> JSONResponse:
        return problem(409, "invalid_transition", str(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        if exc.status_code >= 500:
            cid = correlation_id(request.headers.raw)
            response = server_problem(cid, exc.status_code, code, str(exc.detail))
        else:
            response = problem(exc.status_code, code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return problem(422, "invalid_request", "the request is not valid", fields=fields)
