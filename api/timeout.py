"""A bound on how long an API request may take before its caller is answered.

A request not answered within ``seconds`` gets a 503 problem (``request_timeout``, with a
correlation id and ``Retry-After``) and the route stops being awaited. A route that runs in
a worker thread cannot be interrupted there: what it was doing may still finish and commit,
so the answer says the request may have taken effect, and a client retries only what is
safe to repeat (every write that matters is idempotent or refused when repeated: a
connector name, a warehouse code, a shipment's external_ref). Webhooks are not covered: they
take their own path (``api.webhook_intake``), and a channel redelivers what timed out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from omniroute.api.problems import correlation_id, server_problem

Scope = dict[str, Any]
Message = dict[str, Any]

RETRY_AFTER = "5"


class TimeoutMiddleware:
    def __init__(self, app: Any, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

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

        try:
            await asyncio.wait_for(self.app(scope, receive, tracking_send), self.seconds)
        except TimeoutError:
            if started:
                # Part of the answer is out; the server closes the connection, as it does
                # for an error after the start (see api.errors).
                raise
            cid = correlation_id(scope["headers"])
            detail = (
                f"the request was not answered within {self.seconds:g} s; it may still "
                "take effect: check before repeating it"
            )
            response = server_problem(cid, 503, "request_timeout", detail)
            response.headers["Retry-After"] = RETRY_AFTER
            await response(scope, receive, send)
