"""Publishes task nudges from one background thread, off the request path.

The row a nudge points at is committed before the nudge is handed over (architecture
principle 2), and the sweeper re-enqueues rows nobody picked up after OMNIROUTE_SWEEP_GRACE
(principle 1), so a nudge lost here (a broker hiccup, a crash before the queue drained)
costs only delay, never data.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from typing import Protocol

from omniroute.core.platform.dispatch import Task

log = logging.getLogger("omniroute.api.dispatch")


BATCH = 100
# After the first nudge of a batch, wait this long for others to join it: a batch costs one
# broker round trip whatever its size, and a nudge 10 ms later changes nothing downstream.
LINGER_S = 0.01


class Publisher(Protocol):
    def publish(self, items: list[tuple[Task, int]]) -> None: ...


class BackgroundDispatcher:
    """Hands nudges to one thread that publishes them in batches.

    ``enqueue`` only appends to a deque (no lock, no condition variable on the request
    path); the thread wakes on the first nudge, lingers for more, and publishes all waiting.
    """

    def __init__(
        self, inner: Publisher, *, max_pending: int = 100_000, linger: float = LINGER_S
    ) -> None:
        self._inner = inner
        self._max_pending = max_pending
        self._linger = linger
        self._pending: deque[tuple[Task, int]] = deque()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def enqueue(self, task: Task, row_id: int) -> None:
        self._ensure_started()
        if len(self._pending) >= self._max_pending:
            # The broker is far behind; the sweeper will nudge this row later.
            log.warning("nudge queue is full; %s %s is left to the sweeper", task.value, row_id)
            return
        self._pending.append((task, row_id))
        if not self._wakeup.is_set():
            self._wakeup.set()

    def start(self) -> None:
        self._ensure_started()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish what is pending (up to ``timeout``), then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            stop = self._stop
        if thread is None:
            return
        stop.set()
        self._wakeup.set()
        thread.join(timeout)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._stop = stop = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(stop,), name="omniroute-nudges", daemon=True
                )
                thread.start()
                self._thread = thread

    def _run(self, stop: threading.Event) -> None:
        while True:
            self._wakeup.wait()
            if len(self._pending) < BATCH:
                stop.wait(self._linger)  # let more nudges join this batch; stop cuts it short
            # Cleared before draining: a nudge added from here on sets it again.
            self._wakeup.clear()
            stopping = stop.is_set()
            while self._pending:
                self._publish(self._take(BATCH))
            if stopping:
                return

    def _take(self, limit: int) -> list[tuple[Task, int]]:
        batch: list[tuple[Task, int]] = []
        with contextlib.suppress(IndexError):
            while len(batch) < limit:
                batch.append(self._pending.popleft())
        return batch

    def _publish(self, batch: list[tuple[Task, int]]) -> None:
        try:
            self._inner.publish(batch)
        except Exception:
            log.exception("could not publish %d nudges; the sweeper will retry", len(batch))
