"""The Celery deployment: tasks carry row ids only; every process bootstraps its own context."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init
from kombu.entity import Queue

from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.settings import Settings
from omniroute.core.platform.telemetry.logs import configure_logging
from omniroute.worker.broker_probe import intake_hint
from omniroute.worker.handlers import run_task, timed

log = logging.getLogger("omniroute.celery")

SWEEP_TASK = "omniroute.sweep"

# Queues, in the order a worker polls them. Releases and sweeps get their own queues, polled
# first, so they don't wait behind the whole intake backlog (outbox work is finite: it only
# comes from intake, so intake cannot starve). A worker consumes all of them unless started
# with ``-Q``.
CONTROL_QUEUE, OUTBOX_QUEUE, INTAKE_QUEUE = "control", "outbox", "celery"
QUEUES = (CONTROL_QUEUE, OUTBOX_QUEUE, INTAKE_QUEUE)
TASK_ROUTES = {
    SWEEP_TASK: {"queue": CONTROL_QUEUE},
    Task.DELIVER_OUTBOX.value: {"queue": OUTBOX_QUEUE},
    Task.POLL_CONNECTOR.value: {"queue": CONTROL_QUEUE},
}


class CeleryDispatcher:
    """Nudges through the broker: a task name and a row id."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def enqueue(self, task: Task, row_id: int) -> None:
        self._app.send_task(task.value, args=[row_id])


class _ContextHolder:
    """One context per worker process, built after the fork (engines do not survive forks)."""

    def __init__(self, settings: Settings, app: Celery) -> None:
        self._settings = settings
        self._app = app
        self._ctx: Context | None = None

    def get(self) -> Context:
        if self._ctx is None:
            ctx = bootstrap(self._settings)
            ctx.dispatcher = CeleryDispatcher(self._app)
            self._ctx = ctx
        return self._ctx

    def reset(self, **_: Any) -> None:
        self._ctx = None


def create_celery(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise RuntimeError("OMNIROUTE_BROKER_URL is not set; the embedded runner needs no Celery")
    app = Celery("omniroute", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        worker_disable_rate_limits=True,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        task_default_queue=INTAKE_QUEUE,
        task_queues=tuple(Queue(name, routing_key=name) for name in QUEUES),  # type: ignore[no-untyped-call]
        task_routes=TASK_ROUTES,
        broker_transport_options={
            "visibility_timeout": max(60, int(settings.claim_timeout * 2)),
            # Poll the queues in the order above (Redis BRPOP takes the first non-empty).
            "queue_order_strategy": "priority",
        },
        # A sweep nobody ran in time is superseded by the next one: let it expire.
        beat_schedule={
            "sweep": {
                "task": SWEEP_TASK,
                "schedule": settings.sweep_interval,
                "options": {"expires": settings.sweep_interval},
            }
        },
        beat_schedule_filename=str(
            Path(tempfile.gettempdir()) / f"omniroute-celerybeat-{os.getpid()}"
        ),
        worker_hijack_root_logger=False,
    )
    holder = _ContextHolder(settings, app)
    worker_process_init.connect(holder.reset, weak=False)
    if settings.log_format == "json":
        # A receiver here stops Celery from installing its own text handler on the root
        # logger, so its lines (task received, succeeded, worker ready) are JSON as ours are.
        setup_logging.connect(_json_logging(settings), weak=False)

    for task in Task:
        _register(app, holder, task)

    @app.task(name=SWEEP_TASK)
    def sweep_task() -> int:
        ctx = holder.get()

        def turn() -> int:
            depth, head = intake_hint(app, INTAKE_QUEUE, recent=ctx.settings.sweep_grace)
            return sweep(ctx, queued_inbound=depth, queue_head=head)

        return timed("sweep", turn)

    return app


def _json_logging(settings: Settings) -> Callable[..., None]:
    def configure(**_: Any) -> None:
        configure_logging(level=settings.log_level, fmt="json")

    return configure


def _register(app: Celery, holder: _ContextHolder, task: Task) -> None:
    @app.task(name=task.value)
    def handler(row_id: int) -> None:
        run_task(holder.get(), task, row_id)
