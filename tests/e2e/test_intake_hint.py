"""The sweeper's hints read from a real Redis broker: queue depth and the next intake task."""

from __future__ import annotations

import time

import pytest

from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.settings import Settings
from omniroute.worker.broker_probe import intake_hint
from omniroute.worker.celery_app import INTAKE_QUEUE, create_celery

pytestmark = [pytest.mark.celery]


def test_the_head_is_the_next_process_inbound_to_be_taken(broker_url: str) -> None:
    app = create_celery(Settings(broker_url=broker_url, database_url="sqlite://"))
    assert intake_hint(app, INTAKE_QUEUE, recent=5) == (0, None)
    app.send_task(Task.ROUTE_ORDER.value, args=[999])  # first in, first out; not an inbox row
    for inbound_id in (11, 12, 13):
        app.send_task(Task.PROCESS_INBOUND.value, args=[inbound_id])
    app.send_task(Task.DELIVER_OUTBOX.value, args=[7])  # another queue
    assert intake_hint(app, INTAKE_QUEUE, recent=5) == (4, 11)


def test_with_the_queue_empty_the_head_is_the_oldest_message_a_worker_holds(
    broker_url: str,
) -> None:
    app = create_celery(Settings(broker_url=broker_url, database_url="sqlite://"))
    for inbound_id in (21, 22):
        app.send_task(Task.PROCESS_INBOUND.value, args=[inbound_id])
    app.send_task(Task.ROUTE_ORDER.value, args=[5])
    # A worker's prefetch, by kombu itself: each message off the list, unacknowledged (kept
    # in kombu's unacked hash, its delivery time in the index) while the worker's connection
    # stays open (closing it hands them back). 21 was taken long ago: its worker may be dead.
    with app.connection_for_read() as worker:
        channel = worker.default_channel
        taken = [channel.basic_get(INTAKE_QUEUE, no_ack=False) for _ in range(3)]
        assert all(message is not None for message in taken)
        channel.client.zadd("unacked_index", {taken[0].delivery_tag: time.time() - 60})
        assert intake_hint(app, INTAKE_QUEUE, recent=5) == (0, 22)
        assert intake_hint(app, INTAKE_QUEUE, recent=120) == (0, 21)


def test_an_unreachable_broker_gives_no_hint() -> None:
    app = create_celery(Settings(broker_url="redis://127.0.0.1:1/0", database_url="sqlite://"))
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    assert intake_hint(app, INTAKE_QUEUE, recent=5) == (0, None)
