"""Errors as machine-readable problem bodies (RFC 9457 style) with a stable ``code``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from omniroute.core.access.tokens import TokenRefused
from omniroute.core.order_state.machine import InvalidTransition
from omniroute.core.platform.errors import Conflict, DomainError, Invalid, NotFound, Unauthorized
from omniroute.core.platform.telemetry import correlation

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
CORRELATION_HEADER = correlation.HEADER


def status_of(exc: DomainError) -> int:
    """The HTTP status of a service's refusal, for the API and the console alike."""
    return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"status": status, "code": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def correlation_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID, X-Correlation-ID or traceparent trace id when it is sane,
    else a new id (the rule webhook intake stores on the inbox row)."""
    return correlation.of_request(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in headers
    )


def server_problem(cid: str, status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    """A 5xx problem: the correlation id in the body and in the X-Correlation-ID header."""
    response = problem(status, code, detail, correlation_id=cid, **extra)
    response.headers[CORRELATION_HEADER] = cid
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        response = problem(status_of(exc), exc.code, str(exc), **exc.details)
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
