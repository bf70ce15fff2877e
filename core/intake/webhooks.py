"""Webhook intake: verify on the raw bytes, commit to the inbox, then acknowledge.

Which request headers are stored with the body, and the row's topic, are the connector's to
say (``connectors.base.WebhookMetadata``); intake names no channel's headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from omniroute.connectors.base import (
    IMPORTED_TOPIC,
    POLLED_TOPIC,
    Capability,
    OrderSource,
    PingAware,
    SignatureError,
    kept_webhook_headers,
    webhook_topic_of,
)
from omniroute.connectors.tracking import TrackingSource
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, NotFound, Unauthorized
from omniroute.core.platform.inbox_insert import insert_committed
from omniroute.core.platform.live_connectors import WebhookTarget
from omniroute.core.platform.metrics import INTAKE, SIGNATURE_FAILURES, WEBHOOKS
from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.ports import HasConnectors, HasDispatcher, HasEngine
from omniroute.core.platform.telemetry import correlation


class Deps(HasEngine, HasConnectors, HasDispatcher, Protocol):
    """What webhook intake uses: no session, one INSERT on the engine."""


@dataclass(frozen=True)
class IntakeResult:
    inbound_id: int | None
    duplicate: bool
    correlation_id: str | None = None  # stored on the row (None: nothing stored)

    @property
    def status(self) -> str:
        """accepted (stored), duplicate (stored before) or ignored (a set-up ping)."""
        if self.inbound_id is not None:
            return "accepted"
        return "duplicate" if self.duplicate else "ignored"


_ROLES: dict[type, tuple[bool, bool, bool]] = {}


def _webhook_roles(kind: type) -> tuple[bool, bool, bool]:
    """Whether a connector class is an OrderSource, PingAware, and a TrackingSource; once per
    class, because a runtime protocol check inspects every member on each call."""
    roles = _ROLES.get(kind)
    if roles is None:
        roles = _ROLES[kind] = (
            issubclass(kind, OrderSource),
            issubclass(kind, PingAware),
            issubclass(kind, TrackingSource),
        )
    return roles


def _takes_webhooks(source: Any, order_source: bool, tracking_source: bool) -> bool:
    """Orders (``ORDER_WEBHOOKS``) or a carrier's tracking (``TRACKING_WEBHOOKS``): both are
    verified, stored and acknowledged alike; processing tells them apart."""
    capabilities = source.capabilities
    return (Capability.ORDER_WEBHOOKS in capabilities and order_source) or (
        Capability.TRACKING_WEBHOOKS in capabilities and tracking_source
    )


_TOPIC_CHARS = InboundMessage.__table__.c.topic.type.length  # type: ignore[attr-defined]


def _topic(source: object, headers: Mapping[str, str]) -> str | None:
    """The topic the connector names, cut to the column; never one of the names of a body
    omniroute wrote."""
    topic = webhook_topic_of(source, headers)
    if topic in (POLLED_TOPIC, IMPORTED_TOPIC):
        return f"webhook:{topic}"  # those names mean a body omniroute wrote itself
    return None if topic is None else topic[:_TOPIC_CHARS]


def receive_webhook(
    deps: Deps, connector_id: int, headers: Mapping[str, str], body: bytes
) -> IntakeResult:
    target: WebhookTarget | None = deps.connectors.webhook_target(connector_id)
    if target is None:
        raise NotFound(f"connector {connector_id} does not exist")
    if not target.enabled:
        raise Conflict(f"connector {connector_id} is disabled", code="connector_disabled")
    source = target.source
    order_source, ping_aware, tracking_source = _webhook_roles(type(source))
    if not _takes_webhooks(source, order_source, tracking_source):
        raise NotFound(f"connector {connector_id} does not take webhooks")
    if ping_aware and source.is_ping(headers, body):
        WEBHOOKS.labels(target.kind, "ping").inc()
        INTAKE.labels(str(connector_id), "ignored").inc()
        return IntakeResult(inbound_id=None, duplicate=False)
    try:
        source.verify_webhook(headers, body)
    except SignatureError as exc:
        SIGNATURE_FAILURES.labels(target.kind).inc()
        WEBHOOKS.labels(target.kind, "bad_signature").inc()
        INTAKE.labels(str(connector_id), "rejected").inc()
        raise Unauthorized(str(exc), code="bad_signature") from None
    cid = correlation.of_request(headers.items())
    values = {
        "correlation_id": cid,
        "connector_id": connector_id,
        "dedupe_key": source.dedupe_key(headers, body),
        "topic": _topic(source, headers),
        # What the connector says its parse_webhook needs later, so a replay sees it too.
        "headers": kept_webhook_headers(source, headers),
        "body": body,
        "status": "pending",
        "attempts": 0,
    }
    inbound_id = insert_committed(deps.engine, values)  # before the caller acknowledges
    outcome = "duplicate" if inbound_id is None else "accepted"
    WEBHOOKS.labels(target.kind, outcome).inc()
    INTAKE.labels(str(connector_id), outcome).inc()
    if inbound_id is not None:
        deps.dispatcher.enqueue(Task.PROCESS_INBOUND, inbound_id)
    return IntakeResult(
        inbound_id=inbound_id,
        duplicate=inbound_id is None,
        correlation_id=None if inbound_id is None else cid,
    )
