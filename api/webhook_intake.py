"""The lean path for ``POST /webhooks/{connector_id}``: plain ASGI, no FastAPI machinery.

Webhooks are the hot path of the API, and most of their CPU went to the framework
(middleware chain, routing, dependency solving, response-model serialisation). This handler
answers them directly; everything else, including a webhook URL that does not match exactly,
falls through to FastAPI. The FastAPI route in ``api/routers/webhooks.py`` stays registered,
so the OpenAPI document still describes the endpoint.

Behaviour is the same as through FastAPI: the body limit is enforced before buffering (413),
the connector verifies the signature on the raw bytes (401 ``bad_signature``), errors are
problem+json bodies built as ``api.problems`` builds them (an unexpected exception is the
same 500 with a correlation id, logged once, that ``api.errors`` gives any other route), and
the 200 comes only after the inbox row is committed.
"""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.datastructures import Headers

from omniroute.api.errors import answer_unexpected
from omniroute.api.problems import STATUS
from omniroute.api.schemas import MAX_ID
from omniroute.api.throttling import WebhookShedder
from omniroute.core.bootstrap import Context
from omniroute.core.intake.webhooks import IntakeResult, receive_webhook
from omniroute.core.platform.errors import DomainError

# Up to 19 digits; an id outside 1 .. 2^63-1 (a BIGINT), and anything else, goes to FastAPI,
# whose route declares the same range and answers 422.
PATH = re.compile(r"/webhooks/([0-9]{1,19})")

Scope = dict[str, Any]


def _json(payload: dict[str, Any]) -> bytes:
    # The same rendering as starlette's JSONResponse.
    return json.dumps(
        payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def _accepted_body(result: IntakeResult) -> bytes:
    """The 200 body, byte for byte what ``_json`` renders, without the encoder for one int."""
    if result.inbound_id is not None:
        return b'{"status":"accepted","inbound_id":%d,"duplicate":false}' % result.inbound_id
    return _json({"status": result.status, "inbound_id": None, "duplicate": result.duplicate})


class WebhookIntake:
    def __init__(
        self, ctx: Context, *, max_bytes: int, threads: int, shedder: WebhookShedder
    ) -> None:
        self.ctx = ctx
        self.shedder = shedder
        self.max_bytes = max_bytes
        self.threads = threads
        # The blocking part (connector lookup, verify, INSERT + COMMIT) runs here. A plain
        # executor hop costs under half of anyio.to_thread's per call (sniffio lookups,
        # cancel scope, limiter), and max_workers bounds it the same way.
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")

    def match(self, scope: Scope) -> int | None:
        """The connector id when this request is a webhook this handler takes."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        found = PATH.fullmatch(scope["path"])
        if found is None:
            return None
        connector_id = int(found.group(1))
        return connector_id if 1 <= connector_id <= MAX_ID else None

    async def __call__(self, scope: Scope, receive: Any, send: Any, connector_id: int) -> None:
        wait = self.shedder.retry_after(connector_id)
        if wait:
            await self._shed(send, connector_id, wait)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self._executor, receive_webhook, self.ctx, connector_id, headers, body
            )
        except DomainError as exc:
            status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
            payload = {"status": status, "code": exc.code, "detail": str(exc), **exc.details}
            await self._answer(send, status, _json(payload), b"application/problem+json")
            return
        except Exception as exc:
            await answer_unexpected(scope, receive, send, exc)
            return
        extra = (
            [(b"x-correlation-id", result.correlation_id.encode())]
            if result.correlation_id
            else None
        )
        await self._answer(send, 200, _accepted_body(result), b"application/json", extra)

    async def _too_large(self, send: Any) -> None:
        payload = {
            "status": 413,
            "code": "body_too_large",
            "detail": f"request bodies are limited to {self.max_bytes} bytes",
        }
        await self._answer(send, 413, _json(payload), b"application/problem+json")

    async def _shed(self, send: Any, connector_id: int, wait: int) -> None:
        payload = {
            "status": 429,
            "code": "webhook_rate_exceeded",
            "detail": f"connector {connector_id} is over {self.shedder.rate:g} webhooks a "
            f"second; deliver again in {wait} s",
        }
        extra = [(b"retry-after", str(wait).encode())]
        await self._answer(send, 429, _json(payload), b"application/problem+json", extra)

    @staticmethod
    async def _answer(
        send: Any,
        status: int,
        body: bytes,
        content_type: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", content_type),
                    *(extra or ()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
