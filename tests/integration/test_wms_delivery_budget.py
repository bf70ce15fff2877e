"""A WMS release's outcomes in its connector's health, and its one retry budget.

Counted at the fake WMS: a release reaches the WMS at most once per outbox attempt, so at
most ``OMNIROUTE_OUTBOX_MAX_ATTEMPTS`` times before it is a dead letter, whether the WMS
answers 503 or answers too late; each failed attempt counts in the connector's health, a
success resets the count, and recording that costs the success path no statement while
nothing has failed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import RELEASE_PATH, FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.intake import processing
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import OutboxMessage, SalesOrder
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


def test_every_failed_release_counts_in_the_wms_health_and_a_success_resets_it(
    make_ctx: Callable[..., Context], wms: FakeWms
) -> None:
    ctx = make_ctx(outbox_max_attempts=3)
    world = _world(ctx, wms)
    wms.set_down(True)
    for n in range(15):
        post(ctx, world, order_body(7000 + n, [("A", 1)]))
    drain(ctx)
    _sweep_until(ctx, lambda: _outbox_count(ctx, "dead") == 15)

    with TestClient(create_app(ctx)) as client:
        failing = _health(client, ctx, world.wms_id)
        assert failing["consecutive_failures"] == 45  # 15 releases, 3 attempts each
        assert failing["last_error"].startswith("http_503")
        assert failing["last_error_at"] is not None
        # Past OMNIROUTE_CONNECTOR_DISABLE_AFTER_FAILURES (20), yet a WMS is not disabled:
        # the releases stayed wms_unreachable, none became no_wms.
        assert (failing["disabled_at"], failing["disabled_reason"]) == (None, None)
        assert connector_admin.get_connector(ctx, world.wms_id).enabled
        reasons = Counter(e.reason for e in exception_queue.list_exceptions(ctx))
        assert reasons == {"wms_unreachable": 15}
        assert set(_posts(wms).values()) == {3}  # one POST per outbox attempt

        wms.set_down(False)
        post(ctx, world, order_body(7999, [("A", 1)]))
        drain(ctx)
        recovered = _health(client, ctx, world.wms_id)
    assert recovered["consecutive_failures"] == 0
    assert recovered["last_success_at"] is not None
    assert recovered["last_error"] == failing["last_error"]  # kept for ops to read
    with unit_of_work(ctx.sessions) as s:
        order = s.scalar(select(SalesOrder).where(SalesOrder.external_id == "7999"))
        assert order is not None and order.status == "released"


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


def test_an_order_refusal_is_not_a_connector_failure_but_an_auth_failure_is(
    ctx: Context, wms: FakeWms, client: TestClient
) -> None:
    world = _world(ctx, wms)
    stock(ctx, world.warehouse_ids["WEST"], "A", 1000)
    wms.fail_next(1, status=422)  # the WMS refuses the order; it is re-routed
    post(ctx, world, order_body(7300, [("A", 1)]))
    drain(ctx)
    assert _health(client, ctx, world.wms_id)["consecutive_failures"] == 0

    wms.fail_next(1, status=401)  # a broken credential: every release will fail
    post(ctx, world, order_body(7301, [("A", 1)]))
    drain(ctx)
    health = _health(client, ctx, world.wms_id)
    assert health["consecutive_failures"] == 1
    assert health["last_error"].startswith("http_401")


class _Statements:
    """Statements run while a release is being sent (the inline path: after routing)."""

    def __init__(self, ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs: list[list[str]] = []
        self._on = False
        real = processing.deliver_outbox

        def spy(*args: Any, **kwargs: Any) -> str:
            self.runs.append([])
            self._on = True
            try:
                return real(*args, **kwargs)
            finally:
                self._on = False

        monkeypatch.setattr(processing, "deliver_outbox", spy)
        event.listen(ctx.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self._on:
            self.runs[-1].append(" ".join(statement.split())[:90])


# Statements of the one transaction that records a release as sent: lock the order, mark
# the row sent, release the fulfilment order, move the order (its UPDATE and its event),
# plus BEGIN IMMEDIATE on SQLite (PostgreSQL's lock read also relaxes the commit's
# durability: no SET LOCAL of its own).
SENT_STATEMENTS = 5


def _sent_statements(ctx: Context) -> int:
    return SENT_STATEMENTS + (ctx.engine.dialect.name == "sqlite")


def test_recording_a_success_costs_no_statement_while_nothing_failed(
    ctx: Context, wms: FakeWms, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _world(ctx, wms)
    statements = _Statements(ctx, monkeypatch)
    for n in range(3):
        post(ctx, world, order_body(7400 + n, [("A", 1)]))
        drain(ctx)
    first, second, third = statements.runs
    sent = _sent_statements(ctx)
    assert len(first) == sent + 1, first  # the health row is made, once
    assert len(second) == sent, second  # as before health was recorded
    assert len(third) == sent, third

    wms.fail_next(1, status=503)  # a failure: the next success resets the count
    post(ctx, world, order_body(7410, [("A", 1)]))
    drain(ctx)
    post(ctx, world, order_body(7411, [("A", 1)]))
    drain(ctx)
    *_, failed, reset = statements.runs
    assert any(s.startswith("UPDATE connector_health") for s in failed)  # counted, one UPDATE
    assert len(reset) == sent + 1, reset  # the one UPDATE that resets it
    assert any(s.startswith("UPDATE connector_health") for s in reset)
    assert not any("connector_health" in s for s in second + third)
