"""In-memory implementations of the connector protocols, for tests of the core around them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from omniroute.connectors.base import (
    CancelNotice,
    Capability,
    ChannelOrder,
    ConnectorRuntime,
    FulfilmentNotice,
    OrderPage,
    PermanentError,
    PushReceipt,
    StockUpdate,
    WebhookEvent,
)
from omniroute.connectors.shopify.mapping import to_canonical


@dataclass
class FakeRemote:
    """The channel's side: its orders, the calls it received and failures to serve next."""

    page_size: int = 2
    orders: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[datetime, str | None]] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    fulfilments: list[FulfilmentNotice] = field(default_factory=list)
    stock: list[tuple[str, list[StockUpdate]]] = field(default_factory=list)
    push_failures: list[Exception] = field(default_factory=list)
    on_fetch: Callable[[str], None] | None = None
    cancelled: list[CancelNotice] = field(default_factory=list)
    # What the channel says it holds after a stock push, where not what it was asked to set.
    stock_applied: dict[str, int] = field(default_factory=dict)

    def push(self) -> None:
        if self.push_failures:
            raise self.push_failures.pop(0)

    def put(self, order: dict[str, Any], updated_at: datetime) -> None:
        self.orders[str(order["id"])] = (updated_at, order)

    def page(self, updated_after: datetime, token: str | None) -> OrderPage:
        self.calls.append((updated_after, token))
        if self.fail_next:
            raise self.fail_next.pop(0)
        matching = sorted(
            ((ts, oid, o) for oid, (ts, o) in self.orders.items() if ts > updated_after),
            key=lambda item: (item[0], item[1]),
        )
        start = int(token or 0)
        chunk = matching[start : start + self.page_size]
        end = start + len(chunk)
        return OrderPage(
            orders=tuple(ChannelOrder(oid, ts, o) for ts, oid, o in chunk),
            next_page_token=str(end) if end < len(matching) else None,
        )


REMOTES: dict[str, FakeRemote] = {}
_lock = threading.Lock()


def remote(name: str) -> FakeRemote:
    with _lock:
        return REMOTES.setdefault(name, FakeRemote())


class FakeChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    remote: str
    locations: dict[str, str] = {}


class NoSecrets(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FakeChannel:
    """Polls, fetches on id-only hints, takes unsigned webhooks; orders are Shopify-shaped.

    Webhook bodies: ``{"hint": "<order id>"}`` (fetch it), ``{"order": {...}}`` or
    ``{"test": true}`` (nothing to do).
    """

    kind: ClassVar[str] = "fake_channel"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ORDER_POLLING,
            Capability.ORDER_FETCH,
            Capability.ORDER_WEBHOOKS,
            Capability.FULFILMENT_PUSH,
            Capability.STOCK_PUSH,
            Capability.CANCEL_PUSH,
        }
    )
    config_model: ClassVar[type[BaseModel]] = FakeChannelConfig
    secrets_model: ClassVar[type[BaseModel]] = NoSecrets

    def __init__(self, config: Any, secrets: Any, *, runtime: ConnectorRuntime) -> None:
        self.config = FakeChannelConfig.model_validate(config)
        self.remote = remote(self.config.remote)

    def pull_orders(
        self, updated_after: datetime, page_token: str | None, *, now: datetime
    ) -> OrderPage:
        assert updated_after.tzinfo is not None and now.tzinfo is not None
        return self.remote.page(updated_after, page_token)

    def fetch_order(self, external_id: str) -> ChannelOrder:
        self.remote.fetched.append(external_id)
        if self.remote.on_fetch is not None:
            self.remote.on_fetch(external_id)
        if external_id not in self.remote.orders:
            raise PermanentError(f"order {external_id} not found (404)")
        ts, order = self.remote.orders[external_id]
        return ChannelOrder(external_id, ts, order)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        return None

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return headers.get("x-delivery", "") or body.decode()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        data = json.loads(body)
        if "hint" in data:
            return WebhookEvent("order.updated", None, str(data["hint"]))
        return WebhookEvent("test", data.get("order"), None)

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        canonical = to_canonical(order)
        extra = order.get("_fake") or {}
        canonical.update(extra)
        return canonical

    def warehouse_code_for(self, location: str) -> str | None:
        return self.config.locations.get(location)

    def push_fulfilment(self, notice: FulfilmentNotice) -> PushReceipt:
        self.remote.push()
        self.remote.fulfilments.append(notice)
        return PushReceipt(external_ref=f"F{len(self.remote.fulfilments)}", attempts=1)

    def cancel_order(self, notice: CancelNotice) -> PushReceipt:
        self.remote.push()
        self.remote.cancelled.append(notice)
        return PushReceipt(external_ref=None, attempts=1)

    def push_stock(self, updates: Sequence[StockUpdate], *, idempotency_key: str) -> PushReceipt:
        self.remote.push()
        self.remote.stock.append((idempotency_key, list(updates)))
        return PushReceipt(external_ref=None, attempts=1, applied=dict(self.remote.stock_applied))
