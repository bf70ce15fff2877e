"""Webhook intake: raw bytes in, committed to the inbox, then 200."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep
from omniroute.api.schemas import Id, WebhookAck
from omniroute.core.intake.webhooks import receive_webhook

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/{connector_id}",
    response_model=WebhookAck,
    responses={
        401: {"description": "bad signature"},
        413: {"description": "too large"},
        429: {"description": "over the connector's webhook rate: wait Retry-After seconds"},
    },
)
async def webhook(connector_id: Id, request: Request, ctx: CtxDep) -> WebhookAck:
    """Signed by the channel, not by a token: the connector checks the signature."""
    body = await request.body()
    result = await run_in_threadpool(receive_webhook, ctx, connector_id, request.headers, body)
    return WebhookAck(
        status=result.status,
        inbound_id=result.inbound_id,
        duplicate=result.duplicate,
    )
