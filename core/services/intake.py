"""Webhook intake: verify on the raw bytes, commit to the inbox, then acknowledge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from connectors.base import (
    IMPORTED_TOPIC,
    POLLED_TOPIC,
    Capability,
    OrderSource,
    PingAware,
    SignatureError,
)
from core.bootstrap import Context
from core.dispatch import Task
from core.errors import Conflict, NotFound, Unauthorized
from core.metrics import SIGNATURE_FAILURES, WEBHOOKS
from core.models import InboundMessage
from core.services.live_connectors import WebhookTarget, webhook_target
from core.sql import insert_ignoring_conflict_stmt

# Headers worth keeping with the raw body so a replay sees what the sender sent.
KEPT_HEADER_PREFIXES = ("x-shopify-", "x-wc-", "content-type", "user-agent", "webhook-")
SECRET_HEADER_WORDS = ("hmac", "signature", "authorization", "token")


@dataclass(frozen=True)
class IntakeResult:
    inbound_id: int | None
    duplicate: bool

    @property
    def status(self) -> str:
        """accepted (stored), duplicate (stored before) or ignored (a set-up ping)."""
        if self.inbound_id is not None:
            return "accepted"
        return "duplicate" if self.duplicate else "ignored"


def _inbox_insert(conn: Connection) -> Any:
    table = InboundMessage.__table__
    return insert_ignoring_conflict_stmt(conn.dialect.name, table, ("connector_id", "dedupe_key"))


def _topic(kept: Mapping[str, str]) -> str | None:
    topic = kept.get("x-shopify-topic") or kept.get("x-wc-webhook-topic")
    if topic in (POLLED_TOPIC, IMPORTED_TOPIC):
        return f"webhook:{topic}"  # those names mean a body omniroute wrote itself
    return topic


def receive_webhook(
    ctx: Context, connector_id: int, headers: Mapping[str, str], body: bytes
) -> IntakeResult:
    target: WebhookTarget | None = webhook_target(ctx, connector_id)
    if target is None:
        raise NotFound(f"connector {connector_id} does not exist")
    if not target.enabled:
        raise Conflict(f"connector {connector_id} is disabled", code="connector_disabled")
    source = target.source
    if Capability.ORDER_WEBHOOKS not in source.capabilities or not isinstance(source, OrderSource):
        raise NotFound(f"connector {connector_id} does not take webhooks")
    if isinstance(source, PingAware) and source.is_ping(headers, body):
        WEBHOOKS.labels(target.kind, "ping").inc()
        return IntakeResult(inbound_id=None, duplicate=False)
    try:
        source.verify_webhook(headers, body)
    except SignatureError as exc:
        SIGNATURE_FAILURES.labels(target.kind).inc()
        WEBHOOKS.labels(target.kind, "bad_signature").inc()
        raise Unauthorized(str(exc), code="bad_signature") from None
    kept = {}
    for k, v in headers.items():
        key = k.lower()
        if key.startswith(KEPT_HEADER_PREFIXES) and not any(w in key for w in SECRET_HEADER_WORDS):
            kept[key] = v
    values = {
        "connector_id": connector_id,
        "dedupe_key": source.dedupe_key(headers, body),
        "topic": _topic(kept),
        "headers": kept,
        "body": body,
        "status": "pending",
        "attempts": 0,
    }
    conn: Connection
    with ctx.engine.begin() as conn:  # committed before the caller acknowledges
        inbound_id = conn.execute(_inbox_insert(conn), values).scalar()
    inbound_id = None if inbound_id is None else int(inbound_id)
    WEBHOOKS.labels(target.kind, "duplicate" if inbound_id is None else "accepted").inc()
    if inbound_id is not None:
        ctx.dispatcher.enqueue(Task.PROCESS_INBOUND, inbound_id)
    return IntakeResult(inbound_id=inbound_id, duplicate=inbound_id is None)
