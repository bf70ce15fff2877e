"""What each task does: load by id, call one service, enqueue what follows. Shared by the
Celery worker and the embedded runner so both deployments run the same code."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from omniroute.core.bootstrap import Context
from omniroute.core.fulfilment.release import deliver_outbox
from omniroute.core.intake.polling import poll_connector
from omniroute.core.intake.processing import process_inbound
from omniroute.core.order_routing.route import RoutingContention, route_order
from omniroute.core.platform.dispatch import RecordingDispatcher, Task
from omniroute.core.platform.metrics import TASK_SECONDS, TASKS
from omniroute.core.platform.telemetry.logs import log_context

log = logging.getLogger("omniroute.worker")
T = TypeVar("T")


def _process_inbound(ctx: Context, inbound_id: int) -> None:
    process_inbound(ctx, inbound_id)  # routes the order it makes ready, and releases it


def _route_order(ctx: Context, order_id: int) -> None:
    try:
        outbox_ids = route_order(ctx, order_id)
    except RoutingContention as exc:
        log.warning("%s; the sweeper will try again", exc)
        return
    for outbox_id in outbox_ids:
        ctx.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)


def _deliver_outbox(ctx: Context, outbox_id: int) -> None:
    deliver_outbox(ctx, outbox_id)


def _poll_connector(ctx: Context, connector_id: int) -> None:
    poll_connector(ctx, connector_id)


HANDLERS: dict[Task, Callable[[Context, int], None]] = {
    Task.PROCESS_INBOUND: _process_inbound,
    Task.ROUTE_ORDER: _route_order,
    Task.DELIVER_OUTBOX: _deliver_outbox,
    Task.POLL_CONNECTOR: _poll_connector,
}


def run_task(ctx: Context, task: Task, row_id: int) -> None:
    handler = HANDLERS[task]
    timed(task.name.lower(), lambda: handler(ctx, row_id))


def timed(name: str, work: Callable[[], T]) -> T:
    """Run one task, counted by outcome and timed, in a log context of its own: what it
    binds (order, connector, correlation id) does not leak into the thread's next task."""
    started = time.perf_counter()
    outcome = "error"
    with log_context(task=name):
        try:
            result = work()
            outcome = "ok"
            return result
        finally:
            TASK_SECONDS.labels(name).observe(time.perf_counter() - started)
            TASKS.labels(name, outcome).inc()


def drain(ctx: Context, *, limit: int = 100_000) -> int:
    """Run queued work until none is left (a RecordingDispatcher context); tasks run."""
    dispatcher = ctx.dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)  # noqa: S101 - caller contract
    ran = 0
    while ran < limit:
        items = dispatcher.drain()
        if not items:
            return ran
        for task, row_id in items:
            run_task(ctx, task, row_id)
            ran += 1
    return ran
