"""Publishes batches of nudges (one Celery task message per row id) in one broker round trip.

Celery builds each message through several layers (routing, protocol-2 headers, kombu's
envelope, a retry wrapper): 150-450 µs of the API's CPU per webhook, more than the rest of
the request. A nudge always has the same shape, a task name and ``[row_id]``. So on a plain
Redis broker Celery builds one message per task name, captured instead of sent, and each
nudge is that message with its own task id, argument and delivery tag: what ``send_task``
would push, all of a batch LPUSHed in one pipeline. tests/e2e/test_nudge_publisher.py
compares the two byte for byte on a real Redis.

Any other broker, or a message Celery builds in a way this does not mirror (another
serializer, compression, a priority, an expiry, an exchange), goes through ``send_task``,
batched with kombu's ``Producer.batch``.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import redis
from celery import Celery
from kombu.serialization import dumps as _kombu_dumps
from kombu.utils.json import dumps as _kombu_json

from omniroute.core.platform.dispatch import Task

log = logging.getLogger("omniroute.api.dispatch")

# kombu's own encoders (the serializer registry, and the JSON of the Redis envelope), typed.
serialize: Callable[..., tuple[str, str, str]] = _kombu_dumps
json_text: Callable[[Any], str] = _kombu_json

# Stand-ins that Celery writes into the captured message, and that each nudge replaces.
_PROBE_ID = "omniroute-nudge-template"
_PROBE_ROW = 0

# Producer.publish arguments that are not message properties (kombu passes the rest on as
# properties: here correlation_id and reply_to).
_PUBLISH_ARGS = frozenset(
    {
        "exchange",
        "routing_key",
        "serializer",
        "compression",
        "retry",
        "retry_policy",
        "delivery_mode",
        "declare",
        "headers",
        "timeout",
        "confirm_timeout",
        "mandatory",
        "immediate",
    }
)


# Stand-ins for the per-nudge values in a pre-rendered message: plain ASCII that JSON
# writes as it is, and that no task id, delivery tag, row id or base64 text can contain.
_MARK_ID, _MARK_TAG = "@@omniroute-task-id@@", "@@omniroute-delivery-tag@@"
_MARK_BODY, _MARK_ARGS = "@@omniroute-body@@", "@@omniroute-argsrepr@@"


class _Pipeline(Protocol):
    def lpush(self, name: str, *values: str) -> Any: ...
    def execute(self) -> Any: ...


class RedisClient(Protocol):
    def pipeline(self, transaction: bool = ...) -> _Pipeline: ...


def connect_redis(url: str) -> RedisClient:
    """A client that gives up on an unreachable broker within seconds, not minutes."""
    client: RedisClient = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    return client


@dataclass(frozen=True)
class TaskTemplate:
    """A Celery protocol-2 message for one task name, as kombu stores it in a Redis list."""

    key: str
    headers: dict[str, Any]
    properties: dict[str, Any]
    delivery_info: dict[str, Any]
    content_type: str
    content_encoding: str
    # The body after ``[[row_id], ``: kwargs and embed, as kombu's JSON serializer writes them.
    body_tail: str

    def __post_init__(self) -> None:
        # The message rendered once with markers where the per-nudge values go: filling them
        # in is four C-level replaces instead of building and encoding the dicts each time.
        marked = self.render(0, _MARK_ID, _MARK_TAG, body=_MARK_BODY, argsrepr=_MARK_ARGS)
        object.__setattr__(self, "_marked", marked)

    def encode(self, row_id: int, task_id: str, delivery_tag: str) -> str:
        """The JSON kombu's Redis transport would LPUSH for this task with ``[row_id]``."""
        body = f"[[{row_id}], {self.body_tail}".encode(self.content_encoding)
        marked: str = self._marked  # type: ignore[attr-defined]
        return (
            marked.replace(_MARK_BODY, base64.b64encode(body).decode("ascii"))
            .replace(_MARK_ID, task_id)
            .replace(_MARK_ARGS, f"[{row_id}]")
            .replace(_MARK_TAG, delivery_tag)
        )

    def render(
        self,
        row_id: int,
        task_id: str,
        delivery_tag: str,
        *,
        body: str | None = None,
        argsrepr: str | None = None,
    ) -> str:
        """The message built field by field (what ``encode`` fills in markers of)."""
        if body is None:
            raw = f"[[{row_id}], {self.body_tail}".encode(self.content_encoding)
            body = base64.b64encode(raw).decode("ascii")
        headers = dict(self.headers)  # updated in place: the keys keep kombu's order
        headers.update(id=task_id, root_id=task_id, argsrepr=argsrepr or f"[{row_id}]")
        properties = dict(self.properties)
        properties.update(
            correlation_id=task_id,
            delivery_info=dict(self.delivery_info),
            delivery_tag=delivery_tag,
        )
        message = {
            "body": body,
            "content-encoding": self.content_encoding,
            "content-type": self.content_type,
            "headers": headers,
            "properties": properties,
        }
        # Plain str/int/None/list/dict values, which the standard encoder writes exactly as
        # kombu's JSON encoder (a subclass of it that only adds other types) does.
        return json.dumps(message)


