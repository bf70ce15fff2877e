"""The worker that routes an order sends its WMS releases itself, right after the routing
commits, in both deployments (the embedded runner and a Celery worker run the same code):
the releases are written already claimed for it and read in the routing transaction, so
sending one takes one transaction; a worker that dies before sending them only delays them
until the claim goes stale."""

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
from omniroute.core.intake import processing
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Dispatcher, RecordingDispatcher, Task
from omniroute.core.platform.models import InboundMessage, OutboxMessage, SalesOrder
from omniroute.worker.celery_app import CeleryDispatcher
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


def _order_status(ctx: Context) -> str | None:
    with unit_of_work(ctx.sessions) as s:
        return s.scalar(select(SalesOrder.status))


def _celery() -> Dispatcher:
    return CeleryDispatcher(Celery("inline-release-test", broker="memory://"))


@pytest.mark.parametrize("deployment", [RecordingDispatcher, _celery], ids=["embedded", "celery"])
def test_either_deployment_sends_the_release_it_routed_without_claiming_it_again(
    ctx: Context, wms: FakeWms, deployment: Any
) -> None:
    inbound_id = _posted(ctx, wms, 501)
    ctx.dispatcher = deployment()
    outbox_updates: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("UPDATE outbox_message"):
            outbox_updates.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", seen)
    try:
        run_task(ctx, Task.PROCESS_INBOUND, inbound_id)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", seen)

    assert wms.accepted_count == 1
    sent = _outbox(ctx)
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert len(outbox_updates) == 1, outbox_updates  # marked sent; never claimed after birth
    assert _order_status(ctx) == "released"
    if isinstance(ctx.dispatcher, RecordingDispatcher):
        assert ctx.dispatcher.drain() == []  # nothing was left to a queue


def test_a_release_claimed_at_birth_by_a_worker_that_died_is_sent_once_it_goes_stale(
    ctx: Context, wms: FakeWms, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbound_id = _posted(ctx, wms, 502)
    # The worker routes the order, then dies before it sends the release.
    monkeypatch.setattr(processing, "_send_releases", lambda *_: None)
    run_task(ctx, Task.PROCESS_INBOUND, inbound_id)
    monkeypatch.undo()
    born = _outbox(ctx)
    assert (born.status, born.attempts) == ("processing", 1)
    assert born.claimed_at is not None
    assert wms.accepted_count == 0

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
    ctx: Context, wms: FakeWms, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbound_id = _posted(ctx, wms, 503)
    handed: list[tuple[int, bool, Job | None]] = []
    commits: list[int] = []

    def spy(deps: Any, outbox_id: int, *, claimed: bool, prepared: Job | None) -> str:
        handed.append((outbox_id, claimed, prepared))
        before = len(commits)
        outcome = deliver_outbox(deps, outbox_id, claimed=claimed, prepared=prepared)
        assert len(commits) - before == 1  # the record that it was sent; no claim, no read
        return outcome

    monkeypatch.setattr(processing, "deliver_outbox", spy)
    event.listen(ctx.engine, "commit", lambda _conn: commits.append(1))
    run_task(ctx, Task.PROCESS_INBOUND, inbound_id)
    assert len(commits) == 2  # the routing, then the sent record

    [(outbox_id, claimed, prepared)] = handed
    assert claimed
    assert isinstance(prepared, Job)
    assert prepared.request.lines[0].sku == "A"
    assert prepared.request.lines[0].quantity == 2
    assert prepared.request.idempotency_key == _outbox(ctx).idempotency_key
    with pytest.raises(ValueError, match="prepared release"):
        deliver_outbox(ctx, outbox_id + 1, claimed=True, prepared=prepared)
    assert wms.accepted_count == 1
    assert _outbox(ctx).status == "sent"
    assert _order_status(ctx) == "released"


def test_a_release_that_fails_after_the_commit_leaves_the_order_routed_and_the_inbox_done(
    ctx: Context, wms: FakeWms, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbound_id = _posted(ctx, wms, 504)

    def broken(*_: Any, **__: Any) -> str:
        raise RuntimeError("the worker's connection dropped")

    monkeypatch.setattr(processing, "deliver_outbox", broken)
    order_id = processing.process_inbound(ctx, inbound_id)
    assert order_id is not None
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(InboundMessage, inbound_id).status == "done"
    assert _order_status(ctx) == "routed"
    assert _outbox(ctx).status == "processing"  # claimed: the sweeper sends it once stale
