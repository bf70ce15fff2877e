"""A WMS release's one retry budget, counted at the fake WMS: a release reaches the WMS at
most once per outbox attempt, so at most ``OMNIROUTE_OUTBOX_MAX_ATTEMPTS`` times before it
is a dead letter, whether the WMS answers 503 or answers too late."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.wms.demo_server import RELEASE_PATH, FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import OutboxMessage
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, order_body, post, stock


@pytest.fixture
def make_ctx(db_url: str) -> Iterator[Callable[..., Context]]:
    made: list[Context] = []

    def make(**overrides: Any) -> Context:
        made.append(bootstrap(make_settings(db_url, **overrides)))
        return made[-1]

    yield make
    for ctx in made:
        ctx.close()


def _posts(wms: FakeWms) -> Counter[str]:
    """POSTs of releases the WMS received, by idempotency key."""
    return Counter(
        r.headers.get("idempotency-key", "")
        for r in wms.requests
        if r.method == "POST" and r.path == RELEASE_PATH
    )


def _outbox_count(ctx: Context, status: str) -> int:
    with unit_of_work(ctx.sessions) as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == status)
            )
            or 0
        )


def _sweep_until(ctx: Context, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        sweep(ctx)
        drain(ctx)
        time.sleep(0.02)
    raise AssertionError("condition not reached before the deadline")


def _health(client: TestClient, ctx: Context, connector_id: int) -> dict[str, Any]:
    token = create_token(ctx, role=Role.OPS, name="ops")
    response = client.get(
        f"/api/v1/connectors/{connector_id}/health", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _world(ctx: Context, wms: FakeWms, **wms_config: Any) -> World:
    world = build_world(ctx, wms.base_url)
    if wms_config:
        connector_admin.update_connector(
            ctx,
            world.wms_id,
            config={"base_url": wms.base_url, **wms_config},
            secrets=None,
            enabled=None,
            actor="test",
        )
    stock(ctx, world.warehouse_ids["EAST"], "A", 1000)
    return world


def test_a_503_storm_reaches_the_wms_at_most_once_per_outbox_attempt(
    make_ctx: Callable[..., Context], wms: FakeWms
) -> None:
    ctx = make_ctx(outbox_max_attempts=4, http_retry_attempts=3)
    world = _world(ctx, wms)
    wms.set_down(True)
    for n in range(3):
        post(ctx, world, order_body(7100 + n, [("A", 1)]))
    drain(ctx)
    _sweep_until(ctx, lambda: _outbox_count(ctx, "dead") == 3)

    posts = _posts(wms)
    assert len(posts) == 3
    assert set(posts.values()) == {4}  # OMNIROUTE_OUTBOX_MAX_ATTEMPTS, not 4 x 3
    with unit_of_work(ctx.sessions) as s:
        assert set(s.scalars(select(OutboxMessage.attempts))) == {4}


def test_a_wms_slower_than_the_timeout_sees_a_release_once_per_outbox_attempt(
    make_ctx: Callable[..., Context], wms: FakeWms
) -> None:
    ctx = make_ctx(outbox_max_attempts=3, http_retry_attempts=3)
    world = _world(ctx, wms, timeout_seconds=0.2)
    wms.answer_late(0.6)  # takes each order at once, answers after the caller gave up
    post(ctx, world, order_body(7200, [("A", 1)]))
    drain(ctx)
    _sweep_until(ctx, lambda: _outbox_count(ctx, "dead") == 1)

    (key, count), *_ = _posts(wms).items()
    assert count == 3  # one per outbox attempt; the timeouts were not sent again in-call
    assert wms.accepted_count == 1  # the WMS has it (under that key), though late
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "wms_unreachable"

    wms.answer_late(None)  # the WMS is quick again: a redrive gets the stored answer
    exception_queue.retry_exception(ctx, exc.id, actor="ops")
    drain(ctx)
    assert _posts(wms)[key] == 4
    assert wms.accepted_count == 1
    assert _outbox_count(ctx, "sent") == 1