class _CapturingProducer:
    """Takes Celery's ``Producer.publish`` call in place of a producer, and sends nothing."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection  # send_task enters its _reraise_as_library_errors()
        self.body: Any = None
        self.kwargs: dict[str, Any] = {}

    def publish(self, body: Any, **kwargs: Any) -> None:
        self.body, self.kwargs = body, kwargs


def capture_template(app: Celery, task: Task) -> TaskTemplate | None:
    """The template for ``task``; None for a message this module does not mirror.

    Nothing is declared: the message goes to the default (nameless) exchange, which kombu
    delivers straight to the list named by the routing key, and workers declare their
    queues when they start consuming.
    """
    with app.connection_for_write() as connection:  # not connected: nothing is sent
        producer = _CapturingProducer(connection)
        app.send_task(task.value, args=[_PROBE_ROW], task_id=_PROBE_ID, producer=producer)
    body, kw = producer.body, producer.kwargs
    headers = dict(kw.get("headers") or {})
    properties = {k: v for k, v in kw.items() if k not in _PUBLISH_ARGS}
    routing_key = kw.get("routing_key")
    if not isinstance(routing_key, str):
        return None
    mirrored = (
        kw.get("exchange") == ""
        and kw.get("serializer") == "json"
        and kw.get("compression") is None
        and kw.get("delivery_mode") == 2
        and set(properties) == {"correlation_id", "reply_to"}
        and properties["correlation_id"] == _PROBE_ID
        and isinstance(body, tuple | list)
        and len(body) == 3
        and list(body[0]) == [_PROBE_ROW]
        and headers.get("id") == _PROBE_ID
        and headers.get("root_id") == _PROBE_ID
        and headers.get("argsrepr") == f"[{_PROBE_ROW}]"
    )
    if not mirrored:
        return None
    rest = {k: v for k, v in headers.items() if k not in ("id", "root_id", "argsrepr")}
    if _PROBE_ID in str(json_text([rest, list(body[1:])])):
        return None  # the task id turned up somewhere else
    content_type, content_encoding, text = serialize(list(body), serializer="json")
    head = f"[[{_PROBE_ROW}], "
    if not text.startswith(head):
        return None
    template = TaskTemplate(
        key=routing_key,
        headers=headers,
        # In the order kombu writes them: Celery's, then prepare_message's, then
        # basic_publish's.
        properties={
            "correlation_id": _PROBE_ID,
            "reply_to": properties["reply_to"],
            "delivery_mode": 2,
            "delivery_info": {},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": "",
        },
        delivery_info={"exchange": "", "routing_key": routing_key},
        content_type=content_type,
        content_encoding=content_encoding,
        body_tail=text[len(head) :],
    )
    return template


def plain_redis_url(app: Celery) -> str | None:
    """The broker URL when it is one plain Redis server kombu addresses as redis-py does."""
    url = app.conf.broker_write_url or app.conf.broker_url
    options = app.conf.broker_transport_options or {}
    if not isinstance(url, str) or ";" in url or options.get("global_keyprefix"):
        return None
    return url if urlsplit(url).scheme == "redis" else None


class CeleryPublisher:
    """Sends a batch of nudges; the dispatcher logs a failure and leaves the rows to the
    sweeper (a failed pipeline may have delivered part of the batch: the claims make a
    duplicate harmless)."""

    def __init__(
        self,
        app: Celery,
        *,
        redis_client: Callable[[str], RedisClient] = connect_redis,
    ) -> None:
        self._app = app
        self._redis_client = redis_client
        self._client: RedisClient | None = None
        self._templates: dict[Task, TaskTemplate | None] = {}

    def publish(self, items: list[tuple[Task, int]]) -> None:
        fast = [(t, row) for t, row in items if self._template(t) is not None]
        slow = [(t, row) for t, row in items if self._templates[t] is None]
        if fast:
            self._push(fast)
        if slow:
            self._send_through_celery(slow)

    def _template(self, task: Task) -> TaskTemplate | None:
        if task in self._templates:
            return self._templates[task]
        template: TaskTemplate | None = None
        url = plain_redis_url(self._app)
        if url is not None:
            template = capture_template(self._app, task)
            if self._client is None and template is not None:
                self._client = self._redis_client(url)
        if template is None:
            log.info("nudges for %s go through send_task", task.value)
        self._templates[task] = template
        return template

    def _push(self, items: list[tuple[Task, int]]) -> None:
        # One LPUSH per list with all its messages: Redis pushes them in the order given, as
        # separate LPUSHes would, and answers once.
        by_key: dict[str, list[str]] = {}
        for task, row_id in items:
            template = self._templates[task]
            assert template is not None  # noqa: S101 - only templated tasks come here
            payload = template.encode(row_id, str(uuid.uuid4()), str(uuid.uuid4()))
            by_key.setdefault(template.key, []).append(payload)
        assert self._client is not None  # noqa: S101 - set with the first template
        pipe = self._client.pipeline(transaction=False)
        for key, payloads in by_key.items():
            pipe.lpush(key, *payloads)
        pipe.execute()

    def _send_through_celery(self, items: list[tuple[Task, int]]) -> None:
        with self._app.producer_or_acquire() as producer, producer.batch(max_size=len(items)):
            for task, row_id in items:
                self._app.send_task(task.value, args=[row_id], producer=producer)
