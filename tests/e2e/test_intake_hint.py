"""The sweeper's hints read from a real Redis broker: queue depth and the next intake task."""

from __future__ import annotations

import json
import time

import pytest
import redis

from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.settings import Settings
from omniroute.worker.celery_app import _intake_hint, create_celery

pytestmark = [pytest.mark.celery]


def test_the_head_is_the_next_process_inbound_to_be_taken(broker_url: str) -> None:
    app = create_celery(Settings(broker_url=broker_url, database_url="sqlite://"))
    assert _intake_hint(app, recent=5) == (0, None)
    app.send_task(Task.ROUTE_ORDER.value, args=[999])  # first in, first out; not an inbox row
    for inbound_id in (11, 12, 13):
        app.send_task(Task.PROCESS_INBOUND.value, args=[inbound_id])
    app.send_task(Task.DELIVER_OUTBOX.value, args=[7])  # another queue
    assert _intake_hint(app, recent=5) == (4, 11)


def test_with_the_queue_empty_the_head_is_the_oldest_message_a_worker_holds(
    broker_url: str,
) -> None:
    app = create_celery(Settings(broker_url=broker_url, database_url="sqlite://"))
    for inbound_id in (21, 22):
        app.send_task(Task.PROCESS_INBOUND.value, args=[inbound_id])
    app.send_task(Task.ROUTE_ORDER.value, args=[5])
    client = redis.Redis.from_url(broker_url)
    # What a worker's prefetch does with each: off the list, into the unacked hash and its
    # index of delivery times. 21 was taken long ago: its worker may be dead.
    now = time.time()
    for tag, taken_at in (("t1", now - 60), ("t2", now - 1), ("t3", now - 1)):
        message = json.loads(client.rpop("celery") or b"")
        client.hset("unacked", tag, json.dumps([message, "", "celery"]))
        client.zadd("unacked_index", {tag: taken_at})
    assert _intake_hint(app, recent=5) == (0, 22)
    assert _intake_hint(app, recent=120) == (0, 21)


def test_an_unreachable_broker_gives_no_hint() -> None:
    app = create_celery(Settings(broker_url="redis://127.0.0.1:1/0", database_url="sqlite://"))
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    assert _intake_hint(app, recent=5) == (0, None)
