"""Nudges published from Celery-built templates: right lists, right order, one round trip
per batch, readable by the sweeper; anything the templates do not mirror goes through
send_task. Byte-for-byte equality with send_task on a real Redis is in
tests/e2e/test_nudge_publisher.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from omniroute.api.nudge_publisher import CeleryPublisher, capture_template, plain_redis_url
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.settings import Settings
from omniroute.worker.broker_probe import inbound_id
from omniroute.worker.celery_app import create_celery

REDIS_URL = "redis://127.0.0.1:1/0"  # never connected: the client is a fake


class FakePipeline:
    def __init__(self, server: FakeRedis) -> None:
        self.server = server
        self.commands: list[tuple[str, list[str]]] = []

    def lpush(self, name: str, *values: str) -> None:
        self.commands.append((name, list(values)))

    def execute(self) -> None:
        if self.server.down:
            raise ConnectionError("redis is down")
        self.server.round_trips += 1
        for name, values in self.commands:
            self.server.lists.setdefault(name, [])[:0] = list(reversed(values))


class FakeRedis:
    """LPUSH semantics of one Redis server: each value goes to the head of the list."""

    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {}
        self.round_trips = 0
        self.down = False
        self.urls: list[str] = []

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)

    def connect(self, url: str) -> FakeRedis:
        self.urls.append(url)
        return self

    def consumed(self, name: str) -> list[dict[str, Any]]:
        """The messages in the order a worker's BRPOP takes them (from the tail)."""
        return [json.loads(raw) for raw in reversed(self.lists.get(name, []))]


def args_of(message: dict[str, Any]) -> list[Any]:
    body = json.loads(base64.b64decode(message["body"]))
    assert body[1:] == [{}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    return list(body[0])


def test_a_batch_goes_to_each_tasks_list_in_order_in_one_round_trip() -> None:
    app = create_celery(Settings(broker_url=REDIS_URL, database_url="sqlite://"))
    server = FakeRedis()
    publisher = CeleryPublisher(app, redis_client=server.connect)
    batch = [
        (Task.PROCESS_INBOUND, 11),
        (Task.DELIVER_OUTBOX, 7),
        (Task.PROCESS_INBOUND, 12),
        (Task.ROUTE_ORDER, 5),
        (Task.POLL_CONNECTOR, 3),
    ]
    publisher.publish(batch)
    assert server.round_trips == 1
    assert server.urls == [REDIS_URL]
    intake = server.consumed("celery")
    assert [(m["headers"]["task"], args_of(m)) for m in intake] == [
        (Task.PROCESS_INBOUND.value, [11]),
        (Task.PROCESS_INBOUND.value, [12]),
        (Task.ROUTE_ORDER.value, [5]),
    ]
    assert [args_of(m) for m in server.consumed("outbox")] == [[7]]
    assert [args_of(m) for m in server.consumed("control")] == [[3]]
    # What the sweeper reads from the head of the intake queue.
    assert [inbound_id(m) for m in intake] == [11, 12, None]


def test_every_message_has_its_own_task_id_and_delivery_tag() -> None:
    app = create_celery(Settings(broker_url=REDIS_URL, database_url="sqlite://"))
    server = FakeRedis()
    CeleryPublisher(app, redis_client=server.connect).publish(
        [(Task.PROCESS_INBOUND, i) for i in range(50)]
    )
    messages = server.consumed("celery")
    ids = {m["headers"]["id"] for m in messages}
    assert len(ids) == 50
    assert all(m["headers"]["root_id"] == m["headers"]["id"] for m in messages)
    assert all(m["properties"]["correlation_id"] == m["headers"]["id"] for m in messages)
    assert len({m["properties"]["delivery_tag"] for m in messages}) == 50
    assert [m["headers"]["argsrepr"] for m in messages[:2]] == ["[0]", "[1]"]
    assert {m["properties"]["delivery_info"]["routing_key"] for m in messages} == {"celery"}


def test_a_broker_failure_raises_for_the_dispatcher_to_log() -> None:
    app = create_celery(Settings(broker_url=REDIS_URL, database_url="sqlite://"))
    server = FakeRedis()
    publisher = CeleryPublisher(app, redis_client=server.connect)
    server.down = True
    with pytest.raises(ConnectionError):
        publisher.publish([(Task.PROCESS_INBOUND, 1)])
    server.down = False
    publisher.publish([(Task.PROCESS_INBOUND, 2)])
    assert [args_of(m) for m in server.consumed("celery")] == [[2]]


def test_a_message_the_template_does_not_mirror_is_refused() -> None:
    app = create_celery(Settings(broker_url=REDIS_URL, database_url="sqlite://"))
    app.conf.task_routes = {Task.ROUTE_ORDER.value: {"queue": "celery", "priority": 5}}
    assert capture_template(app, Task.ROUTE_ORDER) is None
    assert capture_template(app, Task.PROCESS_INBOUND) is not None
    compressed = create_celery(Settings(broker_url=REDIS_URL, database_url="sqlite://"))
    compressed.conf.task_compression = "gzip"
    assert capture_template(compressed, Task.PROCESS_INBOUND) is None


@pytest.mark.parametrize(
    ("url", "options", "plain"),
    [
        ("redis://127.0.0.1:6379/3", {}, True),
        ("redis://:pw@cache:6379/0", {}, True),
        ("rediss://cache:6380/0", {}, False),
        ("redis://a:6379/0;redis://b:6379/0", {}, False),
        ("redis://127.0.0.1:6379/3", {"global_keyprefix": "omni:"}, False),
        ("amqp://guest@rabbit//", {}, False),
        ("memory://", {}, False),
    ],
)
def test_only_a_plain_redis_broker_takes_the_direct_path(
    url: str, options: dict[str, str], plain: bool
) -> None:
    app = create_celery(Settings(broker_url=url, database_url="sqlite://"))
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, **options}
    assert (plain_redis_url(app) is not None) is plain


def test_other_brokers_get_the_nudges_through_send_task() -> None:
    app = create_celery(Settings(broker_url="memory://", database_url="sqlite://"))
    server = FakeRedis()
    publisher = CeleryPublisher(app, redis_client=server.connect)
    publisher.publish([(Task.PROCESS_INBOUND, 31), (Task.PROCESS_INBOUND, 32)])
    assert server.urls == []
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("celery")
        received = []
        for _ in range(2):
            message = queue.get(timeout=1)
            received.append((message.headers["task"], message.payload[0]))
            message.ack()
        queue.close()
    assert received == [(Task.PROCESS_INBOUND.value, [31]), (Task.PROCESS_INBOUND.value, [32])]


@pytest.mark.parametrize("task", [Task.PROCESS_INBOUND, Task.DELIVER_OUTBOX])
@pytest.mark.parametrize("row_id", [0, 7, 1234567890123])
def test_the_pre_rendered_message_is_the_one_built_field_by_field(task: Task, row_id: int) -> None:
    app = create_celery(Settings(broker_url=REDIS_URL, database_url="sqlite://"))
    template = capture_template(app, task)
    assert template is not None
    task_id, tag = "0b4f6c1e-7a0d-4b8e-9d55-3f2a1c9e8b71", "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
    assert template.encode(row_id, task_id, tag) == template.render(row_id, task_id, tag)
