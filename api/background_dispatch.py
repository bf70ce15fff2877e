"""Publishes task nudges from one background thread, off the request path.

The row a nudge points at is committed before the nudge is handed over (architecture
principle 2), and the sweeper re-enqueues rows nobody picked up after OMNIROUTE_SWEEP_GRACE
(principle 1), so a nudge lost here (a broker hiccup, a crash before the queue drained)
costs only delay, never data.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Protocol

from core.dispatch import Task

log = logging.getLogger("omniroute.api.dispatch")


BATCH = 100


class Publisher(Protocol):
    def publish(self, items: list[tuple[Task, int]]) -> None: ...


class BackgroundDispatcher:
    def __init__(self, inner: Publisher, *, max_pending: int = 100_000) -> None:
        self._inner = inner
        self._queue: queue.Queue[tuple[Task, int] | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def enqueue(self, task: Task, row_id: int) -> None:
        self._ensure_started()
        try:
            self._queue.put_nowait((task, row_id))
        except queue.Full:
            # The broker is far behind; the sweeper will nudge this row later.
            log.warning("nudge queue is full; %s %s is left to the sweeper", task.value, row_id)

    def start(self) -> None:
        self._ensure_started()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish what is pending (up to ``timeout``), then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)  # the stop mark
        thread.join(timeout)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="omniroute-nudges", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            # Whatever is waiting goes out together (one producer checkout per batch).
            batch: list[tuple[Task, int]] = []
            item = self._queue.get()
            while item is not None:
                batch.append(item)
                if len(batch) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._inner.publish(batch)
                except Exception:
                    log.exception("could not publish %d nudges; the sweeper will retry", len(batch))
            if item is None:
                return
