"""The promises: no lost or duplicated order, no oversell, exactly-once hand-off."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.housekeeping.sweeper import find_due_work, sweep
from omniroute.core.platform.claims import claim, claim_inbound
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import (
    FulfilmentOrder,
    InboundMessage,
    OrderException,
    OutboxMessage,
    SalesOrder,
    StockLedger,
    StockLevel,
)
from omniroute.worker.embedded import EmbeddedRunner
from omniroute.worker.handlers import drain, run_task
from tests.conftest import make_settings
from tests.integration.builders import build_world, order_body, post, stock


def _count(ctx: Context, model: type, *where: object) -> int:
    with unit_of_work(ctx.sessions) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _run_concurrently(ctx: Context, jobs: list[tuple[Task, int]], threads: int = 8) -> None:
    """Run the jobs on several threads that all start at the same moment."""
    queue = list(jobs)
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        while True:
            with lock:
                if not queue:
                    return
                task, row_id = queue.pop()
            try:
                run_task(ctx, task, row_id)
            except BaseException as exc:
                errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    assert not errors, errors


def test_duplicate_webhook_five_times_shuffled_makes_one_order(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "A", 10)
    body = order_body(1001, [("A", 2)])
    # Five deliveries of one webhook, plus the same order under other webhook ids (a retry
    # by the channel after a timeout looks like that), arriving at once in random order.
    deliveries = ["wh-1"] * 5 + ["wh-2", "wh-3"]
    random.Random(5).shuffle(deliveries)
    results = []
    barrier = threading.Barrier(len(deliveries))

    def deliver(webhook_id: str) -> None:
        barrier.wait()
        results.append(post(ctx, world, body, webhook_id))

    threads = [threading.Thread(target=deliver, args=(w,)) for w in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.duplicate for r in results) == [False] * 3 + [True] * 4
    _run_concurrently(ctx, ctx.dispatcher.drain(), threads=3)  # type: ignore[attr-defined]
    drain(ctx)

    assert _count(ctx, SalesOrder) == 1
    assert _count(ctx, FulfilmentOrder) == 1
    assert _count(ctx, InboundMessage, InboundMessage.status == "done") == 3
    assert wms.accepted_count == 1
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(StockLevel.reserved)) == 2


@pytest.mark.parametrize("policy", ["exception", "backorder"])
def test_fifty_orders_racing_for_ten_units_reserve_exactly_ten(
    db_url: str, wms: FakeWms, policy: str
) -> None:
    ctx = bootstrap(make_settings(db_url, no_stock_policy=policy, db_pool_size=10))
    try:
        world = build_world(ctx, wms.base_url)
        stock(ctx, world.warehouse_ids["EAST"], "HOT", 6)
        stock(ctx, world.warehouse_ids["WEST"], "HOT", 4)
        for i in range(50):
            post(ctx, world, order_body(5000 + i, [("HOT", 1)]))
        _run_concurrently(ctx, ctx.dispatcher.drain(), threads=8)  # type: ignore[attr-defined]
        drain(ctx)

        with unit_of_work(ctx.sessions) as s:
            levels = list(s.scalars(select(StockLevel)))
            ledger_reserved = s.scalar(select(func.sum(StockLedger.delta_reserved)))
            statuses = [st for (st,) in s.execute(select(SalesOrder.status))]
        assert sum(lv.reserved for lv in levels) == 10
        assert all(0 <= lv.reserved <= lv.on_hand for lv in levels)
        assert ledger_reserved == 10
        assert statuses.count("released") == 10
        parked = "exception" if policy == "exception" else "backordered"
        assert statuses.count(parked) == 40
        if policy == "exception":
            assert _count(ctx, OrderException, OrderException.reason == "no_stock") == 40
        assert wms.accepted_count == 10
    finally:
        ctx.close()


def test_wms_500_twice_then_200_releases_once_with_one_key(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "A", 5)
    post(ctx, world, order_body(42, [("A", 1)]))
    wms.fail_next(2, status=500)
    drain(ctx)
    _sweep_until(ctx, lambda: _count(ctx, OutboxMessage, OutboxMessage.status == "sent"))

    releases = [r for r in wms.requests if r.method == "POST"]
    assert len(releases) == 3  # one per outbox attempt: the 500s are not repeated in-call
    assert len({r.headers["idempotency-key"] for r in releases}) == 1
    assert wms.accepted_count == 1
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(SalesOrder.status)) == "released"
        assert s.scalar(select(OutboxMessage.status)) == "sent"
        assert s.scalar(select(OutboxMessage.attempts)) == 3


def _sweep_until(ctx: Context, done: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():  # type: ignore[operator]
            return
        sweep(ctx)
        drain(ctx)
        time.sleep(0.02)
    raise AssertionError("condition not reached before the deadline")


def test_wms_down_dead_letters_then_redrive_delivers_once(db_url: str, wms: FakeWms) -> None:
    ctx = bootstrap(make_settings(db_url, outbox_max_attempts=3, http_retry_attempts=2))
    try:
        world = build_world(ctx, wms.base_url)
        stock(ctx, world.warehouse_ids["EAST"], "A", 5)
        post(ctx, world, order_body(43, [("A", 1)]))
        wms.set_down(True)
        drain(ctx)
        _sweep_until(ctx, lambda: _count(ctx, OutboxMessage, OutboxMessage.status == "dead"))

        (exc,) = exception_queue.list_exceptions(ctx)
        assert exc.reason == "wms_unreachable"
        assert exc.detail["attempts"] == 3
        with unit_of_work(ctx.sessions) as s:
            assert s.scalar(select(SalesOrder.status)) == "exception"
        assert wms.accepted_count == 0
        assert find_due_work(ctx, now=utcnow() + timedelta(hours=1)) == []  # dead stays dead

        wms.set_down(False)
        exception_queue.retry_exception(ctx, exc.id, actor="test")
        drain(ctx)
        assert wms.accepted_count == 1
        with unit_of_work(ctx.sessions) as s:
            assert s.scalar(select(SalesOrder.status)) == "released"
            assert s.scalar(select(OutboxMessage.status)) == "sent"
        assert _count(ctx, OrderException, OrderException.status == "open") == 0
    finally:
        ctx.close()


def test_wms_rejection_is_dead_lettered_at_once(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "BAD", 5)
    wms.reject_skus({"BAD"})
    post(ctx, world, order_body(44, [("BAD", 1)]))
    drain(ctx)
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "wms_rejected"
    assert exc.detail["error"] == "http_422"
    assert len([r for r in wms.requests if r.method == "POST"]) == 1


def test_stale_claim_of_a_dead_worker_is_swept_and_done_once(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "A", 5)
    result = post(ctx, world, order_body(45, [("A", 1)]))
    ctx.dispatcher.drain()  # type: ignore[attr-defined]  # the nudge is lost
    assert result.inbound_id is not None
    with unit_of_work(ctx.sessions) as s:  # a worker claims it, then dies
        assert claim(s, InboundMessage, result.inbound_id, now=utcnow(), claim_timeout=30)
    assert find_due_work(ctx) == []
    later = utcnow() + timedelta(seconds=31)
    assert find_due_work(ctx, now=later) == [(Task.PROCESS_INBOUND, result.inbound_id)]
    run_task(ctx, Task.PROCESS_INBOUND, result.inbound_id)  # not yet stale by the clock: skip
    assert _count(ctx, SalesOrder) == 0
    from omniroute.core.intake.processing import process_inbound

    order_id = process_inbound(ctx, result.inbound_id, now=later)
    assert order_id is not None
    run_task(ctx, Task.ROUTE_ORDER, order_id)
    drain(ctx)
    assert wms.accepted_count == 1
    assert _count(ctx, SalesOrder, SalesOrder.status == "released") == 1


def test_claiming_an_inbox_row_loads_its_connector_and_takes_it_once(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    result = post(ctx, world, order_body(46, [("A", 1)]))
    assert result.inbound_id is not None
    now = utcnow()
    with unit_of_work(ctx.sessions) as s:
        claimed = claim_inbound(s, result.inbound_id, now=now, claim_timeout=30)
        assert claimed is not None
        msg, connector = claimed
        assert (msg.id, msg.status, msg.attempts) == (result.inbound_id, "processing", 1)
        assert (connector.id, connector.kind) == (world.shopify_id, "shopify")
        assert msg.connector_id == connector.id
        # A second claim within the claim timeout takes nothing.
        assert claim_inbound(s, result.inbound_id, now=now, claim_timeout=30) is None
    with unit_of_work(ctx.sessions) as s:
        assert claim_inbound(s, result.inbound_id + 1000, now=now, claim_timeout=30) is None


def test_check_constraint_backs_up_the_conditional_update(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "A", 3)
    with pytest.raises(IntegrityError), unit_of_work(ctx.sessions) as s:
        s.execute(update(StockLevel).values(reserved=4))
    with pytest.raises(IntegrityError), unit_of_work(ctx.sessions) as s:
        s.execute(update(StockLevel).values(on_hand=-1, reserved=0))


def test_migrations_match_the_models(ctx: Context) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    from omniroute.core.platform.migrate import alembic_config

    command.check(alembic_config(ctx.settings.database_url))
    with unit_of_work(ctx.sessions) as s:
        head = ScriptDirectory.from_config(
            alembic_config(ctx.settings.database_url)
        ).get_current_head()
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


def test_a_backlog_is_renudged_once_per_interval_not_every_sweep(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    result = post(ctx, world, order_body(46, [("A", 1)]))
    ctx.dispatcher.drain()  # type: ignore[attr-defined]  # nudged, still waiting in a queue
    now = utcnow() + timedelta(seconds=1)
    first = find_due_work(ctx, now=now)
    assert first == [(Task.PROCESS_INBOUND, result.inbound_id)]
    assert find_due_work(ctx, now=now + timedelta(seconds=2)) == []
    interval = ctx.settings.renudge_interval
    assert find_due_work(ctx, now=now + timedelta(seconds=interval + 1)) == first


def test_rows_still_waiting_in_the_broker_are_not_renudged(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    ids = [post(ctx, world, order_body(60 + i, [("A", 1)])).inbound_id for i in range(3)]
    ctx.dispatcher.drain()  # type: ignore[attr-defined]
    later = utcnow() + timedelta(seconds=10)
    # The broker reports two intake tasks waiting: the newest two rows are among them.
    assert find_due_work(ctx, now=later, queued_inbound=2) == [(Task.PROCESS_INBOUND, ids[0])]
    assert find_due_work(ctx, now=later + timedelta(seconds=60), queued_inbound=5) == []
    assert find_due_work(ctx, now=later + timedelta(seconds=120)) == [
        (Task.PROCESS_INBOUND, i) for i in ids
    ]


def _received(ctx: Context, offsets: dict[int, float]) -> None:
    base = utcnow() - timedelta(minutes=5)
    with unit_of_work(ctx.sessions) as session:
        for inbound_id, seconds in offsets.items():
            session.execute(
                update(InboundMessage)
                .where(InboundMessage.id == inbound_id)
                .values(received_at=base + timedelta(seconds=seconds))
            )


def test_rows_behind_or_just_ahead_of_the_queue_head_are_not_renudged(
    ctx: Context, wms: FakeWms
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"sweep_grace": 5.0})
    world = build_world(ctx, wms.base_url)
    ids = [post(ctx, world, order_body(70 + i, [("A", 1)])).inbound_id for i in range(4)]
    ctx.dispatcher.drain()  # type: ignore[attr-defined]  # nudged, still waiting in a queue
    # ids[0]: lost well before the head; ids[1]: taken just ahead of it (prefetched by a
    # worker); ids[2]: the head; ids[3]: waiting behind it.
    _received(ctx, {ids[0]: 0, ids[1]: 29, ids[2]: 30, ids[3]: 31})
    later = utcnow() + timedelta(seconds=10)  # every row is past its grace
    # A count of 2 would take ids[0] and ids[1] for lost; the head knows better.
    assert find_due_work(ctx, now=later, queued_inbound=2, queue_head=ids[2]) == [
        (Task.PROCESS_INBOUND, ids[0])
    ]
    # The queue moves on: once its head is past ids[1] by more than the grace, ids[1] is lost.
    assert find_due_work(ctx, now=later + timedelta(seconds=1), queue_head=ids[3]) == []
    _received(ctx, {ids[0]: 0, ids[1]: 29, ids[2]: 30, ids[3]: 29 + 5 + 1})
    assert find_due_work(ctx, now=later + timedelta(seconds=2), queue_head=ids[3]) == [
        (Task.PROCESS_INBOUND, ids[1])
    ]


def test_an_unknown_queue_head_falls_back_to_the_count(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    ids = [post(ctx, world, order_body(80 + i, [("A", 1)])).inbound_id for i in range(2)]
    ctx.dispatcher.drain()  # type: ignore[attr-defined]
    later = utcnow() + timedelta(seconds=10)
    assert find_due_work(ctx, now=later, queued_inbound=1, queue_head=10**9) == [
        (Task.PROCESS_INBOUND, ids[0])
    ]


def test_the_embedded_runner_hints_its_own_queue(ctx: Context) -> None:
    runner = EmbeddedRunner(ctx, workers=1)  # not started: what is enqueued stays queued
    assert runner._intake_hint() == (0, None)
    runner.enqueue(Task.DELIVER_OUTBOX, 7)
    for inbound_id in (11, 12):
        runner.enqueue(Task.PROCESS_INBOUND, inbound_id)
    assert runner._intake_hint() == (2, 11)
