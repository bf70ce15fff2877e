"""The embedded runner: worker threads and a sweeper inside the API process (no broker)."""

from __future__ import annotations

import logging
import queue
import threading

from omniroute.core.bootstrap import Context
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.platform.dispatch import Task
from omniroute.worker.handlers import run_task, timed

log = logging.getLogger("omniroute.embedded")

_STOP = (None, 0)


class EmbeddedRunner:
    """A Dispatcher that runs tasks on its own threads; the database still holds the truth."""

    def __init__(self, ctx: Context, *, workers: int | None = None) -> None:
        self._ctx = ctx
        self._queue: queue.Queue[tuple[Task | None, int]] = queue.Queue()
        self._n = workers or ctx.settings.embedded_workers
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0

    def enqueue(self, task: Task, row_id: int) -> None:
        with self._idle:
            self._busy += 1
        self._queue.put((task, row_id))

    def start(self) -> None:
        # Load the geocoder's data off the request path, before the first order needs it.
        threading.Thread(
            target=self._ctx.routing.geocoder_warm, name="omniroute-geo-warm", daemon=True
        ).start()
        for i in range(self._n):
            t = threading.Thread(target=self._work, name=f"omniroute-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        sweeper = threading.Thread(target=self._sweep, name="omniroute-sweeper", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for _ in range(self._n):
            self._queue.put(_STOP)
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Until nothing is queued or running; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _work(self) -> None:
        while True:
            task, row_id = self._queue.get()
            if task is None:
                return
            try:
                run_task(self._ctx, task, row_id)
            except Exception:
                log.exception("task %s(%s) failed; the sweeper will retry it", task, row_id)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _intake_hint(self) -> tuple[int, int | None]:
        """Intake tasks waiting on this runner's queue, and the inbox row of the next one."""
        with self._queue.mutex:  # the queue's own lock: a consistent view of its deque
            waiting = [row_id for task, row_id in self._queue.queue if task is Task.PROCESS_INBOUND]
        return len(waiting), (waiting[0] if waiting else None)

    def _sweep_once(self) -> int:
        depth, head = self._intake_hint()
        return sweep(self._ctx, queued_inbound=depth, queue_head=head)

    def _sweep(self) -> None:
        while not self._stopping.wait(self._ctx.settings.sweep_interval):
            try:
                timed("sweep", self._sweep_once)
            except Exception:
                log.exception("sweep failed")
