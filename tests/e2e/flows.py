"""What the end-to-end tests and the fault drills share: a world with stock in two
warehouses, signed Shopify orders posted to a running API, and the check that every order was
released exactly once (orders, inbox, outbox, the fake WMS's idempotency keys and stock)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from omniroute.connectors.wms.demo_server import RELEASE_PATH, FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    FulfilmentLine,
    FulfilmentOrder,
    InboundMessage,
    OrderEvent,
    OrderException,
    OutboxMessage,
    SalesOrder,
    StockLedger,
    StockLevel,
    Warehouse,
)
from tests.integration.builders import World, build_world, order_body, signed_headers, stock

__all__ = ["order_body", "signed_headers"]  # re-exported for the tests that post by hand

ON_HAND = 1000
# C is only in WEST and D only in EAST: an order holding both is split in two fulfilment
# orders, one holding only C goes to WEST, the others go to EAST (the first by priority).
STOCKED = {"EAST": ("E2E-A", "E2E-B", "E2E-D"), "WEST": ("E2E-A", "E2E-B", "E2E-C")}
FIRST_ORDER_ID = 7_100_000

ClientFactory = Callable[[str], httpx.Client]


@dataclass(frozen=True)
class OrderSpec:
    shopify_id: int
    lines: tuple[tuple[str, int], ...]


def order_specs(n: int) -> list[OrderSpec]:
    specs = []
    for i in range(n):
        lines = [("E2E-A", 1 + i % 3), ("E2E-B", 1)]
        if i % 4 == 0:
            lines.append(("E2E-C", 2))
        if i % 3 == 0:
            lines.append(("E2E-D", 1))
        specs.append(OrderSpec(FIRST_ORDER_ID + i, tuple(lines)))
    return specs


def webhook_id(spec: OrderSpec) -> str:
    return f"e2e-{spec.shopify_id}"


def make_world(ctx: Context, wms_url: str) -> World:
    world = build_world(ctx, wms_url)
    for code, skus in STOCKED.items():
        for sku in skus:
            stock(ctx, world.warehouse_ids[code], sku, ON_HAND)
    return world


def post_orders(
    client: httpx.Client,
    world: World,
    specs: Iterable[OrderSpec],
    *,
    threads: int = 4,
    pause: float = 0.0,
) -> None:
    """Post each order as a signed Shopify webhook; every one must be accepted (2xx)."""

    def post(spec: OrderSpec) -> None:
        body = order_body(spec.shopify_id, list(spec.lines))
        response = client.post(
            f"/webhooks/{world.shopify_id}",
            content=body,
            headers=signed_headers(body, webhook_id=webhook_id(spec)),
        )
        assert response.status_code == 200, (spec, response.status_code, response.text)
        assert response.json()["status"] == "accepted", response.text
        time.sleep(pause)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, specs))


def status_counts(ctx: Context) -> dict[str, dict[str, int]]:
    with unit_of_work(ctx.sessions) as s:
        return {
            name: dict(s.execute(select(model.status, func.count()).group_by(model.status)).all())
            for name, model in (
                ("orders", SalesOrder),
                ("inbound", InboundMessage),
                ("outbox", OutboxMessage),
                ("fulfilment", FulfilmentOrder),
            )
        }


def unfinished(ctx: Context) -> str:
    """Counts, plus every inbox/outbox row still open with its claim and nudge times: what a
    stuck recovery needs to be understood from the log alone."""
    with unit_of_work(ctx.sessions) as s:
        rows = [
            f"{name} {r.id} {r.status} attempts={r.attempts} claimed={r.claimed_at} "
            f"nudged={r.nudged_at} next={r.next_attempt_at} error={r.last_error!r}"
            for name, model in (("inbound", InboundMessage), ("outbox", OutboxMessage))
            for r in s.scalars(
                select(model).where(model.status.in_(("pending", "processing"))).limit(20)
            )
        ]
    return "\n".join([f"now={utcnow()} {status_counts(ctx)}", *rows])


def released_count(ctx: Context) -> int:
    return status_counts(ctx)["orders"].get("released", 0)


def assert_released_exactly_once(ctx: Context, wms: FakeWms, specs: list[OrderSpec]) -> None:
    """Every order released once: one routing, one WMS order per fulfilment order, stock
    reserved for exactly what was ordered, nothing left pending, claimed or open."""
    by_external = {str(spec.shopify_id): spec for spec in specs}
    with unit_of_work(ctx.sessions) as s:
        orders = list(s.scalars(select(SalesOrder)))
        fos = list(s.scalars(select(FulfilmentOrder)))
        lines = s.execute(
            select(FulfilmentLine.fulfilment_order_id, FulfilmentLine.sku, FulfilmentLine.quantity)
        ).all()
        outbox = list(s.scalars(select(OutboxMessage)))
        inbound = list(s.scalars(select(InboundMessage)))
        codes = dict(s.execute(select(Warehouse.id, Warehouse.code)).all())
        levels = list(s.scalars(select(StockLevel)))
        ledger = s.execute(
            select(
                StockLedger.warehouse_id, StockLedger.sku, func.sum(StockLedger.delta_reserved)
            ).group_by(StockLedger.warehouse_id, StockLedger.sku)
        ).all()
        released_events = Counter(
            s.scalars(select(OrderEvent.order_id).where(OrderEvent.to_status == "released"))
        )
        open_exceptions = s.scalar(
            select(func.count()).select_from(OrderException).where(OrderException.status == "open")
        )

    # Orders and the inbox.
    assert sorted(o.external_id for o in orders) == sorted(by_external)
    assert Counter(o.status for o in orders) == {"released": len(specs)}
    assert all(released_events[o.id] == 1 for o in orders), released_events
    assert Counter(m.status for m in inbound) == {"done": len(specs)}, [
        (m.id, m.status, m.attempts, m.last_error) for m in inbound if m.status != "done"
    ]
    assert open_exceptions == 0

    # One routing per order: all its fulfilment orders come from one decision.
    decisions = defaultdict(set)
    for fo in fos:
        decisions[fo.order_id].add(fo.decision_id)
    assert {o.id for o in orders} == set(decisions)
    assert all(len(d) == 1 for d in decisions.values()), decisions
    assert Counter(fo.status for fo in fos) == {"released": len(fos)}
    split = sum(1 for spec in specs if {"E2E-C", "E2E-D"} <= {sku for sku, _ in spec.lines})
    assert split, "the orders should include some that must be split"
    assert len(fos) == len(specs) + split

    # Fulfilment lines add up to what each order asked for.
    fo_order = {fo.id: fo.order_id for fo in fos}
    external = {o.id: o.external_id for o in orders}
    shipped: dict[str, Counter[str]] = defaultdict(Counter)
    for fo_id, sku, qty in lines:
        shipped[external[fo_order[fo_id]]][sku] += qty
    for ext, spec in by_external.items():
        assert shipped[ext] == Counter(dict(spec.lines)), (ext, shipped[ext], spec)

    # One outbox row per fulfilment order, sent, each with its own key.
    assert Counter(m.fulfilment_order_id for m in outbox) == Counter(fo.id for fo in fos)
    assert Counter(m.status for m in outbox) == {"sent": len(fos)}, [
        (m.id, m.status, m.attempts, m.last_error) for m in outbox if m.status != "sent"
    ]
    keys = {m.idempotency_key: m.fulfilment_order_id for m in outbox}
    assert len(keys) == len(fos)

    # The WMS holds exactly one order per fulfilment order, under that order's key.
    accepted = wms.accepted
    assert wms.accepted_count == len(fos)
    assert set(accepted) == set(keys)
    for key, payload in accepted.items():
        assert payload["fulfilment_order_id"] == keys[key], (key, payload)
    assert len({p["fulfilment_order_id"] for p in accepted.values()}) == len(fos)
    posted_keys = {
        r.headers.get("idempotency-key")
        for r in wms.requests
        if r.method == "POST" and r.path == RELEASE_PATH
    }
    assert posted_keys == set(keys), posted_keys ^ set(keys)

    # Stock: reserved is exactly the fulfilment lines, per warehouse and in total; the
    # ledger explains every reserved unit; nothing went past what is on hand.
    fo_warehouse = {fo.id: fo.warehouse_id for fo in fos}
    expected_reserved: Counter[tuple[int, str]] = Counter()
    for fo_id, sku, qty in lines:
        expected_reserved[(fo_warehouse[fo_id], sku)] += qty
    reserved = {(lv.warehouse_id, lv.sku): lv.reserved for lv in levels}
    assert {k: v for k, v in reserved.items() if v} == dict(+expected_reserved), {
        (codes[w], sku): v for (w, sku), v in reserved.items()
    }
    assert {(w, sku): int(d) for w, sku, d in ledger if d} == dict(+expected_reserved)
    assert all(lv.reserved <= lv.on_hand - lv.safety for lv in levels)
    ordered: Counter[str] = Counter()
    for spec in specs:
        for sku, qty in spec.lines:
            ordered[sku] += qty
    per_sku: Counter[str] = Counter()
    for (_, sku), qty in reserved.items():
        per_sku[sku] += qty
    assert +per_sku == ordered


def replayed_keys(wms: FakeWms) -> set[str]:
    """Idempotency keys the WMS saw more than once (sent again after a lost answer)."""
    posts = Counter(
        r.headers.get("idempotency-key", "")
        for r in wms.requests
        if r.method == "POST" and r.path == RELEASE_PATH
    )
    return {key for key, n in posts.items() if n > 1}


def claimed_outbox_keys(ctx: Context) -> set[str]:
    with unit_of_work(ctx.sessions) as s:
        return set(
            s.scalars(
                select(OutboxMessage.idempotency_key).where(OutboxMessage.status == "processing")
            )
        )
