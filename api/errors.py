"""The last line of defence: an exception no handler took becomes a 500 problem, logged once.

``ErrorMiddleware`` is the outermost of the API's own middleware (only what FastAPI puts
around every application, ServerErrorMiddleware first, is outside it). It answers an
exception that escapes a route, a dependency or a middleware below it with a 500
``application/problem+json`` body whose ``correlation_id`` is also in the ``X-Correlation-ID``
header, logs the traceback once with that id, and does not re-raise: ServerErrorMiddleware
would answer in plain text and the server would log the traceback a second time. The
request's correlation id is bound to the log context while it runs, so its log lines and
the outbox rows it writes (an ops cancel, a shipment's channel push) carry it.
"""

from __future__ import annotations

import logging
from typing import Any

from omniroute.api.problems import correlation_id, server_problem
from omniroute.core.platform.telemetry.logs import log_context

log = logging.getLogger("omniroute.api.errors")

DETAIL = "the server failed to answer this request; quote the correlation id when reporting it"

Scope = dict[str, Any]
Message = dict[str, Any]


def log_unexpected(scope: Scope, cid: str, exc: Exception) -> None:
    log.error(
        "unexpected error in %s %s (correlation id %s)",
        scope.get("method", ""),
        scope.get("path", ""),
        cid,
        exc_info=exc,
    )


async def answer_unexpected(
    scope: Scope, receive: Any, send: Any, exc: Exception, cid: str | None = None
) -> None:
    """Log ``exc`` with a correlation id and answer 500 with it (nothing sent yet)."""
    cid = cid or correlation_id(scope["headers"])
    log_unexpected(scope, cid, exc)
    await server_problem(cid, 500, "internal_error", DETAIL)(scope, receive, send)


class ErrorMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        # The request's correlation id, bound for its logs and any outbox row it writes.
        cid = correlation_id(scope["headers"])
        try:
            with log_context(correlation_id=cid):
                await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not started:
                await answer_unexpected(scope, receive, send, exc, cid)
                return
            # Part of the answer is out: nothing can be added to it. Returning with the
            # response incomplete makes the server close the connection (uvicorn notes that
            # in one line, without a traceback), so the client sees a broken answer rather
            # than a short one that looks whole.
            log_unexpected(scope, cid, exc)
