"""How services ask for work to be done later: a task name and a row id, nothing more."""

from __future__ import annotations

import enum
import threading
from typing import Protocol


class Task(enum.StrEnum):
    PROCESS_INBOUND = "omniroute.process_inbound"
    ROUTE_ORDER = "omniroute.route_order"
    DELIVER_OUTBOX = "omniroute.deliver_outbox"
    POLL_CONNECTOR = "omniroute.poll_connector"


class Dispatcher(Protocol):
    def enqueue(self, task: Task, row_id: int) -> None: ...


class InlineDispatcher(Dispatcher, Protocol):
    """A dispatcher that runs some follow-up work itself, in this process, right after the
    task that asked for it (worker.celery_app: the WMS releases of an order it routed)."""

    def runs_inline(self, task: Task) -> bool:
        """Whether ``task`` enqueued now runs here right after the current task."""
        ...

    def enqueue_claimed(self, task: Task, row_id: int, prepared: object = None) -> None:
        """Run ``task`` here afterwards on a row that the committed transaction that made it
        also claimed for it, so the run skips the claim (a transaction of its own).

        ``prepared``: what that transaction already read for the run (for a WMS release,
        ``core.fulfilment.release.Job``), so the run needs no read transaction either."""
        ...


def inline_for(dispatcher: Dispatcher, task: Task) -> InlineDispatcher | None:
    """``dispatcher`` if it runs ``task`` inline now: rows for it may be claimed at birth."""
    runs_inline = getattr(dispatcher, "runs_inline", None)
    if runs_inline is not None and runs_inline(task):
        return dispatcher  # type: ignore[return-value]
    return None


class RecordingDispatcher:
    """Keeps what was enqueued; for tests and for callers that drain work themselves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[Task, int]] = []

    def enqueue(self, task: Task, row_id: int) -> None:
        with self._lock:
            self.items.append((task, row_id))

    def drain(self) -> list[tuple[Task, int]]:
        with self._lock:
            items, self.items = self.items, []
        return items
