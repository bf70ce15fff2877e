"""A Celery worker sends the WMS releases of an order it routed itself, right after the
routing commits; those releases are written already claimed for it (no claim transaction),
and a worker that dies before sending them only delays them until the claim goes stale."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import event, select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.fulfilment.release import Job, deliver_outbox
from omniroute.core.housekeeping.sweeper import find_due_work
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import RecordingDispatcher, Task, inline_for
from omniroute.core.platform.models import OutboxMessage, SalesOrder
from omniroute.worker.celery_app import CeleryDispatcher, run_with_follow_ups
from omniroute.worker.handlers import drain, run_task
from tests.integration.builders import build_world, order_body, post, stock


def _posted(ctx: Context, wms: FakeWms, order_no: int) -> int:
    """An order's inbox row, committed; the nudge taken off the recording dispatcher."""
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "A", 5)
    result = post(ctx, world, order_body(order_no, [("A", 2)]))
    assert result.inbound_id is not None
    assert isinstance(ctx.dispatcher, RecordingDispatcher)
    assert ctx.dispatcher.drain() == [(Task.PROCESS_INBOUND, result.inbound_id)]
    return result.inbound_id


def _outbox(ctx: Context) -> OutboxMessage:
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(select(OutboxMessage)).one()


def _worker_dispatcher() -> CeleryDispatcher:
    return CeleryDispatcher(Celery("inline-release-test", broker="memory://"))


def test_only_a_worker_collecting_follow_ups_runs_releases_inline() -> None:
    dispatcher = _worker_dispatcher()
    assert inline_for(dispatcher, Task.DELIVER_OUTBOX) is None  # not inside a task
    with dispatcher.collecting():
        assert inline_for(dispatcher, Task.DELIVER_OUTBOX) is dispatcher
        assert inline_for(dispatcher, Task.PROCESS_INBOUND) is None
    assert inline_for(RecordingDispatcher(), Task.DELIVER_OUTBOX) is None


def test_a_worker_sends_the_release_it_routed_without_claiming_it_again(
    ctx: Context, wms: FakeWms
) -> None:
    inbound_id = _posted(ctx, wms, 501)
    ctx.dispatcher = _worker_dispatcher()
    outbox_updates: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("UPDATE outbox_message"):
            outbox_updates.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", seen)
    try:
        run_with_follow_ups(ctx, Task.PROCESS_INBOUND, inbound_id)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", seen)

    assert wms.accepted_count == 1
    sent = _outbox(ctx)
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert len(outbox_updates) == 1, outbox_updates  # marked sent; never claimed after birth
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(SalesOrder.status)) == "released"


def test_a_release_claimed_at_birth_by_a_worker_that_died_is_sent_once_it_goes_stale(
    ctx: Context, wms: FakeWms
) -> None:
    inbound_id = _posted(ctx, wms, 502)
    dispatcher = ctx.dispatcher = _worker_dispatcher()
    with dispatcher.collecting() as after:  # the worker routes the order, then dies
        run_task(ctx, Task.PROCESS_INBOUND, inbound_id)
    born = _outbox(ctx)
    [(task, row_id, claimed, prepared)] = after
    assert (task, row_id, claimed) == (Task.DELIVER_OUTBOX, born.id, True)
    assert isinstance(prepared, Job)
    assert prepared.outbox_id == born.id
    assert (born.status, born.attempts) == ("processing", 1)
    assert born.claimed_at is not None
    assert wms.accepted_count == 0

    ctx.dispatcher = RecordingDispatcher()  # the sweeper's view, with another worker
    assert find_due_work(ctx) == []  # a fresh claim: somebody is sending it
    stale = born.claimed_at + timedelta(seconds=ctx.settings.claim_timeout + 1)
    assert find_due_work(ctx, now=stale) == [(Task.DELIVER_OUTBOX, born.id)]
    run_task(ctx, Task.DELIVER_OUTBOX, born.id)  # not stale yet by the clock: skipped
    assert wms.accepted_count == 0

    assert deliver_outbox(ctx, born.id, now=max(stale, utcnow())) == "sent"
    drain(ctx)
    assert wms.accepted_count == 1
    assert (_outbox(ctx).status, _outbox(ctx).attempts) == ("sent", 2)


def test_the_routing_transaction_reads_the_release_so_sending_it_takes_one_transaction(
    ctx: Context, wms: FakeWms
) -> None:
    inbound_id = _posted(ctx, wms, 503)
    dispatcher = ctx.dispatcher = _worker_dispatcher()
    with dispatcher.collecting() as after:
        run_task(ctx, Task.PROCESS_INBOUND, inbound_id)
    [(task, outbox_id, claimed, prepared)] = after
    assert isinstance(prepared, Job)
    assert prepared.request.lines[0].sku == "A"
    assert prepared.request.lines[0].quantity == 2
    assert prepared.request.idempotency_key == _outbox(ctx).idempotency_key
    with pytest.raises(ValueError, match="prepared release"):
        deliver_outbox(ctx, outbox_id + 1, claimed=True, prepared=prepared)

    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    event.listen(ctx.engine, "commit", committed)
    try:
        run_task(ctx, task, outbox_id, claimed=claimed, prepared=prepared)
    finally:
        event.remove(ctx.engine, "commit", committed)
    assert wms.accepted_count == 1
    assert len(commits) == 1  # the record that it was sent; no claim, no read
    assert _outbox(ctx).status == "sent"
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(SalesOrder.status)) == "released"
