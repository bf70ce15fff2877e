"""The invariants of tests/invariants/checks.py under random sequences of what the world does.

A hypothesis state machine drives the real services the way the API and the channels call
them: signed Shopify webhooks shaped by the recorded sample (new orders, redeliveries, the
same order under another webhook id, older versions arriving late, newer versions cutting or
cancelling it), ops cancels of whole orders and of lines, stock adjustments, shipment
confirmations, a fake WMS on loopback that rejects, goes down and picks, the sweeper and the
embedded worker's drain. Every example gets its own database (a copy of the migrated SQLite
template, or a truncated PostgreSQL database), its own fake WMS and a clock that only the
machine moves; examples are derandomized, so a failure reproduces.

After every step all invariants are checked; at the end the world is let settle (WMS up,
sweeps and drains) and checked again, and nothing may be left waiting.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.fulfilment.shipments import SHIPPABLE, ShipmentInput, confirm_shipment
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.orders.cancellation import cancel_order
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import DomainError
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    InboundMessage,
    OrderLine,
    OutboxMessage,
    SalesOrder,
)
from omniroute.core.stock import inventory
from omniroute.worker.handlers import drain
from tests.conftest import _truncate_pg, make_settings
from tests.integration.builders import build_world, sample_order, signed_headers, stock
from tests.invariants.checks import assert_invariants

SKUS = ("A", "B", "C")
WAREHOUSES = ("EAST", "WEST")
CHANNEL_EPOCH = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
FIRST_ORDER_ID = 820_000_001
SETTLE_ROUNDS = 12
WMS_TIMEOUT, LATE_ANSWER = 0.15, 0.4  # seconds

indexes = st.integers(min_value=0, max_value=63)
order_lines = st.lists(
    st.tuples(st.sampled_from(SKUS), st.integers(min_value=1, max_value=3)),
    min_size=1,
    max_size=3,
)


class ManualClock:
    """A clock only the machine moves (started at the wall clock, so that the tables'
    insert-time defaults are never ahead of it)."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC).replace(tzinfo=None)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@dataclass
class ChannelOrder:
    """What the channel has sent of one order: its lines' current quantities and version."""

    external_id: int
    lines: list[tuple[str, int]]
    current: list[int]
    first_version: int
    latest_version: int
    cancelled: bool = False

    def payload(
        self, version: int, *, cancelled: bool = False, current: list[int] | None = None
    ) -> dict[str, Any]:
        quantities = self.current if current is None else current
        order = sample_order()
        template = order["line_items"][0]
        updated_at = (CHANNEL_EPOCH + timedelta(minutes=version)).isoformat()
        order |= {"id": self.external_id, "name": f"#{self.external_id}"}
        order |= {"created_at": CHANNEL_EPOCH.isoformat(), "updated_at": updated_at}
        order["line_items"] = [
            {
                **template,
                "id": self.external_id * 10 + i,
                "sku": sku,
                "quantity": qty,
                "current_quantity": quantities[i],
            }
            for i, (sku, qty) in enumerate(self.lines)
        ]
        if cancelled:
            order |= {"cancelled_at": updated_at, "cancel_reason": "customer"}
        return order


@dataclass(frozen=True)
class Delivery:
    body: bytes
    webhook_id: str
    topic: str


@dataclass
class Counters:
    webhook: Any = field(default_factory=lambda: itertools.count(1))
    version: Any = field(default_factory=lambda: itertools.count(10))


