"""What the sweeper reads of Celery's Redis broker: how many intake tasks wait, and the
inbox row of the next one.

This leans on kombu's private Redis layout, and is the one module that does: a queue is a
list Celery pushes on the left and workers pop on the right; a message a worker holds and
has not acknowledged sits in the ``unacked`` hash as ``[message, exchange, routing key]``
with its delivery time in the ``unacked_index`` sorted set; a message is kombu's JSON
envelope around Celery's protocol-2 body. pyproject.toml bounds celery and kombu above for
it, and tests/e2e/test_intake_hint.py, which drives a real Redis through kombu itself,
fails when that layout changes. Every failure here only costs the hint (the sweeper then
nudges as it would without one), never work.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from celery import Celery

from omniroute.core.platform.dispatch import Task

log = logging.getLogger("omniroute.celery")

# How many messages at the head of the intake queue to look through for a process_inbound.
HEAD_LOOKAHEAD = 32


def intake_hint(app: Celery, queue: str, *, recent: float) -> tuple[int, int | None]:
    """The sweeper's hints: intake messages waiting, and the inbox row of the next one.

    On Redis, whose queue is a list that Celery pushes on the left and pops on the right, the
    head is the rightmost process_inbound; with the queue empty, the oldest one a worker has
    taken but not acknowledged (prefetched or running, kept in kombu's ``unacked`` hash)
    within the last ``recent`` seconds: a message held longer may belong to a dead worker,
    and its row is left to the sweeper's usual rule rather than to kombu's restore, which
    waits for the visibility timeout.
    (0, None) when the broker can't tell.
    """
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            if conn.transport.driver_type != "redis":
                declared = channel.queue_declare(queue=queue, passive=True)
                return int(declared.message_count), None
            # Not queue_declare: Redis drops an emptied list, and kombu then reports no queue.
            depth = int(channel.client.llen(queue))
            if depth:
                raw = channel.client.lrange(queue, -HEAD_LOOKAHEAD, -1)
                heads = (inbound_id(_loads(item)) for item in reversed(raw))
                return depth, next((row for row in heads if row is not None), None)
            client = channel.client
            tags = client.zrangebyscore(channel.unacked_index_key, time.time() - recent, "+inf")
            taken = client.hmget(channel.unacked_key, tags) if tags else []
    except Exception:  # a hint only: without it the sweeper nudges as before
        log.debug("could not read the intake queue", exc_info=True)
        return 0, None
    in_flight = [inbound_id(_first(_loads(item))) for item in taken if item is not None]
    return 0, min((row for row in in_flight if row is not None), default=None)


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _first(entry: Any) -> Any:
    """The message of an ``unacked`` entry: [message, exchange, routing key]."""
    return entry[0] if isinstance(entry, list) and entry else None


def inbound_id(message: Any) -> int | None:
    """The row id of a process_inbound message as kombu stores it in Redis; None otherwise."""
    try:
        if message["headers"]["task"] != Task.PROCESS_INBOUND.value:
            return None
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]  # protocol 2: [args, kwargs, embed]
        return int(args[0])
    except (ValueError, TypeError, KeyError, IndexError):
        return None
