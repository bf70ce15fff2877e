"""Nudges pushed from templates are, byte for byte, what Celery's send_task pushes to Redis
(but for the random delivery tag), and the sweeper's queue-head hint reads them."""

from __future__ import annotations

import json

import pytest
import redis

from omniroute.api.nudge_publisher import CeleryPublisher, capture_template
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.settings import Settings
from omniroute.worker.broker_probe import intake_hint
from omniroute.worker.celery_app import INTAKE_QUEUE, create_celery

pytestmark = [pytest.mark.celery]


@pytest.mark.parametrize("task", list(Task), ids=lambda t: t.name)
def test_a_templated_message_is_the_one_send_task_pushes(broker_url: str, task: Task) -> None:
    app = create_celery(Settings(broker_url=broker_url, database_url="sqlite://"))
    template = capture_template(app, task)
    assert template is not None
    app.send_task(task.value, args=[4242], task_id="0f1e2d3c-task")
    client = redis.Redis.from_url(broker_url)
    pushed = client.lpop(template.key)
    assert pushed is not None
    tag = json.loads(pushed)["properties"]["delivery_tag"]
    assert template.encode(4242, "0f1e2d3c-task", tag) == pushed.decode()


def test_a_published_batch_is_in_the_queues_and_the_sweeper_sees_its_head(
    broker_url: str,
) -> None:
    app = create_celery(Settings(broker_url=broker_url, database_url="sqlite://"))
    publisher = CeleryPublisher(app)
    publisher.publish([(Task.PROCESS_INBOUND, i) for i in (101, 102, 103)])
    publisher.publish([(Task.DELIVER_OUTBOX, 9), (Task.PROCESS_INBOUND, 104)])
    client = redis.Redis.from_url(broker_url)
    assert client.llen("outbox") == 1
    assert intake_hint(app, INTAKE_QUEUE, recent=5) == (4, 101)