class OrderWorld(RuleBasedStateMachine):
    """One shop, one REST WMS (the fake) behind two warehouses, three SKUs."""

    new_database: ClassVar[Callable[[], str]]

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.ctx: Context = bootstrap(make_settings(self.new_database()), clock=self.clock)
        self.wms = FakeWms()
        self.wms.start()
        self.world = build_world(self.ctx, self.wms.base_url)
        connector_admin.update_connector(
            self.ctx,
            self.world.wms_id,
            config={"base_url": self.wms.base_url, "timeout_seconds": WMS_TIMEOUT},
            secrets=None,
            enabled=None,
            actor="test",
        )
        self.orders: list[ChannelOrder] = []
        self.deliveries: list[Delivery] = []
        self.counters = Counters()

    def teardown(self) -> None:
        try:
            if hasattr(self, "world"):
                self._settle()
        finally:
            self.wms.stop()
            self.ctx.close()

    # --- the world's side --------------------------------------------------------------------

    def _send(self, order: dict[str, Any], topic: str, *, now: bool) -> None:
        body = json.dumps(order).encode()
        delivery = Delivery(body, f"wh-{next(self.counters.webhook)}", topic)
        self._deliver(delivery, now=now)
        self.deliveries.append(delivery)

    def _deliver(self, d: Delivery, *, now: bool) -> None:
        """Into the inbox; ``now``: the worker takes it at once (else it waits for a drain)."""
        headers = signed_headers(d.body, d.webhook_id, d.topic)
        receive_webhook(self.ctx, self.world.shopify_id, headers, d.body)
        if now:
            drain(self.ctx)

    def _pick(self, items: list[Any], index: int) -> Any:
        return items[index % len(items)]

    def _ids(self, statement: Any) -> list[int]:
        with unit_of_work(self.ctx.sessions) as s:
            return list(s.scalars(statement))

    @initialize(
        on_hand=st.lists(st.integers(0, 8), min_size=6, max_size=6),
        orders=st.lists(order_lines, min_size=1, max_size=4),
    )
    def open_for_business(self, on_hand: list[int], orders: list[list[tuple[str, int]]]) -> None:
        """Stock on the shelves and a few orders in (each rule may be switched off for a
        whole example, so the world does not rely on ``new_order`` to have orders)."""
        cells = itertools.product(WAREHOUSES, SKUS)
        for (code, sku), units in zip(cells, on_hand, strict=True):
            stock(self.ctx, self.world.warehouse_ids[code], sku, units)
        for lines in orders:
            self._new_order(lines, now=True)

    @rule(lines=order_lines, now=st.booleans())
    def new_order(self, lines: list[tuple[str, int]], now: bool) -> None:
        self._new_order(lines, now=now)

    def _new_order(self, lines: list[tuple[str, int]], *, now: bool) -> None:
        version = next(self.counters.version)
        order = ChannelOrder(
            external_id=FIRST_ORDER_ID + len(self.orders),
            lines=lines,
            current=[qty for _, qty in lines],
            first_version=version,
            latest_version=version,
        )
        self.orders.append(order)
        self._send(order.payload(version), "orders/create", now=now)

    @precondition(lambda self: self.deliveries)
    @rule(index=indexes, now=st.booleans())
    def redeliver(self, index: int, now: bool) -> None:
        """The channel delivers a webhook again (same webhook id): absorbed by the inbox."""
        self._deliver(self._pick(self.deliveries, index), now=now)

    @precondition(lambda self: self.deliveries)
    @rule(index=indexes, now=st.booleans())
    def resend_under_another_id(self, index: int, now: bool) -> None:
        d = self._pick(self.deliveries, index)
        self._send(json.loads(d.body), d.topic, now=now)

    @precondition(lambda self: self.orders)
    @rule(index=indexes, now=st.booleans())
    def older_version_arrives_late(self, index: int, now: bool) -> None:
        """A version older than any the channel sent before, with one more unit on a line."""
        order: ChannelOrder = self._pick(self.orders, index)
        first = [qty for _, qty in order.lines]
        first[0] += 1
        stale = order.payload(order.first_version - 1, current=first)
        self._send(stale, "orders/updated", now=now)

    @precondition(lambda self: any(not o.cancelled for o in self.orders))
    @rule(index=indexes, line=indexes, units=st.integers(1, 3), now=st.booleans())
    def channel_cuts_a_line(self, index: int, line: int, units: int, now: bool) -> None:
        order: ChannelOrder = self._pick([o for o in self.orders if not o.cancelled], index)
        i = line % len(order.lines)
        order.current[i] = max(0, order.current[i] - units)
        order.latest_version = next(self.counters.version)
        self._send(order.payload(order.latest_version), "orders/updated", now=now)

    @precondition(lambda self: any(not o.cancelled for o in self.orders))
    @rule(index=indexes, now=st.booleans())
    def channel_cancels(self, index: int, now: bool) -> None:
        order: ChannelOrder = self._pick([o for o in self.orders if not o.cancelled], index)
        order.cancelled = True
        order.latest_version = next(self.counters.version)
        cancelled = order.payload(order.latest_version, cancelled=True)
        self._send(cancelled, "orders/cancelled", now=now)

    # --- ops and the warehouse --------------------------------------------------------------

    @rule(index=indexes, notify=st.booleans())
    def ops_cancel(self, index: int, notify: bool) -> None:
        ids = self._ids(select(SalesOrder.id).order_by(SalesOrder.id))
        if not ids:
            return
        try:
            done = cancel_order(
                self.ctx, self._pick(ids, index), reason="ops", actor="ops", notify_channel=notify
            )
            event(f"ops cancel: {'asked of the WMS' if done.requested else done.status}")
        except DomainError as exc:  # refused with a reason, as the API would answer it
            event(f"ops cancel refused: {exc.code}")

    @rule(index=indexes, units=st.integers(1, 3))
    def ops_cancel_units(self, index: int, units: int) -> None:
        with unit_of_work(self.ctx.sessions) as s:
            lines = list(s.execute(select(OrderLine.order_id, OrderLine.id).order_by(OrderLine.id)))
        if not lines:
            return
        order_id, line_id = self._pick(lines, index)
        try:
            done = cancel_order(
                self.ctx, order_id, reason="ops", actor="ops", lines={line_id: units}
            )
            event(f"ops cancel of units: {'asked of the WMS' if done.requested else done.status}")
        except DomainError as exc:
            event(f"ops cancel of units refused: {exc.code}")

    @rule(
        warehouse=st.sampled_from(WAREHOUSES), sku=st.sampled_from(SKUS), delta=st.integers(-3, 3)
    )
    def adjust_stock(self, warehouse: str, sku: str, delta: int) -> None:
        try:
            inventory.adjust_stock(
                self.ctx,
                self.world.warehouse_ids[warehouse],
                sku,
                delta=delta,
                actor="ops",
                reason="count" if delta < 0 else "receipt",
            )
            event("stock adjusted")
        except DomainError as exc:  # below zero or below what is reserved: refused
            event(f"stock adjustment refused: {exc.code}")

    @rule(index=indexes, ref=st.integers(0, 2))
    def warehouse_ships_all_open(self, index: int, ref: int) -> None:
        self._ship(index, ref, whole=True)

    @rule(index=indexes, ref=st.integers(0, 2))
    def warehouse_ships_one_unit(self, index: int, ref: int) -> None:
        self._ship(index, ref, whole=False)

    def _ship(self, index: int, ref: int, *, whole: bool) -> None:
        """A shipment confirmation (a repeated ``ref`` is the same confirmation again)."""
        # The warehouse ships only what it took (it may have taken an order whose answer
        # we never got, so the fulfilment order may still be pending here).
        taken = sorted(int(b["fulfilment_order_id"]) for b in self.wms.accepted.values())
        with unit_of_work(self.ctx.sessions) as s:
            open_lines = list(
                s.execute(
                    select(FulfilmentLine.fulfilment_order_id, FulfilmentLine.sku)
                    .join(FulfilmentOrder)
                    .where(
                        FulfilmentOrder.id.in_(taken),
                        FulfilmentOrder.status.in_(sorted(SHIPPABLE)),
                    )
                    .order_by(FulfilmentLine.id)
                )
            )
        if not open_lines:
            event("nothing to ship")
            return
        fo_id, sku = self._pick(open_lines, index)
        lines = None if whole else [(sku, 1)]
        try:
            shipped = confirm_shipment(
                self.ctx, fo_id, ShipmentInput(f"PKG-{fo_id}-{ref}", lines), actor="wms"
            )
            event("shipment confirmed" if shipped.created else "shipment repeated")
        except DomainError as exc:
            event(f"shipment refused: {exc.code}")

    @rule()
    def wms_rejects_the_next_call(self) -> None:
        self.wms.fail_next(1, status=422)

    @rule(sku=st.sampled_from((None, *SKUS)))
    def wms_rejects_a_sku(self, sku: str | None) -> None:
        self.wms.reject_skus([] if sku is None else [sku])

    @rule(down=st.booleans())
    def wms_down(self, down: bool) -> None:
        self.wms.set_down(down)

    @rule(late=st.booleans())
    def wms_answers_late(self, late: bool) -> None:
        """It takes each request at once but answers after our timeout (or on time again)."""
        self.wms.answer_late(LATE_ANSWER if late else None)

    @rule(index=indexes)
    def wms_picks(self, index: int) -> None:
        taken = sorted(int(b["fulfilment_order_id"]) for b in self.wms.accepted.values())
        if taken:
            self.wms.pick(self._pick(taken, index))

    @rule()
    def worker_drains(self) -> None:
        drain(self.ctx)

    @rule(minutes=st.integers(1, 10))
    def sweeper_runs(self, minutes: int) -> None:
        self.clock.advance(60 * minutes)
        sweep(self.ctx)
        drain(self.ctx)

    # --- checks ------------------------------------------------------------------------------

    @invariant()
    def invariants_hold(self) -> None:
        assert_invariants(self.ctx, self.wms)

    def _settle(self) -> None:
        """WMS back and willing; sweep and drain until no work is left; check once more."""
        self.wms.set_down(False)
        self.wms.answer_late(None)
        self.wms.reject_skus([])
        self.wms.fail_next(0)
        for _ in range(SETTLE_ROUNDS):
            self.clock.advance(3600)
            sweep(self.ctx)
            drain(self.ctx)
            if not self._waiting():
                break
        assert_invariants(self.ctx, self.wms)
        assert self._waiting() == [], "work left waiting after the world settled"
        with unit_of_work(self.ctx.sessions) as s:
            for status in sorted(set(s.scalars(select(SalesOrder.status)))):
                event(f"an order ended {status}")

    def _waiting(self) -> list[str]:
        busy = ("pending", "processing")
        with unit_of_work(self.ctx.sessions) as s:
            inbox = s.scalars(select(InboundMessage.id).where(InboundMessage.status.in_(busy)))
            outbox = s.execute(
                select(OutboxMessage.id, OutboxMessage.kind).where(OutboxMessage.status.in_(busy))
            )
            return [f"inbound {i}" for i in inbox] + [f"outbox {i} ({k})" for i, k in outbox]


def run_machine(new_database: Callable[[], str], *, examples: int, steps: int) -> None:
    machine = type("OrderWorldHere", (OrderWorld,), {"new_database": staticmethod(new_database)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_invariants_hold_under_random_operations_on_sqlite(
    sqlite_template: Path, tmp_path: Path
) -> None:
    made = itertools.count()

    def new_database() -> str:
        path = tmp_path / f"example-{next(made)}.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"

    run_machine(new_database, examples=30, steps=40)


@pytest.mark.postgres
def test_invariants_hold_under_random_operations_on_postgres(pg_migrated: str) -> None:
    def new_database() -> str:
        _truncate_pg(pg_migrated)
        return pg_migrated

    run_machine(new_database, examples=8, steps=25)
