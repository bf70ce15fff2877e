"""The API's nudge dispatcher: every nudge handed over is published, in batches, off the
request path; a failed publish only logs (the rows stay for the sweeper); stop flushes."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from omniroute.api.background_dispatch import BATCH, BackgroundDispatcher
from omniroute.core.platform.dispatch import Task


class FakePublisher:
    """Records each batch; fails the batches whose number is in ``fail``."""

    def __init__(self, fail: frozenset[int] = frozenset(), delay: float = 0.0) -> None:
        self.batches: list[list[tuple[Task, int]]] = []
        self.fail = fail
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def publish(self, items: list[tuple[Task, int]]) -> None:
        time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            if self.calls in self.fail:
                raise ConnectionError("broker down")
            self.batches.append(list(items))

    @property
    def published(self) -> list[tuple[Task, int]]:
        with self._lock:
            return [item for batch in self.batches for item in batch]


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.005)


def test_every_nudge_is_published_in_order_and_in_batches() -> None:
    publisher = FakePublisher()
    dispatcher = BackgroundDispatcher(publisher, linger=0.05)
    sent = [(Task.PROCESS_INBOUND, i) for i in range(250)]
    for task, row_id in sent:
        dispatcher.enqueue(task, row_id)
    wait_for(lambda: len(publisher.published) == len(sent))
    dispatcher.stop()
    assert publisher.published == sent
    # Enqueued within one linger: a few full batches, not one publish per nudge.
    assert len(publisher.batches) <= 5
    assert max(len(batch) for batch in publisher.batches) == BATCH


def test_nudges_from_many_threads_are_all_published() -> None:
    publisher = FakePublisher()
    dispatcher = BackgroundDispatcher(publisher, linger=0.001)

    def post(start: int) -> None:
        for i in range(start, start + 500):
            dispatcher.enqueue(Task.PROCESS_INBOUND, i)

    threads = [threading.Thread(target=post, args=(n * 1000,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dispatcher.stop()
    ids = [row_id for _, row_id in publisher.published]
    assert sorted(ids) == sorted(n * 1000 + i for n in range(8) for i in range(500))


def test_a_failed_publish_is_logged_and_later_nudges_still_go_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher = FakePublisher(fail=frozenset({1}))
    dispatcher = BackgroundDispatcher(publisher, linger=0.0)
    with caplog.at_level(logging.ERROR, logger="omniroute.api.dispatch"):
        dispatcher.enqueue(Task.PROCESS_INBOUND, 1)
        wait_for(lambda: publisher.calls == 1)
        dispatcher.enqueue(Task.DELIVER_OUTBOX, 2)
        wait_for(lambda: publisher.published == [(Task.DELIVER_OUTBOX, 2)])
    dispatcher.stop()
    assert "the sweeper will retry" in caplog.text


def test_stop_publishes_what_is_pending_without_waiting_out_the_linger() -> None:
    publisher = FakePublisher()
    dispatcher = BackgroundDispatcher(publisher, linger=30.0)
    for i in range(3):
        dispatcher.enqueue(Task.PROCESS_INBOUND, i)
    started = time.monotonic()
    dispatcher.stop(timeout=10.0)
    assert time.monotonic() - started < 5.0
    assert publisher.published == [(Task.PROCESS_INBOUND, i) for i in range(3)]


def test_stop_while_a_batch_is_being_published_still_flushes_the_rest() -> None:
    publisher = FakePublisher(delay=0.2)  # the thread is busy publishing the first nudge
    dispatcher = BackgroundDispatcher(publisher, linger=0.0)
    dispatcher.enqueue(Task.PROCESS_INBOUND, 1)
    wait_for(lambda: len(dispatcher._pending) == 0)  # taken by the thread
    dispatcher.enqueue(Task.PROCESS_INBOUND, 2)
    started = time.monotonic()
    dispatcher.stop(timeout=10.0)
    assert time.monotonic() - started < 5.0
    assert publisher.published == [(Task.PROCESS_INBOUND, 1), (Task.PROCESS_INBOUND, 2)]


def test_a_full_queue_drops_the_nudge_and_leaves_it_to_the_sweeper(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = threading.Event()

    class Blocked(FakePublisher):
        def publish(self, items: list[tuple[Task, int]]) -> None:
            gate.wait(5.0)
            super().publish(items)

    publisher = Blocked()
    dispatcher = BackgroundDispatcher(publisher, max_pending=2, linger=0.0)
    dispatcher.enqueue(Task.PROCESS_INBOUND, 0)
    wait_for(lambda: len(dispatcher._pending) == 0)  # the thread holds it, blocked
    with caplog.at_level(logging.WARNING, logger="omniroute.api.dispatch"):
        for i in range(1, 4):
            dispatcher.enqueue(Task.PROCESS_INBOUND, i)
    gate.set()
    dispatcher.stop()
    assert [row_id for _, row_id in publisher.published] == [0, 1, 2]
    assert "left to the sweeper" in caplog.text
