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
