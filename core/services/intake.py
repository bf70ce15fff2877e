"""Webhook intake: verify on the raw bytes, commit to the inbox, then acknowledge."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from connectors.base import Capability, OrderSource, SignatureError
from core.bootstrap import Context
from core.db import unit_of_work
from core.dispatch import Task
from core.errors import Conflict, NotFound, Unauthorized
from core.metrics import SIGNATURE_FAILURES, WEBHOOKS
from core.models import Connector, InboundMessage
from core.services.live_connectors import instance_for
from core.sql import insert_ignoring_conflict

# Headers worth keeping with the raw body so a replay sees what the sender sent.
KEPT_HEADER_PREFIXES = ("x-shopify-", "x-wc-", "content-type", "user-agent", "webhook-")
SECRET_HEADER_WORDS = ("hmac", "signature", "authorization", "token")


@dataclass(frozen=True)
class IntakeResult:
    inbound_id: int | None
    duplicate: bool


def receive_webhook(
    ctx: Context, connector_id: int, headers: Mapping[str, str], body: bytes
) -> IntakeResult:
    with unit_of_work(ctx.sessions) as session:
        row = session.get(Connector, connector_id)
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist")
        if not row.enabled:
            raise Conflict(f"connector {connector_id} is disabled", code="connector_disabled")
        source = instance_for(ctx, row)
        if Capability.ORDER_WEBHOOKS not in source.capabilities or not isinstance(
            source, OrderSource
        ):
            raise NotFound(f"connector {connector_id} does not take webhooks")
        try:
            source.verify_webhook(headers, body)
        except SignatureError as exc:
            SIGNATURE_FAILURES.labels(row.kind).inc()
            WEBHOOKS.labels(row.kind, "bad_signature").inc()
            raise Unauthorized(str(exc), code="bad_signature") from None
        kept = {
            k.lower(): v
            for k, v in headers.items()
            if k.lower().startswith(KEPT_HEADER_PREFIXES)
            and not any(w in k.lower() for w in SECRET_HEADER_WORDS)
        }
        inbound_id = insert_ignoring_conflict(
            session,
            InboundMessage.__table__,  # type: ignore[arg-type]
            {
                "connector_id": connector_id,
                "dedupe_key": source.dedupe_key(headers, body),
                "topic": kept.get("x-shopify-topic") or kept.get("x-wc-webhook-topic"),
                "headers": json.loads(json.dumps(kept)),
                "body": body,
                "status": "pending",
                "attempts": 0,
            },
            ["connector_id", "dedupe_key"],
        )
        kind = row.kind
    WEBHOOKS.labels(kind, "duplicate" if inbound_id is None else "accepted").inc()
    if inbound_id is not None:
        ctx.dispatcher.enqueue(Task.PROCESS_INBOUND, inbound_id)
    return IntakeResult(inbound_id=inbound_id, duplicate=inbound_id is None)
